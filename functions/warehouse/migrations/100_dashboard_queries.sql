-- The dashboards' queries, one SQL function per figure or table the app shows, in schema
-- "dashboard". The R app only calls these; the Python tests and bench/dashboard.py run the
-- very same functions. Every function takes an inclusive range of UTC days (p_from, p_to).
-- Headline numbers come from the aggregate tables (agg_*); no query reads all of a period's
-- sessions, so every one stays fast at tens of millions of events (bench/dashboard.py):
-- journey figures come from a bounded sample of the period's latest sessions, and raw events
-- are read only for that sample's paths.
-- Bot traffic is excluded everywhere, as in the aggregates.

CREATE SCHEMA dashboard;
COMMENT ON SCHEMA dashboard IS 'Read-only query functions behind the R Shiny dashboards';
REVOKE ALL ON SCHEMA dashboard FROM PUBLIC;
GRANT USAGE ON SCHEMA dashboard TO clickstream_reader;

-- [p_from, p_to] as a half-open timestamptz range, whatever the session's TimeZone.
CREATE FUNCTION dashboard.range_start(p_from date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN p_from::timestamp AT TIME ZONE 'UTC';

CREATE FUNCTION dashboard.range_end(p_to date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (p_to + 1)::timestamp AT TIME ZONE 'UTC';

-- Days that hold any (non-bot) activity: the app opens on the latest data.
CREATE FUNCTION dashboard.data_bounds()
RETURNS TABLE (first_day date, last_day date)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT (min(hour) AT TIME ZONE 'UTC')::date, (max(hour) AT TIME ZONE 'UTC')::date
    FROM agg_activity_hourly;
END;

-- ---------------------------------------------------------------------------------------------
-- 1. Activity trends
-- ---------------------------------------------------------------------------------------------

-- Every hour of the range, quiet hours as zeros, so a chart shows a gap in traffic as a drop
-- to zero instead of a line drawn across it.
CREATE FUNCTION dashboard.activity_hourly(p_from date, p_to date)
RETURNS TABLE (hour timestamptz, events bigint, users bigint, sessions bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT h.hour, coalesce(a.events, 0)::bigint, coalesce(a.users, 0)::bigint, coalesce(a.sessions, 0)::bigint
    FROM generate_series(dashboard.range_start(p_from), dashboard.range_end(p_to) - interval '1 hour',
                         interval '1 hour') AS h(hour)
    LEFT JOIN agg_activity_hourly a ON a.hour = h.hour
    ORDER BY h.hour;
END;

-- Every day of the range (quiet days as zeros): events and distinct users from the daily
-- aggregate, sessions (by start day) from the daily funnel, peak_hour_users = the day's busiest
-- hour's users (from the hourly aggregate).
CREATE FUNCTION dashboard.activity_daily(p_from date, p_to date)
RETURNS TABLE (day date, events bigint, users bigint, sessions bigint, peak_hour_users bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH peak AS (
        SELECT (a.hour AT TIME ZONE 'UTC')::date AS day, max(a.users)::bigint AS peak_users
        FROM agg_activity_hourly a
        WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
        GROUP BY 1
    )
    SELECT d.day::date, coalesce(ad.events, 0)::bigint, coalesce(ad.users, 0)::bigint,
           coalesce(f.sessions, 0)::bigint, coalesce(peak.peak_users, 0)
    FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS d(day)
    LEFT JOIN agg_activity_daily ad ON ad.day = d.day::date
    LEFT JOIN peak ON peak.day = d.day::date
    LEFT JOIN agg_funnel_daily f ON f.day = d.day::date
    ORDER BY d.day;
END;

-- Headline figures of the period. Distinct users over a whole period would need every session
-- of it, so users are reported per day and per hour: peak_day_users = the most distinct client
-- ids in one UTC day of the range (agg_activity_daily), peak_hour_users = the most in one hour
-- (agg_activity_hourly).
CREATE FUNCTION dashboard.activity_summary(p_from date, p_to date)
RETURNS TABLE (events bigint, sessions bigint, peak_hour_users bigint, peak_hour timestamptz,
               peak_hour_events bigint, peak_day_users bigint, peak_day date)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT
        (SELECT coalesce(sum(a.events), 0)::bigint FROM agg_activity_hourly a
          WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)),
        (SELECT coalesce(sum(f.sessions), 0)::bigint FROM agg_funnel_daily f
          WHERE f.day BETWEEN p_from AND p_to),
        (SELECT coalesce(max(a.users), 0)::bigint FROM agg_activity_hourly a
          WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)),
        peak.hour, peak.events,
        coalesce(peak_day.users, 0), peak_day.day
    FROM (SELECT NULL::int) one
    LEFT JOIN LATERAL (
        SELECT a.hour, a.events::bigint AS events FROM agg_activity_hourly a
        WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
        ORDER BY a.events DESC, a.hour
        LIMIT 1
    ) peak ON true
    LEFT JOIN LATERAL (
        SELECT a.day, a.users FROM agg_activity_daily a
        WHERE a.day BETWEEN p_from AND p_to
        ORDER BY a.users DESC, a.day
        LIMIT 1
    ) peak_day ON true;
END;

-- ---------------------------------------------------------------------------------------------
-- 2. Conversion funnel (sessions by the UTC day they started)
-- ---------------------------------------------------------------------------------------------

-- Sessions that reached each step; step_rate = share of the previous step's sessions,
-- overall_rate = share of the first step's sessions (NULL when the base is 0).
CREATE FUNCTION dashboard.funnel(p_from date, p_to date)
RETURNS TABLE (step_no int, step text, sessions bigint, step_rate numeric, overall_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH totals AS (
        SELECT coalesce(sum(f.sessions_page_view), 0)::bigint      AS s1,
               coalesce(sum(f.sessions_product_view), 0)::bigint   AS s2,
               coalesce(sum(f.sessions_add_to_cart), 0)::bigint    AS s3,
               coalesce(sum(f.sessions_begin_checkout), 0)::bigint AS s4,
               coalesce(sum(f.sessions_purchase), 0)::bigint       AS s5
        FROM agg_funnel_daily f
        WHERE f.day BETWEEN p_from AND p_to
    ), steps AS (
        SELECT v.step_no, v.step, v.sessions, t.s1
        FROM totals t,
             LATERAL (VALUES (1, 'page_view', t.s1), (2, 'product_view', t.s2), (3, 'add_to_cart', t.s3),
                             (4, 'begin_checkout', t.s4), (5, 'purchase', t.s5)) AS v(step_no, step, sessions)
    )
    SELECT s.step_no, s.step, s.sessions,
           round(s.sessions::numeric / nullif(lag(s.sessions) OVER (ORDER BY s.step_no), 0), 4),
           round(s.sessions::numeric / nullif(s.s1, 0), 4)
    FROM steps s
    ORDER BY s.step_no;
END;

CREATE FUNCTION dashboard.funnel_daily(p_from date, p_to date)
RETURNS TABLE (day date, sessions bigint, cart_sessions bigint, purchase_sessions bigint,
               orders bigint, revenue numeric, conversion_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.day, f.sessions::bigint, f.sessions_add_to_cart::bigint, f.sessions_purchase::bigint,
           f.orders::bigint, f.revenue,
           round(f.sessions_purchase::numeric / nullif(f.sessions, 0), 4)
    FROM agg_funnel_daily f
    WHERE f.day BETWEEN p_from AND p_to
    ORDER BY f.day;
END;

-- ---------------------------------------------------------------------------------------------
-- 3. Product engagement (events by their UTC day). p_category / p_brand: NULL or '' = all.
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION dashboard.product_filters(p_from date, p_to date)
RETURNS TABLE (category text, brand text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT DISTINCT p.product_category, p.product_brand
    FROM agg_product_daily p
    WHERE p.day BETWEEN p_from AND p_to
      AND p.product_category IS NOT NULL AND p.product_brand IS NOT NULL
    ORDER BY 1, 2;
END;

CREATE FUNCTION dashboard.product_engagement(p_from date, p_to date, p_category text DEFAULT NULL,
                                             p_brand text DEFAULT NULL, p_limit int DEFAULT 25)
RETURNS TABLE (product_id text, product_name text, category text, brand text, views bigint,
               add_to_carts bigint, add_to_cart_rate numeric, purchases bigint, units bigint, revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT p.product_id,
           (array_agg(p.product_name ORDER BY p.day DESC))[1],
           (array_agg(p.product_category ORDER BY p.day DESC))[1],
           (array_agg(p.product_brand ORDER BY p.day DESC))[1],
           sum(p.views)::bigint, sum(p.add_to_carts)::bigint,
           round(sum(p.add_to_carts)::numeric / nullif(sum(p.views), 0), 4),
           sum(p.purchases)::bigint, sum(p.units)::bigint, sum(p.revenue)
    FROM agg_product_daily p
    WHERE p.day BETWEEN p_from AND p_to
      AND (coalesce(p_category, '') = '' OR p.product_category = p_category)
      AND (coalesce(p_brand, '') = '' OR p.product_brand = p_brand)
    GROUP BY p.product_id
    ORDER BY sum(p.views) DESC, sum(p.revenue) DESC, p.product_id
    LIMIT greatest(coalesce(p_limit, 25), 1);
END;

CREATE FUNCTION dashboard.product_summary(p_from date, p_to date, p_category text DEFAULT NULL,
                                          p_brand text DEFAULT NULL)
RETURNS TABLE (products bigint, views bigint, add_to_carts bigint, add_to_cart_rate numeric,
               purchases bigint, units bigint, revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT count(DISTINCT p.product_id)::bigint,
           coalesce(sum(p.views), 0)::bigint, coalesce(sum(p.add_to_carts), 0)::bigint,
           round(sum(p.add_to_carts)::numeric / nullif(sum(p.views), 0), 4),
           coalesce(sum(p.purchases), 0)::bigint, coalesce(sum(p.units), 0)::bigint,
           coalesce(sum(p.revenue), 0)
    FROM agg_product_daily p
    WHERE p.day BETWEEN p_from AND p_to
      AND (coalesce(p_category, '') = '' OR p.product_category = p_category)
      AND (coalesce(p_brand, '') = '' OR p.product_brand = p_brand);
END;

CREATE FUNCTION dashboard.category_engagement(p_from date, p_to date, p_brand text DEFAULT NULL)
RETURNS TABLE (category text, views bigint, add_to_carts bigint, purchases bigint, revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT coalesce(p.product_category, '(none)'), sum(p.views)::bigint, sum(p.add_to_carts)::bigint,
           sum(p.purchases)::bigint, sum(p.revenue)
    FROM agg_product_daily p
    WHERE p.day BETWEEN p_from AND p_to
      AND (coalesce(p_brand, '') = '' OR p.product_brand = p_brand)
    GROUP BY 1
    ORDER BY 5 DESC, 2 DESC, 1;
END;

-- ---------------------------------------------------------------------------------------------
-- 4. User journeys (non-bot sessions by the UTC day they started). The summary, entry and
--    exit pages and the paths come from the same bounded sample: the period's latest
--    p_max_sessions non-bot sessions (default 3,000); the session count is the period's total
--    from agg_funnel_daily.
-- ---------------------------------------------------------------------------------------------

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

-- The event sequence of each sampled session, with repeats of the same event in a row
-- collapsed (page_view, page_view -> page_view).
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

-- The most common paths (first p_steps steps; a longer session's path ends in "…").
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

-- Step-to-step transitions of the same sessions, for the Sankey diagram: sessions whose
-- step step_no was from_event and step step_no + 1 was to_event ("(exit)" = session ended).
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

-- ---------------------------------------------------------------------------------------------
-- 5. Data health (ETL bookkeeping). Loads come from etl_runs (one row per hourly run), not the
--    file manifest (one row per raw object, millions of them).
-- ---------------------------------------------------------------------------------------------

-- What each hour's runs loaded (by the hour the run started).
CREATE FUNCTION dashboard.etl_loaded_hourly(p_from date, p_to date)
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

CREATE FUNCTION dashboard.etl_rejects_by_reason(p_from date, p_to date, p_limit int DEFAULT 20)
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
CREATE FUNCTION dashboard.etl_summary(p_from date, p_to date)
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
CREATE FUNCTION dashboard.etl_last_run()
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

-- The reader may call every function here, nothing else in this schema.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA dashboard FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA dashboard TO clickstream_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA dashboard GRANT EXECUTE ON FUNCTIONS TO clickstream_reader;
