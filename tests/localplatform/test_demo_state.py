"""The demo's state directory: generated passwords, the fixed traffic window (localplatform.demo.state)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from localplatform.demo import state
from localplatform.demo.config import SECRET_FILES, DemoConfig


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path):
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path / "state")})
    state.ensure_state_dir(cfg)
    state.ensure_secrets(cfg)
    first = {name: state.read_secret(cfg.secrets_dir / name) for name in SECRET_FILES}
    assert all(len(p) == 32 and p.isalnum() for p in first.values())
    assert len(set(first.values())) == len(first)
    state.ensure_secrets(cfg)
    assert {name: state.read_secret(cfg.secrets_dir / name) for name in SECRET_FILES} == first
    for name in SECRET_FILES:
        assert (cfg.secrets_dir / name).stat().st_mode & 0o777 == 0o600
    assert cfg.secrets_dir.stat().st_mode & 0o777 == 0o700
    # Ansible's password lookup may append " salt=..." to the file: the password is the first word.
    (cfg.secrets_dir / "dw_etl_writer").write_text("abc123 salt=xyz\n")
    assert state.read_secret(cfg.secrets_dir / "dw_etl_writer") == "abc123"


def test_the_traffic_window_is_fixed_by_the_first_run(tmp_path: Path):
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path / "state")})
    state.ensure_state_dir(cfg)
    end = state.traffic_window_end(cfg)
    assert end.tzinfo is not None and (end.minute, end.second, end.microsecond) == (0, 0, 0)
    assert datetime.fromisoformat(json.loads((cfg.state_dir / "state.json").read_text())["window_end"]) == end
    kept = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    (cfg.state_dir / "state.json").write_text(json.dumps({"window_end": kept.isoformat()}))
    assert state.traffic_window_end(cfg) == kept, "a later run keeps the recorded window"
