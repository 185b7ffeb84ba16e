"""What the demo prints: a numbered line per step, indented details, the skipped steps."""

from __future__ import annotations

import time
from pathlib import Path

from localplatform.demo.config import REPO

TOTAL_STEPS = 7


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self._step_started = self.started
        self.skipped: list[str] = []

    def step(self, number: int, title: str) -> None:
        self._step_started = time.monotonic()
        print(f"\n==> [{number}/{TOTAL_STEPS}] {title}", flush=True)

    @staticmethod
    def info(text: str) -> None:
        print(f"    {text}", flush=True)

    def done(self, text: str = "done") -> None:
        print(f"    {text} ({time.monotonic() - self._step_started:.0f}s)", flush=True)

    def skip(self, number: int, reason: str) -> None:
        self.skipped.append(f"step {number}: {reason}")
        print(f"    SKIPPED: {reason}", flush=True)


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log, indented, for an error message ("" when there is no such file)."""
    try:
        content = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"    | {line}" for line in content[-lines:])


def rel(path: Path) -> str:
    """A path as the user reads it: relative to the repository when it is inside."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)
