"""The run's step after its last batch: the recomputed aggregates its batches left pending.

The batches only record the days and clients they touched (pending_aggregates.sql, migration
070); the run refreshes them once, here. The days' rows (audience, acquisition, journeys,
segments) and the clients' (attribution, retention) share no table, so they are two lanes
(migration 077) that run side by side on the run's two connections, as the batches do
(pipeline.load_plan): on the 1 M-event benchmark the refresh took 4.6 s in one session, where
either lane alone takes about 2 s. Each lane takes its own pending rows and commits alone: a
lane that fails leaves its rows, and only its rows, for the next run to refresh.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2

from functions.etl import warehouse
from functions.etl.config import Settings

log = logging.getLogger(__name__)

#: Each lane's SQL function (migration 077), in the order one session runs them.
LANES = {"days": "refresh_pending_days", "clients": "refresh_pending_clients"}


def refresh_lane(conn, lane: str) -> int:
    """One lane in its own transaction on `conn`; returns how many days or clients it refreshed."""
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {LANES[lane]}()")
            refreshed = cur.fetchone()[0]
        conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        if not conn.closed:
            conn.autocommit = True
    return refreshed


def _second_lane(settings: Settings):
    """A second connection for the clients' lane, or None (ETL_LANES=1, or no connection to be
    had: then both lanes run on the run's own connection, one after the other)."""
    if settings.lanes < 2:
        return None
    try:
        conn = warehouse.connect_lane(settings)
    except (warehouse.WarehouseUnavailable, psycopg2.Error) as exc:
        log.warning("refreshing the aggregates on one connection: no second one (%s)", exc)
        return None
    return conn


def refresh_pending_aggregates(conn, settings: Settings) -> dict:
    """Refresh what is pending, the days on `conn` and the clients beside them on a second
    connection; the first failure is raised once both lanes stopped."""
    started = time.monotonic()
    second = _second_lane(settings)
    try:
        if second is None:
            days, clients = refresh_lane(conn, "days"), refresh_lane(conn, "clients")
        else:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="etl-refresh") as pool:
                clients_lane = pool.submit(refresh_lane, second, "clients")
                try:
                    days = refresh_lane(conn, "days")
                finally:
                    clients_error = clients_lane.exception()   # (waits for the lane)
                if clients_error is not None:
                    raise clients_error
                clients = clients_lane.result()
    finally:
        if second is not None:
            second.close()
    return {"days": days, "clients": clients, "seconds": round(time.monotonic() - started, 3)}
