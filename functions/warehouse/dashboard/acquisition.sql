-- Acquisition and audience: where visitors come from, who they are, whether they come back
-- (definitions in docs/warehouse-etl.md, "Acquisition and audience"). Sessions belong to the
-- UTC day they started and their orders count with them; attributed orders land on the UTC day
-- of their purchase event. Bot sessions are excluded. Every function reads the aggregates the
-- ETL keeps (migration 060), never the range's sessions: agg_audience_daily,
-- agg_acquisition_daily and agg_attribution_daily per day, agg_retention_weekly per
-- cohort and week. Visitors are the union of the range's daily HyperLogLog sketches: exact while
-- the union holds few visitors (up to 2,560: the sketch keeps them explicitly), else estimated
-- with a relative standard error of visitor_sketch_relative_error() (0.57 %); visitors() says
-- which.
-- requires: common

-- Gone with the aggregates (they read the range's sessions); CASCADE takes the earlier bodies
-- of the functions below that used them, which this file creates again.
DROP FUNCTION IF EXISTS dashboard.attributed_purchases(date, date) CASCADE;
DROP FUNCTION IF EXISTS dashboard.range_sessions(date, date) CASCADE;

-- Distinct visitors of the range: a visitor is a client_id with a non-bot session in it, from
-- the union of its days' sketches; a new visitor's first-ever non-bot session started in it
-- (exact: clients by first_started_at); returning = visitors - new (not below 0); signed-in
-- users are the distinct user ids of those sessions' events (sketched too). approximate: either
-- sketched count is an estimate; relative_error then visitor_sketch_relative_error(), else 0.
-- Page filters p_channel, p_device_type, p_country (NULL or '' = every one): the visitors of the
-- sessions that pass them (agg_segment_daily's sketches), new = those of the sessions that were
-- their client's first; signed_in_users is not kept by segment (NULL).
DROP FUNCTION IF EXISTS dashboard.visitors(date, date);
CREATE OR REPLACE FUNCTION dashboard.visitors(p_from date, p_to date, p_channel text DEFAULT NULL,
                                              p_device_type text DEFAULT NULL, p_country text DEFAULT NULL)
RETURNS TABLE (visitors bigint, new_visitors bigint, returning_visitors bigint, signed_in_users bigint,
               approximate boolean, relative_error numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH sketches AS (
        SELECT hll_union_agg(a.visitors) AS visitors, hll_union_agg(a.signed_in_users) AS users
        FROM agg_audience_daily a
        WHERE a.dimension = 'all' AND a.day BETWEEN p_from AND p_to
          AND NOT dashboard.segment_filtered(p_channel, p_device_type, p_country)
    ), segment_new AS (
        SELECT coalesce(sum(a.new_visitors), 0)::bigint AS new_visitors
        FROM agg_segment_daily a
        WHERE a.day BETWEEN p_from AND p_to AND dashboard.segment_filtered(p_channel, p_device_type, p_country)
          AND dashboard.in_segment(a.channel, a.device_type, a.country, p_channel, p_device_type, p_country)
    ), segment_sketch AS (
        -- one filter: its dimension's day rows; several: the segment rows
        SELECT hll_union_agg(a.visitors) AS visitors
        FROM agg_audience_daily a
        WHERE a.day BETWEEN p_from AND p_to
          AND a.dimension = dashboard.segment_single_dimension(p_channel, p_device_type, p_country)
          AND a.value = dashboard.segment_single_value(p_channel, p_device_type, p_country)
        HAVING dashboard.segment_filter_count(p_channel, p_device_type, p_country) = 1
        UNION ALL
        SELECT hll_union_agg(a.visitors)
        FROM agg_segment_daily a
        WHERE a.day BETWEEN p_from AND p_to AND dashboard.segment_filter_count(p_channel, p_device_type, p_country) > 1
          AND dashboard.in_segment(a.channel, a.device_type, a.country, p_channel, p_device_type, p_country)
        HAVING dashboard.segment_filter_count(p_channel, p_device_type, p_country) > 1
    ), segment AS (
        SELECT k.visitors, n.new_visitors FROM segment_new n LEFT JOIN segment_sketch k ON true
    ), v AS (
        SELECT visitor_sketch_count(k.visitors) AS visitors, visitor_sketch_count(k.users) AS users,
               visitor_sketch_estimated(k.visitors) OR visitor_sketch_estimated(k.users) AS approximate,
               (SELECT count(*) FROM clients c
                WHERE c.first_started_at >= dashboard.range_start(p_from)
                  AND c.first_started_at < dashboard.range_end(p_to)) AS new_visitors
        FROM sketches k
        WHERE NOT dashboard.segment_filtered(p_channel, p_device_type, p_country)
        UNION ALL
        SELECT visitor_sketch_count(g.visitors), NULL::bigint, visitor_sketch_estimated(g.visitors), g.new_visitors
        FROM segment g
        WHERE dashboard.segment_filtered(p_channel, p_device_type, p_country)
    )
    SELECT v.visitors, v.new_visitors, greatest(v.visitors - v.new_visitors, 0), v.users, v.approximate,
           CASE WHEN v.approximate THEN visitor_sketch_relative_error() ELSE 0 END
    FROM v;
END;

-- One dimension of agg_audience_daily over the range, per value: the summed session figures
-- and the visitors of the union of the days' sketches (exact or estimated as visitors() says).
CREATE OR REPLACE FUNCTION dashboard.audience_totals(p_from date, p_to date, p_dimension text)
RETURNS TABLE (value text, sessions bigint, bounces bigint, converted bigint, orders bigint, revenue numeric,
               visitors bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT a.value, sum(a.sessions)::bigint, sum(a.bounces)::bigint, sum(a.converted)::bigint,
           sum(a.orders)::bigint, sum(a.revenue), visitor_sketch_count(hll_union_agg(a.visitors))
    FROM agg_audience_daily a
    WHERE a.dimension = p_dimension AND a.day BETWEEN p_from AND p_to
    GROUP BY a.value;
END;

-- Channels: the range's sessions by channel (agg_audience_daily), and the range's purchases
-- attributed by first and by last non-direct touch (agg_attribution_daily). A channel with
-- attributed orders and no sessions gets a row.
CREATE OR REPLACE FUNCTION dashboard.channels(p_from date, p_to date)
RETURNS TABLE (channel text, sessions bigint, visitors bigint, bounce_rate numeric, orders bigint,
               revenue numeric, conversion_rate numeric, first_touch_orders bigint,
               first_touch_revenue numeric, last_touch_orders bigint, last_touch_revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH by_session AS (
        SELECT t.value AS channel, t.sessions, t.visitors, t.bounces, t.orders, t.revenue, t.converted
        FROM dashboard.audience_totals(p_from, p_to, 'channel') t
    ), first_touch AS (
        SELECT a.channel, sum(a.orders)::bigint AS orders, sum(a.revenue) AS revenue
        FROM agg_attribution_daily a
        WHERE a.model = 'first_touch' AND a.day BETWEEN p_from AND p_to GROUP BY 1
    ), last_touch AS (
        SELECT a.channel, sum(a.orders)::bigint AS orders, sum(a.revenue) AS revenue
        FROM agg_attribution_daily a
        WHERE a.model = 'last_touch' AND a.day BETWEEN p_from AND p_to GROUP BY 1
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
-- '' = every channel. Visitors: the union of the days' sketches of each row shown, and of those
-- only (a union costs most while it is small and exact; three groups in four are never shown).
CREATE OR REPLACE FUNCTION dashboard.sources(p_from date, p_to date, p_channel text DEFAULT NULL,
                                             p_limit int DEFAULT 25)
RETURNS TABLE (channel text, source text, medium text, campaign text, sessions bigint, visitors bigint,
               orders bigint, revenue numeric, conversion_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH chosen AS MATERIALIZED (
        SELECT a.day, a.channel, a.source, a.medium, coalesce(a.campaign, '(not set)') AS campaign, a.sessions,
               a.converted, a.orders, a.revenue, a.visitors
        FROM agg_acquisition_daily a
        WHERE a.day BETWEEN p_from AND p_to AND (coalesce(p_channel, '') = '' OR a.channel = p_channel)
    ), shown AS (
        SELECT c.channel, c.source, c.medium, c.campaign, sum(c.sessions)::bigint AS sessions,
               sum(c.orders)::bigint AS orders, sum(c.revenue) AS revenue,
               sum(c.converted) / sum(c.sessions) AS conversion_rate
        FROM chosen c
        GROUP BY 1, 2, 3, 4
        ORDER BY 5 DESC, 1, 2, 3, 4
        LIMIT greatest(coalesce(p_limit, 25), 1)
    )
    SELECT s.channel, s.source, s.medium, s.campaign, s.sessions,
           (SELECT visitor_sketch_count(hll_union_agg(c.visitors)) FROM chosen c
            WHERE (c.channel, c.source, c.medium, c.campaign) = (s.channel, s.source, s.medium, s.campaign)),
           s.orders, s.revenue, s.conversion_rate
    FROM shown s
    ORDER BY 5 DESC, 1, 2, 3, 4;
END;

-- Referrer hosts of the range's sessions (own hosts and payment gateways excluded, as they are
-- now), the p_limit with the most sessions, ties by host; channel = the channel most of that
-- host's sessions got (ties by channel name).
CREATE OR REPLACE FUNCTION dashboard.referrers(p_from date, p_to date, p_limit int DEFAULT 25)
RETURNS TABLE (referrer_host text, channel text, sessions bigint, orders bigint, revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH referred AS (
        SELECT a.referrer_host, a.channel, sum(a.sessions) AS sessions, sum(a.orders) AS orders,
               sum(a.revenue) AS revenue
        FROM agg_acquisition_daily a
        WHERE a.day BETWEEN p_from AND p_to AND a.referrer_host IS NOT NULL
        GROUP BY 1, 2
    ), kept AS (
        -- the exclusion list once per host, not per day and row
        SELECT r.*, row_number() OVER (PARTITION BY r.referrer_host ORDER BY r.sessions DESC, r.channel) AS n
        FROM referred r
        WHERE NOT channel_referrer_excluded(r.referrer_host)
    )
    SELECT k.referrer_host, (array_agg(k.channel ORDER BY k.n))[1], sum(k.sessions)::bigint,
           sum(k.orders)::bigint, sum(k.revenue)
    FROM kept k
    GROUP BY k.referrer_host
    ORDER BY 3 DESC, 1
    LIMIT greatest(coalesce(p_limit, 25), 1);
END;

-- The dimensions dashboard.audience() takes, in the order the app offers them.
CREATE OR REPLACE FUNCTION dashboard.audience_dimensions() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['device_type', 'browser', 'os', 'country', 'visitor_type', 'login_state'];

-- The range's sessions by one audience dimension (agg_audience_daily); any other dimension is an
-- error naming the allowed ones. Without a country database every session's country is NULL:
-- one row, NULL. Page filters p_channel, p_device_type, p_country (NULL or '' = every one): the
-- sessions that pass them, from agg_segment_daily, which keeps device type and country only:
-- filtered, another dimension is an error saying so.
DROP FUNCTION IF EXISTS dashboard.audience(date, date, text);
CREATE OR REPLACE FUNCTION dashboard.audience(p_from date, p_to date, p_dimension text, p_channel text DEFAULT NULL,
                                              p_device_type text DEFAULT NULL, p_country text DEFAULT NULL)
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
    IF NOT dashboard.segment_filtered(p_channel, p_device_type, p_country) THEN
        RETURN QUERY
        SELECT t.value, t.sessions, t.visitors, t.orders, t.revenue, t.converted::numeric / t.sessions
        FROM dashboard.audience_totals(p_from, p_to, p_dimension) t
        ORDER BY 2 DESC, 1 NULLS LAST;
        RETURN;
    END IF;
    IF p_dimension NOT IN ('device_type', 'country') THEN
        RAISE EXCEPTION 'dashboard.audience: % is not kept by channel, device type and country; filtered, '
                        'break down by device_type or country', p_dimension
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT g.value, sum(g.sessions)::bigint, visitor_sketch_count(hll_union_agg(g.visitors)), sum(g.orders)::bigint,
           sum(g.revenue), sum(g.sessions_purchase) / sum(g.sessions)
    FROM (SELECT CASE WHEN p_dimension = 'device_type' THEN a.device_type ELSE a.country END AS value,
                 a.sessions, a.visitors, a.orders, a.revenue, a.sessions_purchase
          FROM agg_segment_daily a
          WHERE a.day BETWEEN p_from AND p_to
            AND dashboard.in_segment(a.channel, a.device_type, a.country, p_channel, p_device_type, p_country)) g
    GROUP BY g.value
    ORDER BY 2 DESC, 1 NULLS LAST;
END;
$$;

-- Weekly retention: a visitor's cohort is the ISO week (Monday, UTC) of their first-ever
-- non-bot session; for the cohorts whose week starts in [p_from, p_to], offsets 0..p_weeks,
-- how many had a non-bot session in that later week (agg_retention_weekly; a cohort's size is
-- its week 0). Weeks ending after p_to are left out.
CREATE OR REPLACE FUNCTION dashboard.retention_weekly(p_from date, p_to date, p_weeks int DEFAULT 8)
RETURNS TABLE (cohort_week date, cohort_size bigint, week_offset int, active_visitors bigint,
               retention numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH sizes AS (
        SELECT r.cohort_week AS week, r.visitors AS size
        FROM agg_retention_weekly r
        WHERE r.week = r.cohort_week AND r.cohort_week BETWEEN p_from AND p_to
    ), offsets AS (
        SELECT z.week, z.size, g.n AS week_offset
        FROM sizes z CROSS JOIN LATERAL generate_series(0, greatest(coalesce(p_weeks, 8), 0)) AS g(n)
        WHERE z.week + 7 * g.n + 6 <= p_to
    )
    SELECT o.week, o.size, o.week_offset, coalesce(a.visitors, 0), coalesce(a.visitors, 0)::numeric / o.size
    FROM offsets o
    LEFT JOIN agg_retention_weekly a ON a.cohort_week = o.week AND a.week = o.week + 7 * o.week_offset
    ORDER BY 1, 3;
END;
