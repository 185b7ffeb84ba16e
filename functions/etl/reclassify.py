"""``reclassify``: re-derive the channels of a window's sessions after a channel rule change.

The channel rules are data (migration 006: ``channel_rules`` and its lists, editable with SQL);
a session's channel is derived when the ETL rebuilds it. After an edit, this re-derives GA4's
source / medium and the channel of the sessions that started in ``[since, until)`` from their
stored acquisition fields (raw objects need not be read again), with the ETL's discipline: it
takes the run lock (never beside a load), does all of it in one transaction and records an
``etl_runs`` row (trigger ``reclassify``). Running it twice changes nothing the second time.
"""

from __future__ import annotations

import time
from datetime import datetime
from importlib.resources import files

from functions.etl import warehouse
from functions.etl.config import Settings, dwh_password

_SQL = files("functions.etl") / "sql"
RECLASSIFY_SESSIONS = (_SQL / "reclassify_sessions.sql").read_text(encoding="utf-8")
RECLASSIFY_AGGREGATES = (_SQL / "reclassify_aggregates.sql").read_text(encoding="utf-8")


def reclassify(settings: Settings, since: datetime, until: datetime) -> dict:
    """Re-derive the window's channels; a summary (``skipped`` while another run holds the lock)."""
    if since >= until:
        raise ValueError(f"reclassify: --since {since.isoformat()} is not before --until {until.isoformat()}")
    started = time.monotonic()
    conn = warehouse.connect(settings, dwh_password(settings))
    try:
        if not warehouse.try_lock(conn):
            return {"status": "skipped", "reason": "another ETL run is in progress"}
        run_id = warehouse.start_run(conn, "reclassify", since, until)
        try:
            conn.autocommit = False
            with conn.cursor() as cur:
                cur.execute(RECLASSIFY_SESSIONS, {"since": since, "until": until})
                sessions, changed = cur.fetchone()
                if changed:     # the aggregates that read channels, from the sessions now
                    cur.execute(RECLASSIFY_AGGREGATES, {"since": since, "until": until})
            conn.commit()
        except BaseException as exc:
            conn.rollback()
            conn.autocommit = True
            warehouse.finish_run(conn, run_id, "failed", f"{type(exc).__name__}: {exc}"[:4000])
            raise
        conn.autocommit = True
        warehouse.finish_run(conn, run_id, "succeeded")
    finally:
        conn.close()
    return {"status": "succeeded", "run_id": run_id, "sessions": sessions, "sessions_changed": changed,
            "window": {"since": since.isoformat(), "until": until.isoformat()},
            "seconds": round(time.monotonic() - started, 3)}
