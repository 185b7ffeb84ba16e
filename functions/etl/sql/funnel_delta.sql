-- The daily funnel by the day a session started: the touched sessions' change, as for products
-- (product_delta.sql).
CREATE TEMP TABLE etl_funnel_delta ON COMMIT DROP AS
SELECT (started_at AT TIME ZONE 'UTC')::date AS day, sum(sign) AS sessions,
       sum(sign * (page_views > 0)::int) AS sessions_page_view,
       sum(sign * reached_product::int) AS sessions_product_view,
       sum(sign * reached_cart::int) AS sessions_add_to_cart,
       sum(sign * reached_checkout::int) AS sessions_begin_checkout,
       sum(sign * purchased::int) AS sessions_purchase,
       sum(sign * orders) AS orders, sum(sign * revenue) AS revenue
FROM (
    SELECT 1 AS sign, s.started_at, s.page_views, s.reached_product, s.reached_cart, s.reached_checkout,
           s.purchased, s.orders, s.revenue
    FROM etl_touched_sessions t JOIN sessions s ON s.session_id = t.session_id AND NOT s.is_bot
    UNION ALL
    SELECT -1, started_at, page_views, reached_product, reached_cart, reached_checkout, purchased, orders,
           revenue
    FROM etl_old_sessions WHERE NOT is_bot
) contributing
GROUP BY 1;

INSERT INTO agg_funnel_daily AS f (day, sessions, sessions_page_view, sessions_product_view,
                                   sessions_add_to_cart, sessions_begin_checkout, sessions_purchase,
                                   orders, revenue)
SELECT * FROM etl_funnel_delta
ON CONFLICT (day) DO UPDATE
    SET sessions = f.sessions + EXCLUDED.sessions,
        sessions_page_view = f.sessions_page_view + EXCLUDED.sessions_page_view,
        sessions_product_view = f.sessions_product_view + EXCLUDED.sessions_product_view,
        sessions_add_to_cart = f.sessions_add_to_cart + EXCLUDED.sessions_add_to_cart,
        sessions_begin_checkout = f.sessions_begin_checkout + EXCLUDED.sessions_begin_checkout,
        sessions_purchase = f.sessions_purchase + EXCLUDED.sessions_purchase,
        orders = f.orders + EXCLUDED.orders, revenue = f.revenue + EXCLUDED.revenue, updated_at = now();

DELETE FROM agg_funnel_daily f USING etl_funnel_delta d WHERE f.day = d.day AND f.sessions = 0;
