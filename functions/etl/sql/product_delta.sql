-- Product and funnel counters are sums over sessions: add the touched sessions' contribution
-- as rebuilt (non-bot sessions, all their events) and subtract what they contributed before
-- (their old events under their old bot flag). A key left with nothing counted is deleted, as
-- a full recomputation would not have it.
CREATE TEMP TABLE etl_product_delta ON COMMIT DROP AS
WITH contributing AS (
    SELECT 1 AS sign, e.event_id, e.event_timestamp, e.event_name, e.context_product_id, e.order_items
    FROM {session_events} e
    JOIN sessions s ON s.session_id = e.session_id AND NOT s.is_bot
    UNION ALL
    SELECT -1, e.event_id, e.event_timestamp, e.event_name, e.context_product_id, e.order_items
    FROM etl_old_sessions o
    JOIN {session_events} e ON e.session_id = o.session_id AND NOT e.is_new
    WHERE NOT o.is_bot
), per_event AS (
    SELECT sign, (event_timestamp AT TIME ZONE 'UTC')::date AS day, context_product_id AS product_id,
           (event_name = 'product_view')::int AS views, (event_name = 'add_to_cart')::int AS add_to_carts,
           0 AS purchases, 0::bigint AS units, 0::numeric AS revenue
    FROM contributing
    WHERE event_name IN ('product_view', 'add_to_cart') AND context_product_id IS NOT NULL
    UNION ALL
    SELECT c.sign, (c.event_timestamp AT TIME ZONE 'UTC')::date, i.product_id,
           0, 0, 1, sum(i.quantity), sum(i.quantity * coalesce(i.price, 0))
    FROM contributing c
    CROSS JOIN LATERAL jsonb_to_recordset(c.order_items)
        AS i(product_id text, quantity integer, price numeric)
    WHERE c.event_name = 'purchase'
    GROUP BY c.sign, c.event_id, 2, i.product_id
)
SELECT day, product_id, sum(sign * views) AS views, sum(sign * add_to_carts) AS add_to_carts,
       sum(sign * purchases) AS purchases, sum(sign * units) AS units, sum(sign * revenue) AS revenue
FROM per_event
GROUP BY day, product_id;
ANALYZE etl_product_delta;

INSERT INTO agg_product_daily AS a (day, product_id, views, add_to_carts, purchases, units, revenue)
SELECT day, product_id, views, add_to_carts, purchases, units, revenue FROM etl_product_delta
ON CONFLICT (day, product_id) DO UPDATE
    SET views = a.views + EXCLUDED.views, add_to_carts = a.add_to_carts + EXCLUDED.add_to_carts,
        purchases = a.purchases + EXCLUDED.purchases, units = a.units + EXCLUDED.units,
        revenue = a.revenue + EXCLUDED.revenue, updated_at = now();

DELETE FROM agg_product_daily a USING etl_product_delta d
WHERE a.day = d.day AND a.product_id = d.product_id
  AND a.views = 0 AND a.add_to_carts = 0 AND a.purchases = 0;

-- Name, category and brand: from the key's latest engagement event of the day (non-bot).
UPDATE agg_product_daily a
SET product_name = l.name, product_category = l.category, product_brand = l.brand
FROM etl_product_delta d
LEFT JOIN LATERAL (
    SELECT e.context_product_name AS name, e.context_product_category AS category,
           e.context_product_brand AS brand
    FROM clickstream_events e
    JOIN sessions s ON s.session_id = e.session_id AND NOT s.is_bot
    WHERE e.event_name IN ('product_view', 'add_to_cart') AND e.context_product_id IS NOT NULL
      AND e.context_product_id = d.product_id
      AND e.event_timestamp >= d.day::timestamp AT TIME ZONE 'UTC'
      AND e.event_timestamp < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
    ORDER BY e.event_timestamp DESC, e.event_id DESC
    LIMIT 1
) l ON true
WHERE a.day = d.day AND a.product_id = d.product_id;
