"""The command line (localplatform.demo.cli); `up` and `down` themselves run in tests/e2e/test_demo.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from localplatform.demo import cli
from localplatform.demo.config import REPO


def test_a_bad_option_is_one_line_naming_it_and_exit_1(monkeypatch, capsys):
    monkeypatch.setenv("SHOPPERS", "many")
    assert cli.main(["status"]) == 1
    assert capsys.readouterr().err.strip() == "make demo: SHOPPERS='many' is not a whole number"


def test_an_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["start"])
    assert exc.value.code == 2
    assert "invalid choice: 'start'" in capsys.readouterr().err


def test_python_dash_m_runs_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "localplatform.demo", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0
    assert "{up,down,status,etl}" in proc.stdout
