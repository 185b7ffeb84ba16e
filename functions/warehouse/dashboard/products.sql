-- Page "Products": product engagement by the UTC day of the events. p_category / p_brand:
-- NULL or '' = all.

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

CREATE OR REPLACE FUNCTION dashboard.product_engagement(p_from date, p_to date, p_category text DEFAULT NULL,
                                                        p_brand text DEFAULT NULL, p_limit int DEFAULT 25)
RETURNS TABLE (product_id text, product_name text, category text, brand text, views bigint,
               add_to_carts bigint, add_to_cart_rate numeric, purchases bigint, units bigint, revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT p.product_id,
           (array_agg(p.product_name ORDER BY p.day DESC))[1],
           (array_agg(p.product_category ORDER BY p.day DESC))[1],
           (array_agg(p.product_brand ORDER BY p.day DESC))[1],
           sum(p.views)::bigint, sum(p.add_to_carts)::bigint,
           round(sum(p.add_to_carts)::numeric / nullif(sum(p.views), 0), 4),
           sum(p.purchases)::bigint, sum(p.units)::bigint, sum(p.revenue)
    FROM agg_product_daily p
    WHERE p.day BETWEEN p_from AND p_to
      AND (coalesce(p_category, '') = '' OR p.product_category = p_category)
      AND (coalesce(p_brand, '') = '' OR p.product_brand = p_brand)
    GROUP BY p.product_id
    ORDER BY sum(p.views) DESC, sum(p.revenue) DESC, p.product_id
    LIMIT greatest(coalesce(p_limit, 25), 1);
END;

CREATE OR REPLACE FUNCTION dashboard.product_summary(p_from date, p_to date, p_category text DEFAULT NULL,
                                                     p_brand text DEFAULT NULL)
RETURNS TABLE (products bigint, views bigint, add_to_carts bigint, add_to_cart_rate numeric,
               purchases bigint, units bigint, revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT count(DISTINCT p.product_id)::bigint,
           coalesce(sum(p.views), 0)::bigint, coalesce(sum(p.add_to_carts), 0)::bigint,
           round(sum(p.add_to_carts)::numeric / nullif(sum(p.views), 0), 4),
           coalesce(sum(p.purchases), 0)::bigint, coalesce(sum(p.units), 0)::bigint,
           coalesce(sum(p.revenue), 0)
    FROM agg_product_daily p
    WHERE p.day BETWEEN p_from AND p_to
      AND (coalesce(p_category, '') = '' OR p.product_category = p_category)
      AND (coalesce(p_brand, '') = '' OR p.product_brand = p_brand);
END;

CREATE OR REPLACE FUNCTION dashboard.category_engagement(p_from date, p_to date, p_brand text DEFAULT NULL)
RETURNS TABLE (category text, views bigint, add_to_carts bigint, purchases bigint, revenue numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT coalesce(p.product_category, '(none)'), sum(p.views)::bigint, sum(p.add_to_carts)::bigint,
           sum(p.purchases)::bigint, sum(p.revenue)
    FROM agg_product_daily p
    WHERE p.day BETWEEN p_from AND p_to
      AND (coalesce(p_brand, '') = '' OR p.product_brand = p_brand)
    GROUP BY 1
    ORDER BY 5 DESC, 2 DESC, 1;
END;
