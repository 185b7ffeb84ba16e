"""Warehouse side of a run: connection, run lock, run bookkeeping, and one batch's transaction.

A batch is loaded in ONE transaction: COPY into a temp staging table, insert the new events
(ON CONFLICT (event_id) DO NOTHING), rebuild the touched sessions and the aggregates of the
touched days/hours, write the manifest and rejects of its objects, add to the run's counters.
A crash anywhere leaves all of the batch or none of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import psycopg2
from psycopg2.extras import execute_values

from functions.etl.config import Settings
from functions.etl.parsing import COLUMNS

log = logging.getLogger(__name__)

# Arbitrary but fixed: the key every ETL run locks on ("clkstetl").
ETL_LOCK_KEY = 0x636C6B7374657471
STALE_RUN_ERROR = "interrupted: the run ended without finishing (process killed or timed out)"


class WarehouseUnavailable(RuntimeError):
    """The warehouse cannot be reached or refuses the login."""


def connect(settings: Settings, password: str | None):
    try:
        conn = psycopg2.connect(
            host=settings.dwh_host, port=settings.dwh_port, user=settings.dwh_user,
            dbname=settings.dwh_database, password=password, connect_timeout=settings.connect_timeout,
            application_name="clickstream-etl", options="-c timezone=UTC",
            keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
        )
    except psycopg2.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise WarehouseUnavailable(
            f"warehouse unreachable: {settings.dwh_user}@{settings.dwh_host}:{settings.dwh_port}/"
            f"{settings.dwh_database}: {reason}") from exc
    conn.autocommit = True
    return conn


def try_lock(conn) -> bool:
    """The run lock (session-level, so it outlives each batch's transaction and dies with the connection)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (ETL_LOCK_KEY,))
        return cur.fetchone()[0]


def unlock(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", (ETL_LOCK_KEY,))


def close_stale_runs(conn) -> int:
    """Runs left 'running' by a process that died; safe because we hold the run lock."""
    with conn.cursor() as cur:
        cur.execute("UPDATE etl_runs SET status = 'failed', finished_at = now(), error = %s"
                    " WHERE status = 'running'", (STALE_RUN_ERROR,))
        return cur.rowcount


def last_loaded_hour(conn) -> datetime | None:
    with conn.cursor() as cur:
        cur.execute("SELECT max(object_hour) FROM etl_file_manifest")
        return cur.fetchone()[0]


def manifest_etags(conn, since: datetime | None, until: datetime) -> dict[str, str]:
    with conn.cursor() as cur:
        if since is None:
            cur.execute("SELECT key, etag FROM etl_file_manifest")
        else:
            cur.execute("SELECT key, etag FROM etl_file_manifest WHERE object_hour"
                        " BETWEEN date_trunc('hour', %s::timestamptz) AND %s", (since, until))
        return dict(cur.fetchall())


def start_run(conn, trigger: str, since: datetime | None, until: datetime) -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO etl_runs (trigger, window_start, window_end) VALUES (%s, %s, %s)"
                    " RETURNING run_id", (trigger, since, until))
        return cur.fetchone()[0]


def finish_run(conn, run_id: int, status: str, error: str | None = None) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE etl_runs SET status = %s, finished_at = now(), error = %s WHERE run_id = %s",
                    (status, error, run_id))


def run_counts(conn, run_id: int) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT files, events_loaded, duplicates, rejected, sessions_touched FROM etl_runs"
                    " WHERE run_id = %s", (run_id,))
        files, loaded, dups, rejected, sessions = cur.fetchone()
    return {"files": files, "events_loaded": loaded, "duplicates": dups, "rejected": rejected,
            "sessions_touched": sessions}


_COLS = ", ".join(COLUMNS)

CREATE_STAGING = f"""
CREATE TEMP TABLE etl_staging ON COMMIT DROP AS
    SELECT {_COLS} FROM clickstream_events WITH NO DATA;
CREATE TEMP TABLE etl_touched_sessions (session_id text PRIMARY KEY) ON COMMIT DROP;
"""  # noqa: S608 - fixed column names

COPY_STAGING = f"COPY etl_staging ({_COLS}) FROM STDIN"

INSERT_EVENTS = f"""
WITH inserted AS (
    INSERT INTO clickstream_events ({_COLS}, etl_run_id)
    SELECT {_COLS}, %(run_id)s FROM etl_staging
    ON CONFLICT (event_id) DO NOTHING
    RETURNING session_id
), touched AS (
    INSERT INTO etl_touched_sessions (session_id) SELECT DISTINCT session_id FROM inserted
    RETURNING 1
)
SELECT (SELECT count(*) FROM etl_staging), (SELECT count(*) FROM inserted), (SELECT count(*) FROM touched)
"""  # noqa: S608 - fixed column names

# Funnel days: the start days of the touched sessions before AND after their rebuild (a late
# event can move a session's start into an earlier day).
REBUILD_SESSIONS = """
CREATE TEMP TABLE etl_funnel_days ON COMMIT DROP AS
    SELECT DISTINCT (s.started_at AT TIME ZONE 'UTC')::date AS day
    FROM sessions s JOIN etl_touched_sessions t USING (session_id);

DELETE FROM sessions s USING etl_touched_sessions t WHERE s.session_id = t.session_id;

INSERT INTO sessions (
    session_id, client_id, user_id, started_at, ended_at, duration_s, events, page_views, product_views,
    entry_page, exit_page, landing_referrer, is_first_visit, logged_in, reached_product, reached_cart,
    reached_checkout, purchased, orders, revenue, is_bot)
SELECT
    e.session_id,
    (array_agg(e.client_id ORDER BY e.event_timestamp, e.event_id))[1],
    (array_agg(e.user_id ORDER BY e.event_timestamp DESC, e.event_id DESC)
        FILTER (WHERE e.user_id IS NOT NULL))[1],
    min(e.event_timestamp),
    max(e.event_timestamp),
    extract(epoch FROM max(e.event_timestamp) - min(e.event_timestamp)),
    count(*),
    count(*) FILTER (WHERE e.event_name = 'page_view'),
    count(*) FILTER (WHERE e.event_name = 'product_view'),
    (array_agg(e.page_path ORDER BY e.event_timestamp, e.event_id) FILTER (WHERE e.page_path IS NOT NULL))[1],
    (array_agg(e.page_path ORDER BY e.event_timestamp DESC, e.event_id DESC)
        FILTER (WHERE e.page_path IS NOT NULL))[1],
    (array_agg(e.page_referrer ORDER BY e.event_timestamp, e.event_id)
        FILTER (WHERE e.page_referrer IS NOT NULL))[1],
    bool_or(e.is_first_visit),
    bool_or(e.user_login_state = 'logged_in'),
    bool_or(e.event_name = 'product_view'),
    bool_or(e.event_name = 'add_to_cart'),
    bool_or(e.event_name = 'begin_checkout'),
    bool_or(e.event_name = 'purchase'),
    count(*) FILTER (WHERE e.event_name = 'purchase'),
    coalesce(sum(e.order_revenue) FILTER (WHERE e.event_name = 'purchase'), 0),
    bool_or(e.is_bot)
FROM clickstream_events e JOIN etl_touched_sessions t USING (session_id)
GROUP BY e.session_id;

INSERT INTO etl_funnel_days
    SELECT DISTINCT (s.started_at AT TIME ZONE 'UTC')::date
    FROM sessions s JOIN etl_touched_sessions t USING (session_id);

-- Hours/days whose event aggregates change: every event of a touched session counts, since
-- one late bot event turns its whole session (and so all its events) into bot traffic.
CREATE TEMP TABLE etl_touched_hours ON COMMIT DROP AS
    SELECT DISTINCT date_trunc('hour', e.event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour
    FROM clickstream_events e JOIN etl_touched_sessions t USING (session_id);
CREATE TEMP TABLE etl_event_days ON COMMIT DROP AS
    SELECT DISTINCT (hour AT TIME ZONE 'UTC')::date AS day FROM etl_touched_hours;
ANALYZE etl_touched_hours, etl_event_days;
"""

REBUILD_AGGREGATES = """
DELETE FROM agg_activity_hourly a USING etl_touched_hours h WHERE a.hour = h.hour;
INSERT INTO agg_activity_hourly (hour, events, users, sessions, page_views)
SELECT h.hour, count(*), count(DISTINCT e.client_id), count(DISTINCT e.session_id),
       count(*) FILTER (WHERE e.event_name = 'page_view')
FROM etl_touched_hours h
JOIN clickstream_events e
  ON e.event_timestamp >= h.hour AND e.event_timestamp < h.hour + interval '1 hour'
JOIN sessions s ON s.session_id = e.session_id AND NOT s.is_bot
GROUP BY h.hour;

DELETE FROM agg_product_daily a USING etl_event_days d WHERE a.day = d.day;
WITH day_events AS (
    SELECT d.day, e.event_id, e.event_timestamp, e.event_name, e.context_product_id, e.context_product_name,
           e.context_product_category, e.context_product_brand, e.order_items
    FROM etl_event_days d
    JOIN clickstream_events e
      ON e.event_timestamp >= d.day::timestamp AT TIME ZONE 'UTC'
     AND e.event_timestamp < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
    JOIN sessions s ON s.session_id = e.session_id AND NOT s.is_bot
), engagement AS (
    SELECT * FROM day_events
    WHERE event_name IN ('product_view', 'add_to_cart') AND context_product_id IS NOT NULL
), counts AS (
    SELECT day, context_product_id AS product_id,
           count(*) FILTER (WHERE event_name = 'product_view') AS views,
           count(*) FILTER (WHERE event_name = 'add_to_cart') AS add_to_carts
    FROM engagement GROUP BY 1, 2
), attributes AS (
    SELECT DISTINCT ON (day, context_product_id)
           day, context_product_id AS product_id, context_product_name AS name,
           context_product_category AS category, context_product_brand AS brand
    FROM engagement ORDER BY day, context_product_id, event_timestamp DESC, event_id DESC
), bought AS (
    SELECT de.day, i.product_id, count(DISTINCT de.event_id) AS purchases, sum(i.quantity) AS units,
           sum(i.quantity * coalesce(i.price, 0)) AS revenue
    FROM day_events de
    CROSS JOIN LATERAL jsonb_to_recordset(de.order_items)
        AS i(product_id text, quantity integer, price numeric)
    WHERE de.event_name = 'purchase'
    GROUP BY 1, 2
)
INSERT INTO agg_product_daily (day, product_id, product_name, product_category, product_brand,
                               views, add_to_carts, purchases, units, revenue)
SELECT k.day, k.product_id, a.name, a.category, a.brand, coalesce(c.views, 0), coalesce(c.add_to_carts, 0),
       coalesce(b.purchases, 0), coalesce(b.units, 0), coalesce(b.revenue, 0)
FROM (SELECT day, product_id FROM counts UNION SELECT day, product_id FROM bought) k
LEFT JOIN counts c USING (day, product_id)
LEFT JOIN bought b USING (day, product_id)
LEFT JOIN attributes a USING (day, product_id);

DELETE FROM agg_funnel_daily f USING (SELECT DISTINCT day FROM etl_funnel_days) d WHERE f.day = d.day;
INSERT INTO agg_funnel_daily (day, sessions, sessions_page_view, sessions_product_view, sessions_add_to_cart,
                              sessions_begin_checkout, sessions_purchase, orders, revenue)
SELECT d.day, count(*), count(*) FILTER (WHERE s.page_views > 0), count(*) FILTER (WHERE s.reached_product),
       count(*) FILTER (WHERE s.reached_cart), count(*) FILTER (WHERE s.reached_checkout),
       count(*) FILTER (WHERE s.purchased), sum(s.orders), sum(s.revenue)
FROM (SELECT DISTINCT day FROM etl_funnel_days) d
JOIN sessions s
  ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
 AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
WHERE NOT s.is_bot
GROUP BY d.day;
"""


@dataclass
class BatchCounts:
    staged: int = 0
    inserted: int = 0
    sessions_touched: int = 0

    @property
    def duplicates(self) -> int:
        return self.staged - self.inserted


def begin_batch(conn) -> None:
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute(CREATE_STAGING)


def copy_rows(conn, stream) -> None:
    with conn.cursor() as cur:
        cur.copy_expert(COPY_STAGING, stream, size=1024 * 1024)


def insert_events(conn, run_id: int) -> BatchCounts:
    with conn.cursor() as cur:
        cur.execute("ANALYZE etl_staging")
        cur.execute(INSERT_EVENTS, {"run_id": run_id})
        staged, inserted, touched = cur.fetchone()
    return BatchCounts(staged, inserted, touched)


def rebuild_sessions(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("ANALYZE etl_touched_sessions")
        cur.execute(REBUILD_SESSIONS)


def rebuild_aggregates(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(REBUILD_AGGREGATES)


def record_objects(conn, run_id: int, loaded: list, counts: BatchCounts, rejected: int) -> None:
    """Manifest rows and rejects of the batch's `loaded` (RawObject, ObjectParse) pairs; run counters."""
    keys = [obj.key for obj, _ in loaded]
    with conn.cursor() as cur:
        # An object reloaded under a new ETag replaces its earlier rejects.
        cur.execute("DELETE FROM etl_rejects WHERE key = ANY(%s)", (keys,))
        rejects = [(obj.key, r.line, r.reason, r.raw_line, run_id)
                   for obj, result in loaded for r in result.rejects]
        if rejects:
            execute_values(cur, "INSERT INTO etl_rejects (key, line, reason, raw_line, run_id) VALUES %s",
                           rejects, page_size=1000)
        execute_values(
            cur,
            "INSERT INTO etl_file_manifest (key, etag, size, object_hour, events, rejected, run_id) VALUES %s"
            " ON CONFLICT (key) DO UPDATE SET etag = EXCLUDED.etag, size = EXCLUDED.size,"
            " object_hour = EXCLUDED.object_hour, events = EXCLUDED.events, rejected = EXCLUDED.rejected,"
            " run_id = EXCLUDED.run_id, loaded_at = now()",
            [(obj.key, obj.etag, obj.size, obj.hour, result.events, result.rejected, run_id)
             for obj, result in loaded],
            page_size=1000,
        )
        cur.execute(
            "UPDATE etl_runs SET files = files + %s, events_loaded = events_loaded + %s,"
            " duplicates = duplicates + %s, rejected = rejected + %s,"
            " sessions_touched = sessions_touched + %s"
            " WHERE run_id = %s",
            (len(loaded), counts.inserted, counts.duplicates, rejected, counts.sessions_touched, run_id),
        )


def commit_batch(conn) -> None:
    conn.commit()
    conn.autocommit = True


def abort_batch(conn) -> None:
    if not conn.closed:
        conn.rollback()
        conn.autocommit = True
