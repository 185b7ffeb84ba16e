"""The Lambda handler (scheduled and manual events, password from SSM), the CLI, settings, and
the discovery window."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from functions.etl import config, handler
from functions.etl.__main__ import ProgressPrinter
from functions.etl.config import ConfigError, Settings
from functions.etl.discovery import default_window
from functions.etl.runner import run
from functions.etl.window_args import parse_window
from functions.raw_layout import hour_prefixes, key_hour
from tests.etl.conftest import REGION
from tests.etl.support import event_ids, make_traffic, put_by_hour, put_object, recompute, warehouse_state

REPO = Path(__file__).resolve().parents[2]


class FakeContext:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def recent_traffic(seed: int, hours_ago: int, sessions: int = 15):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    return make_traffic(seed=seed, start=start, sessions=sessions, spread=timedelta(minutes=40))


def test_scheduled_event_loads_new_objects_and_returns_a_summary(settings, s3, bucket, dw):
    records = recent_traffic(31, hours_ago=1)
    keys = put_by_hour(s3, bucket, records, per_object=20)
    scheduled = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    summary = handler.handler(scheduled, FakeContext())
    assert summary["status"] == "succeeded"
    assert {k: summary[k] for k in ("files", "events_loaded", "duplicates", "rejected")} == {
        "files": len(keys), "events_loaded": len(records), "duplicates": 0, "rejected": 0}
    assert summary["sessions_touched"] == len({r["session_id"] for r in records})
    assert summary["seconds"] > 0
    with dw.cursor() as cur:
        cur.execute("SELECT trigger FROM etl_runs")
        assert cur.fetchall() == [("scheduled",)]


def test_manual_backfill_reloads_only_what_the_manifest_lacks(settings, s3, bucket, dw):
    old = make_traffic(seed=32, start=datetime(2026, 10, 1, 9, tzinfo=UTC), sessions=10,
                       spread=timedelta(minutes=30))
    recent = recent_traffic(33, hours_ago=0)
    put_by_hour(s3, bucket, recent)
    handler.handler({"detail-type": "Scheduled Event"}, FakeContext())      # first run: everything so far
    old_keys = put_by_hour(s3, bucket, old)                                 # restored from an archive, say
    scheduled = handler.handler({"detail-type": "Scheduled Event"}, FakeContext())
    assert scheduled["files"] == 0                     # far outside the lookback window
    summary = handler.handler({"since": "2026-10-01T00:00:00Z", "until": "2026-10-01T23:59:59Z"}, None)
    assert (summary["files"], summary["events_loaded"]) == (len(old_keys), len(old))
    assert summary["window"] == {"since": "2026-10-01T00:00:00+00:00", "until": "2026-10-01T23:59:59+00:00"}
    assert event_ids(dw) == {r["event_id"] for r in old + recent}
    with pytest.raises(ValueError, match=r"until .* is before since"):
        handler.handler({"since": "2026-10-02T00:00:00Z", "until": "2026-10-01T00:00:00Z"}, None)


@pytest.mark.slow
def test_password_from_ssm_securestring(etl_env, s3, bucket, monkeypatch):
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=etl_env["AWS_ENDPOINT_URL"])
    name = f"/clickstream/dwh/{etl_env['DWH_USER']}"
    ssm.put_parameter(Name=name, Value=etl_env["DWH_PASSWORD"], Type="SecureString")
    env = {k: v for k, v in etl_env.items() if k != "DWH_PASSWORD"}
    env["DWH_PASSWORD_PARAM"] = name
    for k in etl_env:
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(config, "_password_cache", {})
    put_object(s3, bucket, datetime(2026, 11, 20, 10, tzinfo=UTC), recent_traffic(34, 0, sessions=1))
    assert handler.handler({"detail-type": "Scheduled Event"}, None)["status"] == "succeeded"
    # Read once per cold start: a second invocation does not ask SSM again.
    ssm.delete_parameter(Name=name)
    assert handler.handler({"detail-type": "Scheduled Event"}, None)["status"] == "succeeded"
    monkeypatch.setattr(config, "_password_cache", {})
    with pytest.raises(ConfigError, match=f"DWH_PASSWORD_PARAM={name}: cannot read the parameter"):
        handler.handler({"detail-type": "Scheduled Event"}, None)


@pytest.mark.slow
def test_cli_migrate_and_run_print_plain_progress_when_not_a_terminal(etl_env, pg_dsn, s3, bucket, dw):
    records = make_traffic(seed=35, start=datetime(2026, 11, 20, 10, tzinfo=UTC), sessions=20,
                           spread=timedelta(hours=2))
    keys = put_by_hour(s3, bucket, records, per_object=30)
    env = {**os.environ, **etl_env, "PYTHONPATH": str(REPO), "ETL_BATCH_MAX_FILES": "2"}
    cli = [sys.executable, "-m", "functions.etl"]
    # The writer may not change the schema: migrate needs the owner (here the superuser).
    denied = subprocess.run([*cli, "migrate"], env=env, capture_output=True, text=True, check=False)
    assert denied.returncode == 1 and "permission denied" in denied.stderr
    done = subprocess.run([*cli, "run", "--since", "2026-11-20T09:00:00Z", "--until", "2026-11-20T13:00:00Z"],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["files"], summary["events_loaded"]) == (len(keys), len(records))
    lines = done.stderr.splitlines()
    assert lines[0] == f"{len(keys)} new object(s) in {(len(keys) + 1) // 2} batch(es)"
    assert lines[-1].startswith(f"batch {(len(keys) + 1) // 2}/{(len(keys) + 1) // 2} committed")
    assert "\r" not in done.stderr
    bad = subprocess.run([*cli, "run", "--since", "yesterday"], env=env, capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2 and "since: not an ISO 8601 timestamp: 'yesterday'" in bad.stderr
    missing = subprocess.run([*cli, "run"], env={**env, "RAW_BUCKET": ""}, capture_output=True, text=True,
                             check=False)
    assert missing.returncode == 2 and "missing environment variable(s): RAW_BUCKET" in missing.stderr


def test_late_bot_event_turns_its_session_into_bot_traffic(settings, s3, bucket, dw):
    records = make_traffic(seed=36, start=datetime(2026, 11, 20, 10, tzinfo=UTC), sessions=10,
                           spread=timedelta(minutes=30), bot_share=0)
    put_by_hour(s3, bucket, records)
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    run(settings, s3=s3, now=now)
    victim = records[0]
    late = dict(victim, event_id="0f0e0d0c-0b0a-4908-8706-050403020100", event_name="click", is_bot=True,
                received_at="2026-11-20T12:20:00Z")
    late.pop("context", None)
    put_object(s3, bucket, datetime(2026, 11, 20, 12, tzinfo=UTC), [late])
    run(settings, s3=s3, now=now + timedelta(minutes=30))
    expected, actual = recompute([*records, late]), warehouse_state(dw)
    assert actual["sessions"][victim["session_id"]]["is_bot"] is True
    assert actual["funnel"] == expected["funnel"]
    assert actual["hourly"] == expected["hourly"]
    assert actual["daily"] == expected["daily"]
    assert actual["product"] == expected["product"]


def test_settings_name_what_is_wrong():
    base = {"DWH_HOST": "h", "DWH_USER": "u", "RAW_BUCKET": "b"}
    assert Settings.from_env(base).dwh_port == 5432
    assert Settings.from_env(base).dwh_database == "clickstream_dw"
    with pytest.raises(ConfigError, match="missing environment variable"):
        Settings.from_env({"DWH_HOST": "h"})
    with pytest.raises(ConfigError, match="DWH_PORT='abc': not an integer"):
        Settings.from_env({**base, "DWH_PORT": "abc"})
    with pytest.raises(ConfigError, match="ETL_MAX_WORKERS=0: must be between 1 and 64"):
        Settings.from_env({**base, "ETL_MAX_WORKERS": "0"})


def test_discovery_window_and_prefixes():
    now = datetime(2026, 11, 21, 3, 25, tzinfo=UTC)
    assert default_window(None, 3, now) == (None, now)
    since, until = default_window(datetime(2026, 11, 21, 1, tzinfo=UTC), 3, now)
    assert hour_prefixes(since, until) == [
        "events/2026/11/20/22/", "events/2026/11/20/23/", "events/2026/11/21/00/", "events/2026/11/21/01/",
        "events/2026/11/21/02/", "events/2026/11/21/03/"]
    assert key_hour("events/2026/11/21/03/events-x.json") == datetime(2026, 11, 21, 3, tzinfo=UTC)
    assert key_hour("events/2026/13/21/03/events-x.json") is None
    assert key_hour("other/2026/11/21/03/x.json") is None
    assert parse_window("2026-11-21", None)[0] == datetime(2026, 11, 21, tzinfo=UTC)
    with pytest.raises(ValueError, match="until without since"):
        parse_window(None, "2026-11-21")


def test_progress_on_a_terminal_is_one_updating_line():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    printer = ProgressPrinter(out)
    printer({"phase": "discovered", "files_total": 2, "batches": 1})
    printer({"phase": "object", "files_done": 1, "files_total": 2, "events": 10, "rejected": 1})
    printer({"phase": "object", "files_done": 2, "files_total": 2, "events": 5, "rejected": 0})
    printer({"phase": "batch", "batch": 1, "batches": 1, "files": 2, "events_loaded": 15, "duplicates": 0,
             "rejected": 1})
    text = out.getvalue()
    assert "\rfiles 2/2  events 15  rejected 1" in text
    assert text.endswith("batch 1/1 committed: 2 files, 15 events loaded, 0 duplicates, 1 rejected\n")
