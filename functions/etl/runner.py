"""One ETL run: lock, discover, then load the new objects batch by batch.

Objects are fetched by a bounded pool of threads (botocore's connection pool sized to match)
and streamed line by line; parsed rows flow through a bounded queue straight into COPY, so
memory stays bounded by (queue size x chunk size) whatever the number or size of objects.

A batch reaches the database in parts of PART_BYTES: PostgreSQL inserts one part while the
worker threads parse the next. Two lanes (connections) take the batches in plan order, so one
batch is fetched, parsed and inserted while the previous one is sessionized and aggregated
(see _Pipeline): the Python work and the database's overlap instead of waiting for each other.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from functions.etl import batch, warehouse
from functions.etl.config import Settings, dwh_password
from functions.etl.discovery import RawObject, default_window, list_raw_objects, new_objects
from functions.etl.parsing import READ_CHUNK, ObjectParse, parse_object

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]

# Test-only: ETL_TEST_PAUSE_AT=<phase> makes the process stop at that phase (of its first
# batch), write the phase to ETL_TEST_PAUSE_FILE and wait there until it is killed or, with
# ETL_TEST_PAUSE_SECONDS, until that file is removed (at most that long), so tests can run a
# second ETL alongside or crash this one at that point.
PHASES = ("locked", "discovered", "staged", "inserted", "sessions", "aggregates", "recorded", "committed")
_paused: set[str] = set()
_paused_lock = threading.Lock()


def pause_point(phase: str) -> None:
    if os.environ.get("ETL_TEST_PAUSE_AT") != phase:
        return
    with _paused_lock:          # two lanes may reach a phase at once: pause the first only
        if phase in _paused:
            return
        _paused.add(phase)
    marker = os.environ.get("ETL_TEST_PAUSE_FILE")
    if marker:   # written then renamed, so a watcher never reads it half-written
        partial = Path(f"{marker}.partial")
        partial.write_text(phase)
        partial.replace(marker)
    seconds = os.environ.get("ETL_TEST_PAUSE_SECONDS")
    log.warning("ETL_TEST_PAUSE_AT=%s: paused (%s)", phase, f"{seconds} s" if seconds else "until killed")
    if seconds:
        deadline = time.monotonic() + float(seconds)
        while time.monotonic() < deadline and (not marker or Path(marker).exists()):
            time.sleep(0.05)
        return
    while True:
        time.sleep(60)


def make_s3_client(settings: Settings):
    import boto3  # noqa: PLC0415 - keeps `import functions.etl` light for the CLI's --help
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client(
        "s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url,
        # Each lane's batch fetches with its own max_workers threads, all through this client.
        config=Config(max_pool_connections=settings.max_workers * settings.lanes, connect_timeout=5,
                      read_timeout=60, retries={"max_attempts": 5, "mode": "standard"}),
    )


def batches(objects: list[RawObject], max_files: int, max_bytes: int) -> Iterator[list[RawObject]]:
    batch: list[RawObject] = []
    size = 0
    for obj in objects:
        if batch and (len(batch) >= max_files or size + obj.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(obj)
        size += obj.size
    if batch:
        yield batch


#: COPY text of one part of a batch (~30,000 rows): small enough that parsing the next part
#: overlaps inserting this one from the start, large enough that per-statement costs vanish.
PART_BYTES = 16 * 1024 * 1024


class FetchFailed(RuntimeError):
    """Reading a raw object failed: the batch is rolled back and the run fails (the next one retries)."""


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
        from botocore.exceptions import ClientError  # noqa: PLC0415

        result = ObjectParse()
        try:
            try:
                response = self._s3.get_object(Bucket=self._bucket, Key=obj.key, IfMatch=obj.etag)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("NoSuchKey", "PreconditionFailed", "404", "412"):
                    # Deleted or replaced since listing: the next run sees its current state.
                    self._put(("vanished", obj, None))
                    return
                raise
            body = response["Body"]
            gzipped = obj.key.endswith(".gz") or response.get("ContentEncoding", "").lower() == "gzip"
            try:
                chunks = iter(lambda: body.read(READ_CHUNK), b"")
                for rows in parse_object(chunks, obj.key, gzipped, result):
                    if self._stop.is_set():
                        raise _Stopped
                    self._put(("rows", rows, None))
            finally:
                body.close()
            self._put(("done", obj, result))
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

    `order` coordinates it with the batch loading alongside it (see _Pipeline). The stream is
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
        pause_point(phase)

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
        batch.rebuild_aggregates(conn)
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


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def run(settings: Settings, since: datetime | None = None, until: datetime | None = None, *,
        trigger: str = "cli", progress: Progress | None = None, s3=None, deadline: float | None = None,
        now: datetime | None = None) -> dict:
    """One ETL run. Returns a summary; raises WarehouseUnavailable, FetchFailed or database errors.

    `deadline` (time.monotonic() value): no new batch starts after it; the summary then says
    "incomplete" and the next run continues where this one stopped.
    """
    started = time.monotonic()
    progress = progress or (lambda _event: None)
    now = now or datetime.now(UTC)
    conn = warehouse.connect(settings, dwh_password(settings))
    try:
        if not warehouse.try_lock(conn):
            return {"status": "skipped", "reason": "another ETL run is in progress",
                    "seconds": round(time.monotonic() - started, 3)}
        pause_point("locked")
        stale = warehouse.close_stale_runs(conn)
        if stale:
            log.warning("marked %d interrupted earlier run(s) as failed", stale)
        if since is None:
            since, until = default_window(warehouse.last_loaded_hour(conn), settings.lookback_hours, now)
        until = until or now
        run_id = warehouse.start_run(conn, trigger, since, until)
        try:
            summary = _load_window(conn, s3 or make_s3_client(settings), settings, run_id,
                                   window=(since, until), progress=progress, deadline=deadline)
        except BaseException as exc:
            _fail_run(conn, settings, run_id, exc)
            raise
        warehouse.finish_run(conn, run_id, "succeeded")
    finally:
        if not conn.closed:
            conn.close()   # also releases the run lock
    summary.update(status="succeeded", run_id=run_id, seconds=round(time.monotonic() - started, 3),
                   window={"since": _iso(since), "until": _iso(until)})
    return summary


class _Abandoned(Exception):
    """This batch cannot commit: an earlier one failed (the run's error is that one's)."""


class _Pipeline:
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
    def __init__(self, pipeline: _Pipeline, index: int):
        self._pipeline, self._index = pipeline, index

    def before_insert(self) -> None:
        self._pipeline.wait(self._pipeline.inserted, self._index)

    def after_insert(self) -> None:
        self._pipeline.inserted[self._index].set()

    def before_derive(self) -> None:
        self._pipeline.wait(self._pipeline.committed, self._index)

    def after_commit(self) -> None:
        self._pipeline.committed[self._index].set()


def _load_window(conn, s3, settings: Settings, run_id: int, *, window: tuple, progress: Progress,
                 deadline: float | None) -> dict:
    since, until = window
    loaded = warehouse.manifest_etags(conn, since, until)
    objects = new_objects(list_raw_objects(s3, settings.raw_bucket, since, until), loaded)
    pause_point("discovered")
    plan = list(batches(objects, settings.batch_max_files, settings.batch_max_bytes))
    totals = {"files": 0, "events_loaded": 0, "duplicates": 0, "rejected": 0, "sessions_touched": 0}
    progress({"phase": "discovered", "files_total": len(objects), "batches": len(plan)})
    progress_lock = threading.Lock()      # from here on the lanes report from their own threads
    files_seen = 0

    def on_object(_obj: RawObject, result: ObjectParse) -> None:
        nonlocal files_seen
        with progress_lock:
            files_seen += 1
            progress({"phase": "object", "files_done": files_seen, "files_total": len(objects),
                      "events": result.events, "rejected": result.rejected})

    pipeline = _Pipeline(plan, deadline)

    def lane(lane_conn) -> None:
        while (index := pipeline.take()) is not None:
            objects_ = plan[index]
            stream = BatchStream(s3, settings.raw_bucket, objects_, settings.max_workers, on_object)
            try:
                counts = load_batch(lane_conn, stream, run_id, objects_, order=_InPlanOrder(pipeline, index))
            except BaseException:
                pipeline.failed.set()
                raise
            with progress_lock:
                for name, value in counts.items():
                    totals[name] += value
                progress({"phase": "batch", "batch": index + 1, "batches": len(plan), **totals})
            log.info("batch %d/%d committed: %s", index + 1, len(plan), counts)
            pause_point("committed")

    lanes = [conn]
    try:
        if len(plan) > 1 and settings.lanes > 1:
            lanes.append(warehouse.connect(settings, dwh_password(settings)))
            warehouse.join_run(lanes[-1])
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
    totals["incomplete"] = pipeline.incomplete
    return totals


def _fail_run(conn, settings: Settings, run_id: int, exc: BaseException) -> None:
    """Best effort: the run row says failed, with the reason (a later run cleans up otherwise)."""
    error = f"{type(exc).__name__}: {exc}"[:4000]
    fresh = None
    try:
        if conn.closed:
            conn = fresh = warehouse.connect(settings, dwh_password(settings))
        batch.abort_batch(conn)
        warehouse.finish_run(conn, run_id, "failed", error)
    except Exception:
        log.exception("could not mark run %s as failed", run_id)
    finally:
        if fresh is not None:
            fresh.close()
