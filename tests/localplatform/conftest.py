"""Fixtures for the local platform's tests.

The ingest adapter runs the real ingest handler, so its tests take the ingest tests' moto S3
(`s3`) and fake credentials (`aws_env`). The demo's warehouse tests get a migrated warehouse on
the session's PostgreSQL server with a login of the dashboards' group (`warehouse`).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from functions.warehouse.migrate import apply_migrations
from tests.ingest.conftest import aws_env, s3

__all__ = ["aws_env", "filled_warehouse", "s3", "warehouse"]


@dataclass(frozen=True)
class MigratedWarehouse:
    owner_dsn: str      # the superuser who migrated it: writes the test's rows
    reader_dsn: str     # a login in clickstream_reader, as the dashboards read


@pytest.fixture
def warehouse(pg_cluster) -> Iterator[MigratedWarehouse]:
    dbname = f"dw_{secrets.token_hex(4)}"
    owner_dsn = pg_cluster.create_database(dbname)
    reader, password = f"reader_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    with contextlib.closing(psycopg2.connect(owner_dsn)) as conn:
        conn.autocommit = True
        apply_migrations(conn)
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE clickstream_reader").format(
                sql.Identifier(reader), sql.Literal(password)))
    try:
        yield MigratedWarehouse(owner_dsn, make_dsn(owner_dsn, user=reader, password=password))
    finally:
        pg_cluster.drop_database(dbname)
        with contextlib.closing(psycopg2.connect(pg_cluster.dsn)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(reader)))


#: Hand-made aggregates and runs over two UTC days, and the figures the demo's summary must read
#: from them: 100 events loaded by the runs, 88 of them on the dashboards (so 12 from bots),
#: 25 sessions, 3 of them purchasing; three shop orders, two of them booked.
FILL_SQL = """
INSERT INTO agg_activity_hourly (hour, events, users, sessions, page_views) VALUES
    ('2026-03-01 10:00+00', 50, 7, 9, 20), ('2026-03-02 22:00+00', 38, 5, 6, 15);
INSERT INTO agg_funnel_daily (day, sessions, sessions_page_view, sessions_product_view, sessions_add_to_cart,
                              sessions_begin_checkout, sessions_purchase, orders, revenue) VALUES
    ('2026-03-01', 10, 10, 7, 3, 2, 1, 1, 99.5), ('2026-03-02', 15, 15, 11, 5, 3, 2, 2, 150);
INSERT INTO etl_runs (status, trigger, files, events_loaded, rejected) VALUES
    ('succeeded', 'scheduled', 3, 60, 2), ('failed', 'scheduled', 0, 0, 0), ('succeeded', 'cli', 2, 40, 1);
INSERT INTO booked_orders (order_id, user_id, status, currency, total, created_at, updated_at, run_id)
SELECT o.id, 'u-1', o.status, 'USD', o.total, o.at, o.at, (SELECT min(run_id) FROM etl_runs)
FROM (VALUES ('0b6a0d5e-0000-4000-8000-000000000001', 'paid', 120.00, timestamptz '2026-03-01 11:00+00'),
             ('0b6a0d5e-0000-4000-8000-000000000002', 'refunded', 30.00, timestamptz '2026-03-01 12:00+00'),
             ('0b6a0d5e-0000-4000-8000-000000000003', 'delivered', 80.00, timestamptz '2026-03-02 09:00+00'))
     AS o (id, status, total, at);
"""
FILLED_FIGURES = {"loaded": 100, "loaded_bot": 12, "sessions": 25, "purchase_sessions": 3,
                  "etl_rejected": 3, "etl_runs": 3, "etl_failed_runs": 1,
                  # two booked orders (the refunded one is not), no browser reported any
                  "booked_orders": 2, "booked_revenue": 200.0, "tracked_revenue": 0.0, "untracked_orders": 2,
                  "unbooked_purchases": 0}


@pytest.fixture
def filled_warehouse(warehouse) -> tuple[MigratedWarehouse, dict[str, int]]:
    """The migrated warehouse holding FILL_SQL's rows, and the figures expected from them."""
    with contextlib.closing(psycopg2.connect(warehouse.owner_dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(FILL_SQL)
    return warehouse, dict(FILLED_FIGURES)
