-- Page "Conversion funnel": sessions by the UTC day they started that reached each step.

-- Sessions that reached each step; step_rate = share of the previous step's sessions,
-- overall_rate = share of the first step's sessions (NULL when the base is 0).
CREATE OR REPLACE FUNCTION dashboard.funnel(p_from date, p_to date)
RETURNS TABLE (step_no int, step text, sessions bigint, step_rate numeric, overall_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH totals AS (
        SELECT coalesce(sum(f.sessions_page_view), 0)::bigint      AS s1,
               coalesce(sum(f.sessions_product_view), 0)::bigint   AS s2,
               coalesce(sum(f.sessions_add_to_cart), 0)::bigint    AS s3,
               coalesce(sum(f.sessions_begin_checkout), 0)::bigint AS s4,
               coalesce(sum(f.sessions_purchase), 0)::bigint       AS s5
        FROM agg_funnel_daily f
        WHERE f.day BETWEEN p_from AND p_to
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

CREATE OR REPLACE FUNCTION dashboard.funnel_daily(p_from date, p_to date)
RETURNS TABLE (day date, sessions bigint, cart_sessions bigint, purchase_sessions bigint,
               orders bigint, revenue numeric, conversion_rate numeric)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.day, f.sessions::bigint, f.sessions_add_to_cart::bigint, f.sessions_purchase::bigint,
           f.orders::bigint, f.revenue,
           round(f.sessions_purchase::numeric / nullif(f.sessions, 0), 4)
    FROM agg_funnel_daily f
    WHERE f.day BETWEEN p_from AND p_to
    ORDER BY f.day;
END;
