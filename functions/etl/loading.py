"""Warehouse side of a run: connection, run lock, run bookkeeping, and one batch's transaction.

A batch is loaded in ONE transaction. Its rows arrive in parts (tens of thousands of rows):
each part is COPYed into a temp staging table and its new events inserted (ON CONFLICT
(event_id) DO NOTHING) while the next part is still being parsed. Then: rebuild the touched
sessions, recount the touched hours and days, add the touched sessions' change to the daily
funnel and product aggregates, write the manifest and rejects of its objects, add to the run's
counters.
A crash anywhere leaves all of the batch or none of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import psycopg2
import psycopg2.errors
from psycopg2.extras import execute_values

from functions.etl.config import Settings
from functions.etl.rows import COLUMNS

log = logging.getLogger(__name__)

# Arbitrary but fixed: the key every ETL run locks on ("clkstetl").
ETL_LOCK_KEY = 0x636C6B7374657471
ETL_LANE_LOCK_KEY = ETL_LOCK_KEY + 1
STALE_RUN_ERROR = "interrupted: the run ended without finishing (process killed or timed out)"


class WarehouseUnavailable(RuntimeError):
    """The warehouse cannot be reached or refuses the login."""


def connect(settings: Settings, password: str | None):
    try:
        conn = psycopg2.connect(
            host=settings.dwh_host, port=settings.dwh_port, user=settings.dwh_user,
            dbname=settings.dwh_database, password=password, connect_timeout=settings.connect_timeout,
            # The batch's staging table stays in memory (temp_buffers) and the rebuilds' sorts of a
            # few hundred thousand rows do not spill to disk (work_mem): this session only.
            # No JIT: the batch statements' row estimates are high enough to trigger it, and
            # compiling costs ~0.2 s a statement, more than it saves on these scans. ANALYZE of
            # the temp tables samples 3,000 rows, not 30,000: their plans need sizes, not detail.
            application_name="clickstream-etl",
            # lock_timeout: a lane waits for the other lane's commit at most one batch long;
            # five minutes of waiting means something is stuck: fail, the next run retries.
            options=("-c timezone=UTC -c temp_buffers=128MB -c work_mem=64MB -c jit=off"
                     " -c default_statistics_target=10 -c lock_timeout=300s"),
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
    """The run lock (session-level, so it outlives each batch's transaction and dies with the connection).

    A run's second lane (runner._Pipeline) has its own connection, which holds the lane lock
    shared (join_run): should the first connection die alone, that lane still finishes or
    abandons its batch, and no new run may start beside it until then.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (ETL_LOCK_KEY,))
        if not cur.fetchone()[0]:
            return False
        cur.execute("SELECT pg_try_advisory_lock(%s)", (ETL_LANE_LOCK_KEY,))
        if not cur.fetchone()[0]:       # a lane of an earlier run is still at work
            cur.execute("SELECT pg_advisory_unlock(%s)", (ETL_LOCK_KEY,))
            return False
        cur.execute("SELECT pg_advisory_unlock(%s)", (ETL_LANE_LOCK_KEY,))
        cur.execute("SELECT pg_advisory_lock_shared(%s)", (ETL_LANE_LOCK_KEY,))
        return True


def join_run(conn) -> None:
    """A further lane's connection: hold the lane lock shared for as long as it lives."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock_shared(%s)", (ETL_LANE_LOCK_KEY,))


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
# What sessions and aggregates are built from: kept for the batch's new events (from the
# INSERT's RETURNING) so the rebuilds need not look them up again in clickstream_events.
_EVENT_COLS = ("event_id, event_timestamp, event_name, session_id, client_id, user_id, user_login_state,"
               " is_first_visit, page_path, page_referrer, context_product_id, order_revenue, order_items,"
               " is_bot")

CREATE_STAGING = f"""
CREATE TEMP TABLE etl_staging ON COMMIT DROP AS
    SELECT {_COLS} FROM clickstream_events WITH NO DATA;
-- A batch is inserted in parts (see insert_events): a session seen in two parts is listed once.
CREATE TEMP TABLE etl_touched_sessions (session_id text PRIMARY KEY) ON COMMIT DROP;
CREATE TEMP TABLE etl_new_events ON COMMIT DROP AS
    SELECT {_EVENT_COLS} FROM clickstream_events WITH NO DATA;
"""  # noqa: S608 - fixed column names

COPY_STAGING = f"COPY etl_staging ({_COLS}) FROM STDIN"

# The events actually inserted (not duplicates) and their sessions: what the rebuilds start from.
# First tried as a plain INSERT (cheaper than ON CONFLICT's speculative insertion, which writes
# an extra WAL record per row); a unique violation rolls back to a savepoint and the batch is
# inserted with ON CONFLICT (event_id) DO NOTHING, which skips duplicates in the table and in the batch.
_INSERT_EVENTS = """
WITH inserted AS (
    INSERT INTO clickstream_events ({cols}, etl_run_id)
    SELECT {cols}, %(run_id)s FROM etl_staging
    {on_conflict}
    RETURNING {event_cols}
), new_events AS (
    INSERT INTO etl_new_events ({event_cols}) SELECT {event_cols} FROM inserted
    RETURNING 1
), touched AS (
    INSERT INTO etl_touched_sessions (session_id) SELECT DISTINCT session_id FROM inserted
    ON CONFLICT (session_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM etl_staging), (SELECT count(*) FROM new_events), (SELECT count(*) FROM touched)
"""
INSERT_EVENTS = _INSERT_EVENTS.format(cols=_COLS, event_cols=_EVENT_COLS, on_conflict="")
INSERT_EVENTS_SKIPPING_DUPLICATES = _INSERT_EVENTS.format(
    cols=_COLS, event_cols=_EVENT_COLS, on_conflict="ON CONFLICT (event_id) DO NOTHING")

# All events of the touched sessions, `is_new` for those this batch inserted.
SESSION_EVENTS = (f"(SELECT {_EVENT_COLS}, true AS is_new FROM etl_new_events"  # noqa: S608 - fixed names
                  f" UNION ALL SELECT {_EVENT_COLS}, false FROM etl_earlier_events)")

# The touched sessions are kept as they were (etl_old_sessions) so that the aggregates change
# by (new contribution - old contribution) of those sessions only, never by a rescan of a day.
REBUILD_SESSIONS = f"""
CREATE TEMP TABLE etl_old_sessions ON COMMIT DROP AS
    SELECT s.* FROM sessions s JOIN etl_touched_sessions t USING (session_id);
ANALYZE etl_old_sessions, etl_new_events;

-- The earlier events of the touched sessions that existed before (few: late events), found
-- through the session_id index. With the new events they are all of those sessions' events
-- (SESSION_EVENTS: a UNION ALL, not one table, as copying the new events cost a second).
-- MATERIALIZED: join the few old sessions to the index first; left to itself the planner may
-- anti-join the whole table against the new events before (it did, at 15 s a batch).
CREATE TEMP TABLE etl_earlier_events ON COMMIT DROP AS
    WITH earlier AS MATERIALIZED (
        SELECT {", ".join("e." + c.strip() for c in _EVENT_COLS.split(","))}
        FROM etl_old_sessions o JOIN clickstream_events e ON e.session_id = o.session_id
    )
    SELECT {_EVENT_COLS} FROM earlier
    WHERE NOT EXISTS (SELECT FROM etl_new_events n WHERE n.event_id = earlier.event_id);
ANALYZE etl_earlier_events;

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
FROM {SESSION_EVENTS} e
GROUP BY e.session_id;
"""  # noqa: S608 - fixed column names

# Hourly and daily activity count distinct users/sessions, which do not add up: the touched
# hours, and the days they fall in, are recounted from activity_session_hours, whose rows for
# the touched sessions are rewritten first. The touched hours are the hours of the new events,
# plus every hour of a session whose bot flag changed (one late bot event turns all of its
# session's events into bot traffic).
REBUILD_HOURLY = """
DELETE FROM activity_session_hours a USING etl_touched_sessions t WHERE a.session_id = t.session_id;
INSERT INTO activity_session_hours (hour, session_id, client_id, events, page_views, is_bot)
SELECT date_trunc('hour', e.event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', s.session_id, e.client_id,
       count(*), count(*) FILTER (WHERE e.event_name = 'page_view'), s.is_bot
FROM {SESSION_EVENTS} e
JOIN sessions s ON s.session_id = e.session_id
GROUP BY 1, s.session_id, e.client_id;

CREATE TEMP TABLE etl_touched_hours ON COMMIT DROP AS
    SELECT date_trunc('hour', n.event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour
    FROM etl_new_events n
    UNION
    SELECT date_trunc('hour', e.event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    FROM etl_old_sessions o
    JOIN sessions s ON s.session_id = o.session_id AND s.is_bot <> o.is_bot
    JOIN {SESSION_EVENTS} e ON e.session_id = o.session_id;
ANALYZE etl_touched_hours;

DELETE FROM agg_activity_hourly a USING etl_touched_hours h WHERE a.hour = h.hour;
INSERT INTO agg_activity_hourly (hour, events, users, sessions, page_views)
SELECT a.hour, sum(a.events), count(DISTINCT a.client_id), count(DISTINCT a.session_id), sum(a.page_views)
FROM etl_touched_hours h
JOIN activity_session_hours a ON a.hour = h.hour AND NOT a.is_bot
GROUP BY a.hour;

-- The same counts per UTC day, for the days of the touched hours.
CREATE TEMP TABLE etl_touched_days ON COMMIT DROP AS
    SELECT DISTINCT (h.hour AT TIME ZONE 'UTC')::date AS day FROM etl_touched_hours h;

DELETE FROM agg_activity_daily a USING etl_touched_days d WHERE a.day = d.day;
INSERT INTO agg_activity_daily (day, events, users, sessions, page_views)
SELECT d.day, sum(a.events), count(DISTINCT a.client_id), count(DISTINCT a.session_id), sum(a.page_views)
FROM etl_touched_days d
JOIN activity_session_hours a
  ON a.hour >= d.day::timestamp AT TIME ZONE 'UTC' AND a.hour < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
 AND NOT a.is_bot
GROUP BY d.day;
"""

# Product and funnel counters are sums over sessions: add the touched sessions' contribution
# as rebuilt (non-bot sessions, all their events) and subtract what they contributed before
# (their old events under their old bot flag). A key left with nothing counted is deleted, as
# a full recomputation would not have it.
PRODUCT_DELTA = """
CREATE TEMP TABLE etl_product_delta ON COMMIT DROP AS
WITH contributing AS (
    SELECT 1 AS sign, e.event_id, e.event_timestamp, e.event_name, e.context_product_id, e.order_items
    FROM {SESSION_EVENTS} e
    JOIN sessions s ON s.session_id = e.session_id AND NOT s.is_bot
    UNION ALL
    SELECT -1, e.event_id, e.event_timestamp, e.event_name, e.context_product_id, e.order_items
    FROM etl_old_sessions o
    JOIN {SESSION_EVENTS} e ON e.session_id = o.session_id AND NOT e.is_new
    WHERE NOT o.is_bot
), per_event AS (
    SELECT sign, (event_timestamp AT TIME ZONE 'UTC')::date AS day, context_product_id AS product_id,
           (event_name = 'product_view')::int AS views, (event_name = 'add_to_cart')::int AS add_to_carts,
           0 AS purchases, 0::bigint AS units, 0::numeric AS revenue
    FROM contributing
    WHERE event_name IN ('product_view', 'add_to_cart') AND context_product_id IS NOT NULL
    UNION ALL
    SELECT c.sign, (c.event_timestamp AT TIME ZONE 'UTC')::date, i.product_id,
           0, 0, 1, sum(i.quantity), sum(i.quantity * coalesce(i.price, 0))
    FROM contributing c
    CROSS JOIN LATERAL jsonb_to_recordset(c.order_items)
        AS i(product_id text, quantity integer, price numeric)
    WHERE c.event_name = 'purchase'
    GROUP BY c.sign, c.event_id, 2, i.product_id
)
SELECT day, product_id, sum(sign * views) AS views, sum(sign * add_to_carts) AS add_to_carts,
       sum(sign * purchases) AS purchases, sum(sign * units) AS units, sum(sign * revenue) AS revenue
FROM per_event
GROUP BY day, product_id;
ANALYZE etl_product_delta;

INSERT INTO agg_product_daily AS a (day, product_id, views, add_to_carts, purchases, units, revenue)
SELECT day, product_id, views, add_to_carts, purchases, units, revenue FROM etl_product_delta
ON CONFLICT (day, product_id) DO UPDATE
    SET views = a.views + EXCLUDED.views, add_to_carts = a.add_to_carts + EXCLUDED.add_to_carts,
        purchases = a.purchases + EXCLUDED.purchases, units = a.units + EXCLUDED.units,
        revenue = a.revenue + EXCLUDED.revenue, updated_at = now();

DELETE FROM agg_product_daily a USING etl_product_delta d
WHERE a.day = d.day AND a.product_id = d.product_id
  AND a.views = 0 AND a.add_to_carts = 0 AND a.purchases = 0;

-- Name, category and brand: from the key's latest engagement event of the day (non-bot).
UPDATE agg_product_daily a
SET product_name = l.name, product_category = l.category, product_brand = l.brand
FROM etl_product_delta d
LEFT JOIN LATERAL (
    SELECT e.context_product_name AS name, e.context_product_category AS category,
           e.context_product_brand AS brand
    FROM clickstream_events e
    JOIN sessions s ON s.session_id = e.session_id AND NOT s.is_bot
    WHERE e.event_name IN ('product_view', 'add_to_cart') AND e.context_product_id IS NOT NULL
      AND e.context_product_id = d.product_id
      AND e.event_timestamp >= d.day::timestamp AT TIME ZONE 'UTC'
      AND e.event_timestamp < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
    ORDER BY e.event_timestamp DESC, e.event_id DESC
    LIMIT 1
) l ON true
WHERE a.day = d.day AND a.product_id = d.product_id;
"""

FUNNEL_DELTA = """
CREATE TEMP TABLE etl_funnel_delta ON COMMIT DROP AS
SELECT (started_at AT TIME ZONE 'UTC')::date AS day, sum(sign) AS sessions,
       sum(sign * (page_views > 0)::int) AS sessions_page_view,
       sum(sign * reached_product::int) AS sessions_product_view,
       sum(sign * reached_cart::int) AS sessions_add_to_cart,
       sum(sign * reached_checkout::int) AS sessions_begin_checkout,
       sum(sign * purchased::int) AS sessions_purchase,
       sum(sign * orders) AS orders, sum(sign * revenue) AS revenue
FROM (
    SELECT 1 AS sign, s.started_at, s.page_views, s.reached_product, s.reached_cart, s.reached_checkout,
           s.purchased, s.orders, s.revenue
    FROM etl_touched_sessions t JOIN sessions s ON s.session_id = t.session_id AND NOT s.is_bot
    UNION ALL
    SELECT -1, started_at, page_views, reached_product, reached_cart, reached_checkout, purchased, orders,
           revenue
    FROM etl_old_sessions WHERE NOT is_bot
) contributing
GROUP BY 1;

INSERT INTO agg_funnel_daily AS f (day, sessions, sessions_page_view, sessions_product_view,
                                   sessions_add_to_cart, sessions_begin_checkout, sessions_purchase,
                                   orders, revenue)
SELECT * FROM etl_funnel_delta
ON CONFLICT (day) DO UPDATE
    SET sessions = f.sessions + EXCLUDED.sessions,
        sessions_page_view = f.sessions_page_view + EXCLUDED.sessions_page_view,
        sessions_product_view = f.sessions_product_view + EXCLUDED.sessions_product_view,
        sessions_add_to_cart = f.sessions_add_to_cart + EXCLUDED.sessions_add_to_cart,
        sessions_begin_checkout = f.sessions_begin_checkout + EXCLUDED.sessions_begin_checkout,
        sessions_purchase = f.sessions_purchase + EXCLUDED.sessions_purchase,
        orders = f.orders + EXCLUDED.orders, revenue = f.revenue + EXCLUDED.revenue, updated_at = now();

DELETE FROM agg_funnel_daily f USING etl_funnel_delta d WHERE f.day = d.day AND f.sessions = 0;
"""

REBUILD_AGGREGATES = (REBUILD_HOURLY + PRODUCT_DELTA + FUNNEL_DELTA).replace(
    "{SESSION_EVENTS}", SESSION_EVENTS)


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
