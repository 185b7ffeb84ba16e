-- On the shop's database (read-only login with SELECT on orders and order_items only): the
-- orders created or updated since the watermark, with their items as a JSON array. Ordered so a
-- pull is repeatable; the shop's own uuid goes out as text.
SELECT o.order_id::text, o.user_id, o.status, o.currency, o.total, o.created_at, o.updated_at,
       coalesce((SELECT json_agg(json_build_array(i.product_id, i.quantity, i.unit_price) ORDER BY i.product_id)
                 FROM order_items i WHERE i.order_id = o.order_id), '[]'::json)
FROM orders o
WHERE o.updated_at >= %(since)s
ORDER BY o.updated_at, o.order_id
