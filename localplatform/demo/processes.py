"""The background processes the demo starts (moto, the ingest adapter, the demo shop, the ETL
schedule), and waiting for a server to answer over HTTP.

A process is recorded in <state>/pids/<name>.json with its pid and its start time since boot,
so a later `up` reuses it while it runs and `down` ends it, and neither ever mistakes another
process with a recycled pid for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from localplatform.demo.config import REPO, DemoConfig, DemoError
from localplatform.demo.progress import tail

#: What `down` and `status` look for, in the order `down` stops them.
PROCESS_NAMES = ("scheduler", "shop", "ingest", "s3")


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time since boot) of process `pid`; None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], fields[19]


def proc_start_ticks(pid: int) -> str | None:
    """The process's start time since boot, to tell it from a later process with a reused pid."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


@dataclass
class ManagedProcess:
    name: str
    pid_file: Path

    def read(self) -> dict | None:
        try:
            return json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def running_pid(self) -> int | None:
        info = self.read()
        if not info:
            return None
        pid = int(info["pid"])
        stat = _proc_stat(pid)
        if stat is None or stat[1] != info.get("start"):
            return None
        if stat[0] == "Z":  # exited; this process started it and has not reaped it yet
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return None
        return pid

    def start(self, cmd: Sequence[str], env: Mapping[str, str], log: Path) -> int:
        pid = self.running_pid()
        if pid:
            return pid
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            # A session of its own: `down` ends the process group it leads, and Ctrl-C in the
            # terminal does not reach a process meant to keep running (KEEP_RUNNING=1).
            proc = subprocess.Popen(list(cmd), cwd=REPO, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "start": proc_start_ticks(proc.pid),
                                             "cmd": list(cmd)}))
        return proc.pid

    def stop(self, timeout: float = 10) -> bool:
        """End the process group this demo started (verified by start time); True if one was running."""
        pid = self.running_pid()
        self.pid_file.unlink(missing_ok=True)
        if not pid:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if proc_start_ticks(pid) is None:
                return True
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        return True


def managed(cfg: DemoConfig, name: str) -> ManagedProcess:
    return ManagedProcess(name, cfg.state_dir / "pids" / f"{name}.json")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http_status(url: str, timeout: float) -> int | None:
    """The HTTP status `url` answers with; None when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 -- our own loopback URLs
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def wait_http(url: str, timeout: float, proc: ManagedProcess | None = None, log: Path | None = None) -> None:
    """Wait until `url` answers at all (any HTTP status counts: the server is up)."""
    deadline = time.monotonic() + timeout
    while http_status(url, timeout=2) is None:
        if proc is not None and proc.running_pid() is None:
            raise DemoError(f"{proc.name} exited while starting; its log:\n{tail(log) if log else ''}")
        if time.monotonic() > deadline:
            raise DemoError(f"{url} did not answer within {timeout:.0f}s"
                            + (f"; log:\n{tail(log)}" if log else ""))
        time.sleep(0.3)


def answers_ok(url: str, timeout: float) -> bool:
    """Whether `url` answers 200 within `timeout` seconds (a server may still be restarting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_status(url, timeout=30) == 200:
            return True
        time.sleep(2)
    return False
