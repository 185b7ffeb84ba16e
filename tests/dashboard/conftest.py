"""Fixtures for the dashboard tests: a migrated warehouse the real ETL loaded with the known raw
events, a read-only login for the app, the Shiny app itself (served by R on the host) and headless
Chromium."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from functions.warehouse.migrate import apply_migrations
from tests.dashboard import known_data
from tests.support import shiny_app
from tests.support.moto import moto_server
from tests.support.pgcluster import PgCluster
from tests.support.shiny_app import APP_DIR, REPO
from tests.support.shiny_app import wait_http as _wait_http

__all__ = ["APP_DIR", "ARTIFACTS", "REPO", "Warehouse", "_wait_http", "require_r"]

ARTIFACTS = REPO / "test-artifacts" / "dashboard"


@dataclass
class Warehouse:
    dsn: str  # superuser, for loading data and computing expected figures
    host: str
    port: int
    dbname: str
    reader: str
    reader_password: str
    data: known_data.KnownData | None

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with contextlib.closing(psycopg2.connect(self.dsn)) as conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()

    def write_db_config(self, directory: Path) -> Path:
        """The app's settings file, as the role writes it (readable by its owner only)."""
        return shiny_app.write_db_config(
            directory, host=self.host, port=self.port, dbname=self.dbname, user=self.reader,
            password=self.reader_password,
        )


def _reader_warehouse(cluster: PgCluster, dsn: str, data: known_data.KnownData | None) -> Iterator[Warehouse]:
    params = psycopg2.extensions.parse_dsn(dsn)
    with contextlib.closing(psycopg2.connect(dsn)) as conn:
        conn.autocommit = True
        reader, password = shiny_app.create_reader(conn)
    try:
        yield Warehouse(dsn=dsn, host=params["host"], port=int(params["port"]), dbname=params["dbname"],
                        reader=reader, reader_password=password, data=data)
    finally:
        with contextlib.closing(psycopg2.connect(dsn)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                            (reader,))
        with contextlib.closing(psycopg2.connect(cluster.dsn)) as conn:
            conn.autocommit = True
            shiny_app.drop_reader(conn, reader)


@pytest.fixture(scope="session")
def dashboard_moto() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def warehouse(pg_cluster: PgCluster, dashboard_moto: str) -> Iterator[Warehouse]:
    """The known raw events loaded by the real ETL into a migrated warehouse, with the oracle's
    view of them as `data` (read-only for the tests: do not modify)."""
    with known_data.known_warehouse(pg_cluster, dashboard_moto) as (dsn, data):
        yield from _reader_warehouse(pg_cluster, dsn, data)


@pytest.fixture(scope="session")
def known(warehouse: Warehouse) -> known_data.KnownData:
    return warehouse.data


@pytest.fixture
def empty_warehouse(pg_cluster: PgCluster) -> Iterator[Warehouse]:
    dsn = pg_cluster.create_database()
    with contextlib.closing(psycopg2.connect(dsn)) as conn:
        apply_migrations(conn)
    try:
        yield from _reader_warehouse(pg_cluster, dsn, None)
    finally:
        pg_cluster.drop_database(psycopg2.extensions.parse_dsn(dsn)["dbname"])


def require_r(*packages: str) -> str:
    try:
        return shiny_app.require_r(*packages)
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def dashboard_url(warehouse: Warehouse) -> Iterator[str]:
    """The app served by R's own HTTP server (shiny::runApp) against the known warehouse.

    Shiny Server itself does not install on this kind of host; the molecule scenario checks
    the app behind Shiny Server on a Debian 12 container.
    """
    rscript = require_r(*shiny_app.APP_R_PACKAGES)
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-app-"))
    config = warehouse.write_db_config(tmp)
    log = tmp / "app.log"
    try:
        with shiny_app.serve_app(rscript, config, tmp) as (url, log):
            yield url
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if log.exists():
            shutil.copy(log, ARTIFACTS / "app.log")  # the R console, for a failing test to read
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless Debian Chromium driven by Selenium through Debian's chromedriver."""
    with contextlib.ExitStack() as stack:
        try:
            driver = stack.enter_context(shiny_app.chromium())
        except RuntimeError as e:
            pytest.fail(str(e))
        yield driver
