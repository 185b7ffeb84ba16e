-- The dashboards' page filters (issue 16: channel, device type and country on the Activity,
-- Conversion funnel and Audience pages, in any combination) over any range without reading the
-- range's sessions: agg_segment_daily holds, per UTC day, the non-bot sessions that started
-- that day by (channel, device type, country), and by (device type, country) over every channel
-- (channel NULL: a filter without a channel reads a tenth of the rows, and a tenth of the
-- sketches to union), with the figures those pages show: sessions,
-- their events and bounces, the funnel's steps reached, orders, revenue, the sessions that were
-- their client's first (new visitors) and a HyperLogLog sketch of the visitors (unioned over a
-- range, as agg_audience_daily's). The ETL keeps it with the other daily rows:
-- refresh_daily_aggregates() now calls 060's refresh (renamed refresh_audience_aggregates) and
-- refresh_segment_aggregates() for the same days, so every caller (the ETL's refresh and
-- reclassify, the tests' and the benchmark's loads) keeps it too.

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

-- refresh_daily_aggregates() keeps its name and callers and now refreshes both: 060's function,
-- renamed (its body, grants and comment go with it), then the segment rows.
ALTER FUNCTION refresh_daily_aggregates(date[]) RENAME TO refresh_audience_aggregates;
CREATE FUNCTION refresh_daily_aggregates(p_days date[]) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT refresh_audience_aggregates(p_days);
    SELECT refresh_segment_aggregates(p_days);
END;

GRANT SELECT, INSERT, UPDATE, DELETE ON agg_segment_daily TO clickstream_writer;
GRANT SELECT ON agg_segment_daily TO clickstream_reader;
GRANT EXECUTE ON FUNCTION refresh_segment_aggregates(date[]), refresh_daily_aggregates(date[]) TO clickstream_writer;

-- The sessions there are, once.
SELECT refresh_segment_aggregates(ARRAY(SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM sessions));
