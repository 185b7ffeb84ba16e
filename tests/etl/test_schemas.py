"""functions.schemas as the ETL relies on it: the fast (jsonschema-rs) validators accept the
events ingest writes and never accept what python-jsonschema rejects."""

from __future__ import annotations

import random

from functions.schemas import (
    ENRICHMENT_VALIDATOR,
    EVENT_VALIDATOR,
    FAST_ENRICHMENT_VALIDATOR,
    FAST_EVENT_VALIDATOR,
)
from tests.etl.lines import RECORDS, mutations, split


def test_fast_validators_accept_realistic_events():
    for record in RECORDS:
        event, enrichment = split(record)
        assert FAST_EVENT_VALIDATOR.is_valid(event), event
        assert FAST_ENRICHMENT_VALIDATOR.is_valid(enrichment)


def test_fast_validators_never_accept_what_the_schema_rejects():
    rng = random.Random(1)
    samples = rng.sample(RECORDS, 5) + [r for r in RECORDS if r["event_name"] == "purchase"][:2]
    checked = disagreements = 0
    for record in samples:
        event, enrichment = split(record)
        for candidate in mutations(event):
            checked += 1
            if FAST_EVENT_VALIDATOR.is_valid(candidate):
                assert EVENT_VALIDATOR.is_valid(candidate), candidate
            else:
                disagreements += EVENT_VALIDATOR.is_valid(candidate)
        for candidate in mutations(enrichment):
            if FAST_ENRICHMENT_VALIDATOR.is_valid(candidate):
                assert ENRICHMENT_VALIDATOR.is_valid(candidate), candidate
    assert checked > 2000
    # They may disagree on valid oddities (a final newline before "$"...), but rarely.
    assert disagreements < checked * 0.05
