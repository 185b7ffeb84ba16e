-- Rebuild the sessions the batch touched from all their events (late events included).
-- The touched sessions are kept as they were (etl_old_sessions) so that the aggregates change
-- by (new contribution - old contribution) of those sessions only, never by a rescan of a day.
CREATE TEMP TABLE etl_old_sessions ON COMMIT DROP AS
    SELECT s.* FROM sessions s JOIN etl_touched_sessions t USING (session_id);
ANALYZE etl_old_sessions, etl_new_events;

-- The earlier events of the touched sessions that existed before (few: late events), found
-- through the session_id index. With the new events they are all of those sessions' events
-- (session_events.sql: a UNION ALL, not one table, as copying the new events cost a second).
-- MATERIALIZED: join the few old sessions to the index first; left to itself the planner may
-- anti-join the whole table against the new events before (it did, at 15 s a batch).
CREATE TEMP TABLE etl_earlier_events ON COMMIT DROP AS
    WITH earlier AS MATERIALIZED (
        SELECT {earlier_event_columns}
        FROM etl_old_sessions o JOIN clickstream_events e ON e.session_id = o.session_id
    )
    SELECT {event_columns} FROM earlier
    WHERE NOT EXISTS (SELECT FROM etl_new_events n WHERE n.event_id = earlier.event_id);
ANALYZE etl_earlier_events;

DELETE FROM sessions s USING etl_touched_sessions t WHERE s.session_id = t.session_id;

INSERT INTO sessions (
    session_id, client_id, user_id, started_at, ended_at, duration_s, events, page_views, product_views,
    entry_page, exit_page, landing_referrer, is_first_visit, logged_in, reached_product, reached_cart,
    reached_checkout, purchased, orders, revenue, is_bot)
SELECT
    e.session_id,
    (array_agg(e.client_id ORDER BY e.event_timestamp, e.event_id))[1],
    (array_agg(e.user_id ORDER BY e.event_timestamp DESC, e.event_id DESC)
        FILTER (WHERE e.user_id IS NOT NULL))[1],
    min(e.event_timestamp),
    max(e.event_timestamp),
    extract(epoch FROM max(e.event_timestamp) - min(e.event_timestamp)),
    count(*),
    count(*) FILTER (WHERE e.event_name = 'page_view'),
    count(*) FILTER (WHERE e.event_name = 'product_view'),
    (array_agg(e.page_path ORDER BY e.event_timestamp, e.event_id) FILTER (WHERE e.page_path IS NOT NULL))[1],
    (array_agg(e.page_path ORDER BY e.event_timestamp DESC, e.event_id DESC)
        FILTER (WHERE e.page_path IS NOT NULL))[1],
    (array_agg(e.page_referrer ORDER BY e.event_timestamp, e.event_id)
        FILTER (WHERE e.page_referrer IS NOT NULL))[1],
    bool_or(e.is_first_visit),
    bool_or(e.user_login_state = 'logged_in'),
    bool_or(e.event_name = 'product_view'),
    bool_or(e.event_name = 'add_to_cart'),
    bool_or(e.event_name = 'begin_checkout'),
    bool_or(e.event_name = 'purchase'),
    count(*) FILTER (WHERE e.event_name = 'purchase'),
    coalesce(sum(e.order_revenue) FILTER (WHERE e.event_name = 'purchase'), 0),
    bool_or(e.is_bot)
FROM {session_events} e
GROUP BY e.session_id;
