-- Acquisition and audience: where visitors come from, who they are, whether they come back
-- (definitions in docs/warehouse-etl.md, "Acquisition and audience"). Sessions belong to the
-- UTC day they started and their orders count with them; attributed orders land on the UTC day
-- of their purchase event. Bot sessions are excluded. Visitor counts are exact (count
-- DISTINCT over the range's sessions): approximate = false, relative_error = 0.
-- requires: common

-- The range's non-bot sessions, with the columns the functions below read. Named columns, not
-- SETOF sessions (see journeys.sql).
CREATE OR REPLACE FUNCTION dashboard.range_sessions(p_from date, p_to date)
RETURNS TABLE (session_id text, client_id text, started_at timestamptz, events int, purchased boolean,
               orders int, revenue numeric, channel text, source text, medium text, campaign text,
               referrer_host text, device_type text, browser_family text, os_family text, country text,
               is_returning boolean, logged_in boolean, user_ids text[])
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.session_id, s.client_id, s.started_at, s.events, s.purchased, s.orders, s.revenue,
           coalesce(s.channel, 'Direct'), coalesce(s.source, '(direct)'), coalesce(s.medium, '(none)'),
           s.campaign, s.referrer_host, s.device_type, s.browser_family, s.os_family, s.country,
           s.is_returning, s.logged_in, s.user_ids
    FROM sessions s
    WHERE s.started_at >= dashboard.range_start(p_from) AND s.started_at < dashboard.range_end(p_to)
      AND NOT s.is_bot;
END;

-- Distinct visitors of the range: a visitor is a client_id with a non-bot session in it; a new
-- visitor's first-ever non-bot session started in it; signed-in users are the distinct user
-- ids of those sessions' events.
CREATE OR REPLACE FUNCTION dashboard.visitors(p_from date, p_to date)
RETURNS TABLE (visitors bigint, new_visitors bigint, returning_visitors bigint, signed_in_users bigint,
               approximate boolean, relative_error numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH v AS (
        SELECT count(DISTINCT s.client_id) AS visitors,
               (SELECT count(*) FROM clients c
                WHERE c.first_started_at >= dashboard.range_start(p_from)
                  AND c.first_started_at < dashboard.range_end(p_to)) AS new_visitors
        FROM dashboard.range_sessions(p_from, p_to) s
    )
    SELECT v.visitors, v.new_visitors, v.visitors - v.new_visitors,
           (SELECT count(DISTINCT u.user_id) FROM dashboard.range_sessions(p_from, p_to) s
            CROSS JOIN LATERAL unnest(s.user_ids) AS u(user_id)),
           false, 0::numeric
    FROM v;
END;

-- Each purchase event of a non-bot session in the range (by the event's UTC day), attributed
-- three ways: its own session's channel; first touch (the client's earliest non-bot session
-- that started from 30 x 24 h before the purchase up to the purchasing session, by
-- (started_at, session_id)); last non-direct touch (the latest of those that is not Direct,
-- else Direct).
CREATE OR REPLACE FUNCTION dashboard.attributed_purchases(p_from date, p_to date)
RETURNS TABLE (event_id uuid, purchased_at timestamptz, revenue numeric, session_id text,
               session_channel text, first_touch_channel text, last_touch_channel text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT e.event_id, e.event_timestamp, coalesce(e.order_revenue, 0), e.session_id,
           coalesce(ps.channel, 'Direct'),
           coalesce(ft.channel, ps.channel, 'Direct'),
           coalesce(lt.channel, 'Direct')
    FROM clickstream_events e
    JOIN sessions ps ON ps.session_id = e.session_id AND NOT ps.is_bot
    LEFT JOIN LATERAL (
        SELECT coalesce(c.channel, 'Direct') AS channel FROM sessions c
        WHERE c.client_id = ps.client_id AND NOT c.is_bot
          AND c.started_at >= e.event_timestamp - interval '30 days'
          AND (c.started_at, c.session_id) <= (ps.started_at, ps.session_id)
        ORDER BY c.started_at, c.session_id
        LIMIT 1) ft ON true
    LEFT JOIN LATERAL (
        SELECT c.channel FROM sessions c
        WHERE c.client_id = ps.client_id AND NOT c.is_bot
          AND c.started_at >= e.event_timestamp - interval '30 days'
          AND (c.started_at, c.session_id) <= (ps.started_at, ps.session_id)
          AND coalesce(c.channel, 'Direct') <> 'Direct'
        ORDER BY c.started_at DESC, c.session_id DESC
        LIMIT 1) lt ON true
    WHERE e.event_name = 'purchase'
      AND e.event_timestamp >= dashboard.range_start(p_from) AND e.event_timestamp < dashboard.range_end(p_to);
END;

-- Channels: the range's sessions by channel, and the range's purchases attributed by first
-- and by last non-direct touch. A channel with attributed orders and no sessions gets a row.
CREATE OR REPLACE FUNCTION dashboard.channels(p_from date, p_to date)
RETURNS TABLE (channel text, sessions bigint, visitors bigint, bounce_rate numeric, orders bigint,
               revenue numeric, conversion_rate numeric, first_touch_orders bigint,
               first_touch_revenue numeric, last_touch_orders bigint, last_touch_revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH by_session AS (
        SELECT s.channel, count(*) AS sessions, count(DISTINCT s.client_id) AS visitors,
               count(*) FILTER (WHERE s.events = 1) AS bounces, sum(s.orders) AS orders,
               sum(s.revenue) AS revenue, count(*) FILTER (WHERE s.purchased) AS converted
        FROM dashboard.range_sessions(p_from, p_to) s
        GROUP BY s.channel
    ), purchases AS (
        SELECT * FROM dashboard.attributed_purchases(p_from, p_to)
    ), first_touch AS (
        SELECT p.first_touch_channel AS channel, count(*) AS orders, sum(p.revenue) AS revenue
        FROM purchases p GROUP BY 1
    ), last_touch AS (
        SELECT p.last_touch_channel AS channel, count(*) AS orders, sum(p.revenue) AS revenue
        FROM purchases p GROUP BY 1
    ), channels AS (
        SELECT b.channel FROM by_session b UNION SELECT f.channel FROM first_touch f
        UNION SELECT l.channel FROM last_touch l
    )
    SELECT c.channel, coalesce(b.sessions, 0), coalesce(b.visitors, 0),
           b.bounces::numeric / nullif(b.sessions, 0),
           coalesce(b.orders, 0), coalesce(b.revenue, 0),
           b.converted::numeric / nullif(b.sessions, 0),
           coalesce(f.orders, 0), coalesce(f.revenue, 0), coalesce(l.orders, 0), coalesce(l.revenue, 0)
    FROM channels c
    LEFT JOIN by_session b ON b.channel = c.channel
    LEFT JOIN first_touch f ON f.channel = c.channel
    LEFT JOIN last_touch l ON l.channel = c.channel
    ORDER BY coalesce(b.sessions, 0) DESC, c.channel;
END;

-- Source / medium / campaign of the range's sessions ('(not set)' without a campaign), the
-- p_limit with the most sessions; ties by channel, source, medium, campaign. p_channel: NULL or
-- '' = every channel.
CREATE OR REPLACE FUNCTION dashboard.sources(p_from date, p_to date, p_channel text DEFAULT NULL,
                                             p_limit int DEFAULT 25)
RETURNS TABLE (channel text, source text, medium text, campaign text, sessions bigint, visitors bigint,
               orders bigint, revenue numeric, conversion_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT s.channel, s.source, s.medium, coalesce(s.campaign, '(not set)'), count(*),
           count(DISTINCT s.client_id), sum(s.orders), sum(s.revenue),
           count(*) FILTER (WHERE s.purchased)::numeric / count(*)
    FROM dashboard.range_sessions(p_from, p_to) s
    WHERE coalesce(p_channel, '') = '' OR s.channel = p_channel
    GROUP BY 1, 2, 3, 4
    ORDER BY 5 DESC, 1, 2, 3, 4
    LIMIT greatest(coalesce(p_limit, 25), 1);
END;

-- Referrer hosts of the range's sessions (own hosts and payment gateways excluded, as they are
-- now), the p_limit with the most sessions, ties by host; channel = the channel most of that
-- host's sessions got (ties by channel name).
CREATE OR REPLACE FUNCTION dashboard.referrers(p_from date, p_to date, p_limit int DEFAULT 25)
RETURNS TABLE (referrer_host text, channel text, sessions bigint, orders bigint, revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH referred AS (
        SELECT s.referrer_host, s.channel, count(*) AS sessions, sum(s.orders) AS orders,
               sum(s.revenue) AS revenue
        FROM dashboard.range_sessions(p_from, p_to) s
        WHERE s.referrer_host IS NOT NULL AND NOT channel_referrer_excluded(s.referrer_host)
        GROUP BY 1, 2
    ), ranked AS (
        SELECT r.*, row_number() OVER (PARTITION BY r.referrer_host ORDER BY r.sessions DESC, r.channel) AS n
        FROM referred r
    )
    SELECT r.referrer_host, (array_agg(r.channel ORDER BY r.n))[1], sum(r.sessions)::bigint,
           sum(r.orders)::bigint, sum(r.revenue)
    FROM ranked r
    GROUP BY r.referrer_host
    ORDER BY 3 DESC, 1
    LIMIT greatest(coalesce(p_limit, 25), 1);
END;

-- The dimensions dashboard.audience() takes, in the order the app offers them.
CREATE OR REPLACE FUNCTION dashboard.audience_dimensions() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['device_type', 'browser', 'os', 'country', 'visitor_type', 'login_state'];

-- The range's sessions by one audience dimension; any other dimension is an error naming the
-- allowed ones. Without a country database every session's country is NULL: one row, NULL.
CREATE OR REPLACE FUNCTION dashboard.audience(p_from date, p_to date, p_dimension text)
RETURNS TABLE (value text, sessions bigint, visitors bigint, orders bigint, revenue numeric,
               conversion_rate numeric)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF p_dimension IS NULL OR NOT p_dimension = ANY (dashboard.audience_dimensions()) THEN
        RAISE EXCEPTION 'dashboard.audience: unknown dimension %; allowed: %', quote_nullable(p_dimension),
            array_to_string(dashboard.audience_dimensions(), ', ')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT d.value, count(*)::bigint, count(DISTINCT d.client_id)::bigint, sum(d.orders)::bigint,
           sum(d.revenue), count(*) FILTER (WHERE d.purchased)::numeric / count(*)
    FROM (SELECT CASE p_dimension
                     WHEN 'device_type' THEN s.device_type
                     WHEN 'browser' THEN s.browser_family
                     WHEN 'os' THEN s.os_family
                     WHEN 'country' THEN s.country
                     WHEN 'visitor_type' THEN CASE WHEN s.is_returning THEN 'returning' ELSE 'new' END
                     WHEN 'login_state' THEN CASE WHEN s.logged_in THEN 'signed_in' ELSE 'guest' END
                 END AS value, s.client_id, s.orders, s.revenue, s.purchased
          FROM dashboard.range_sessions(p_from, p_to) s) d
    GROUP BY d.value
    ORDER BY 2 DESC, 1 NULLS LAST;
END;
$$;

-- Weekly retention: a visitor's cohort is the ISO week (Monday, UTC) of their first-ever
-- non-bot session; for the cohorts whose week starts in [p_from, p_to], offsets 0..p_weeks,
-- how many had a non-bot session in that later week. Weeks ending after p_to are left out.
CREATE OR REPLACE FUNCTION dashboard.retention_weekly(p_from date, p_to date, p_weeks int DEFAULT 8)
RETURNS TABLE (cohort_week date, cohort_size bigint, week_offset int, active_visitors bigint,
               retention numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH cohorts AS (
        SELECT c.client_id, date_trunc('week', c.first_started_at AT TIME ZONE 'UTC')::date AS week
        FROM clients c
        WHERE c.first_started_at >= dashboard.range_start(p_from)
          AND c.first_started_at < dashboard.range_start(date_trunc('week', p_to)::date + 7)
    ), kept AS (
        SELECT * FROM cohorts WHERE week >= p_from
    ), sizes AS (
        SELECT week, count(*) AS size FROM kept GROUP BY week
    ), offsets AS (
        SELECT z.week, z.size, g.n AS week_offset
        FROM sizes z CROSS JOIN LATERAL generate_series(0, greatest(coalesce(p_weeks, 8), 0)) AS g(n)
        WHERE z.week + 7 * g.n + 6 <= p_to
    ), active AS (
        SELECT k.week, ((date_trunc('week', s.started_at AT TIME ZONE 'UTC')::date - k.week) / 7) AS week_offset,
               count(DISTINCT k.client_id) AS visitors
        FROM kept k
        JOIN sessions s ON s.client_id = k.client_id AND NOT s.is_bot
        WHERE s.started_at >= dashboard.range_start(k.week)
        GROUP BY 1, 2
    )
    SELECT o.week, o.size, o.week_offset, coalesce(a.visitors, 0), coalesce(a.visitors, 0)::numeric / o.size
    FROM offsets o
    LEFT JOIN active a ON a.week = o.week AND a.week_offset = o.week_offset
    ORDER BY 1, 3;
END;
