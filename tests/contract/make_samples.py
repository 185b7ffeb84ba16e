"""Writes the contract check's sample raw objects of the current contract version, once, when a
version is added (they are then committed and never regenerated: they are yesterday's events).

    .venv/bin/python -m tests.contract.make_samples

The traffic generator's requests (every event type, guests and signed-in shoppers, product and
order contexts, bots) go through the real ingest function; each stored raw object is written
under samples/v<N>/ exactly as ingest would put it in the bucket.
"""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from functions.ingest.request import IngestRequest
from functions.ingest.service import ingest
from functions.schemas import SCHEMA_VERSION
from localplatform import traffic

SAMPLES = Path(__file__).with_name("samples")
WINDOW_END = datetime(2026, 12, 1, 12, tzinfo=UTC)


class _Capture:
    def __init__(self) -> None:
        self.objects: list[tuple[str, bytes]] = []

    def put(self, key: str, body: bytes) -> None:
        self.objects.append((key, body))


def _epoch_ms(event: dict) -> int:
    """When the event happened (the generator writes RFC 3339 strings and epoch milliseconds;
    a deliberately broken event counts as the start of the window)."""
    value = event.get("event_timestamp")
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except (TypeError, ValueError):
        return int(WINDOW_END.timestamp() * 1000) - 86_400_000


def main() -> int:
    sim = traffic.simulate(traffic.load_catalog(), shoppers=12, days=1, seed=19, window_end=WINDOW_END)
    sink = _Capture()
    for n, batch in enumerate(sim.batches):
        sent_at = max(map(_epoch_ms, batch.events))
        request = IngestRequest("POST", "application/json", None, json.dumps({"events": batch.events}), False,
                                f"198.51.100.{n % 250}", batch.user_agent, str(uuid.UUID(int=n)),
                                sent_at + 1500)
        ingest(request, sink)
    out = SAMPLES / f"v{SCHEMA_VERSION}"
    out.mkdir(parents=True, exist_ok=True)
    lines = b"".join(body for _, body in sink.objects)
    (out / "traffic.jsonl.gz").write_bytes(gzip.compress(lines, mtime=0))
    # A few events that name their version, as a client that knows the field sends them.
    named = [json.loads(line) | {"schema_version": SCHEMA_VERSION} for line in lines.splitlines()[:8]]
    (out / "named-version.jsonl").write_text("".join(json.dumps(e) + "\n" for e in named), encoding="utf-8")
    print(f"wrote {len(lines.splitlines())} lines of {len(sink.objects)} raw objects to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
