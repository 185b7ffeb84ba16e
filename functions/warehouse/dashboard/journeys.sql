-- Page "User journeys": every non-bot session of the range, by the UTC day it started, from the
-- per-day journey aggregates the ETL keeps (migration 060: agg_journey_daily of the sessions'
-- first journey_steps_kept() steps, agg_journey_pages_daily of their entry and exit pages) and
-- the day rows of agg_audience_daily; no function reads sessions or raw events.
-- requires: common

-- Gone with the 2,000-session sample (their p_max_sessions parameter went with it).
DROP FUNCTION IF EXISTS dashboard.journey_summary(date, date, int);
DROP FUNCTION IF EXISTS dashboard.journey_pages(date, date, int, int);
DROP FUNCTION IF EXISTS dashboard.journey_paths(date, date, int, int, int);
DROP FUNCTION IF EXISTS dashboard.journey_transitions(date, date, int, int);
DROP FUNCTION IF EXISTS dashboard.session_steps(date, date, int);
DROP FUNCTION IF EXISTS dashboard.latest_sessions(date, date, int);
DROP FUNCTION IF EXISTS dashboard.journey_sample_size();

-- sessions = the range's sessions; sampled = the sessions the averages are taken over: all of
-- them (kept for the column's readers).
CREATE OR REPLACE FUNCTION dashboard.journey_summary(p_from date, p_to date)
RETURNS TABLE (sessions bigint, sampled bigint, avg_events numeric, avg_duration_s numeric,
               bounce_rate numeric, purchase_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT coalesce(sum(a.sessions), 0)::bigint, coalesce(sum(a.sessions), 0)::bigint,
           round(sum(a.events) / nullif(sum(a.sessions), 0), 2),
           round(sum(a.duration_s) / nullif(sum(a.sessions), 0), 1),
           round(sum(a.bounces) / nullif(sum(a.sessions), 0), 4),
           round(sum(a.converted) / nullif(sum(a.sessions), 0), 4)
    FROM agg_audience_daily a
    WHERE a.dimension = 'all' AND a.day BETWEEN p_from AND p_to;
END;

-- The most common first (kind 'entry') and last (kind 'exit') pages, the top p_limit of each
-- (ties by page); share = of the range's sessions.
CREATE OR REPLACE FUNCTION dashboard.journey_pages(p_from date, p_to date, p_limit int DEFAULT 10)
RETURNS TABLE (kind text, page text, sessions bigint, share numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH counted AS (
        SELECT p.kind, p.page, sum(p.sessions)::bigint AS sessions,
               round(sum(p.sessions) / sum(sum(p.sessions)) OVER (PARTITION BY p.kind), 4) AS share,
               row_number() OVER (PARTITION BY p.kind ORDER BY sum(p.sessions) DESC, p.page) AS rank
        FROM agg_journey_pages_daily p
        WHERE p.day BETWEEN p_from AND p_to
        GROUP BY p.kind, p.page
    )
    SELECT c.kind, c.page, c.sessions, c.share
    FROM counted c
    WHERE c.rank <= greatest(coalesce(p_limit, 10), 1)
    ORDER BY c.kind, c.rank;
END;

-- The most common paths (first p_steps steps, at most journey_steps_kept(); a longer session's
-- path ends in "…"), ties by path; share = of the range's sessions.
CREATE OR REPLACE FUNCTION dashboard.journey_paths(p_from date, p_to date, p_limit int DEFAULT 15,
                                                   p_steps int DEFAULT 6)
RETURNS TABLE (path text, steps int, sessions bigint, share numeric, purchase_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH kept AS (
        SELECT least(greatest(coalesce(p_steps, 6), 1), journey_steps_kept()) AS n
    ), paths AS (
        SELECT array_to_string(j.steps[1:k.n], ' → ') || CASE WHEN j.step_count > k.n THEN ' → …' ELSE '' END
                   AS path,
               least(j.step_count, k.n) AS steps, j.sessions, j.purchased
        FROM agg_journey_daily j CROSS JOIN kept k
        WHERE j.day BETWEEN p_from AND p_to
    )
    SELECT p.path, min(p.steps), sum(p.sessions)::bigint,
           round(sum(p.sessions) / sum(sum(p.sessions)) OVER (), 4),
           round(sum(p.purchased) / sum(p.sessions), 4)
    FROM paths p
    GROUP BY p.path
    ORDER BY 3 DESC, 1
    LIMIT greatest(coalesce(p_limit, 15), 1);
END;

-- Step-to-step transitions, for the Sankey diagram: sessions whose step step_no was from_event
-- and step step_no + 1 was to_event ("(exit)" = the session ended there), steps 1 ..
-- p_max_steps (at most journey_steps_kept()); a session longer than that stops at its
-- p_max_steps-th step without an exit.
CREATE OR REPLACE FUNCTION dashboard.journey_transitions(p_from date, p_to date, p_max_steps int DEFAULT 5)
RETURNS TABLE (step_no int, from_event text, to_event text, sessions bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH kept AS (
        SELECT least(greatest(coalesce(p_max_steps, 5), 1), journey_steps_kept()) AS n
    )
    SELECT g.i, j.steps[g.i], coalesce(j.steps[g.i + 1], '(exit)'), sum(j.sessions)::bigint
    FROM agg_journey_daily j CROSS JOIN kept k
    CROSS JOIN LATERAL generate_series(1, least(j.step_count, k.n)) AS g(i)
    WHERE j.day BETWEEN p_from AND p_to AND (g.i < k.n OR j.step_count <= g.i)
    GROUP BY 1, 2, 3
    ORDER BY 1, 4 DESC, 2, 3;
END;
