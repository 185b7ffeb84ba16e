"""The batch pipeline: a run's plan of batches, each streamed from the raw bucket into COPY, on two lanes.

Objects are fetched by a bounded pool of threads (botocore's connection pool sized to match)
and streamed line by line; parsed rows flow through a bounded queue straight into COPY, so
memory stays bounded by (queue size x chunk size) whatever the number or size of objects.

A batch reaches the database in parts of PART_BYTES: PostgreSQL inserts one part while the
worker threads parse the next. Two lanes (connections) take the batches in plan order, so one
batch is fetched, parsed and inserted while the previous one is sessionized and aggregated
(see _Plan): the Python work and the database's overlap instead of waiting for each other.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg2

from functions.etl import batch, warehouse
from functions.etl.config import Settings
from functions.etl.parsing import ObjectParse, parse_object
from functions.etl.raw_bucket import FetchFailed, ObjectVanished, RawObject, open_object
from functions.etl.testing_hooks import on_phase

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]

#: COPY text of one part of a batch (~30,000 rows): small enough that parsing the next part
#: overlaps inserting this one from the start, large enough that per-statement costs vanish.
PART_BYTES = 16 * 1024 * 1024


def batches(objects: list[RawObject], max_files: int, max_bytes: int) -> Iterator[list[RawObject]]:
    """The plan: objects in order, cut into batches of at most max_files objects and max_bytes."""
    current: list[RawObject] = []
    size = 0
    for obj in objects:
        if current and (len(current) >= max_files or size + obj.size > max_bytes):
            yield current
            current, size = [], 0
        current.append(obj)
        size += obj.size
    if current:
        yield current


class _Stopped(Exception):
    pass


class BatchStream:
    """A file-like object for COPY: rows of the batch's objects, fetched and parsed in worker threads."""

    #: Parsed chunks (of about 2000 rows, ~1 MB) held ahead of COPY: what the next batch can get
    #: ready while the current one is in the database, and the bound on that memory.
    QUEUE_CHUNKS = 48

    def __init__(self, s3, bucket: str, objects: list[RawObject], workers: int,
                 on_object: Callable[[RawObject, ObjectParse], None] | None = None):
        self._s3, self._bucket, self._objects = s3, bucket, objects
        self._queue: queue.Queue = queue.Queue(maxsize=max(self.QUEUE_CHUNKS, workers))
        self._stop = threading.Event()
        self._pending = len(objects)
        self._on_object = on_object
        self.finished = False     # every object done: read() returns b"" from now on
        self.loaded: list[tuple[RawObject, ObjectParse]] = []
        self.vanished: list[RawObject] = []
        self.failure: FetchFailed | None = None   # psycopg2 wraps what read() raises: keep the cause
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(objects))),
                                        thread_name_prefix="etl-fetch")
        for obj in objects:
            self._pool.submit(self._work, obj)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _work(self, obj: RawObject) -> None:
        result = ObjectParse()
        try:
            with open_object(self._s3, self._bucket, obj) as (chunks, gzipped):
                for rows in parse_object(chunks, obj.key, gzipped, result):
                    if self._stop.is_set():
                        raise _Stopped
                    self._put(("rows", rows, None))
            self._put(("done", obj, result))
        except ObjectVanished:
            try:
                self._put(("vanished", obj, None))
            except _Stopped:
                return
        except _Stopped:
            return
        except Exception as exc:
            try:
                self._put(("error", obj, exc))
            except _Stopped:
                return

    def read(self, size: int = -1) -> bytes:
        while self._pending:
            kind, payload, extra = self._queue.get()
            if kind == "rows":
                return payload
            self._pending -= 1
            if kind == "done":
                self.loaded.append((payload, extra))
                if self._on_object:
                    self._on_object(payload, extra)
            elif kind == "vanished":
                log.warning("%s vanished or changed since it was listed; left for the next run", payload.key)
                self.vanished.append(payload)
            else:
                self.failure = FetchFailed(f"reading s3://{self._bucket}/{payload.key} failed: {extra}")
                self.failure.__cause__ = extra
                raise self.failure
        self.finished = True
        return b""

    def part(self, limit: int) -> _Part:
        """A file-like view for one COPY: this stream's rows up to about `limit` bytes."""
        return _Part(self, limit)

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Part:
    def __init__(self, stream: BatchStream, limit: int):
        self._stream, self._limit, self.sent = stream, limit, 0

    def read(self, size: int = -1) -> bytes:
        if self.sent >= self._limit:
            return b""
        data = self._stream.read(size)
        self.sent += len(data)
        return data


class BatchOrder:
    """Hooks that keep concurrent batches in plan order (no-ops for a lone batch).

    before_insert: wait until the previous batch inserted all of its events;
    after_insert: this batch inserted all of its events;
    before_derive: wait until the previous batch committed (its events and sessions are then
    visible to this batch's rebuilds);
    after_commit: this batch committed.
    """

    def before_insert(self) -> None: ...
    def after_insert(self) -> None: ...
    def before_derive(self) -> None: ...
    def after_commit(self) -> None: ...


def load_batch(conn, stream: BatchStream, run_id: int, objects: list[RawObject], *,
               order: BatchOrder | None = None) -> dict:
    """Load one batch (its rows coming from `stream`) in one transaction; returns its counts.

    `order` coordinates it with the batch loading alongside it (see _Plan). The stream is
    closed whatever happens.
    """
    order = order or BatchOrder()
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def phase_done(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[phase] = round(timings.get(phase, 0.0) + now - clock, 3)
        clock = now
        on_phase(phase)

    try:
        order.before_insert()
        clock = time.monotonic()      # waiting for the other lane is not this batch's work
        batch.begin_batch(conn)
        counts = batch.BatchCounts()
        while not stream.finished:
            try:
                batch.copy_rows(conn, stream.part(PART_BYTES))
            except psycopg2.Error:
                if stream.failure is not None:
                    raise stream.failure from stream.failure.__cause__
                raise
            phase_done("staged")
            counts.add(batch.insert_events(conn, run_id))
            phase_done("inserted")
        order.after_insert()
        order.before_derive()
        clock = time.monotonic()
        batch.rebuild_sessions(conn)
        phase_done("sessions")
        batch.rebuild_aggregates(conn, run_id, sorted({obj.hour for obj in objects}))
        phase_done("aggregates")
        rejected = sum(result.rejected for _, result in stream.loaded)
        if stream.loaded:
            warehouse.record_objects(conn, run_id, stream.loaded, counts, rejected)
        phase_done("recorded")
        batch.commit_batch(conn)
        order.after_commit()
    except BaseException:
        batch.abort_batch(conn)
        raise
    finally:
        stream.close()
    log.info("batch of %d object(s), seconds per phase: %s", len(objects), timings)
    return {"files": len(stream.loaded), "events_loaded": counts.inserted, "duplicates": counts.duplicates,
            "rejected": rejected, "sessions_touched": counts.sessions_touched}


class _Abandoned(Exception):
    """This batch cannot commit: an earlier one failed (the run's error is that one's)."""


class _Plan:
    """The run's batches, taken in plan order by up to two lanes (connections).

    While one lane sessionizes and aggregates batch k, the other inserts batch k+1: the
    database works on two cores. Batch k+1 starts inserting only once batch k inserted all of
    its events, so an earlier batch never waits for a later one's row locks (a later batch's
    duplicate of an earlier one's event waits for that commit instead); its rebuilds wait for
    batch k's commit. Batches therefore commit in plan order, and a failed batch stops every
    later one: what is loaded is always a prefix of the plan.
    """

    def __init__(self, plan: list[list[RawObject]], deadline: float | None):
        self.plan, self.deadline = plan, deadline
        self.inserted = [threading.Event() for _ in plan]
        self.committed = [threading.Event() for _ in plan]
        self.failed = threading.Event()
        self.incomplete = False
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The next batch's index, or None: all taken, a batch failed, or the time is up."""
        with self._lock:
            if self.failed.is_set() or self._next >= len(self.plan):
                return None
            if self.deadline is not None and time.monotonic() > self.deadline:
                if not self.incomplete:
                    self.incomplete = True
                    log.warning("time budget used up: %d batch(es) left for the next run",
                                len(self.plan) - self._next)
                return None
            index, self._next = self._next, self._next + 1
            return index

    def wait(self, events: list[threading.Event], index: int) -> None:
        """Until batch index-1 has set its event; _Abandoned once any batch failed."""
        if index == 0:
            return
        while not events[index - 1].wait(0.2):
            if self.failed.is_set():
                raise _Abandoned


class _InPlanOrder(BatchOrder):
    def __init__(self, plan: _Plan, index: int):
        self._plan, self._index = plan, index

    def before_insert(self) -> None:
        self._plan.wait(self._plan.inserted, self._index)

    def after_insert(self) -> None:
        self._plan.inserted[self._index].set()

    def before_derive(self) -> None:
        self._plan.wait(self._plan.committed, self._index)

    def after_commit(self) -> None:
        self._plan.committed[self._index].set()


def load_plan(conn, s3, settings: Settings, run_id: int, plan: list[list[RawObject]], *,
              progress: Progress, deadline: float | None) -> dict:
    """Load the plan's batches on ``conn`` and, with ETL_LANES=2 and more than one batch, a second
    connection; returns the run's totals. The first real failure is raised once both lanes stopped."""
    files_total = sum(len(b) for b in plan)
    totals = {"files": 0, "events_loaded": 0, "duplicates": 0, "rejected": 0, "sessions_touched": 0}
    progress_lock = threading.Lock()      # the lanes report from their own threads
    files_seen = 0

    def on_object(_obj: RawObject, result: ObjectParse) -> None:
        nonlocal files_seen
        with progress_lock:
            files_seen += 1
            progress({"phase": "object", "files_done": files_seen, "files_total": files_total,
                      "events": result.events, "rejected": result.rejected})

    order = _Plan(plan, deadline)

    def lane(lane_conn) -> None:
        while (index := order.take()) is not None:
            objects = plan[index]
            stream = BatchStream(s3, settings.raw_bucket, objects, settings.max_workers, on_object)
            try:
                counts = load_batch(lane_conn, stream, run_id, objects, order=_InPlanOrder(order, index))
            except BaseException:
                order.failed.set()
                raise
            with progress_lock:
                for name, value in counts.items():
                    totals[name] += value
                progress({"phase": "batch", "batch": index + 1, "batches": len(plan), **totals})
            log.info("batch %d/%d committed: %s", index + 1, len(plan), counts)
            on_phase("committed")

    lanes = [conn]
    try:
        if len(plan) > 1 and settings.lanes > 1:
            lanes.append(warehouse.connect_lane(settings))
        with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="etl-lane") as pool:
            futures = [pool.submit(lane, lane_conn) for lane_conn in lanes]
            errors = [exc for exc in (f.exception() for f in futures) if exc is not None]
    finally:
        for extra in lanes[1:]:
            extra.close()
    # The first real failure is the run's error; the batches it abandoned are not.
    errors = [exc for exc in errors if not isinstance(exc, _Abandoned)] or errors
    if errors:
        raise errors[0]
    totals["incomplete"] = order.incomplete
    return totals
