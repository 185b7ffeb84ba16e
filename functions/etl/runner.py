"""One ETL run's lifecycle: take the run lock, settle the window, plan the new objects, load, finish.

The loading itself is the pipeline's (``pipeline.load_plan``); this module only decides what a
run covers and leaves its etl_runs row saying how it ended.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from functions.enrichment import geo
from functions.etl import enrich, orders, quality, warehouse
from functions.etl.batch import abort_batch
from functions.etl.config import Settings, dwh_password
from functions.etl.discovery import default_window, new_objects
from functions.etl.pipeline import Progress, batches, load_plan
from functions.etl.raw_bucket import list_raw_objects, make_s3_client
from functions.etl.refresh import refresh_pending_aggregates
from functions.etl.testing_hooks import on_phase

log = logging.getLogger(__name__)


def run(settings: Settings, since: datetime | None = None, until: datetime | None = None, *,
        trigger: str = "cli", progress: Progress | None = None, s3=None, deadline: float | None = None,
        now: datetime | None = None) -> dict:
    """One ETL run. Returns a summary; raises WarehouseUnavailable, FetchFailed or database errors.

    No window (``since`` None): from the last loaded hour less the lookback to now. `deadline`
    (time.monotonic() value): no new batch starts after it; the summary then says "incomplete"
    and the next run continues where this one stopped.
    """
    started = time.monotonic()
    progress = progress or (lambda _event: None)
    now = now or datetime.now(UTC)
    conn = warehouse.connect(settings, dwh_password(settings))
    try:
        if not warehouse.try_lock(conn):
            return {"status": "skipped", "reason": "another ETL run is in progress",
                    "seconds": round(time.monotonic() - started, 3)}
        on_phase("locked")
        stale = warehouse.close_stale_runs(conn)
        if stale:
            log.warning("marked %d interrupted earlier run(s) as failed", stale)
        if since is None:
            since, until = default_window(warehouse.last_loaded_hour(conn), settings.lookback_hours, now)
        until = until or now
        run_id = warehouse.start_run(conn, trigger, since, until)
        try:
            s3 = s3 or make_s3_client(settings)
            enrich.configure_geography(geo.country_lookup(settings.geoip_country_db or "", s3_client=s3))
            objects = new_objects(list_raw_objects(s3, settings.raw_bucket, since, until),
                                  warehouse.manifest_etags(conn, since, until))
            on_phase("discovered")
            plan = list(batches(objects, settings.batch_max_files, settings.batch_max_bytes))
            progress({"phase": "discovered", "files_total": len(objects), "batches": len(plan)})
            summary = load_plan(conn, s3, settings, run_id, plan, progress=progress, deadline=deadline)
            summary["aggregates_refreshed"] = refresh_pending_aggregates(conn, settings)
            summary["anomalies"] = quality.evaluate_anomalies(conn, run_id, closed_before=until)
            summary["orders"] = orders.sync_step(settings, conn, run_id)
        except BaseException as exc:
            _fail_run(conn, settings, run_id, exc)
            raise
        # A failed orders step does not fail the run (the events loaded) but its row says so.
        failed_step = summary["orders"].get("error")
        warehouse.finish_run(conn, run_id, "succeeded", f"orders: {failed_step}" if failed_step else None)
    finally:
        if not conn.closed:
            conn.close()   # also releases the run lock
    summary.update(status="succeeded", run_id=run_id, seconds=round(time.monotonic() - started, 3),
                   window={"since": _iso(since), "until": _iso(until)})
    return summary


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _fail_run(conn, settings: Settings, run_id: int, exc: BaseException) -> None:
    """Best effort: the run row says failed, with the reason (a later run cleans up otherwise)."""
    error = f"{type(exc).__name__}: {exc}"[:4000]
    fresh = None
    try:
        if conn.closed:
            conn = fresh = warehouse.connect(settings, dwh_password(settings))
        abort_batch(conn)
        warehouse.finish_run(conn, run_id, "failed", error)
    except Exception:
        log.exception("could not mark run %s as failed", run_id)
    finally:
        if fresh is not None:
            fresh.close()
