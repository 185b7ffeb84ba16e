"""scripts/package-lambdas.sh: Lambda zips with manylinux wheels for the chosen architecture."""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "package-lambdas.sh"
ELF_MACHINE_X86_64 = 62
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


def pins(name: str) -> dict[str, str]:
    """requirements/<name>: canonical project name -> version, following -r includes."""
    found: dict[str, str] = {}
    for raw in (REPO / "requirements" / name).read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line.startswith("-r "):
            found.update(pins(line[3:].strip()))
        elif "==" in line:
            project, version = line.split("==")
            found[re.sub(r"[-_.]+", "-", project.split("[")[0]).lower()] = version
    return found


def test_lambda_pins_are_the_tested_pins():
    """What ships in the zips is what the tests ran (requirements/dev.txt)."""
    dev = pins("dev.txt")
    for name in ("lambda-ingest.txt", "lambda-etl.txt"):
        shipped = pins(name)
        assert {p: dev.get(p) for p in shipped} == shipped, name
    assert {"crawlerdetect"} <= set(pins("lambda-ingest.txt"))
    assert {"ua-parser", "ua-parser-builtins", "ua-parser-rs", "maxminddb"} <= set(pins("lambda-etl.txt"))
    assert "mmdb-writer" not in pins("lambda-etl.txt")  # test-only


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "python_version", "elf_machine"), [
    ("x86_64", "3.11", ELF_MACHINE_X86_64),     # the stacks' default runtime
    # arm64 needs the Amazon Linux 2023 runtime: jsonschema-rs has aarch64 wheels for glibc 2.28+ only.
    ("arm64", "3.12", ELF_MACHINE_AARCH64),
])
def test_zips_carry_code_and_wheels_for_the_platform(tmp_path: Path, arch: str, python_version: str,
                                                     elf_machine: int) -> None:
    """Downloads the pinned wheels from the package index (about 15 s each)."""
    result = run(arch, out=tmp_path, python_version=python_version)
    assert result.returncode == 0, result.stderr[-3000:]
    for name, handler in (("ingest", "functions/ingest/handler.py"), ("etl", "functions/etl/handler.py")):
        with zipfile.ZipFile(tmp_path / f"lambda-{name}.zip") as zf:
            names = set(zf.namelist())
            assert handler in names
            assert "functions/schemas/clickstream-event.v1.json" in names
            assert "functions/raw_layout.py" in names      # the key layout both of them use
            enrichment = ("__init__", "bots", "user_agent", "geo", "urls")
            assert {f"functions/enrichment/{module}.py" for module in enrichment} <= names
            assert any(n.startswith("crawlerdetect/providers/") for n in names)  # the crawler list
            assert not any("__pycache__" in n for n in names)
            assert not any(n.startswith(("boto3/", "botocore/")) for n in names)  # the runtime has them
            assert any(n.startswith("aws_lambda_powertools/") for n in names)
            assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}  # reproducible bytes
            shared = [n for n in names if n.endswith(".so")]
            assert shared
            for so in shared:
                header = zf.read(so)[:20]
                assert header[:4] == b"\x7fELF"
                assert int.from_bytes(header[18:20], "little") == elf_machine, so
    with zipfile.ZipFile(tmp_path / "lambda-etl.zip") as zf:
        names = zf.namelist()
        assert any(n.startswith("psycopg2/_psycopg") for n in names)
        assert any(n.startswith("ua_parser_rs/") and n.endswith(".so") for n in names)  # the Rust resolver
        assert any(n.startswith("ua_parser_builtins/") for n in names)
        assert any(n.startswith("maxminddb/extension") and n.endswith(".so") for n in names)
        assert "functions/warehouse/migrate.py" in names
        assert "functions/warehouse/migrations/006_channel_rules.sql" in names
        assert "functions/warehouse/dashboard/common.sql" in names
        batch_sql = {f"functions/etl/sql/{p.name}" for p in (REPO / "functions/etl/sql").glob("*.sql")}
        assert batch_sql and batch_sql <= set(names)     # what etl/batch.py loads at import
    with zipfile.ZipFile(tmp_path / "lambda-ingest.zip") as zf:
        assert not any(n.startswith(("ua_parser", "maxminddb/")) for n in zf.namelist())  # the ETL's only
