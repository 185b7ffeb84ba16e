"""The ETL as separate processes sharing one S3 emulator and one warehouse: concurrent runs,
crashes (SIGKILL) between phases, an unreachable warehouse."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from functions.etl.config import Settings, dwh_password
from functions.etl.runner import run
from functions.etl.testing_hooks import PHASES
from functions.etl.warehouse import (
    ETL_LANE_LOCK_KEY,
    STALE_RUN_ERROR,
    WarehouseUnavailable,
    connect,
    connect_lane,
    try_lock,
)
from tests.etl.support import event_ids, make_traffic, put_by_hour, warehouse_state
from tests.support.aggregates import recompute
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def etl_process(etl_env: dict, *args: str, **extra_env: str) -> subprocess.Popen:
    env = {**os.environ, **etl_env, "PYTHONPATH": str(REPO), **extra_env}
    return subprocess.Popen([sys.executable, "-m", "functions.etl", "run", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"ETL exited ({proc.returncode}) before pausing: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("ETL never reached its pause point")
        time.sleep(0.05)
    return path.read_text()


def loaded_objects_events(dw, objects: dict[str, list[dict]]) -> list[dict]:
    """The events of the objects the manifest says are loaded."""
    with dw.cursor() as cur:
        cur.execute("SELECT key FROM etl_file_manifest")
        keys = {r[0] for r in cur.fetchall()}
    return [e for key in sorted(keys) for e in objects[key]]


def assert_consistent(dw, objects: dict[str, list[dict]]) -> int:
    """All or nothing per batch: events, sessions, aggregates are exactly those of the manifest's objects."""
    events = loaded_objects_events(dw, objects)
    assert event_ids(dw) == {e["event_id"] for e in events}
    expected, actual = recompute(events), warehouse_state(dw)
    assert actual["funnel"] == expected["funnel"]
    assert actual["hourly"] == expected["hourly"]
    assert actual["daily"] == expected["daily"]
    assert actual["product"] == expected["product"]
    assert actual["sessions"].keys() == expected["sessions"].keys()
    return len(events)


def write_objects(s3, bucket, seed: int, sessions: int) -> dict[str, list[dict]]:
    records = make_traffic(seed=seed, start=START, sessions=sessions, spread=timedelta(hours=3))
    keys = put_by_hour(s3, bucket, records, per_object=25)
    response = {}
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        response[key] = [json.loads(line) for line in body.splitlines()]
    return response


@pytest.mark.slow
def test_two_runs_at_once_one_says_a_run_is_in_progress(etl_env, s3, bucket, dw, tmp_path):
    objects = write_objects(s3, bucket, seed=21, sessions=60)
    marker = tmp_path / "paused"
    first = etl_process(etl_env, ETL_TEST_PAUSE_AT="staged", ETL_TEST_PAUSE_FILE=str(marker),
                        ETL_TEST_PAUSE_SECONDS="120")
    wait_for(marker, first)          # the first run holds the lock, mid-batch
    second = etl_process(etl_env)
    out2, err2 = second.communicate(timeout=60)
    marker.unlink()                  # let the first run finish
    out1, err1 = first.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (0, 0), (err1, err2)
    assert json.loads(out2) == {"status": "skipped", "reason": "another ETL run is in progress",
                                "seconds": json.loads(out2)["seconds"]}
    assert "run is in progress" in err2
    summary = json.loads(out1)
    total = sum(len(v) for v in objects.values())
    assert (summary["status"], summary["files"], summary["events_loaded"]) == (
        "succeeded", len(objects), total)
    assert len(event_ids(dw)) == total
    assert_consistent(dw, objects)


@pytest.mark.slow
def test_sigkill_at_every_phase_then_a_rerun_loads_exactly_once(etl_env, s3, bucket, dw, tmp_path):
    objects = write_objects(s3, bucket, seed=22, sessions=80)
    env = {**etl_env, "ETL_BATCH_MAX_FILES": "2"}    # several batches, so "committed" is mid-run
    committed_before = 0
    for phase in PHASES:
        marker = tmp_path / f"paused-{phase}"
        proc = etl_process(env, ETL_TEST_PAUSE_AT=phase, ETL_TEST_PAUSE_FILE=str(marker))
        assert wait_for(marker, proc) == phase
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        committed = assert_consistent(dw, objects)
        if phase == "committed":
            assert committed > committed_before      # exactly the first batch made it
        else:
            assert committed == committed_before
        committed_before = committed
    final = etl_process(env)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    total = sum(len(v) for v in objects.values())
    assert assert_consistent(dw, objects) == total
    assert len(event_ids(dw)) == total
    with dw.cursor() as cur:
        cur.execute("SELECT status, error FROM etl_runs ORDER BY run_id")
        runs = cur.fetchall()
    # "locked" dies before its run row exists; every other killed run is closed as interrupted.
    assert runs[:-1] == [("failed", STALE_RUN_ERROR)] * (len(PHASES) - 1)
    assert runs[-1] == ("succeeded", None)


def test_warehouse_unreachable_then_the_next_run_catches_up(etl_env, settings, s3, bucket, dw):
    objects = write_objects(s3, bucket, seed=23, sessions=20)
    down = Settings.from_env({**etl_env, "DWH_PORT": str(free_port()), "DWH_CONNECT_TIMEOUT": "2"})
    with pytest.raises(WarehouseUnavailable, match=r"warehouse unreachable: .*:\d+/"):
        run(down, s3=s3)
    proc = etl_process({**etl_env, "DWH_PORT": str(free_port())})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "warehouse unreachable" in err
    assert etl_env["DWH_PASSWORD"] not in err + out
    with dw.cursor() as cur:
        cur.execute("SELECT count(*) FROM etl_file_manifest")
        assert cur.fetchone() == (0,)
    summary = run(settings, s3=s3)
    assert summary["files"] == len(objects)
    assert_consistent(dw, objects)


def test_wrong_password_is_a_clear_error(settings, s3, monkeypatch):
    monkeypatch.setenv("DWH_PASSWORD", "wrong")
    with pytest.raises(WarehouseUnavailable, match="password authentication failed") as caught:
        run(settings, s3=s3)
    assert isinstance(caught.value.__cause__, psycopg2.OperationalError)


def test_a_lane_connection_joins_the_run_so_no_new_run_starts_beside_it(settings):
    """connect_lane (the loading lanes' and the refresh's second connection) holds the lane lock
    shared while it lives: another run cannot take the run lock until it is closed."""
    lane = connect_lane(settings)
    other = connect(settings, dwh_password(settings))
    try:
        assert try_lock(other) is False, "a run started beside a live lane"
        lane.close()
        assert try_lock(other) is True
    finally:
        lane.close()
        other.close()


def test_a_lane_outliving_its_runs_first_connection_keeps_new_runs_out(settings, s3, bucket, dw):
    """A run's second lane holds the lane lock shared; were the run's first connection (the
    run lock) to die alone, a new run must still see a run in progress until that lane ends."""
    objects = write_objects(s3, bucket, seed=24, sessions=5)
    with dw.cursor() as cur:          # stands in for the surviving lane of a run whose lock is gone
        cur.execute("SELECT pg_advisory_lock_shared(%s)", (ETL_LANE_LOCK_KEY,))
    assert run(settings, s3=s3)["status"] == "skipped"
    with dw.cursor() as cur:
        cur.execute("SELECT count(*) FROM etl_runs")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT pg_advisory_unlock_shared(%s)", (ETL_LANE_LOCK_KEY,))
    summary = run(settings, s3=s3)
    assert (summary["status"], summary["events_loaded"]) == (
        "succeeded", sum(len(v) for v in objects.values()))
