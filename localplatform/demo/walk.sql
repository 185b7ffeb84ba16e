-- What the warehouse holds of the demo's shop walk, read through the dashboards' functions. The
-- walk came after the traffic generator's window (:'window_end'), so its events are those of the
-- later hours; its sessions are among those that started on its days (:'from' .. :'to'; the
-- caller takes the generator's own sessions of those days off); its orders (:'order_ids') are
-- tracked when a purchase event reports them. One row, one JSON object.
SELECT json_build_object(
           'events', (SELECT coalesce(sum(h.events), 0)
                      FROM dashboard.activity_hourly(:'from'::date, :'to'::date) AS h
                      WHERE h.hour >= :'window_end'::timestamptz),
           'sessions_on_walk_days', (SELECT coalesce(sum(d.sessions), 0)
                                     FROM dashboard.activity_daily(:'from'::date, :'to'::date) AS d),
           'tracked_orders', (SELECT count(*) FROM dashboard.tracked_purchases(:'order_ids'::text[])))::text;
