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
