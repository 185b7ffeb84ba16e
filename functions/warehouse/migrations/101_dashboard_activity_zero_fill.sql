-- Activity per hour and per day with the quiet hours and days present as zeros, so a chart
-- shows a gap in traffic as a drop to zero instead of a line drawn across it.

CREATE OR REPLACE FUNCTION dashboard.activity_hourly(p_from date, p_to date)
RETURNS TABLE (hour timestamptz, events bigint, users bigint, sessions bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT h.hour, coalesce(a.events, 0)::bigint, coalesce(a.users, 0)::bigint, coalesce(a.sessions, 0)::bigint
    FROM generate_series(dashboard.range_start(p_from), dashboard.range_end(p_to) - interval '1 hour',
                         interval '1 hour') AS h(hour)
    LEFT JOIN agg_activity_hourly a ON a.hour = h.hour
    ORDER BY h.hour;
END;

CREATE OR REPLACE FUNCTION dashboard.activity_daily(p_from date, p_to date)
RETURNS TABLE (day date, events bigint, users bigint, sessions bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH ev AS (
        SELECT (a.hour AT TIME ZONE 'UTC')::date AS day, sum(a.events)::bigint AS events
        FROM agg_activity_hourly a
        WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
        GROUP BY 1
    ), us AS (
        SELECT (s.started_at AT TIME ZONE 'UTC')::date AS day, count(DISTINCT s.client_id)::bigint AS users
        FROM sessions s
        WHERE s.started_at >= dashboard.range_start(p_from) AND s.started_at < dashboard.range_end(p_to)
          AND NOT s.is_bot
        GROUP BY 1
    )
    SELECT d.day::date, coalesce(ev.events, 0), coalesce(us.users, 0), coalesce(f.sessions, 0)::bigint
    FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS d(day)
    LEFT JOIN ev ON ev.day = d.day::date
    LEFT JOIN us ON us.day = d.day::date
    LEFT JOIN agg_funnel_daily f ON f.day = d.day::date
    ORDER BY d.day;
END;
