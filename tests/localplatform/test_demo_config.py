"""The demo's options from the environment (localplatform.demo.config)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from localplatform.demo import config
from localplatform.demo.config import DemoConfig, DemoError


def test_defaults_and_options_from_the_environment(tmp_path: Path):
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path)})
    assert (cfg.shoppers, cfg.days, cfg.seed, cfg.keep_running, cfg.dwh_dsn) == (1600, 4, 7, False, None)
    assert (cfg.outage, cfg.late_batch, cfg.window_end) == (True, True, None)
    assert cfg.dashboard_url == "http://127.0.0.1:13838/"
    assert cfg.ingest_url == "http://127.0.0.1:18080/clickstream"
    assert (cfg.walk_sessions, cfg.shop_url) == (5, "http://127.0.0.1:18081")
    assert cfg.walk_record_path == tmp_path.resolve() / "walk.json"
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), "SHOPPERS": "50", "DAYS": "1.5",
                               "SEED": "0", "KEEP_RUNNING": "1", "DEMO_SHINY_PORT": "8838",
                               "WALK_SESSIONS": "0", "DEMO_SHOP_PORT": "3000", "OUTAGE": "0",
                               "LATE_BATCH": "off", "WINDOW_END": "2026-03-01T00:00Z",
                               "DWH_DSN": "host=db.internal dbname=clickstream_dw user=me",
                               "S3_ENDPOINT": "http://127.0.0.1:4566"})
    assert (cfg.shoppers, cfg.days, cfg.seed, cfg.keep_running) == (50, 1.5, 0, True)
    assert (cfg.walk_sessions, cfg.shop_url) == (0, "http://127.0.0.1:3000")
    assert (cfg.outage, cfg.late_batch) == (False, False)
    assert cfg.window_end == datetime(2026, 3, 1, tzinfo=UTC)
    assert cfg.s3_url == "http://127.0.0.1:4566" and cfg.dashboard_url == "http://127.0.0.1:8838/"


def test_the_state_dir_defaults_to_dot_demo_in_the_repository():
    cfg = DemoConfig.from_env({})
    assert cfg.state_dir == config.REPO / ".demo"
    assert (cfg.secrets_dir, cfg.logs_dir) == (cfg.state_dir / "secrets", cfg.state_dir / "logs")


@pytest.mark.parametrize(("env", "message"), [
    ({"SHOPPERS": "many"}, "SHOPPERS='many' is not a whole number"),
    ({"SHOPPERS": "0"}, "SHOPPERS=0 must be at least 1"),
    ({"DAYS": "-1"}, "DAYS=-1 must be positive"),
    ({"DAYS": "45"}, "DAYS=45: at most 30 days"),
    ({"DEMO_DW_PORT": "70000"}, "DEMO_DW_PORT=70000 is not a TCP port"),
    ({"WALK_SESSIONS": "-1"}, "WALK_SESSIONS=-1 must be at least 0"),
    ({"OUTAGE": "maybe"}, "OUTAGE='maybe' is not 1 or 0"),
    ({"WINDOW_END": "yesterday"}, "WINDOW_END='yesterday' is not an RFC 3339 time"),
    ({"WINDOW_END": "2026-03-01T10:30Z"}, "WINDOW_END='2026-03-01T10:30Z' must be a whole hour"),
    ({"WINDOW_END": "2026-03-01T10:00"}, "WINDOW_END='2026-03-01T10:00' must be a whole hour with a UTC"),
    ({"WINDOW_END": "2999-01-01T00:00Z"}, "WINDOW_END='2999-01-01T00:00Z' is in the future"),
    ({"S3_ENDPOINT": "localhost:4566"}, "S3_ENDPOINT"),
    ({"DWH_DSN": "host=x password=hunter2 nonsense"}, "DWH_DSN is not a valid"),
])
def test_bad_options_name_the_variable(tmp_path: Path, env, message):
    with pytest.raises(DemoError, match="^" + re.escape(message)) as exc:
        DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), **env})
    assert "hunter2" not in str(exc.value)


def test_tools_run_with_the_venv_first_and_podmans_settings_for_this_machine(monkeypatch):
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    env = config.tool_env()
    assert env["PATH"].split(os.pathsep)[0] == str(config.VENV_BIN)
    assert env["CONTAINERS_CONF"] == str(config.REPO / "ci" / "containers.conf")
    assert Path(env["CONTAINERS_CONF"]).is_file()
    monkeypatch.setenv("CONTAINERS_CONF", "/etc/containers/mine.conf")
    assert config.tool_env()["CONTAINERS_CONF"] == "/etc/containers/mine.conf", "an exported one wins"
