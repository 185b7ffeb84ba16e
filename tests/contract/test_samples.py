"""The contract check: the committed sample raw objects of every contract version the platform
accepts (samples/v<N>/, written once by make_samples.py when that version shipped) still load.
A schema change that would refuse yesterday's events, or dropping a version whose events may
still arrive, fails here; so does a new version shipped without its samples."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from functions.etl.parsing import ObjectParse, parse_line, parse_object
from functions.etl.values import RejectedLine
from functions.schemas import ACCEPTED_VERSIONS, DEFAULT_VERSION, ENRICHMENT_FIELDS, validate_event

SAMPLES = Path(__file__).with_name("samples")
SAMPLE_FILES = sorted(p for p in SAMPLES.glob("v*/*") if p.is_file())


def version_of(path: Path) -> int:
    return int(path.parent.name.removeprefix("v"))


def test_every_accepted_version_has_samples_and_every_sampled_version_is_accepted():
    sampled = {version_of(p) for p in SAMPLE_FILES}
    assert sampled == set(ACCEPTED_VERSIONS), (
        f"sample versions {sorted(sampled)} != accepted {list(ACCEPTED_VERSIONS)}: a new version needs"
        " samples (python -m tests.contract.make_samples); a version whose events may still arrive must"
        " stay accepted")


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_etl_loads_every_sample_line(path: Path):
    result = ObjectParse()
    chunks = iter([path.read_bytes()])
    rows = b"".join(parse_object(chunks, f"events/{path.name}", path.suffix == ".gz", result))
    assert result.rejects == [] and result.rejected == 0
    assert result.events == result.lines > 0 and rows.count(b"\n") == result.events


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_ingest_accepts_every_sample_event_under_its_own_version(path: Path):
    import gzip  # noqa: PLC0415

    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    for line in data.splitlines():
        record = json.loads(line)
        event = {k: v for k, v in record.items() if k not in ENRICHMENT_FIELDS}
        assert event.get("schema_version", DEFAULT_VERSION) == version_of(path)
        assert validate_event(event) is None, event


def sample_event() -> dict:
    return json.loads((SAMPLES / f"v{DEFAULT_VERSION}" / "named-version.jsonl").read_text().splitlines()[0])


@pytest.mark.parametrize("version", [max(ACCEPTED_VERSIONS) + 1, 0, "1", True, None, 1.5])
def test_a_version_not_accepted_is_refused_naming_it_at_ingest_and_at_the_etl(version):
    record = sample_event() | {"schema_version": version}
    event = {k: v for k, v in record.items() if k not in ENRICHMENT_FIELDS}
    reason = validate_event(event)
    assert reason is not None and reason.startswith("schema_version:") and json.dumps(version) in reason
    with pytest.raises(RejectedLine, match=r"^schema_version: .* is not a contract version"):
        parse_line(json.dumps(record).encode(), "events/k.json")


def test_an_event_without_the_field_is_the_default_version_and_loads_as_before():
    record = sample_event()
    without = copy.deepcopy(record)
    del without["schema_version"]
    assert parse_line(json.dumps(without).encode(), "k") == parse_line(json.dumps(record).encode(), "k")
