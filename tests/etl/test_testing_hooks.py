"""testing_hooks.py: the test-only pause points (their use against killed processes: test_processes.py)."""

from __future__ import annotations

import threading
import time

from functions.etl import testing_hooks


def test_without_the_variable_a_phase_passes_at_once(monkeypatch):
    monkeypatch.delenv("ETL_TEST_PAUSE_AT", raising=False)
    started = time.monotonic()
    for phase in testing_hooks.PHASES:
        testing_hooks.on_phase(phase)
    assert time.monotonic() - started < 0.5


def test_the_named_phase_pauses_once_until_its_file_is_removed(monkeypatch, tmp_path):
    marker = tmp_path / "paused"
    monkeypatch.setattr(testing_hooks, "_paused", set())
    monkeypatch.setenv("ETL_TEST_PAUSE_AT", "sessions")
    monkeypatch.setenv("ETL_TEST_PAUSE_FILE", str(marker))
    monkeypatch.setenv("ETL_TEST_PAUSE_SECONDS", "30")
    testing_hooks.on_phase("staged")                      # another phase: no pause
    assert not marker.exists()
    paused = threading.Thread(target=testing_hooks.on_phase, args=("sessions",))
    paused.start()
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.read_text() == "sessions" and paused.is_alive()
    marker.unlink()
    paused.join(timeout=5)
    assert not paused.is_alive()
    started = time.monotonic()
    testing_hooks.on_phase("sessions")                    # the second lane at the same phase: no pause
    assert time.monotonic() - started < 0.5 and not marker.exists()
