"""scripts/package-lambdas.sh: Lambda zips with manylinux wheels for the chosen architecture."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "package-lambdas.sh"
ELF_MACHINE_AARCH64 = 183


def run(*args: str, out: Path, python_version: str = "3.11") -> subprocess.CompletedProcess:
    env = {**os.environ, "OUT_DIR": str(out), "PYTHON_VERSION": python_version}
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, check=False, timeout=600
    )


def test_unknown_architecture_is_refused(tmp_path: Path) -> None:
    result = run("sparc", out=tmp_path)
    assert result.returncode == 2
    assert "architecture 'sparc' is not x86_64 or arm64" in result.stderr
    assert list(tmp_path.iterdir()) == []
    result = run("x86_64", out=tmp_path, python_version="3.9")
    assert result.returncode == 2
    assert "PYTHON_VERSION '3.9' is not a Lambda Python runtime" in result.stderr


@pytest.mark.slow
def test_arm64_zips_carry_code_and_aarch64_wheels(tmp_path: Path) -> None:
    """Downloads the pinned wheels from the package index (about 15 s)."""
    # arm64 needs the Amazon Linux 2023 runtime: jsonschema-rs has aarch64 wheels for glibc 2.28+ only.
    result = run("arm64", out=tmp_path, python_version="3.12")
    assert result.returncode == 0, result.stderr[-3000:]
    for name, handler in (("ingest", "functions/ingest/handler.py"), ("etl", "functions/etl/handler.py")):
        with zipfile.ZipFile(tmp_path / f"lambda-{name}.zip") as zf:
            names = set(zf.namelist())
            assert handler in names
            assert "functions/schemas/clickstream-event.v1.json" in names
            assert "functions/raw_layout.py" in names      # the key layout both of them use
            assert not any("__pycache__" in n for n in names)
            assert not any(n.startswith(("boto3/", "botocore/")) for n in names)  # the runtime has them
            assert any(n.startswith("aws_lambda_powertools/") for n in names)
            assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}  # reproducible bytes
            shared = [n for n in names if n.endswith(".so")]
            assert shared
            for so in shared:
                header = zf.read(so)[:20]
                assert header[:4] == b"\x7fELF"
                assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, so
    with zipfile.ZipFile(tmp_path / "lambda-etl.zip") as zf:
        assert any(n.startswith("psycopg2/_psycopg") for n in zf.namelist())
        assert "functions/warehouse/migrate.py" in zf.namelist()
        batch_sql = {f"functions/etl/sql/{p.name}" for p in (REPO / "functions/etl/sql").glob("*.sql")}
        assert batch_sql and batch_sql <= set(zf.namelist())     # what etl/batch.py loads at import
