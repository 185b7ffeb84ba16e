"""The demo's state directory (.demo/): its layout, the generated passwords, the fixed traffic window.

Everything here survives between runs of `up` (which is what makes a re-run idempotent) and is
removed by `down`.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from datetime import datetime
from pathlib import Path

from localplatform import traffic
from localplatform.demo.config import SECRET_FILES, DemoConfig


def ensure_state_dir(cfg: DemoConfig) -> None:
    for directory in (cfg.state_dir, cfg.secrets_dir, cfg.logs_dir, cfg.state_dir / "pids"):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)


def ensure_secrets(cfg: DemoConfig) -> None:
    """Generate each local password once (mode 0600); inventories/local reads the same files."""
    alphabet = string.ascii_letters + string.digits
    for name in SECRET_FILES:
        path = cfg.secrets_dir / name
        if path.exists() and read_secret(path):
            path.chmod(0o600)
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(secrets.choice(alphabet) for _ in range(32)) + "\n")


def read_secret(path: Path) -> str:
    """The password in a file written by us or by Ansible's password lookup (first token)."""
    try:
        words = path.read_text(encoding="utf-8").split()
    except OSError:
        return ""
    return words[0] if words else ""


def traffic_window_end(cfg: DemoConfig) -> datetime:
    """The window end is fixed on the first run and kept in the state dir: a re-run sends the same
    events. WINDOW_END, when set, is the window's end (and is kept as such)."""
    state_file = cfg.state_dir / "state.json"
    if cfg.window_end is not None:
        state_file.write_text(json.dumps({"window_end": cfg.window_end.isoformat()}) + "\n")
        return cfg.window_end
    try:
        state = json.loads(state_file.read_text())
        return datetime.fromisoformat(state["window_end"])
    except (OSError, ValueError, KeyError):
        end = traffic.window_end_now()
        state_file.write_text(json.dumps({"window_end": end.isoformat()}) + "\n")
        return end
