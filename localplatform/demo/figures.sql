-- The demo summary's figures, read through the dashboards' own functions (dashboard.*), so the
-- summary says what the dashboards show. One row, one JSON object.
-- The dashboards leave bots out; the ETL's run totals count every event loaded, so the bot
-- events are the one minus the other. Events and sessions cover every day that holds data
-- (dashboard.data_bounds), as do the booked and tracked revenue; the ETL figures every run.
SELECT json_build_object(
           'loaded', etl.events_loaded,
           'loaded_bot', etl.events_loaded - activity.events,
           'sessions', activity.sessions,
           'purchase_sessions', purchase.sessions,
           'etl_rejected', etl.rejected,
           'etl_runs', etl.runs,
           'etl_failed_runs', etl.failed_runs,
           'booked_orders', revenue.booked_orders,
           'booked_revenue', revenue.booked_revenue,
           'tracked_revenue', revenue.tracked_revenue,
           'untracked_orders', revenue.untracked_orders,
           'unbooked_purchases', revenue.unbooked_purchases)::text
FROM dashboard.data_bounds() AS bounds
CROSS JOIN LATERAL dashboard.activity_summary(bounds.first_day, bounds.last_day) AS activity
CROSS JOIN LATERAL (SELECT f.sessions FROM dashboard.funnel(bounds.first_day, bounds.last_day) AS f
                    WHERE f.step = 'purchase') AS purchase
CROSS JOIN LATERAL (SELECT coalesce(sum(r.booked_orders), 0) AS booked_orders,
                           coalesce(sum(r.booked_revenue), 0) AS booked_revenue,
                           coalesce(sum(r.tracked_revenue), 0) AS tracked_revenue,
                           coalesce(sum(r.untracked_orders), 0) AS untracked_orders,
                           coalesce(sum(r.unbooked_purchases), 0) AS unbooked_purchases
                    FROM dashboard.revenue_reconciliation(bounds.first_day, bounds.last_day) AS r) AS revenue
CROSS JOIN dashboard.etl_summary('-infinity', 'infinity') AS etl;
