-- Page "Products": product engagement by the UTC day of the events, and booked revenue from the
-- shop's own order items by the UTC day each order was created (docs/warehouse-etl.md, "Booked
-- revenue"). p_category / p_brand: NULL or '' = all.
-- requires: common

-- Result columns changed (booked revenue beside tracked): PostgreSQL cannot replace those in place.
DROP FUNCTION IF EXISTS dashboard.product_engagement(date, date, text, text, int);
DROP FUNCTION IF EXISTS dashboard.product_summary(date, date, text, text);
DROP FUNCTION IF EXISTS dashboard.category_engagement(date, date, text);

CREATE OR REPLACE FUNCTION dashboard.product_filters(p_from date, p_to date)
RETURNS TABLE (category text, brand text)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT DISTINCT p.product_category, p.product_brand
    FROM agg_product_daily p
    WHERE p.day BETWEEN p_from AND p_to
      AND p.product_category IS NOT NULL AND p.product_brand IS NOT NULL
    ORDER BY 1, 2;
END;

-- The booked order items of the range: items of orders paid, shipped or delivered, created on a UTC
-- day of [p_from, p_to], revenue = quantity x unit price; filtered by their product's category and
-- brand as of the product's latest non-bot view or add-to-cart event, any day (agg_product_daily
-- keeps each day's latest; a booked item carries only its product id, and a product never viewed
-- matches no filter).
CREATE OR REPLACE FUNCTION dashboard.booked_items(p_from date, p_to date, p_category text DEFAULT NULL,
                                                  p_brand text DEFAULT NULL)
RETURNS TABLE (order_id text, product_id text, category text, quantity bigint, revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH items AS (
        SELECT i.order_id, i.product_id, i.quantity::bigint AS quantity, i.quantity * i.unit_price AS revenue
        FROM booked_orders o
        JOIN booked_order_items i ON i.order_id = o.order_id
        WHERE o.created_at >= dashboard.range_start(p_from) AND o.created_at < dashboard.range_end(p_to)
          AND o.status IN ('paid', 'shipped', 'delivered')
    ), attributes AS (   -- per distinct product: one index probe (product_id, day)
        SELECT d.product_id, a.category, a.brand
        FROM (SELECT DISTINCT product_id FROM items) d
        LEFT JOIN LATERAL (
            SELECT p.product_category AS category, p.product_brand AS brand
            FROM agg_product_daily p
            WHERE p.product_id = d.product_id AND (p.views > 0 OR p.add_to_carts > 0)
            ORDER BY p.day DESC
            LIMIT 1
        ) a ON true
    )
    SELECT i.order_id, i.product_id, a.category, i.quantity, i.revenue
    FROM items i
    JOIN attributes a ON a.product_id = i.product_id
    WHERE (coalesce(p_category, '') = '' OR a.category = p_category)
      AND (coalesce(p_brand, '') = '' OR a.brand = p_brand);
END;

-- The top products by views (tracked revenue = the purchase events' items), each with its booked
-- units and revenue in the range.
CREATE OR REPLACE FUNCTION dashboard.product_engagement(p_from date, p_to date, p_category text DEFAULT NULL,
                                                        p_brand text DEFAULT NULL, p_limit int DEFAULT 25)
RETURNS TABLE (product_id text, product_name text, category text, brand text, views bigint,
               add_to_carts bigint, add_to_cart_rate numeric, purchases bigint, units bigint, revenue numeric,
               booked_units bigint, booked_revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH engagement AS (
        SELECT p.product_id,
               (array_agg(p.product_name ORDER BY p.day DESC))[1] AS product_name,
               (array_agg(p.product_category ORDER BY p.day DESC))[1] AS category,
               (array_agg(p.product_brand ORDER BY p.day DESC))[1] AS brand,
               sum(p.views)::bigint AS views, sum(p.add_to_carts)::bigint AS add_to_carts,
               round(sum(p.add_to_carts)::numeric / nullif(sum(p.views), 0), 4) AS add_to_cart_rate,
               sum(p.purchases)::bigint AS purchases, sum(p.units)::bigint AS units, sum(p.revenue) AS revenue
        FROM agg_product_daily p
        WHERE p.day BETWEEN p_from AND p_to
          AND (coalesce(p_category, '') = '' OR p.product_category = p_category)
          AND (coalesce(p_brand, '') = '' OR p.product_brand = p_brand)
        GROUP BY p.product_id
        ORDER BY sum(p.views) DESC, sum(p.revenue) DESC, p.product_id
        LIMIT greatest(coalesce(p_limit, 25), 1)
    ), booked AS (
        SELECT b.product_id, sum(b.quantity)::bigint AS units, sum(b.revenue) AS revenue
        FROM dashboard.booked_items(p_from, p_to) b
        WHERE b.product_id IN (SELECT e.product_id FROM engagement e)
        GROUP BY b.product_id
    )
    SELECT e.product_id, e.product_name, e.category, e.brand, e.views, e.add_to_carts, e.add_to_cart_rate,
           e.purchases, e.units, e.revenue, coalesce(b.units, 0), coalesce(b.revenue, 0)
    FROM engagement e
    LEFT JOIN booked b ON b.product_id = e.product_id
    ORDER BY e.views DESC, e.revenue DESC, e.product_id;
END;

-- The range's product figures; booked_* are the booked items of the same category and brand.
CREATE OR REPLACE FUNCTION dashboard.product_summary(p_from date, p_to date, p_category text DEFAULT NULL,
                                                     p_brand text DEFAULT NULL)
RETURNS TABLE (products bigint, views bigint, add_to_carts bigint, add_to_cart_rate numeric,
               purchases bigint, units bigint, revenue numeric, booked_orders bigint, booked_units bigint,
               booked_revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT t.products, t.views, t.add_to_carts, t.add_to_cart_rate, t.purchases, t.units, t.revenue,
           b.orders, b.units, b.revenue
    FROM (
        SELECT count(DISTINCT p.product_id)::bigint AS products,
               coalesce(sum(p.views), 0)::bigint AS views, coalesce(sum(p.add_to_carts), 0)::bigint AS add_to_carts,
               round(sum(p.add_to_carts)::numeric / nullif(sum(p.views), 0), 4) AS add_to_cart_rate,
               coalesce(sum(p.purchases), 0)::bigint AS purchases, coalesce(sum(p.units), 0)::bigint AS units,
               coalesce(sum(p.revenue), 0) AS revenue
        FROM agg_product_daily p
        WHERE p.day BETWEEN p_from AND p_to
          AND (coalesce(p_category, '') = '' OR p.product_category = p_category)
          AND (coalesce(p_brand, '') = '' OR p.product_brand = p_brand)
    ) t
    CROSS JOIN (
        SELECT count(DISTINCT b.order_id)::bigint AS orders, coalesce(sum(b.quantity), 0)::bigint AS units,
               coalesce(sum(b.revenue), 0) AS revenue
        FROM dashboard.booked_items(p_from, p_to, p_category, p_brand) b
    ) b;
END;

-- Per category: views, add-to-carts, tracked purchases and revenue, and booked revenue (a category
-- with booked items and no events in the range still gets a row; '(none)' = no category).
CREATE OR REPLACE FUNCTION dashboard.category_engagement(p_from date, p_to date, p_brand text DEFAULT NULL)
RETURNS TABLE (category text, views bigint, add_to_carts bigint, purchases bigint, revenue numeric,
               booked_revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH tracked AS (
        SELECT coalesce(p.product_category, '(none)') AS category, sum(p.views)::bigint AS views,
               sum(p.add_to_carts)::bigint AS add_to_carts, sum(p.purchases)::bigint AS purchases,
               sum(p.revenue) AS revenue
        FROM agg_product_daily p
        WHERE p.day BETWEEN p_from AND p_to
          AND (coalesce(p_brand, '') = '' OR p.product_brand = p_brand)
        GROUP BY 1
    ), booked AS (
        SELECT coalesce(b.category, '(none)') AS category, sum(b.revenue) AS revenue
        FROM dashboard.booked_items(p_from, p_to, NULL, p_brand) b
        GROUP BY 1
    )
    SELECT coalesce(t.category, b.category), coalesce(t.views, 0), coalesce(t.add_to_carts, 0),
           coalesce(t.purchases, 0), coalesce(t.revenue, 0), coalesce(b.revenue, 0)
    FROM tracked t
    FULL JOIN booked b ON b.category = t.category
    ORDER BY 6 DESC, 5 DESC, 2 DESC, 1;
END;
