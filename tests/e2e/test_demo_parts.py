"""Fast tests of the demo orchestration's parts: options, secrets, the processes it manages."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from localplatform import demo
from localplatform.scheduler import EtlRun, EtlScheduler


def test_defaults_and_options_from_the_environment(tmp_path: Path):
    cfg = demo.DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path)})
    assert (cfg.shoppers, cfg.days, cfg.seed, cfg.keep_running, cfg.dwh_dsn) == (200, 3, 7, False, None)
    assert cfg.dashboard_url == "http://127.0.0.1:13838/"
    assert cfg.ingest_url == "http://127.0.0.1:18080/clickstream"
    cfg = demo.DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), "SHOPPERS": "50", "DAYS": "1.5",
                                    "SEED": "0", "KEEP_RUNNING": "1", "DEMO_SHINY_PORT": "8838",
                                    "DWH_DSN": "host=db.internal dbname=clickstream_dw user=me",
                                    "S3_ENDPOINT": "http://127.0.0.1:4566"})
    assert (cfg.shoppers, cfg.days, cfg.seed, cfg.keep_running) == (50, 1.5, 0, True)
    assert cfg.s3_url == "http://127.0.0.1:4566" and cfg.dashboard_url == "http://127.0.0.1:8838/"
    wh = demo.Warehouse.for_demo(cfg, use_dw_host=False)
    assert wh.etl["DWH_HOST"] == "db.internal" and wh.etl["DWH_PORT"] == "5432"


@pytest.mark.parametrize(("env", "message"), [
    ({"SHOPPERS": "many"}, "SHOPPERS='many' is not a whole number"),
    ({"SHOPPERS": "0"}, "SHOPPERS=0 must be at least 1"),
    ({"DAYS": "-1"}, "DAYS=-1 must be positive"),
    ({"DAYS": "45"}, "DAYS=45: at most 30 days"),
    ({"DEMO_DW_PORT": "70000"}, "DEMO_DW_PORT=70000 is not a TCP port"),
    ({"S3_ENDPOINT": "localhost:4566"}, "S3_ENDPOINT"),
    ({"DWH_DSN": "host=x password=hunter2 nonsense"}, "DWH_DSN is not a valid"),
])
def test_bad_options_name_the_variable(tmp_path: Path, env, message):
    with pytest.raises(demo.DemoError, match="^" + re.escape(message)) as exc:
        demo.DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), **env})
    assert "hunter2" not in str(exc.value)


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path):
    cfg = demo.DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path / "state")})
    demo.ensure_state_dir(cfg)
    demo.ensure_secrets(cfg)
    first = {name: demo.read_secret(cfg.secrets_dir / name) for name in demo.SECRET_FILES}
    assert all(len(p) == 32 and p.isalnum() for p in first.values())
    assert len(set(first.values())) == len(first)
    demo.ensure_secrets(cfg)
    assert {name: demo.read_secret(cfg.secrets_dir / name) for name in demo.SECRET_FILES} == first
    for name in demo.SECRET_FILES:
        assert (cfg.secrets_dir / name).stat().st_mode & 0o777 == 0o600
    assert cfg.secrets_dir.stat().st_mode & 0o777 == 0o700
    # Ansible's password lookup may append " salt=..." to the file: the password is the first word.
    (cfg.secrets_dir / "dw_etl_writer").write_text("abc123 salt=xyz\n")
    assert demo.read_secret(cfg.secrets_dir / "dw_etl_writer") == "abc123"


def test_managed_process_is_reused_and_stopped_by_its_recorded_id(tmp_path: Path):
    proc = demo.ManagedProcess("sleeper", tmp_path / "sleeper.json")
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    pid = proc.start(cmd, os.environ, tmp_path / "sleeper.log")
    assert proc.running_pid() == pid
    assert proc.start(cmd, os.environ, tmp_path / "sleeper.log") == pid, "a running process is reused"
    assert proc.stop() is True
    assert demo._proc_start_ticks(pid) is None or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    assert proc.running_pid() is None and not proc.pid_file.exists()
    assert proc.stop() is False


def test_a_recycled_pid_is_not_taken_for_ours(tmp_path: Path):
    proc = demo.ManagedProcess("other", tmp_path / "other.json")
    # Our own pid, but recorded with another start time: not the process the demo started.
    proc.pid_file.write_text(f'{{"pid": {os.getpid()}, "start": "1", "cmd": []}}')
    assert proc.running_pid() is None
    assert proc.stop() is False  # and nothing was signalled: this test is still running


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
