"""What the demo prints (localplatform.demo.progress)."""

from __future__ import annotations

from pathlib import Path

from localplatform.demo import progress
from localplatform.demo.config import REPO


def test_steps_are_numbered_and_skips_remembered(capsys):
    p = progress.Progress()
    p.step(2, "local hosts")
    p.info("clickstream-dw: already running")
    p.skip(2, "missing roles/x")
    p.done()
    assert capsys.readouterr().out.splitlines() == [
        "", "==> [2/7] local hosts", "    clickstream-dw: already running", "    SKIPPED: missing roles/x",
        "    done (0s)"]
    assert p.skipped == ["step 2: missing roles/x"]


def test_tail_shows_a_logs_last_lines_indented(tmp_path: Path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert progress.tail(log, 2) == "    | line 98\n    | line 99"
    assert progress.tail(tmp_path / "missing.log") == ""


def test_paths_inside_the_repository_are_shown_relative():
    assert progress.rel(REPO / ".demo" / "logs") == ".demo/logs"
    assert progress.rel(Path("/var/log")) == "/var/log"
