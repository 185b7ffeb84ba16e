"""orders.py: the shop's orders into the warehouse over TLS (verify-full against a private CA),
with a login that may read orders and order_items only: idempotent, a refund updates its row,
exactly once under a kill between pulling and committing, skipped without settings, and an
unreachable shop database fails only this step."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import signal
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import jinja2
import psycopg2
import pytest
from psycopg2 import sql

from functions.etl import orders
from functions.etl.config import TCP_KEEPALIVES
from functions.etl.runner import run
from tests.etl.support import keepalive_options
from tests.etl.test_processes import etl_process, wait_for
from tests.support.net import free_port
from tests.support.pgcluster import PgCluster
from tests.support.tls import enable_tls, make_server_cert

REPO = Path(__file__).resolve().parents[2]
SCHEMA_TEMPLATE = REPO / "roles" / "oltp" / "templates" / "schema.sql.j2"
NOW = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)


def shop_schema(owner: str, app_user: str, analytics_user: str) -> str:
    """The role's own schema file, rendered as the role renders it (less psql's meta-commands),
    with the analytics login on (its grants are the template's)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - SQL, not HTML
    env.filters["comment"] = lambda text, *args, **kwargs: f"-- {text}"
    text = env.from_string(SCHEMA_TEMPLATE.read_text()).render(
        ansible_managed="managed by the tests", oltp_owner_role=owner, oltp_app_user=app_user,
        oltp_analytics_user=analytics_user,
        oltp_analytics_password_parameter="/clickstream/test/oltp/analytics_reader/password")
    return "\n".join(line for line in text.splitlines() if not line.startswith("\\"))


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory):
    """A PostgreSQL server of its own for the shop, with TLS from a private CA."""
    cluster = PgCluster.start()
    cert = make_server_cert(tmp_path_factory.mktemp("tls"))
    enable_tls(cluster, cert)
    yield cluster, cert
    cluster.stop()


@pytest.fixture
def shop(shop_server):
    """The shop's database (the role's schema), an app login writing it, an analytics login."""
    cluster, cert = shop_server
    suffix = secrets.token_hex(3)
    owner, app, reader = f"shop_owner_{suffix}", f"shop_app_{suffix}", f"analytics_{suffix}"
    password = secrets.token_urlsafe(16)
    dsn = cluster.create_database()
    with contextlib.closing(psycopg2.connect(cluster.dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(owner)))
            for login in (app, reader):
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(login)),
                            (password,))
    with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(owner)))
        cur.execute(shop_schema(owner, app, reader))
        cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(psycopg2.extensions.parse_dsn(dsn)["dbname"]), sql.Identifier(reader)))
        cur.execute("INSERT INTO users (user_id, email) VALUES ('u-1', 'a@example.com'),"
                    " ('u-2', 'b@example.com')")
        cur.execute("INSERT INTO products (product_id, name, category, brand, price, discount_price,"
                    " url_path)"
                    " VALUES ('LAP-1', 'Laptop', 'Laptops', 'Acme', 999, 949, '/p/lap-1'),"
                    " ('MON-1', 'Monitor', 'Monitors', 'View', 299, 299, '/p/mon-1')")
        conn.commit()
    params = psycopg2.extensions.parse_dsn(dsn)
    yield {"dsn": dsn, "port": int(params["port"]), "dbname": params["dbname"], "reader": reader,
           "password": password, "ca": cert.ca}
    cluster.drop_database(params["dbname"])
    with contextlib.closing(psycopg2.connect(cluster.dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for role in (reader, app, owner):
                cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def with_shop(settings, shop, monkeypatch):
    monkeypatch.setenv("OLTP_PASSWORD", shop["password"])
    return dataclasses.replace(settings, oltp_host="127.0.0.1", oltp_port=shop["port"],
                               oltp_database=shop["dbname"], oltp_user=shop["reader"],
                               oltp_sslrootcert=str(shop["ca"]))


def place_order(shop, user: str, status: str, items: list[tuple[str, int, str]], at: datetime) -> str:
    total = sum(Decimal(price) * qty for _, qty, price in items)
    with contextlib.closing(psycopg2.connect(shop["dsn"])) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (user_id, status, total, created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s) RETURNING order_id::text", (user, status, total, at, at))
        order_id = cur.fetchone()[0]
        for product, qty, price in items:
            cur.execute("INSERT INTO order_items VALUES (%s, %s, %s, %s)", (order_id, product, qty, price))
        conn.commit()
    return order_id


def set_status(shop, order_id: str, status: str, at: datetime) -> None:
    with contextlib.closing(psycopg2.connect(shop["dsn"])) as conn, conn.cursor() as cur:
        cur.execute("UPDATE orders SET status = %s, updated_at = %s WHERE order_id = %s",
                    (status, at, order_id))
        conn.commit()


def booked(dw) -> dict:
    with dw.cursor() as cur:
        cur.execute("SELECT order_id, user_id, status, total, created_at FROM booked_orders")
        out = {r[0]: r[1:] for r in cur.fetchall()}
        cur.execute("SELECT order_id, product_id, quantity, unit_price FROM booked_order_items")
        items = sorted(cur.fetchall())
    return {"orders": out, "items": items}


def etl(settings, s3):
    return run(settings, s3=s3, now=NOW)


def test_without_settings_the_step_is_skipped_and_says_why(settings, s3, bucket, dw):
    summary = etl(settings, s3)
    assert summary["status"] == "succeeded"
    assert summary["orders"] == {"status": "skipped",
                                 "reason": "OLTP_HOST is not set: booked revenue is not synced"}


def test_orders_sync_once_and_a_refund_updates_its_row(with_shop, shop, s3, bucket, dw):
    t0 = NOW - timedelta(days=1)
    paid = place_order(shop, "u-1", "paid", [("LAP-1", 1, "949.00"), ("MON-1", 2, "299.00")], t0)
    pending = place_order(shop, "u-2", "pending", [("MON-1", 1, "299.00")], t0 + timedelta(hours=1))
    summary = etl(with_shop, s3)
    assert summary["orders"]["status"] == "synced"
    assert (summary["orders"]["new"], summary["orders"]["pulled"]) == (2, 2)
    state = booked(dw)
    assert state["orders"][paid] == ("u-1", "paid", Decimal("1547.00"), t0)
    assert state["orders"][pending][1] == "pending"
    assert state["items"] == sorted([(paid, "LAP-1", 1, Decimal("949.00")),
                                     (paid, "MON-1", 2, Decimal("299.00")),
                                     (pending, "MON-1", 1, Decimal("299.00"))])

    again = etl(with_shop, s3)        # the overlap pulls the newest again: nothing changes
    assert (again["orders"]["new"], again["orders"]["changed"]) == (0, 0)
    assert booked(dw) == state

    set_status(shop, paid, "refunded", t0 + timedelta(hours=5))
    later = place_order(shop, "u-2", "paid", [("LAP-1", 1, "949.00")], t0 + timedelta(hours=6))
    third = etl(with_shop, s3)
    assert (third["orders"]["new"], third["orders"]["changed"]) == (1, 1)
    state = booked(dw)
    assert state["orders"][paid][1] == "refunded" and later in state["orders"]
    assert len(state["orders"]) == 3


def test_the_watermark_less_the_overlap_picks_up_an_order_committed_late(with_shop, shop, s3, bucket, dw):
    t0 = NOW - timedelta(hours=10)
    place_order(shop, "u-1", "paid", [("LAP-1", 1, "949.00")], t0)
    etl(with_shop, s3)
    # Committed after that sync with an updated_at 5 minutes before the newest one loaded.
    late = place_order(shop, "u-2", "paid", [("MON-1", 1, "299.00")], t0 - timedelta(minutes=5))
    assert etl(with_shop, s3)["orders"]["new"] == 1
    assert late in booked(dw)["orders"]
    beyond = place_order(shop, "u-2", "paid", [("MON-1", 1, "299.00")], t0 - timedelta(hours=2))
    etl(with_shop, s3)
    assert beyond not in booked(dw)["orders"]        # older than the overlap: documented as out of reach


@pytest.mark.usefixtures("bucket")
def test_a_kill_between_pulling_and_committing_leaves_nothing_and_the_rerun_loads_once(  # noqa: PLR0917
        etl_env, with_shop, shop, s3, dw, tmp_path):
    ids = {place_order(shop, "u-1", "paid", [("LAP-1", 1, "949.00")], NOW - timedelta(hours=h))
           for h in (1, 2, 3)}
    marker = tmp_path / "paused"
    env = {**etl_env, "OLTP_HOST": "127.0.0.1", "OLTP_PORT": str(shop["port"]),
           "OLTP_DATABASE": shop["dbname"], "OLTP_USER": shop["reader"], "OLTP_PASSWORD": shop["password"],
           "OLTP_SSLROOTCERT": str(shop["ca"])}
    proc = etl_process(env, ETL_TEST_PAUSE_AT="orders_upserted", ETL_TEST_PAUSE_FILE=str(marker))
    assert wait_for(marker, proc) == "orders_upserted"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert booked(dw)["orders"] == {}
    summary = etl(with_shop, s3)
    assert summary["orders"]["new"] == 3 and set(booked(dw)["orders"]) == ids


def test_the_shop_connection_probes_its_server(with_shop, shop):
    """TCP keepalives, as on the warehouse's connections: a shop host that vanished mid-pull fails
    the step in about a minute, not after the kernel's two hours."""
    with contextlib.closing(orders.connect_oltp(with_shop, shop["password"])) as conn:
        assert keepalive_options(conn) == TCP_KEEPALIVES


def test_the_analytics_login_reads_orders_but_not_users_and_writes_nothing(shop):
    params = {"host": "127.0.0.1", "port": shop["port"], "dbname": shop["dbname"], "user": shop["reader"],
              "password": shop["password"], "sslmode": "verify-full", "sslrootcert": str(shop["ca"])}
    with contextlib.closing(psycopg2.connect(**params)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT email FROM users")
        conn.rollback()
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("UPDATE orders SET status = 'paid'")


@pytest.mark.usefixtures("bucket")
def test_an_unreachable_shop_fails_only_the_step_loudly(settings, s3, dw, caplog, monkeypatch):
    monkeypatch.setenv("OLTP_PASSWORD", "x")
    unreachable = dataclasses.replace(settings, oltp_host="127.0.0.1", oltp_port=free_port(),
                                      connect_timeout=2)
    summary = etl(unreachable, s3)
    assert summary["status"] == "succeeded"
    assert summary["orders"]["status"] == "failed"
    assert re.search(r"cannot connect to the shop database 127\.0\.0\.1:\d+ as analytics_reader",
                     summary["orders"]["error"])
    assert "booked orders sync failed" in caplog.text
    with dw.cursor() as cur:
        cur.execute("SELECT status, error FROM etl_runs ORDER BY run_id DESC LIMIT 1")
        status, error = cur.fetchone()
    assert status == "succeeded" and error.startswith("orders: OrdersUnavailable: cannot connect")


@pytest.mark.usefixtures("bucket", "shop")
def test_a_wrong_ca_is_refused_by_verify_full(with_shop, tmp_path, s3, dw):
    other = make_server_cert(tmp_path)             # a CA that did not sign the server's certificate
    summary = etl(dataclasses.replace(with_shop, oltp_sslrootcert=str(other.ca)), s3)
    assert summary["orders"]["status"] == "failed"
    assert "certificate verify failed" in summary["orders"]["error"]
    assert orders.watermark(dw, timedelta(0)) is None
