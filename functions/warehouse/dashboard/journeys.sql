-- Page "User journeys": every non-bot session of the range, by the UTC day it started. The
-- paths and transitions read each session's steps, which the ETL keeps on the session
-- (sessions.steps: its event names with repeats in a row collapsed, the first
-- max_session_steps() of them; sessions.step_count: how many there were), so no raw event is
-- read and no sample is taken.
-- requires: common

-- The functions of the sampled journeys (before migration 050) took p_max_sessions; they go.
DROP FUNCTION IF EXISTS dashboard.journey_transitions(date, date, int, int);
DROP FUNCTION IF EXISTS dashboard.journey_paths(date, date, int, int, int);
DROP FUNCTION IF EXISTS dashboard.session_steps(date, date, int);
DROP FUNCTION IF EXISTS dashboard.journey_pages(date, date, int, int);
DROP FUNCTION IF EXISTS dashboard.journey_summary(date, date, int);
DROP FUNCTION IF EXISTS dashboard.latest_sessions(date, date, int);
DROP FUNCTION IF EXISTS dashboard.journey_sample_size();

-- The range's non-bot sessions: the columns the journey figures use. Named columns, not SETOF
-- sessions: a body's s.* is fixed when it is created, so a column added to sessions would
-- break that function until it was created again.
CREATE OR REPLACE FUNCTION dashboard.journey_sessions(p_from date, p_to date)
RETURNS TABLE (session_id text, started_at timestamptz, events int, duration_s numeric, purchased boolean,
               entry_page text, exit_page text, steps text[], step_count int)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.session_id, s.started_at, s.events, s.duration_s, s.purchased, s.entry_page, s.exit_page,
           s.steps, s.step_count
    FROM sessions s
    WHERE s.started_at >= dashboard.range_start(p_from) AND s.started_at < dashboard.range_end(p_to)
      AND NOT s.is_bot;
END;

-- sessions = the range's sessions; sampled = the sessions the averages are over: all of them.
CREATE OR REPLACE FUNCTION dashboard.journey_summary(p_from date, p_to date)
RETURNS TABLE (sessions bigint, sampled bigint, avg_events numeric, avg_duration_s numeric,
               bounce_rate numeric, purchase_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT count(*)::bigint,
           count(*)::bigint,
           round(avg(s.events), 2),
           round(avg(s.duration_s), 1),
           round(avg(CASE WHEN s.events <= 1 THEN 1 ELSE 0 END), 4),
           round(avg(CASE WHEN s.purchased THEN 1 ELSE 0 END), 4)
    FROM dashboard.journey_sessions(p_from, p_to) s;
END;

-- The most common first (kind 'entry') and last (kind 'exit') pages, the top p_limit of each;
-- share = of the range's sessions.
CREATE OR REPLACE FUNCTION dashboard.journey_pages(p_from date, p_to date, p_limit int DEFAULT 10)
RETURNS TABLE (kind text, page text, sessions bigint, share numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH counted AS (
        SELECT p.kind, p.page, count(*)::bigint AS sessions,
               round(count(*)::numeric / sum(count(*)) OVER (PARTITION BY p.kind), 4) AS share,
               row_number() OVER (PARTITION BY p.kind ORDER BY count(*) DESC, p.page) AS rank
        FROM dashboard.journey_sessions(p_from, p_to) s
        CROSS JOIN LATERAL (VALUES ('entry', coalesce(s.entry_page, '(unknown)')),
                                   ('exit', coalesce(s.exit_page, '(unknown)'))) AS p(kind, page)
        GROUP BY p.kind, p.page
    )
    SELECT c.kind, c.page, c.sessions, c.share
    FROM counted c
    WHERE c.rank <= greatest(coalesce(p_limit, 10), 1)
    ORDER BY c.kind, c.rank;
END;

-- The most common paths (the first p_steps steps, at most max_session_steps(); a longer
-- session's path ends in "…").
CREATE OR REPLACE FUNCTION dashboard.journey_paths(p_from date, p_to date, p_limit int DEFAULT 15,
                                                   p_steps int DEFAULT 6)
RETURNS TABLE (path text, steps int, sessions bigint, share numeric, purchase_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH bounded AS (
        SELECT least(greatest(coalesce(p_steps, 6), 1), max_session_steps()) AS n
    ), paths AS (
        SELECT array_to_string(s.steps[1:b.n], ' → ')
                   || CASE WHEN s.step_count > b.n THEN ' → …' ELSE '' END AS path,
               least(s.step_count, b.n) AS steps,
               s.purchased
        FROM dashboard.journey_sessions(p_from, p_to) s CROSS JOIN bounded b
    )
    SELECT p.path, min(p.steps), count(*)::bigint,
           round(count(*)::numeric / sum(count(*)) OVER (), 4),
           round(avg(CASE WHEN p.purchased THEN 1 ELSE 0 END), 4)
    FROM paths p
    GROUP BY p.path
    ORDER BY 3 DESC, 1
    LIMIT greatest(coalesce(p_limit, 15), 1);
END;

-- Step-to-step transitions, for the Sankey diagram: sessions whose step step_no was
-- from_event and step step_no + 1 was to_event ("(exit)" = the session ended there), up to
-- p_max_steps (at most max_session_steps() - 1).
CREATE OR REPLACE FUNCTION dashboard.journey_transitions(p_from date, p_to date, p_max_steps int DEFAULT 5)
RETURNS TABLE (step_no int, from_event text, to_event text, sessions bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH bounded AS (
        SELECT least(greatest(coalesce(p_max_steps, 5), 1), max_session_steps() - 1) AS n
    )
    SELECT g.i, s.steps[g.i], coalesce(s.steps[g.i + 1], '(exit)'), count(*)::bigint
    FROM dashboard.journey_sessions(p_from, p_to) s
    CROSS JOIN bounded b
    CROSS JOIN LATERAL generate_series(1, least(s.step_count, b.n)) AS g(i)
    WHERE g.i < b.n OR s.step_count <= g.i
    GROUP BY 1, 2, 3
    ORDER BY 1, 4 DESC, 2, 3;
END;
