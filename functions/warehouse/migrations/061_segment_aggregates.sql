-- The dashboards' page filters (issue 16: channel, device type and country on the Activity,
-- Conversion funnel and Audience pages, in any combination) over any range without reading the
-- range's sessions: agg_segment_daily holds, per UTC day, the non-bot sessions that started
-- that day by (channel, device type, country), and by (device type, country) over every channel
-- (channel NULL: a filter without a channel reads a tenth of the rows, and a tenth of the
-- sketches to union), with the figures those pages show: sessions,
-- their events and bounces, the funnel's steps reached, orders, revenue, the sessions that were
-- their client's first (new visitors) and a HyperLogLog sketch of the visitors (unioned over a
-- range, as agg_audience_daily's). The ETL keeps it with the other daily rows:
-- refresh_daily_aggregates() now ends by calling refresh_segment_aggregates() for the same days
-- (its body is 060's otherwise), so every caller (the ETL's refresh and reclassify, the tests'
-- and the benchmark's loads) keeps it too.

CREATE TABLE agg_segment_daily (
    day                      date NOT NULL,
    channel                  text,              -- NULL channel as 'Direct', as dashboard.channels();
                                                -- NULL: the row of every channel together
    device_type              text,              -- NULL: the user agent told none
    country                  text,              -- NULL: unknown, or no country database
    sessions                 bigint NOT NULL,
    new_visitors             bigint NOT NULL,   -- sessions that were their client's first non-bot one
    events                   bigint NOT NULL,   -- of those sessions
    bounces                  bigint NOT NULL,   -- sessions with one event
    sessions_page_view       bigint NOT NULL,   -- sessions that reached each funnel step
    sessions_product_view    bigint NOT NULL,
    sessions_add_to_cart     bigint NOT NULL,
    sessions_begin_checkout  bigint NOT NULL,
    sessions_purchase        bigint NOT NULL,
    orders                   bigint NOT NULL,
    revenue                  numeric NOT NULL,  -- tracked revenue of their purchases
    visitors                 hll NOT NULL,
    CONSTRAINT agg_segment_daily_key UNIQUE NULLS NOT DISTINCT (day, channel, device_type, country)
);

-- agg_segment_daily for the days p_days, recomputed from all of each day's non-bot sessions (as
-- refresh_daily_aggregates: a sketch cannot forget a visitor).
CREATE FUNCTION refresh_segment_aggregates(p_days date[]) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    DELETE FROM agg_segment_daily a WHERE a.day = ANY (p_days);
    INSERT INTO agg_segment_daily (day, channel, device_type, country, sessions, new_visitors, events, bounces,
                                   sessions_page_view, sessions_product_view, sessions_add_to_cart,
                                   sessions_begin_checkout, sessions_purchase, orders, revenue, visitors)
    SELECT d.day, coalesce(s.channel, 'Direct'), s.device_type, s.country, count(*),
           count(*) FILTER (WHERE NOT s.is_returning), sum(s.events), count(*) FILTER (WHERE s.events = 1),
           count(*) FILTER (WHERE s.page_views > 0), count(*) FILTER (WHERE s.reached_product),
           count(*) FILTER (WHERE s.reached_cart), count(*) FILTER (WHERE s.reached_checkout),
           count(*) FILTER (WHERE s.purchased), sum(s.orders), sum(s.revenue),
           hll_add_agg(hll_hash_text(s.client_id), visitor_sketch_log2m())
    FROM (SELECT DISTINCT unnest(p_days) AS day) d
    JOIN sessions s
      ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
     AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
     AND NOT s.is_bot
    GROUP BY GROUPING SETS ((d.day, coalesce(s.channel, 'Direct'), s.device_type, s.country),
                            (d.day, s.device_type, s.country));
END;

CREATE OR REPLACE FUNCTION refresh_daily_aggregates(p_days date[]) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    DELETE FROM agg_audience_daily a WHERE a.day = ANY (p_days);
    DELETE FROM agg_acquisition_daily a WHERE a.day = ANY (p_days);
    DELETE FROM agg_journey_daily a WHERE a.day = ANY (p_days);
    DELETE FROM agg_journey_pages_daily a WHERE a.day = ANY (p_days);
    -- one grouping set per dimension: a pass each over the day's sessions (a row per session and
    -- dimension, grouped once, took 6x as long)
    INSERT INTO agg_audience_daily (day, dimension, value, sessions, events, duration_s, bounces, converted, orders,
                                    revenue, visitors, signed_in_users)
    WITH day_sessions AS MATERIALIZED (
        SELECT d.day, s.client_id, s.events, s.duration_s, s.purchased, s.orders, s.revenue, s.user_ids,
               coalesce(s.channel, 'Direct') AS channel, s.device_type, s.browser_family, s.os_family, s.country,
               CASE WHEN s.is_returning THEN 'returning' ELSE 'new' END AS visitor_type,
               CASE WHEN s.logged_in THEN 'signed_in' ELSE 'guest' END AS login_state
        FROM (SELECT DISTINCT unnest(p_days) AS day) d
        JOIN sessions s
          ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
         AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
         AND NOT s.is_bot
    ), grouped AS (
        SELECT s.day,
               CASE WHEN GROUPING(s.channel) = 0 THEN 'channel' WHEN GROUPING(s.device_type) = 0 THEN 'device_type'
                    WHEN GROUPING(s.browser_family) = 0 THEN 'browser' WHEN GROUPING(s.os_family) = 0 THEN 'os'
                    WHEN GROUPING(s.country) = 0 THEN 'country' WHEN GROUPING(s.visitor_type) = 0 THEN 'visitor_type'
                    WHEN GROUPING(s.login_state) = 0 THEN 'login_state' ELSE 'all' END AS dimension,
               coalesce(s.channel, s.device_type, s.browser_family, s.os_family, s.country, s.visitor_type,
                        s.login_state) AS value,
               count(*) AS sessions, sum(s.events) AS events, sum(s.duration_s) AS duration_s,
               count(*) FILTER (WHERE s.events = 1) AS bounces,
               count(*) FILTER (WHERE s.purchased) AS converted, sum(s.orders) AS orders,
               sum(s.revenue) AS revenue, hll_add_agg(hll_hash_text(s.client_id), visitor_sketch_log2m()) AS visitors
        FROM day_sessions s
        GROUP BY GROUPING SETS ((s.day), (s.day, s.channel), (s.day, s.device_type), (s.day, s.browser_family),
                                (s.day, s.os_family), (s.day, s.country), (s.day, s.visitor_type),
                                (s.day, s.login_state))
    ), users AS (
        SELECT s.day, hll_add_agg(hll_hash_text(u.user_id), visitor_sketch_log2m()) AS signed_in_users
        FROM day_sessions s CROSS JOIN LATERAL unnest(s.user_ids) AS u (user_id)
        GROUP BY s.day
    )
    SELECT g.day, g.dimension, g.value, g.sessions, g.events, g.duration_s, g.bounces, g.converted, g.orders,
           g.revenue, g.visitors, CASE WHEN g.dimension = 'all' THEN coalesce(u.signed_in_users, hll_empty(visitor_sketch_log2m())) END
    FROM grouped g
    LEFT JOIN users u ON u.day = g.day AND g.dimension = 'all';

    INSERT INTO agg_acquisition_daily (day, channel, source, medium, campaign, referrer_host, sessions, converted,
                                       orders, revenue, visitors)
    SELECT d.day, coalesce(s.channel, 'Direct'), coalesce(s.source, '(direct)'), coalesce(s.medium, '(none)'),
           s.campaign, s.referrer_host, count(*), count(*) FILTER (WHERE s.purchased), sum(s.orders),
           sum(s.revenue), hll_add_agg(hll_hash_text(s.client_id), visitor_sketch_log2m())
    FROM (SELECT DISTINCT unnest(p_days) AS day) d
    JOIN sessions s
      ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
     AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
     AND NOT s.is_bot
    GROUP BY 1, 2, 3, 4, 5, 6;

    INSERT INTO agg_journey_daily (day, steps, step_count, sessions, purchased)
    SELECT d.day, coalesce(s.steps[1:journey_steps_kept()], '{}'),
           least(coalesce(s.step_count, 0), journey_steps_kept() + 1), count(*), count(*) FILTER (WHERE s.purchased)
    FROM (SELECT DISTINCT unnest(p_days) AS day) d
    JOIN sessions s
      ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
     AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
     AND NOT s.is_bot
    GROUP BY 1, 2, 3;

    INSERT INTO agg_journey_pages_daily (day, kind, page, sessions)
    SELECT d.day, p.kind, p.page, count(*)
    FROM (SELECT DISTINCT unnest(p_days) AS day) d
    JOIN sessions s
      ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
     AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
     AND NOT s.is_bot
    CROSS JOIN LATERAL (VALUES ('entry', coalesce(s.entry_page, '(unknown)')),
                               ('exit', coalesce(s.exit_page, '(unknown)'))) AS p (kind, page)
    GROUP BY 1, 2, 3;
    -- (061) the channel x device type x country rows the page filters read
    SELECT refresh_segment_aggregates(p_days);
END;

GRANT SELECT, INSERT, UPDATE, DELETE ON agg_segment_daily TO clickstream_writer;
GRANT SELECT ON agg_segment_daily TO clickstream_reader;
GRANT EXECUTE ON FUNCTION refresh_segment_aggregates(date[]) TO clickstream_writer;

-- The sessions there are, once.
SELECT refresh_segment_aggregates(ARRAY(SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM sessions));
