"""The ETL as the schedule runs it, for the local platform: `python -m functions.etl run` every N seconds.

On AWS, EventBridge (SBW_ETL_HOURLY_RULE) starts Lambda ETL; locally this runs the same ETL
code as a subprocess with the environment the Lambda gets (DWH_*, RAW_BUCKET, AWS_*). Runs never
overlap: the next one starts `interval` seconds after the previous one ended.

In-process (the demo, while the traffic generator runs):

    scheduler = EtlScheduler(interval=15, env=etl_env, log_path=Path(".demo/logs/etl.log"))
    scheduler.start(); ...; scheduler.stop(); scheduler.run_once()

As a process of its own (`KEEP_RUNNING=1`: the scheduler stays on after the demo):

    python -m localplatform.scheduler --interval 60 --log .demo/logs/etl.log

which takes its environment from the caller and stops on SIGTERM/SIGINT after the current run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ETL_COMMAND = (sys.executable, "-m", "functions.etl", "run")


@dataclass(frozen=True)
class EtlRun:
    number: int
    returncode: int
    seconds: float
    summary: dict | None    # the ETL's own summary (its JSON line on stdout), when it printed one
    last_error: str         # its last line on stderr: the reason when it failed

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def skipped(self) -> bool:
        """The ETL found another run holding the warehouse's run lock and did nothing."""
        return bool(self.summary) and self.summary.get("status") == "skipped"

    def describe(self) -> str:
        s = self.summary or {}
        if not self.ok:
            return f"FAILED (exit {self.returncode}) in {self.seconds:.1f}s: {self.last_error[:200]}"
        if self.skipped:
            return f"skipped: {s.get('reason', 'another run in progress')}"
        if "events_loaded" in s:
            return (f"ok in {self.seconds:.1f}s: {s.get('files', 0)} file(s), {s['events_loaded']} event(s) "
                    f"loaded, {s.get('duplicates', 0)} duplicate(s), {s.get('rejected', 0)} rejected")
        return f"ok in {self.seconds:.1f}s"


def _json_summary(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.strip().startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


class EtlScheduler:
    """Runs the ETL now and then every `interval` seconds in a background thread, until stop()."""

    def __init__(self, interval: float, env: Mapping[str, str], log_path: Path,
                 on_run: Callable[[EtlRun], None] | None = None, timeout: float = 900):
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.interval = interval
        self.env = dict(env)
        self.log_path = log_path
        self.on_run = on_run
        self.timeout = timeout
        self.runs: list[EtlRun] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()      # one ETL run at a time, scheduled or final
        self._thread: threading.Thread | None = None

    def run_once(self) -> EtlRun:
        with self._lock:
            number = len(self.runs) + 1
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(f"--- ETL run {number} at {datetime.now(UTC).isoformat(timespec='seconds')}\n")
                log.flush()
                try:
                    proc = subprocess.run(ETL_COMMAND, cwd=REPO, env=self.env, capture_output=True,
                                          text=True, timeout=self.timeout, check=False)
                    stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
                except subprocess.TimeoutExpired as exc:
                    stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
                    stderr, code = f"timed out after {self.timeout}s", 124
                for text in (stderr, stdout):
                    log.write(text if text.endswith("\n") or not text else text + "\n")
            errors = [line for line in stderr.splitlines() if line.strip()]
            run = EtlRun(number, code, time.monotonic() - started, _json_summary(stdout),
                         errors[-1] if errors else "")
            self.runs.append(run)
        if self.on_run:
            self.on_run(run)
        return run

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="etl-scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the loop to stop and wait for a run in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localplatform.scheduler",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=float, default=60, help="seconds between ETL runs (default 60)")
    parser.add_argument("--log", type=Path, required=True, help="append the ETL's output here")
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())

    def report(run: EtlRun) -> None:
        print(f"{datetime.now(UTC).isoformat(timespec='seconds')} etl run {run.number}: {run.describe()}",
              flush=True)

    scheduler = EtlScheduler(args.interval, os.environ, args.log, on_run=report)
    while not stopping.is_set():
        scheduler.run_once()
        stopping.wait(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
