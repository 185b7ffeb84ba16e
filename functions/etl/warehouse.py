"""The warehouse as the ETL uses it: connections, the run's advisory locks, run bookkeeping
(etl_runs) and what each batch records (manifest, rejects, run counters)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import psycopg2
from psycopg2.extras import execute_values

from functions.etl.config import TCP_KEEPALIVES, Settings, dwh_password

if TYPE_CHECKING:
    from functions.etl.batch import BatchCounts


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
            **TCP_KEEPALIVES,
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

    A run's second lane (pipeline.load_plan) has its own connection, which holds the lane lock
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


def connect_lane(settings: Settings):
    """A further lane's own connection, joined to the run (the loading lanes' and the refresh's
    second lane alike); closed again if it cannot join."""
    conn = connect(settings, dwh_password(settings))
    try:
        join_run(conn)
    except BaseException:
        conn.close()
        raise
    return conn


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
