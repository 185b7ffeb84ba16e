-- Page "User journeys": non-bot sessions by the UTC day they started. The summary, the entry
-- and exit pages and the paths come from the same bounded sample: the period's latest
-- p_max_sessions non-bot sessions (NULL, the default: journey_sample_size()); the session count
-- is the period's total from agg_funnel_daily. Raw events are read only for that sample's paths.
-- requires: common

-- How many sessions the journey figures describe unless told otherwise; the app shows it. The
-- paths read the sample's events: 2,000 sessions keep them within tens of milliseconds at
-- 10 M events (bench/dashboard.py).
CREATE OR REPLACE FUNCTION dashboard.journey_sample_size() RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 2000;

-- The period's latest p_max_sessions non-bot sessions (by start), newest first: the columns the
-- journey figures use. Named, not SETOF sessions: a body's s.* is fixed when it is created, so
-- a column added to sessions would break that function until it was created again.
CREATE OR REPLACE FUNCTION dashboard.latest_sessions(p_from date, p_to date, p_max_sessions int DEFAULT NULL)
RETURNS TABLE (session_id text, started_at timestamptz, events int, duration_s numeric, purchased boolean,
               entry_page text, exit_page text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.session_id, s.started_at, s.events, s.duration_s, s.purchased, s.entry_page, s.exit_page
    FROM sessions s
    WHERE s.started_at >= dashboard.range_start(p_from) AND s.started_at < dashboard.range_end(p_to)
      AND NOT s.is_bot
    ORDER BY s.started_at DESC, s.session_id
    LIMIT greatest(coalesce(p_max_sessions, dashboard.journey_sample_size()), 1);
END;

-- sessions = all of the period's sessions; sampled = how many the averages are taken over.
CREATE OR REPLACE FUNCTION dashboard.journey_summary(p_from date, p_to date, p_max_sessions int DEFAULT NULL)
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

-- The sample's most common first (kind 'entry') and last (kind 'exit') pages, the top p_limit
-- of each; share = of the sampled sessions.
CREATE OR REPLACE FUNCTION dashboard.journey_pages(p_from date, p_to date, p_limit int DEFAULT 10,
                                                   p_max_sessions int DEFAULT NULL)
RETURNS TABLE (kind text, page text, sessions bigint, share numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH counted AS (
        SELECT p.kind, p.page, count(*)::bigint AS sessions,
               round(count(*)::numeric / sum(count(*)) OVER (PARTITION BY p.kind), 4) AS share,
               row_number() OVER (PARTITION BY p.kind ORDER BY count(*) DESC, p.page) AS rank
        FROM dashboard.latest_sessions(p_from, p_to, p_max_sessions) s
        CROSS JOIN LATERAL (VALUES ('entry', coalesce(s.entry_page, '(unknown)')),
                                   ('exit', coalesce(s.exit_page, '(unknown)'))) AS p(kind, page)
        GROUP BY p.kind, p.page
    )
    SELECT c.kind, c.page, c.sessions, c.share
    FROM counted c
    WHERE c.rank <= greatest(coalesce(p_limit, 10), 1)
    ORDER BY c.kind, c.rank;
END;

-- The event sequence of each sampled session, with repeats of the same event in a row
-- collapsed (page_view, page_view -> page_view).
CREATE OR REPLACE FUNCTION dashboard.session_steps(p_from date, p_to date, p_max_sessions int DEFAULT NULL)
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

-- The most common paths (first p_steps steps; a longer session's path ends in "…").
CREATE OR REPLACE FUNCTION dashboard.journey_paths(p_from date, p_to date, p_limit int DEFAULT 15,
                                                   p_steps int DEFAULT 6, p_max_sessions int DEFAULT NULL)
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

-- Step-to-step transitions of the same sessions, for the Sankey diagram: sessions whose
-- step step_no was from_event and step step_no + 1 was to_event ("(exit)" = session ended).
CREATE OR REPLACE FUNCTION dashboard.journey_transitions(p_from date, p_to date, p_max_steps int DEFAULT 5,
                                                         p_max_sessions int DEFAULT NULL)
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
