-- Page "Data health": ETL bookkeeping. Loads come from etl_runs (one row per hourly run), not
-- the file manifest (one row per raw object, millions of them).
-- requires: common

-- What each hour's runs loaded (by the hour the run started).
CREATE OR REPLACE FUNCTION dashboard.etl_loaded_hourly(p_from date, p_to date)
RETURNS TABLE (hour timestamptz, files bigint, events bigint, rejected bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT date_trunc('hour', r.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           sum(r.files)::bigint, sum(r.events_loaded)::bigint, sum(r.rejected)::bigint
    FROM etl_runs r
    WHERE r.started_at >= dashboard.range_start(p_from) AND r.started_at < dashboard.range_end(p_to)
    GROUP BY 1
    ORDER BY 1;
END;

CREATE OR REPLACE FUNCTION dashboard.etl_rejects_by_reason(p_from date, p_to date, p_limit int DEFAULT 20)
RETURNS TABLE (reason text, rejects bigint, files bigint, last_seen timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT r.reason, count(*)::bigint, count(DISTINCT r.key)::bigint, max(r.rejected_at)
    FROM etl_rejects r
    WHERE r.rejected_at >= dashboard.range_start(p_from) AND r.rejected_at < dashboard.range_end(p_to)
    GROUP BY r.reason
    ORDER BY 2 DESC, 1
    LIMIT greatest(coalesce(p_limit, 20), 1);
END;

-- Totals of the runs started in the period.
CREATE OR REPLACE FUNCTION dashboard.etl_summary(p_from date, p_to date)
RETURNS TABLE (files bigint, events_loaded bigint, rejected bigint, runs bigint, failed_runs bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT coalesce(sum(r.files), 0)::bigint, coalesce(sum(r.events_loaded), 0)::bigint,
           coalesce(sum(r.rejected), 0)::bigint, count(*)::bigint,
           count(*) FILTER (WHERE r.status = 'failed')::bigint
    FROM etl_runs r
    WHERE r.started_at >= dashboard.range_start(p_from) AND r.started_at < dashboard.range_end(p_to);
END;

-- The latest run whatever its state, the latest successful one, and how far behind the
-- warehouse is: seconds since the last successful run finished, and the newest hour loaded.
CREATE OR REPLACE FUNCTION dashboard.etl_last_run()
RETURNS TABLE (run_id bigint, status text, trigger text, started_at timestamptz, finished_at timestamptz,
               files int, events_loaded bigint, duplicates bigint, rejected bigint, error text,
               last_success_at timestamptz, lag_seconds numeric, newest_hour timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT r.run_id, r.status, r.trigger, r.started_at, r.finished_at, r.files, r.events_loaded,
           r.duplicates, r.rejected, r.error,
           ok.finished_at,
           round(extract(epoch FROM now() - ok.finished_at), 0),
           (SELECT max(m.object_hour) FROM etl_file_manifest m)
    FROM (SELECT NULL::int) one
    LEFT JOIN LATERAL (SELECT * FROM etl_runs ORDER BY started_at DESC, run_id DESC LIMIT 1) r ON true
    LEFT JOIN LATERAL (SELECT x.finished_at FROM etl_runs x WHERE x.status = 'succeeded'
                       ORDER BY x.finished_at DESC NULLS LAST LIMIT 1) ok ON true;
END;
