-- Page "Data health", data quality: flagged hours, restated days, bot traffic (migration 040;
-- definitions in docs/warehouse-etl.md, "Data quality").
-- requires: common

-- The hours of the range the anomaly check flagged, open or since cleared by late data.
CREATE OR REPLACE FUNCTION dashboard.anomalies(p_from date, p_to date)
RETURNS TABLE (hour timestamptz, metric text, observed numeric, expected numeric, lower_bound numeric,
               upper_bound numeric, score numeric, open boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT a.hour, a.metric, a.observed, a.expected, a.lower_bound, a.upper_bound, a.score, a.open
    FROM dq_anomalies a
    WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
    ORDER BY a.hour, a.metric;
END;

-- Daily figures of days in the range that a run changed after the day had passed, newest first.
CREATE OR REPLACE FUNCTION dashboard.restatements(p_from date, p_to date)
RETURNS TABLE (day date, figure text, before numeric, after numeric, run_id bigint, restated_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT r.day, r.table_name || '.' || r.figure, r.before, r.after, r.run_id, r.restated_at
    FROM agg_restatements r
    WHERE r.day BETWEEN p_from AND p_to
    ORDER BY r.restated_at DESC, r.restatement_id DESC;
END;

-- Events per hour and the share from bot sessions (which every other figure excludes).
CREATE OR REPLACE FUNCTION dashboard.bot_share(p_from date, p_to date)
RETURNS TABLE (hour timestamptz, events bigint, bot_events bigint, share numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT a.hour, sum(a.events)::bigint, (coalesce(sum(a.events) FILTER (WHERE a.is_bot), 0))::bigint,
           coalesce(sum(a.events) FILTER (WHERE a.is_bot), 0)::numeric / sum(a.events)
    FROM activity_session_hours a
    WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
    GROUP BY a.hour
    ORDER BY a.hour;
END;

-- Bot traffic per hour by detection reason (the bot session's: its first bot event's
-- bot_reason, functions/enrichment/bots.py): so exclusions are visible, not silent. share = of
-- all the hour's events.
CREATE OR REPLACE FUNCTION dashboard.bot_share_by_reason(p_from date, p_to date)
RETURNS TABLE (hour timestamptz, reason text, bot_events bigint, share numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH hours AS (
        SELECT a.hour, sum(a.events) AS events
        FROM activity_session_hours a
        WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
        GROUP BY a.hour
    )
    SELECT a.hour, coalesce(s.bot_reason, 'ingest'), sum(a.events)::bigint, sum(a.events)::numeric / h.events
    FROM activity_session_hours a
    JOIN hours h ON h.hour = a.hour
    JOIN sessions s ON s.session_id = a.session_id
    WHERE a.is_bot AND a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
    GROUP BY a.hour, 2, h.events
    ORDER BY 1, 3 DESC, 2;
END;
