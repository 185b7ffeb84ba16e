-- Booked revenue: the shop's own orders (booked_orders, synced by the ETL; migration 030) beside
-- the purchases browsers reported (definitions in docs/warehouse-etl.md, "Booked revenue").
-- requires: common

-- One row per order id reported by a purchase event of a non-bot session: its first such event
-- (a retried purchase is one purchase), for the order ids given.
CREATE OR REPLACE FUNCTION dashboard.tracked_purchases(p_order_ids text[])
RETURNS TABLE (order_id text, purchased_at timestamptz, revenue numeric, session_id text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT DISTINCT ON (e.order_id) e.order_id, e.event_timestamp, e.order_revenue, e.session_id
    FROM clickstream_events e
    JOIN sessions s ON s.session_id = e.session_id AND NOT s.is_bot
    WHERE e.event_name = 'purchase' AND e.order_id = ANY (p_order_ids)
    ORDER BY e.order_id, e.event_timestamp, e.event_id;
END;

-- Per UTC day of [p_from, p_to], every day: booked orders (paid, shipped, delivered) and their
-- revenue by the order's creation day, refunds apart, tracked purchases (matched ones on their
-- order's day, the rest on the purchase's day), matched, untracked and unbooked, and coverage =
-- booked orders with a tracked purchase / booked orders.
CREATE OR REPLACE FUNCTION dashboard.revenue_reconciliation(p_from date, p_to date)
RETURNS TABLE (day date, booked_orders bigint, booked_revenue numeric, refunded_revenue numeric,
               tracked_orders bigint, tracked_revenue numeric, matched_orders bigint, untracked_orders bigint,
               unbooked_purchases bigint, coverage numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH candidates AS (   -- the order ids that may land in the range, by either day
        SELECT o.order_id FROM booked_orders o
        WHERE o.created_at >= dashboard.range_start(p_from) AND o.created_at < dashboard.range_end(p_to)
        UNION
        SELECT e.order_id FROM clickstream_events e
        WHERE e.event_name = 'purchase' AND e.order_id IS NOT NULL
          AND e.event_timestamp >= dashboard.range_start(p_from) AND e.event_timestamp < dashboard.range_end(p_to)
    ), tracked AS (
        SELECT t.order_id, t.revenue, o.status,
               (coalesce(o.created_at, t.purchased_at) AT TIME ZONE 'UTC')::date AS day
        FROM dashboard.tracked_purchases(ARRAY(SELECT order_id FROM candidates)) t
        LEFT JOIN booked_orders o ON o.order_id = t.order_id
    ), booked AS (
        SELECT (o.created_at AT TIME ZONE 'UTC')::date AS day, o.status, o.total,
               EXISTS (SELECT FROM tracked t WHERE t.order_id = o.order_id) AS is_tracked
        FROM booked_orders o
        WHERE o.created_at >= dashboard.range_start(p_from) AND o.created_at < dashboard.range_end(p_to)
    ), per_day AS (
        SELECT d::date AS day FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') d
    )
    SELECT d.day,
           b.orders, b.revenue, b.refunded,
           t.orders, t.revenue, t.matched,
           b.orders - b.tracked, t.unbooked,
           b.tracked::numeric / nullif(b.orders, 0)
    FROM per_day d
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE x.status IN ('paid', 'shipped', 'delivered')) AS orders,
               coalesce(sum(x.total) FILTER (WHERE x.status IN ('paid', 'shipped', 'delivered')), 0) AS revenue,
               coalesce(sum(x.total) FILTER (WHERE x.status = 'refunded'), 0) AS refunded,
               count(*) FILTER (WHERE x.status IN ('paid', 'shipped', 'delivered') AND x.is_tracked) AS tracked
        FROM booked x WHERE x.day = d.day
    ) b
    CROSS JOIN LATERAL (
        SELECT count(*) AS orders, coalesce(sum(y.revenue), 0) AS revenue,
               count(*) FILTER (WHERE y.status IN ('paid', 'shipped', 'delivered', 'refunded')) AS matched,
               count(*) FILTER (WHERE y.status IS NULL) AS unbooked
        FROM tracked y WHERE y.day = d.day
    ) t
    ORDER BY d.day;
END;

-- The dimensions dashboard.tracking_coverage() takes.
CREATE OR REPLACE FUNCTION dashboard.tracking_coverage_dimensions() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['channel', 'device_type', 'browser'];

-- Tracking coverage of the range's booked orders (paid, shipped, delivered; by creation day) by
-- the channel, device type or browser of a session: a matched order's purchasing session; an
-- untracked order's buyer's (booked_orders.user_id = sessions.user_id) most recent non-bot
-- session that started in the 30 x 24 h before the order, else a NULL value. Coverage =
-- matched / booked. Any other dimension is an error naming the allowed ones.
CREATE OR REPLACE FUNCTION dashboard.tracking_coverage(p_from date, p_to date, p_dimension text)
RETURNS TABLE (value text, booked_orders bigint, matched_orders bigint, coverage numeric)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF p_dimension IS NULL OR NOT p_dimension = ANY (dashboard.tracking_coverage_dimensions()) THEN
        RAISE EXCEPTION 'dashboard.tracking_coverage: unknown dimension %; allowed: %',
            quote_nullable(p_dimension), array_to_string(dashboard.tracking_coverage_dimensions(), ', ')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH booked AS (
        SELECT o.order_id, o.user_id, o.created_at
        FROM booked_orders o
        WHERE o.created_at >= dashboard.range_start(p_from) AND o.created_at < dashboard.range_end(p_to)
          AND o.status IN ('paid', 'shipped', 'delivered')
    ), valued AS (
        SELECT b.order_id, t.order_id IS NOT NULL AS matched, coalesce(t.session_id, recent.session_id) AS session_id
        FROM booked b
        LEFT JOIN dashboard.tracked_purchases(ARRAY(SELECT order_id FROM booked)) t ON t.order_id = b.order_id
        LEFT JOIN LATERAL (
            SELECT s.session_id FROM sessions s
            WHERE t.order_id IS NULL AND s.user_id = b.user_id AND NOT s.is_bot
              AND s.started_at >= b.created_at - interval '30 days' AND s.started_at <= b.created_at
            ORDER BY s.started_at DESC, s.session_id DESC
            LIMIT 1) recent ON true
    )
    SELECT CASE p_dimension WHEN 'channel' THEN s.channel
                            WHEN 'device_type' THEN s.device_type
                            WHEN 'browser' THEN s.browser_family END,
           count(*)::bigint, (count(*) FILTER (WHERE v.matched))::bigint,
           (count(*) FILTER (WHERE v.matched))::numeric / count(*)
    FROM valued v
    LEFT JOIN sessions s ON s.session_id = v.session_id
    GROUP BY 1
    ORDER BY 2 DESC, 1 NULLS LAST;
END;
$$;
