"""The ETL's database sessions: TCP keepalives on its warehouse and shop connections, and the
warehouse writer's own session timeouts (roles/postgres_dw's postgres_dw_writer_settings, set
with ALTER ROLE as the role sets them), which end the session of a run that is stuck while
holding the run lock, so that the next run is not kept out for hours."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import psycopg2
import pytest
import yaml
from psycopg2 import sql

from functions.etl import warehouse as etl_warehouse
from functions.etl.config import TCP_KEEPALIVES
from functions.etl.runner import run
from tests.etl.support import keepalive_options
from tests.etl.test_processes import etl_process, wait_for, write_objects

REPO = Path(__file__).resolve().parents[2]


def role_writer_settings() -> dict[str, str]:
    """The writer's settings as roles/postgres_dw passes them to roles/postgresql (as text)."""
    defaults = yaml.safe_load((REPO / "roles" / "postgres_dw" / "defaults" / "main.yml").read_text())
    return {name: str(value) for name, value in defaults["postgres_dw_writer_settings"].items()}


def alter_writer(wh: dict, settings: dict[str, str]) -> None:
    """ALTER ROLE <writer> SET ..., as community.postgresql.postgresql_user's configuration does."""
    with contextlib.closing(psycopg2.connect(wh["dsn"])) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name, value in settings.items():
                cur.execute(sql.SQL("ALTER ROLE {} SET {} TO %s").format(
                    sql.Identifier(wh["user"]), sql.Identifier(name)), (value,))


def test_the_warehouse_connection_probes_its_server(settings, warehouse):
    with contextlib.closing(etl_warehouse.connect(settings, warehouse["password"])) as conn:
        assert keepalive_options(conn) == TCP_KEEPALIVES == {
            "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def test_the_etl_s_sessions_keep_the_writer_settings_of_the_role(settings, warehouse):
    """The ETL's connection options (-c ...) set none of them, so the role's apply."""
    wanted = role_writer_settings()
    assert set(wanted) == {"idle_session_timeout", "idle_in_transaction_session_timeout",
                           "client_connection_check_interval"}
    alter_writer(warehouse, wanted)
    conn = etl_warehouse.connect(settings, warehouse["password"])
    with contextlib.closing(conn), conn.cursor() as cur:
        for name, value in wanted.items():
            cur.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))
            assert cur.fetchone()[0] == value, name


def writer_sessions(dw, wh: dict) -> int:
    with dw.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (wh["user"],))
        return cur.fetchone()[0]


@pytest.mark.slow
@pytest.mark.parametrize(("phase", "timeout"), [
    ("locked", "idle_session_timeout"),                     # holds the run lock, between statements
    ("staged", "idle_in_transaction_session_timeout"),      # holds it mid-batch, in a transaction
])
def test_a_run_stuck_holding_the_lock_loses_it_and_the_next_run_loads(  # noqa: PLR0917
        phase, timeout, etl_env, settings, warehouse, s3, bucket, dw, tmp_path):
    objects = write_objects(s3, bucket, seed=31, sessions=20)
    alter_writer(warehouse, {**role_writer_settings(), timeout: "2s"})
    marker = tmp_path / "paused"
    stuck = etl_process(etl_env, ETL_TEST_PAUSE_AT=phase, ETL_TEST_PAUSE_FILE=str(marker),
                        ETL_TEST_PAUSE_SECONDS="120")
    try:
        wait_for(marker, stuck)      # alive, silent, holding the run lock
        deadline = time.monotonic() + 30
        while writer_sessions(dw, warehouse):
            assert time.monotonic() < deadline, "the stuck run's session is still there"
            time.sleep(0.2)
        # The role's own settings again for the next run, which must find the lock free.
        alter_writer(warehouse, role_writer_settings())
        summary = run(settings, s3=s3)
        assert (summary["status"], summary["events_loaded"]) == (
            "succeeded", sum(len(v) for v in objects.values()))
        marker.unlink()              # let the stuck run go on: its connection is dead
        _, err = stuck.communicate(timeout=60)
        assert stuck.returncode == 1
        # libpq reads the server's FATAL (terminating connection due to idle... timeout) or
        # only sees the socket closed, depending on when it looks
        assert re.search(r"terminating connection due to idle|server closed the connection", err), err
        assert run(settings, s3=s3)["files"] == 0      # nothing left, nothing loaded twice
    finally:
        if stuck.poll() is None:
            stuck.kill()
            stuck.wait(timeout=30)
