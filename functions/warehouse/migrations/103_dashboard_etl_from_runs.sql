-- Data health from etl_runs (one row per hourly run) instead of the file manifest (one row
-- per raw object, millions of them): "events loaded per hour" is what each hour's runs
-- loaded, and the period's totals are those of the runs started in it.

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
