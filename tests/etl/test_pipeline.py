"""pipeline.py: the plan of batches (the lanes and parts run end to end in test_load.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.etl.pipeline import batches
from functions.etl.raw_bucket import RawObject
from functions.raw_layout import object_key

HOUR = datetime(2026, 11, 21, 3, tzinfo=UTC)


def objects(*sizes: int) -> list[RawObject]:
    return [RawObject(object_key(HOUR, str(i)), "e", size, HOUR) for i, size in enumerate(sizes)]


def test_a_plan_cuts_the_objects_in_order_by_files_and_bytes():
    plan = list(batches(objects(10, 10, 10, 10, 10), max_files=2, max_bytes=1000))
    assert [[o.key for o in b] for b in plan] == [[object_key(HOUR, "0"), object_key(HOUR, "1")],
                                                  [object_key(HOUR, "2"), object_key(HOUR, "3")],
                                                  [object_key(HOUR, "4")]]
    plan = list(batches(objects(60, 50, 10, 100), max_files=10, max_bytes=100))
    assert [[o.size for o in b] for b in plan] == [[60], [50, 10], [100]]
    # An object larger than a batch's bytes is a batch of its own, never dropped.
    plan = list(batches(objects(500, 5), max_files=10, max_bytes=100))
    assert [[o.size for o in b] for b in plan] == [[500], [5]]
    assert list(batches([], max_files=2, max_bytes=100)) == []
