"""ETL fixtures: a moto S3 server (shared with child processes), a migrated warehouse, and the
ETL's settings logging in as a member of clickstream_writer, as in production."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import boto3
import psycopg2
import pytest
from psycopg2 import sql
from psycopg2.extensions import parse_dsn

from functions.etl.config import Settings
from functions.warehouse.migrate import apply_migrations
from tests.support.moto import REGION, moto_server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_endpoint):
    return boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)


@pytest.fixture
def bucket(s3) -> str:
    name = f"raw-{secrets.token_hex(6)}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def warehouse(pg_cluster, pg_dsn) -> Iterator[dict]:
    """A migrated database and a login role in clickstream_writer: {dsn (superuser), user, password...}."""
    with contextlib.closing(psycopg2.connect(pg_dsn)) as conn:
        apply_migrations(conn)
    user, password = f"etl_writer_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with contextlib.closing(psycopg2.connect(pg_cluster.dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE clickstream_writer").format(
                sql.Identifier(user)), (password,))
    params = parse_dsn(pg_dsn)
    yield {"dsn": pg_dsn, "host": params["host"], "port": int(params["port"]), "dbname": params["dbname"],
           "user": user, "password": password}
    with contextlib.closing(psycopg2.connect(pg_cluster.dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (user,))
            cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(user)))
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))


@pytest.fixture
def etl_env(warehouse, bucket, moto_endpoint) -> dict[str, str]:
    """The ETL's environment, as the Lambda gets it (the password directly, as DWH_PASSWORD)."""
    return {
        "DWH_HOST": warehouse["host"], "DWH_PORT": str(warehouse["port"]), "DWH_USER": warehouse["user"],
        "DWH_PASSWORD": warehouse["password"], "DWH_DATABASE": warehouse["dbname"], "RAW_BUCKET": bucket,
        "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_endpoint, "ETL_MAX_WORKERS": "4",
    }


@pytest.fixture
def settings(etl_env, monkeypatch) -> Settings:
    for name, value in etl_env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(etl_env)


@pytest.fixture
def dw(warehouse) -> Iterator:
    """A superuser connection to the warehouse, for assertions (autocommit: always the latest state)."""
    conn = psycopg2.connect(warehouse["dsn"])
    conn.autocommit = True
    yield conn
    conn.close()
