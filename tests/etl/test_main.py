"""__main__.py: the CLI (migrate, run), its exit codes and its progress output."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.etl.__main__ import ProgressPrinter
from tests.etl.support import make_traffic, put_by_hour

REPO = Path(__file__).resolve().parents[2]


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
