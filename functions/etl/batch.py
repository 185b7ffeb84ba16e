"""One batch's transaction in the warehouse: stage, insert, rebuild sessions and aggregates.

A batch is loaded in ONE transaction. Its rows arrive in parts (tens of thousands of rows):
each part is COPYed into a temp staging table and its new events inserted (ON CONFLICT
(event_id) DO NOTHING) while the next part is still being parsed. Then: rebuild the touched
sessions, recount the touched hours and days, add the touched sessions' change to the daily
funnel and product aggregates, record the touched days and clients whose audience, acquisition,
attribution and retention rows the run recomputes once after its last batch (refresh.py),
queue the touched hours for the run's anomaly check and record any restated day; the caller
records the manifest and commits. A crash anywhere leaves all of the batch or none of it.

The statements are the files in ``sql/``, loaded as package resources and bound once, here,
to the row spec's columns (``rows.COLUMNS``) and to the columns the rebuilds read.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files

import psycopg2.errors
from psycopg2 import sql

from functions.etl.rows import COLUMNS

log = logging.getLogger(__name__)

#: What sessions and aggregates are built from: kept for the batch's new events (from the
#: INSERT's RETURNING) so the rebuilds need not look them up again in clickstream_events.
REBUILD_COLUMNS = ("event_id", "event_timestamp", "event_name", "session_id", "client_id", "user_id",
                   "user_login_state", "is_first_visit", "page_path", "page_referrer", "context_product_id",
                   "order_revenue", "order_items", "is_bot", "bot_reason", "device_type", "browser_family",
                   "browser_major", "os_family", "country", "page_url", "utm_source", "utm_medium",
                   "utm_campaign", "utm_term", "utm_content", "click_id_type", "referrer_host")
if not set(REBUILD_COLUMNS) <= set(COLUMNS):
    raise ValueError(f"REBUILD_COLUMNS not in rows.ROW_SPEC: {sorted(set(REBUILD_COLUMNS) - set(COLUMNS))}")

_SQL = files("functions.etl") / "sql"


def _identifiers(names, table: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(*((table, n) if table else (n,))) for n in names)


def _fragment(name: str) -> str:
    """A file's SQL without its comment lines (for a fragment put inside statements)."""
    lines = (_SQL / f"{name}.sql").read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not re.match(r"\s*--", line)).strip()


_BOUND = {"columns": _identifiers(COLUMNS), "event_columns": _identifiers(REBUILD_COLUMNS),
          "earlier_event_columns": _identifiers(REBUILD_COLUMNS, "e")}
_BOUND["session_events"] = sql.SQL(_fragment("session_events")).format(**_BOUND)
_BOUND["daily_figures"] = sql.SQL(_fragment("daily_figures"))


def _statement(name: str, **more: sql.Composable) -> sql.Composed:
    """sql/<name>.sql with its {placeholders} bound."""
    return sql.SQL((_SQL / f"{name}.sql").read_text(encoding="utf-8")).format(**_BOUND, **more)


CREATE_STAGING = _statement("create_staging")
COPY_STAGING = _statement("copy_staging")
INSERT_EVENTS = _statement("insert_events", on_conflict=sql.SQL(""))
INSERT_EVENTS_SKIPPING_DUPLICATES = _statement(
    "insert_events", on_conflict=sql.SQL("ON CONFLICT (event_id) DO NOTHING"))
REBUILD_SESSIONS = _statement("rebuild_sessions")
#: The aggregates, between the data-quality bookkeeping's snapshot of the days the batch may
#: restate and its records of what changed (restatement_snapshot.sql, data_quality.sql).
REBUILD_AGGREGATES = sql.Composed(
    [_statement("restatement_snapshot"), _statement("rebuild_activity"), _statement("product_delta"),
     _statement("funnel_delta"), _statement("pending_aggregates"), _statement("data_quality")])


@dataclass
class BatchCounts:
    staged: int = 0
    inserted: int = 0
    sessions_touched: int = 0

    @property
    def duplicates(self) -> int:
        return self.staged - self.inserted

    def add(self, other: BatchCounts) -> None:
        self.staged += other.staged
        self.inserted += other.inserted
        self.sessions_touched += other.sessions_touched


def begin_batch(conn) -> None:
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute(CREATE_STAGING)


def copy_rows(conn, stream) -> None:
    with conn.cursor() as cur:
        cur.copy_expert(COPY_STAGING, stream, size=1024 * 1024)


def insert_events(conn, run_id: int) -> BatchCounts:
    """Insert the staged part of the batch into clickstream_events; empties the staging table."""
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT etl_insert")
        try:
            cur.execute(INSERT_EVENTS, {"run_id": run_id})
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT etl_insert")
            log.info("the batch repeats events already loaded (or itself): inserting with ON CONFLICT")
            cur.execute(INSERT_EVENTS_SKIPPING_DUPLICATES, {"run_id": run_id})
        staged, inserted, touched = cur.fetchone()
        cur.execute("RELEASE SAVEPOINT etl_insert")
        cur.execute("TRUNCATE etl_staging")
    return BatchCounts(staged, inserted, touched)


def rebuild_sessions(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("ANALYZE etl_touched_sessions")
        cur.execute(REBUILD_SESSIONS)


def rebuild_aggregates(conn, run_id: int, object_hours: list[datetime]) -> None:
    """Rebuild the touched aggregates; `object_hours` are the raw hours of the batch's objects (its
    own hours: a daily figure it changes on an earlier day is a restatement)."""
    with conn.cursor() as cur:
        cur.execute(REBUILD_AGGREGATES, {"run_id": run_id, "own_from": min(object_hours),
                                         "object_hours": object_hours})


def commit_batch(conn) -> None:
    conn.commit()
    conn.autocommit = True


def abort_batch(conn) -> None:
    if not conn.closed:
        conn.rollback()
        conn.autocommit = True
