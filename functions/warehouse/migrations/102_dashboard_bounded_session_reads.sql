-- Keep every dashboard query fast at tens of millions of events (bench/dashboard.py): no
-- query reads all of a period's sessions any more.
-- * Activity: distinct users over a period or per day would need every session of it; the
--   headline and the daily figure become the peak hourly users (distinct client ids in one
--   hour, from agg_activity_hourly). Exact distinct users per day need a daily aggregate
--   from the ETL.
-- * Journeys: the summary, entry and exit pages come from the same bounded sample as the
--   paths (the period's latest p_max_sessions non-bot sessions, default 3,000); the session
--   count is the period's total from agg_funnel_daily.

DROP FUNCTION dashboard.activity_summary(date, date);
DROP FUNCTION dashboard.activity_daily(date, date);
DROP FUNCTION dashboard.journey_summary(date, date);
DROP FUNCTION dashboard.entry_pages(date, date, int);
DROP FUNCTION dashboard.exit_pages(date, date, int);
DROP FUNCTION dashboard.journey_paths(date, date, int, int, int);
DROP FUNCTION dashboard.journey_transitions(date, date, int, int);
DROP FUNCTION dashboard.session_steps(date, date, int);

CREATE FUNCTION dashboard.activity_summary(p_from date, p_to date)
RETURNS TABLE (events bigint, sessions bigint, peak_hour_users bigint, peak_hour timestamptz,
               peak_hour_events bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT
        (SELECT coalesce(sum(a.events), 0)::bigint FROM agg_activity_hourly a
          WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)),
        (SELECT coalesce(sum(f.sessions), 0)::bigint FROM agg_funnel_daily f
          WHERE f.day BETWEEN p_from AND p_to),
        (SELECT coalesce(max(a.users), 0)::bigint FROM agg_activity_hourly a
          WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)),
        peak.hour, peak.events
    FROM (SELECT NULL::int) one
    LEFT JOIN LATERAL (
        SELECT a.hour, a.events::bigint AS events FROM agg_activity_hourly a
        WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
        ORDER BY a.events DESC, a.hour
        LIMIT 1
    ) peak ON true;
END;

-- Every day of the range (quiet days as zeros): events from the hourly aggregate, sessions
-- (by start day) from the daily funnel, peak_hour_users = the day's busiest hour's users.
CREATE FUNCTION dashboard.activity_daily(p_from date, p_to date)
RETURNS TABLE (day date, events bigint, peak_hour_users bigint, sessions bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH ev AS (
        SELECT (a.hour AT TIME ZONE 'UTC')::date AS day, sum(a.events)::bigint AS events,
               max(a.users)::bigint AS peak_users
        FROM agg_activity_hourly a
        WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
        GROUP BY 1
    )
    SELECT d.day::date, coalesce(ev.events, 0), coalesce(ev.peak_users, 0), coalesce(f.sessions, 0)::bigint
    FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS d(day)
    LEFT JOIN ev ON ev.day = d.day::date
    LEFT JOIN agg_funnel_daily f ON f.day = d.day::date
    ORDER BY d.day;
END;

-- The period's latest p_max_sessions non-bot sessions (by start), newest first.
CREATE FUNCTION dashboard.latest_sessions(p_from date, p_to date, p_max_sessions int DEFAULT 3000)
RETURNS SETOF sessions
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.* FROM sessions s
    WHERE s.started_at >= dashboard.range_start(p_from) AND s.started_at < dashboard.range_end(p_to)
      AND NOT s.is_bot
    ORDER BY s.started_at DESC, s.session_id
    LIMIT greatest(coalesce(p_max_sessions, 3000), 1);
END;

-- sessions = all of the period's sessions; sampled = how many the averages are taken over.
CREATE FUNCTION dashboard.journey_summary(p_from date, p_to date, p_max_sessions int DEFAULT 3000)
RETURNS TABLE (sessions bigint, sampled bigint, avg_events numeric, avg_duration_s numeric,
               bounce_rate numeric, purchase_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT (SELECT coalesce(sum(f.sessions), 0)::bigint FROM agg_funnel_daily f WHERE f.day BETWEEN p_from AND p_to),
           count(*)::bigint,
           round(avg(s.events), 2),
           round(avg(s.duration_s), 1),
           round(avg(CASE WHEN s.events <= 1 THEN 1 ELSE 0 END), 4),
           round(avg(CASE WHEN s.purchased THEN 1 ELSE 0 END), 4)
    FROM dashboard.latest_sessions(p_from, p_to, p_max_sessions) s;
END;

CREATE FUNCTION dashboard.entry_pages(p_from date, p_to date, p_limit int DEFAULT 10,
                                      p_max_sessions int DEFAULT 3000)
RETURNS TABLE (page text, sessions bigint, share numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT coalesce(s.entry_page, '(unknown)'), count(*)::bigint,
           round(count(*)::numeric / sum(count(*)) OVER (), 4)
    FROM dashboard.latest_sessions(p_from, p_to, p_max_sessions) s
    GROUP BY 1
    ORDER BY 2 DESC, 1
    LIMIT greatest(coalesce(p_limit, 10), 1);
END;

CREATE FUNCTION dashboard.exit_pages(p_from date, p_to date, p_limit int DEFAULT 10,
                                     p_max_sessions int DEFAULT 3000)
RETURNS TABLE (page text, sessions bigint, share numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT coalesce(s.exit_page, '(unknown)'), count(*)::bigint,
           round(count(*)::numeric / sum(count(*)) OVER (), 4)
    FROM dashboard.latest_sessions(p_from, p_to, p_max_sessions) s
    GROUP BY 1
    ORDER BY 2 DESC, 1
    LIMIT greatest(coalesce(p_limit, 10), 1);
END;

-- Event sequences of the sampled sessions, repeats of the same event in a row collapsed.
CREATE FUNCTION dashboard.session_steps(p_from date, p_to date, p_max_sessions int DEFAULT 3000)
RETURNS TABLE (session_id text, purchased boolean, steps text[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH picked AS (
        SELECT s.session_id, s.purchased FROM dashboard.latest_sessions(p_from, p_to, p_max_sessions) s
    ), ordered AS (
        SELECT e.session_id, e.event_name, e.event_timestamp, e.event_id,
               lag(e.event_name) OVER (PARTITION BY e.session_id ORDER BY e.event_timestamp, e.event_id) AS prev
        FROM picked p
        JOIN clickstream_events e ON e.session_id = p.session_id
    )
    SELECT p.session_id, p.purchased,
           array_agg(o.event_name ORDER BY o.event_timestamp, o.event_id)
    FROM picked p
    JOIN ordered o ON o.session_id = p.session_id
    WHERE o.prev IS DISTINCT FROM o.event_name
    GROUP BY p.session_id, p.purchased;
END;

CREATE FUNCTION dashboard.journey_paths(p_from date, p_to date, p_limit int DEFAULT 15,
                                        p_steps int DEFAULT 6, p_max_sessions int DEFAULT 3000)
RETURNS TABLE (path text, steps int, sessions bigint, share numeric, purchase_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH paths AS (
        SELECT array_to_string(st.steps[1:p_steps], ' → ')
                   || CASE WHEN cardinality(st.steps) > p_steps THEN ' → …' ELSE '' END AS path,
               least(cardinality(st.steps), p_steps) AS steps,
               st.purchased
        FROM dashboard.session_steps(p_from, p_to, p_max_sessions) st
    )
    SELECT p.path, min(p.steps), count(*)::bigint,
           round(count(*)::numeric / sum(count(*)) OVER (), 4),
           round(avg(CASE WHEN p.purchased THEN 1 ELSE 0 END), 4)
    FROM paths p
    GROUP BY p.path
    ORDER BY 3 DESC, 1
    LIMIT greatest(coalesce(p_limit, 15), 1);
END;

CREATE FUNCTION dashboard.journey_transitions(p_from date, p_to date, p_max_steps int DEFAULT 5,
                                              p_max_sessions int DEFAULT 3000)
RETURNS TABLE (step_no int, from_event text, to_event text, sessions bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT g.i, st.steps[g.i], coalesce(st.steps[g.i + 1], '(exit)'), count(*)::bigint
    FROM dashboard.session_steps(p_from, p_to, p_max_sessions) st
    CROSS JOIN LATERAL generate_series(1, least(cardinality(st.steps), p_max_steps)) AS g(i)
    WHERE g.i < p_max_steps OR st.steps[g.i + 1] IS NULL
    GROUP BY 1, 2, 3
    ORDER BY 1, 4 DESC, 2, 3;
END;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA dashboard FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA dashboard TO clickstream_reader;
