-- A subquery, not a statement: the daily figures a restatement is recorded for, one row per
-- (day, table, figure); a day without a row in a table has no figures there (read as 0).
(SELECT a.day, 'agg_activity_daily' AS table_name, v.figure, v.value
 FROM agg_activity_daily a
 CROSS JOIN LATERAL (VALUES ('events', a.events::numeric), ('users', a.users::numeric),
                            ('sessions', a.sessions::numeric), ('page_views', a.page_views::numeric)) v (figure, value)
 UNION ALL
 SELECT f.day, 'agg_funnel_daily', v.figure, v.value
 FROM agg_funnel_daily f
 CROSS JOIN LATERAL (VALUES ('sessions', f.sessions::numeric), ('sessions_page_view', f.sessions_page_view::numeric),
                            ('sessions_product_view', f.sessions_product_view::numeric),
                            ('sessions_add_to_cart', f.sessions_add_to_cart::numeric),
                            ('sessions_begin_checkout', f.sessions_begin_checkout::numeric),
                            ('sessions_purchase', f.sessions_purchase::numeric),
                            ('orders', f.orders::numeric), ('revenue', f.revenue)) v (figure, value))
