"""Booked revenue: each run copies the shop's orders created or updated since its watermark from
the OLTP database into the warehouse (booked_orders, booked_order_items), in one transaction.

The watermark is the largest ``updated_at`` already loaded, less ``OLTP_OVERLAP_SECONDS``, so an
order committed late with an earlier timestamp on the boundary is pulled again rather than missed;
rows are upserted by order id, so pulling one twice changes nothing (exactly once, as the
events). Without ``OLTP_HOST`` the step is skipped and the run says so; an unreachable or failing
shop database fails this step only (loudly: logged, and in the run's row), never the events.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime, timedelta
from importlib.resources import files

import psycopg2

from functions.etl.config import TCP_KEEPALIVES, Settings, oltp_password
from functions.etl.testing_hooks import on_phase

log = logging.getLogger(__name__)

_SQL = files("functions.etl") / "sql"
PULL_ORDERS = (_SQL / "pull_orders.sql").read_text(encoding="utf-8")
UPSERT_ORDERS = (_SQL / "upsert_orders.sql").read_text(encoding="utf-8")
_PULLED = """
CREATE TEMP TABLE etl_pulled_orders (order_id text PRIMARY KEY, user_id text, status text, currency text,
                                     total numeric, created_at timestamptz, updated_at timestamptz)
    ON COMMIT DROP;
CREATE TEMP TABLE etl_pulled_items (order_id text, product_id text, quantity integer, unit_price numeric)
    ON COMMIT DROP;
"""


class OrdersUnavailable(RuntimeError):
    """The shop's database cannot be reached or refuses the analytics login."""


def connect_oltp(settings: Settings, password: str | None):
    """A read-only session on the shop's database: verify-full against OLTP_SSLROOTCERT, else require."""
    tls = ({"sslmode": "verify-full", "sslrootcert": settings.oltp_sslrootcert} if settings.oltp_sslrootcert
           else {"sslmode": "require"})
    try:
        conn = psycopg2.connect(
            host=settings.oltp_host, port=settings.oltp_port, dbname=settings.oltp_database,
            user=settings.oltp_user, password=password, connect_timeout=settings.connect_timeout,
            application_name="clickstream-etl-orders",
            options="-c default_transaction_read_only=on -c statement_timeout=300000",
            **tls, **TCP_KEEPALIVES)
    except psycopg2.OperationalError as exc:
        where = f"{settings.oltp_host}:{settings.oltp_port}"
        raise OrdersUnavailable(f"cannot connect to the shop database {where} as {settings.oltp_user}:"
                                f" {str(exc).strip()}") from exc
    return conn


def watermark(dw, overlap: timedelta) -> datetime | None:
    with dw.cursor() as cur:
        cur.execute("SELECT max(updated_at) FROM booked_orders")
        newest = cur.fetchone()[0]
    return None if newest is None else newest - overlap


def _copy_text(rows) -> io.StringIO:
    """COPY text of rows whose values never hold tabs, newlines or backslashes (ids, statuses,
    numbers and timestamps the shop's schema constrains) - checked, not assumed."""
    out = io.StringIO()
    for row in rows:
        fields = ["\\N" if v is None else str(v) for v in row]
        if any(ch in f for f in fields for ch in "\t\n\r\\"):
            raise ValueError(f"order row with a tab, newline or backslash: {row!r}")
        out.write("\t".join(fields) + "\n")
    out.seek(0)
    return out


def sync(settings: Settings, dw, run_id: int, *, connect=connect_oltp) -> dict:
    """Pull the orders changed since the watermark into the warehouse (`dw`, autocommit) in one
    transaction. Returns what it did; raises OrdersUnavailable or database errors."""
    since = watermark(dw, timedelta(seconds=settings.oltp_overlap_seconds))
    oltp = connect(settings, oltp_password(settings))
    try:
        with oltp.cursor() as cur:
            cur.execute(PULL_ORDERS, {"since": since or datetime(1970, 1, 1).astimezone()})
            pulled = cur.fetchall()
    finally:
        oltp.close()
    orders = [row[:7] for row in pulled]
    items = [(row[0], *item) for row in pulled for item in row[7]]      # json: decoded by psycopg2
    dw.autocommit = False
    try:
        with dw.cursor() as cur:
            cur.execute(_PULLED)
            cur.copy_expert("COPY etl_pulled_orders FROM STDIN", _copy_text(orders))
            cur.copy_expert("COPY etl_pulled_items FROM STDIN", _copy_text(items))
            cur.execute(UPSERT_ORDERS, {"run_id": run_id})
            new, changed, item_rows = cur.fetchone()
        on_phase("orders_upserted")       # pulled and written, not committed: where the tests kill it
        dw.commit()
    except BaseException:
        dw.rollback()
        raise
    finally:
        dw.autocommit = True
    return {"status": "synced", "since": since.isoformat() if since else None, "pulled": len(orders),
            "new": new, "changed": changed, "items": item_rows}


def sync_step(settings: Settings, dw, run_id: int, **kwargs) -> dict:
    """The run's orders step: skipped without OLTP_HOST; a failure is reported, not raised."""
    if not settings.oltp_host:
        return {"status": "skipped", "reason": "OLTP_HOST is not set: booked revenue is not synced"}
    try:
        return sync(settings, dw, run_id, **kwargs)
    except Exception as exc:
        log.error("booked orders sync failed (the events loaded): %s: %s", type(exc).__name__, exc)
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:1000]}
