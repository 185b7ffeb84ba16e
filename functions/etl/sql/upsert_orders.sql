-- In the warehouse, in the sync's one transaction: the pulled orders (COPYed into
-- etl_pulled_orders / etl_pulled_items) replace their rows: each pulled order's items are
-- rewritten, then the order is inserted or, when anything changed (a refund...), updated.
-- Returns (orders new, orders changed, items written).
DELETE FROM booked_order_items i USING etl_pulled_orders p WHERE i.order_id = p.order_id;

INSERT INTO booked_order_items (order_id, product_id, quantity, unit_price)
SELECT order_id, product_id, quantity, unit_price FROM etl_pulled_items;

WITH upserted AS (
    INSERT INTO booked_orders AS b (order_id, user_id, status, currency, total, created_at, updated_at, run_id)
    SELECT order_id, user_id, status, currency, total, created_at, updated_at, %(run_id)s FROM etl_pulled_orders
    ON CONFLICT (order_id) DO UPDATE
        SET user_id = EXCLUDED.user_id, status = EXCLUDED.status, currency = EXCLUDED.currency,
            total = EXCLUDED.total, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
            run_id = EXCLUDED.run_id, synced_at = now()
        WHERE (b.user_id, b.status, b.currency, b.total, b.created_at, b.updated_at)
              IS DISTINCT FROM (EXCLUDED.user_id, EXCLUDED.status, EXCLUDED.currency, EXCLUDED.total,
                                EXCLUDED.created_at, EXCLUDED.updated_at)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),
       (SELECT count(*) FROM etl_pulled_items)
FROM upserted
