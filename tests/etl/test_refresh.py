"""The run's refresh of the pending aggregates (functions/etl/refresh.py, migration 077): the days'
lane and the clients' lane run side by side on two connections, each commits alone, and
together they give what refreshing everything gives."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time

import psycopg2
import pytest

from functions.etl import refresh, runner, warehouse
from functions.etl.config import dwh_password
from functions.etl.runner import run
from tests.etl.support import put_by_hour
from tests.etl.test_acquisition import SINCE, UNTIL, assert_aggregates_are_a_recompute, make_traffic, rows


@pytest.fixture
def pending(settings, s3, bucket, dw, monkeypatch):
    """A loaded warehouse whose run stopped before its refresh: every day and client pending."""
    monkeypatch.setattr(runner, "refresh_pending_aggregates", lambda _conn, _settings: {})
    put_by_hour(s3, bucket, make_traffic(seed=77, clients=30))
    run(dataclasses.replace(settings, batch_max_files=2), SINCE, UNTIL, s3=s3, now=UNTIL)
    assert rows(dw, "SELECT count(*) FROM agg_pending_days")[0][0] > 0
    assert rows(dw, "SELECT count(*) FROM agg_pending_clients")[0][0] > 0
    assert rows(dw, "SELECT count(*) FROM purchase_attribution")[0][0] == 0


@contextlib.contextmanager
def etl_connection(settings):
    conn = warehouse.connect(settings, dwh_password(settings))
    try:
        assert warehouse.try_lock(conn)
        yield conn
    finally:
        conn.close()


def count(dw, table: str) -> int:
    return rows(dw, f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608 - the test's own names


def test_the_clients_lane_commits_while_the_days_lane_is_still_at_work(pending, settings, dw, pg_dsn):
    """The days' lane is held (its first table locked by another session); the clients' lane
    finishes and commits beside it. One lane after the other, the clients would wait behind the
    days and this test would time out."""
    blocker = psycopg2.connect(pg_dsn)
    outcome: dict = {}
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE agg_audience_daily IN ACCESS EXCLUSIVE MODE")

        def refresh_in_background() -> None:
            with etl_connection(settings) as conn:
                try:
                    outcome["refreshed"] = refresh.refresh_pending_aggregates(conn, settings)
                except BaseException as exc:   # (reported by the test below)
                    outcome["error"] = exc

        worker = threading.Thread(target=refresh_in_background)
        worker.start()
        deadline = time.monotonic() + 30
        while count(dw, "agg_pending_clients") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert count(dw, "agg_pending_clients") == 0, "the clients' lane did not commit beside the days'"
        assert count(dw, "purchase_attribution") > 0 and count(dw, "client_activity_weeks") > 0
        assert count(dw, "agg_pending_days") > 0, "the days' lane should still be waiting"
        assert worker.is_alive()
    finally:
        blocker.rollback()           # the days' lane goes on
        blocker.close()
    worker.join(60)
    assert "error" not in outcome, outcome
    assert outcome["refreshed"]["days"] > 0 and outcome["refreshed"]["clients"] > 0, outcome
    assert count(dw, "agg_pending_days") == count(dw, "agg_pending_clients") == 0
    assert_aggregates_are_a_recompute(dw)


def test_a_lane_that_fails_leaves_only_its_own_rows_pending(pending, settings, dw, monkeypatch):
    days_pending = count(dw, "agg_pending_days")
    clients_pending = count(dw, "agg_pending_clients")
    monkeypatch.setitem(refresh.LANES, "clients", "refresh_pending_nothing")
    with etl_connection(settings) as conn, pytest.raises(psycopg2.errors.UndefinedFunction):
        refresh.refresh_pending_aggregates(conn, settings)
    assert count(dw, "agg_pending_days") == 0 and count(dw, "agg_audience_daily") > 0
    assert count(dw, "agg_pending_clients") == clients_pending

    monkeypatch.setitem(refresh.LANES, "clients", "refresh_pending_clients")
    with etl_connection(settings) as conn:
        refreshed = refresh.refresh_pending_aggregates(conn, settings)
    assert (refreshed["days"], refreshed["clients"]) == (0, clients_pending), (refreshed, days_pending)
    assert_aggregates_are_a_recompute(dw)


def test_with_one_lane_both_refresh_on_the_run_connection(pending, settings, dw, monkeypatch):
    clients_pending = count(dw, "agg_pending_clients")
    opened = []
    monkeypatch.setattr(warehouse, "connect", lambda *a, **k: opened.append(a) or pytest.fail("connected"))
    with contextlib.closing(psycopg2.connect(
            host=settings.dwh_host, port=settings.dwh_port, user=settings.dwh_user,
            dbname=settings.dwh_database, password=dwh_password(settings))) as conn:
        conn.autocommit = True
        refreshed = refresh.refresh_pending_aggregates(conn, dataclasses.replace(settings, lanes=1))
    assert opened == []
    assert refreshed["clients"] == clients_pending and refreshed["days"] > 0
    assert_aggregates_are_a_recompute(dw)
