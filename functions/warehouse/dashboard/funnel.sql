-- Page "Conversion funnel": sessions by the UTC day they started that reached each step.
-- Page filters p_channel, p_device_type, p_country (NULL or '' = every one, in any combination):
-- from agg_segment_daily when one is set (migration 061), else agg_funnel_daily.
-- requires: common

-- (the signatures before the page filters)
DROP FUNCTION IF EXISTS dashboard.funnel(date, date);
DROP FUNCTION IF EXISTS dashboard.funnel_daily(date, date);

-- Sessions that reached each step; step_rate = share of the previous step's sessions,
-- overall_rate = share of the first step's sessions (NULL when the base is 0).
CREATE OR REPLACE FUNCTION dashboard.funnel(p_from date, p_to date, p_channel text DEFAULT NULL,
                                            p_device_type text DEFAULT NULL, p_country text DEFAULT NULL)
RETURNS TABLE (step_no int, step text, sessions bigint, step_rate numeric, overall_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH rows AS (
        SELECT f.sessions_page_view AS s1, f.sessions_product_view AS s2, f.sessions_add_to_cart AS s3,
               f.sessions_begin_checkout AS s4, f.sessions_purchase AS s5
        FROM agg_funnel_daily f
        WHERE f.day BETWEEN p_from AND p_to AND NOT dashboard.segment_filtered(p_channel, p_device_type, p_country)
        UNION ALL
        SELECT a.sessions_page_view, a.sessions_product_view, a.sessions_add_to_cart, a.sessions_begin_checkout,
               a.sessions_purchase
        FROM agg_segment_daily a
        WHERE a.day BETWEEN p_from AND p_to AND dashboard.segment_filtered(p_channel, p_device_type, p_country)
          AND dashboard.in_segment(a.channel, a.device_type, a.country, p_channel, p_device_type, p_country)
    ), totals AS (
        SELECT coalesce(sum(r.s1), 0)::bigint AS s1, coalesce(sum(r.s2), 0)::bigint AS s2,
               coalesce(sum(r.s3), 0)::bigint AS s3, coalesce(sum(r.s4), 0)::bigint AS s4,
               coalesce(sum(r.s5), 0)::bigint AS s5
        FROM rows r
    ), steps AS (
        SELECT v.step_no, v.step, v.sessions, t.s1
        FROM totals t,
             LATERAL (VALUES (1, 'page_view', t.s1), (2, 'product_view', t.s2), (3, 'add_to_cart', t.s3),
                             (4, 'begin_checkout', t.s4), (5, 'purchase', t.s5)) AS v(step_no, step, sessions)
    )
    SELECT s.step_no, s.step, s.sessions,
           round(s.sessions::numeric / nullif(lag(s.sessions) OVER (ORDER BY s.step_no), 0), 4),
           round(s.sessions::numeric / nullif(s.s1, 0), 4)
    FROM steps s
    ORDER BY s.step_no;
END;

-- The days of the range with sessions: sessions started, those with an add-to-cart and with a
-- purchase, their orders and tracked revenue.
CREATE OR REPLACE FUNCTION dashboard.funnel_daily(p_from date, p_to date, p_channel text DEFAULT NULL,
                                                  p_device_type text DEFAULT NULL, p_country text DEFAULT NULL)
RETURNS TABLE (day date, sessions bigint, cart_sessions bigint, purchase_sessions bigint,
               orders bigint, revenue numeric, conversion_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.day, f.sessions::bigint, f.sessions_add_to_cart::bigint, f.sessions_purchase::bigint,
           f.orders::bigint, f.revenue,
           round(f.sessions_purchase::numeric / nullif(f.sessions, 0), 4)
    FROM agg_funnel_daily f
    WHERE f.day BETWEEN p_from AND p_to AND NOT dashboard.segment_filtered(p_channel, p_device_type, p_country)
    UNION ALL
    SELECT a.day, sum(a.sessions)::bigint, sum(a.sessions_add_to_cart)::bigint, sum(a.sessions_purchase)::bigint,
           sum(a.orders)::bigint, sum(a.revenue), round(sum(a.sessions_purchase) / nullif(sum(a.sessions), 0), 4)
    FROM agg_segment_daily a
    WHERE a.day BETWEEN p_from AND p_to AND dashboard.segment_filtered(p_channel, p_device_type, p_country)
      AND dashboard.in_segment(a.channel, a.device_type, a.country, p_channel, p_device_type, p_country)
    GROUP BY a.day
    ORDER BY 1;
END;
