"""The ETL on a schedule, for the local platform (localplatform.scheduler)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from localplatform.scheduler import EtlRun, EtlScheduler


def test_scheduler_runs_on_its_interval_and_reads_the_etl_summary(tmp_path: Path, monkeypatch):
    script = tmp_path / "fake_etl.py"
    script.write_text("import json, sys\nprint('batch 1/1 committed', file=sys.stderr)\n"
                      "print(json.dumps({'status': 'succeeded', 'files': 2, 'events_loaded': 7}))\n")
    monkeypatch.setattr("localplatform.scheduler.ETL_COMMAND", (sys.executable, str(script)))
    seen: list[EtlRun] = []
    scheduler = EtlScheduler(0.2, os.environ, tmp_path / "etl.log", on_run=seen.append)
    scheduler.start()
    time.sleep(1.5)
    scheduler.stop()
    count = len(seen)
    assert count >= 2
    time.sleep(0.5)
    assert len(seen) == count, "no run after stop()"
    assert all(r.ok and r.summary["events_loaded"] == 7 for r in seen)
    assert "2 file(s), 7 event(s) loaded" in seen[0].describe()
    assert "batch 1/1 committed" in (tmp_path / "etl.log").read_text()


def test_scheduler_reports_a_failed_run(tmp_path: Path, monkeypatch):
    script = tmp_path / "broken_etl.py"
    script.write_text("import sys\nprint('etl: missing environment variable(s): DWH_HOST', file=sys.stderr)\n"
                      "sys.exit(2)\n")
    monkeypatch.setattr("localplatform.scheduler.ETL_COMMAND", (sys.executable, str(script)))
    run = EtlScheduler(5, os.environ, tmp_path / "etl.log").run_once()
    assert not run.ok and run.returncode == 2
    assert "DWH_HOST" in run.describe()
