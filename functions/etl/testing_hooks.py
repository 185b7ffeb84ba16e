"""Test-only pause points: where a test stops an ETL process to run a second one alongside or kill it.

ETL_TEST_PAUSE_AT=<phase> makes the process stop at that phase (of its first batch), write the
phase to ETL_TEST_PAUSE_FILE and wait there until it is killed or, with ETL_TEST_PAUSE_SECONDS,
until that file is removed (at most that long). Unset (always, outside tests), ``on_phase`` only
reads the environment and returns.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: The phases of a run's batches, in order ("committed" after each batch). After the batches, the
#: booked-orders step pauses at "orders_upserted" (written, not yet committed) when it runs.
PHASES = ("locked", "discovered", "staged", "inserted", "sessions", "aggregates", "recorded", "committed")
_paused: set[str] = set()
_paused_lock = threading.Lock()


def on_phase(phase: str) -> None:
    """The run reached ``phase``: pause there if ETL_TEST_PAUSE_AT names it (once per process)."""
    if os.environ.get("ETL_TEST_PAUSE_AT") != phase:
        return
    with _paused_lock:          # two lanes may reach a phase at once: pause the first only
        if phase in _paused:
            return
        _paused.add(phase)
    marker = os.environ.get("ETL_TEST_PAUSE_FILE")
    if marker:   # written then renamed, so a watcher never reads it half-written
        partial = Path(f"{marker}.partial")
        partial.write_text(phase)
        partial.replace(marker)
    seconds = os.environ.get("ETL_TEST_PAUSE_SECONDS")
    log.warning("ETL_TEST_PAUSE_AT=%s: paused (%s)", phase, f"{seconds} s" if seconds else "until killed")
    if seconds:
        deadline = time.monotonic() + float(seconds)
        while time.monotonic() < deadline and (not marker or Path(marker).exists()):
            time.sleep(0.05)
        return
    while True:
        time.sleep(60)
