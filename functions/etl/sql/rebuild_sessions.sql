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

-- The touched sessions as they are now, from all their events. The first event gives the
-- device, browser, OS and country; the landing event (the first with a page.path) the
-- acquisition fields; the steps are the event names with repeats in a row collapsed (lag).
CREATE TEMP TABLE etl_rebuilt_sessions ON COMMIT DROP AS
WITH ordered AS (
    SELECT e.*, lag(e.event_name) OVER (PARTITION BY e.session_id ORDER BY e.event_timestamp, e.event_id)
                    AS previous_name
    FROM {session_events} e
), summed AS (
    SELECT
        e.session_id,
        (array_agg(e.client_id ORDER BY e.event_timestamp, e.event_id))[1] AS client_id,
        (array_agg(e.user_id ORDER BY e.event_timestamp DESC, e.event_id DESC)
            FILTER (WHERE e.user_id IS NOT NULL))[1] AS user_id,
        min(e.event_timestamp) AS started_at,
        max(e.event_timestamp) AS ended_at,
        extract(epoch FROM max(e.event_timestamp) - min(e.event_timestamp)) AS duration_s,
        count(*) AS events,
        count(*) FILTER (WHERE e.event_name = 'page_view') AS page_views,
        count(*) FILTER (WHERE e.event_name = 'product_view') AS product_views,
        (array_agg(e.page_path ORDER BY e.event_timestamp DESC, e.event_id DESC)
            FILTER (WHERE e.page_path IS NOT NULL))[1] AS exit_page,
        (array_agg(e.page_referrer ORDER BY e.event_timestamp, e.event_id)
            FILTER (WHERE e.page_referrer IS NOT NULL))[1] AS landing_referrer,
        bool_or(e.is_first_visit) AS is_first_visit,
        bool_or(e.user_login_state = 'logged_in') AS logged_in,
        bool_or(e.event_name = 'product_view') AS reached_product,
        bool_or(e.event_name = 'add_to_cart') AS reached_cart,
        bool_or(e.event_name = 'begin_checkout') AS reached_checkout,
        bool_or(e.event_name = 'purchase') AS purchased,
        count(*) FILTER (WHERE e.event_name = 'purchase') AS orders,
        coalesce(sum(e.order_revenue) FILTER (WHERE e.event_name = 'purchase'), 0) AS revenue,
        bool_or(e.is_bot) AS is_bot,
        (array_agg(e.bot_reason ORDER BY e.event_timestamp, e.event_id)
            FILTER (WHERE e.bot_reason IS NOT NULL))[1] AS bot_reason,
        (array_agg(ROW(e.device_type, e.browser_family, e.browser_major, e.os_family, e.country)::session_first_event
            ORDER BY e.event_timestamp, e.event_id))[1] AS first_event,
        (array_agg(ROW(e.page_url, e.page_path, e.utm_source, e.utm_medium, e.utm_campaign, e.utm_term,
                       e.utm_content, e.click_id_type, e.referrer_host)::session_landing_event
            ORDER BY e.event_timestamp, e.event_id) FILTER (WHERE e.page_path IS NOT NULL))[1] AS landing,
        array_agg(DISTINCT e.user_id) FILTER (WHERE e.user_id IS NOT NULL) AS user_ids,
        array_agg(e.event_name ORDER BY e.event_timestamp, e.event_id)
            FILTER (WHERE e.previous_name IS DISTINCT FROM e.event_name) AS steps
    FROM ordered e
    GROUP BY e.session_id
)
SELECT s.session_id, s.client_id, s.user_id, s.started_at, s.ended_at, s.duration_s, s.events, s.page_views,
       s.product_views, (s.landing).page_path AS entry_page, s.exit_page, s.landing_referrer, s.is_first_visit,
       s.logged_in, s.reached_product, s.reached_cart, s.reached_checkout, s.purchased, s.orders, s.revenue,
       s.is_bot, s.bot_reason,
       (s.first_event).device_type, (s.first_event).browser_family, (s.first_event).browser_major,
       (s.first_event).os_family, (s.first_event).country,
       (s.landing).page_path AS landing_path, (s.landing).page_url AS landing_url,
       (s.landing).utm_source, (s.landing).utm_medium, (s.landing).utm_campaign AS campaign,
       (s.landing).utm_term AS term, (s.landing).utm_content AS content, (s.landing).click_id_type,
       (s.landing).referrer_host,
       s.user_ids, s.steps[1:max_session_steps()] AS steps, cardinality(s.steps) AS step_count
FROM summed s;
ANALYZE etl_rebuilt_sessions;

-- The landing pages' hosts are the shop's own: a referrer from them is no referrer. Recorded
-- before the channels are derived, so a batch's first session already counts them.
SELECT channel_add_own_hosts(ARRAY(SELECT DISTINCT url_host(r.landing_url) FROM etl_rebuilt_sessions r));

-- GA4's source / medium and the channel, once per distinct combination of acquisition fields.
CREATE TEMP TABLE etl_session_channels ON COMMIT DROP AS
    SELECT k.utm_source, k.utm_medium, k.campaign, k.click_id_type, k.referrer_host, a.source, a.medium, a.channel
    FROM (SELECT DISTINCT utm_source, utm_medium, campaign, click_id_type, referrer_host
          FROM etl_rebuilt_sessions) k
    CROSS JOIN LATERAL channel_acquisition(k.utm_source, k.utm_medium, k.campaign, k.click_id_type,
                                           k.referrer_host) a;

DELETE FROM sessions s USING etl_touched_sessions t WHERE s.session_id = t.session_id;

-- The clients of the touched sessions (before and now) and their first non-bot session now;
-- etl_first_changed: the clients whose first session is another than before.
CREATE TEMP TABLE etl_touched_clients ON COMMIT DROP AS
    SELECT client_id FROM etl_rebuilt_sessions UNION SELECT client_id FROM etl_old_sessions;
CREATE TEMP TABLE etl_client_firsts ON COMMIT DROP AS
    SELECT DISTINCT ON (c.client_id) c.client_id, c.session_id, c.started_at
    FROM (SELECT s.client_id, s.session_id, s.started_at
          FROM etl_touched_clients t JOIN sessions s ON s.client_id = t.client_id AND NOT s.is_bot
          UNION ALL
          SELECT r.client_id, r.session_id, r.started_at FROM etl_rebuilt_sessions r WHERE NOT r.is_bot) c
    ORDER BY c.client_id, c.started_at, c.session_id;
CREATE TEMP TABLE etl_first_changed ON COMMIT DROP AS
    SELECT t.client_id, f.session_id, f.started_at
    FROM etl_touched_clients t
    LEFT JOIN etl_client_firsts f ON f.client_id = t.client_id
    LEFT JOIN clients c ON c.client_id = t.client_id
    WHERE (c.first_session_id, c.first_started_at) IS DISTINCT FROM (f.session_id, f.started_at);
DELETE FROM clients c USING etl_first_changed f WHERE c.client_id = f.client_id;
INSERT INTO clients (client_id, first_session_id, first_started_at)
    SELECT client_id, session_id, started_at FROM etl_first_changed WHERE session_id IS NOT NULL;

INSERT INTO sessions (
    session_id, client_id, user_id, started_at, ended_at, duration_s, events, page_views, product_views,
    entry_page, exit_page, landing_referrer, is_first_visit, logged_in, reached_product, reached_cart,
    reached_checkout, purchased, orders, revenue, is_bot, bot_reason, device_type, browser_family,
    browser_major, os_family, country, landing_path, utm_source, utm_medium, campaign, term, content,
    click_id_type, referrer_host, source, medium, channel, is_returning, user_ids, steps, step_count)
SELECT r.session_id, r.client_id, r.user_id, r.started_at, r.ended_at, r.duration_s, r.events, r.page_views,
       r.product_views, r.entry_page, r.exit_page, r.landing_referrer, r.is_first_visit, r.logged_in,
       r.reached_product, r.reached_cart, r.reached_checkout, r.purchased, r.orders, r.revenue, r.is_bot,
       r.bot_reason, r.device_type, r.browser_family, r.browser_major, r.os_family, r.country, r.landing_path,
       r.utm_source, r.utm_medium, r.campaign, r.term, r.content, r.click_id_type, r.referrer_host,
       a.source, a.medium, a.channel,
       coalesce((r.started_at, r.session_id) > (c.first_started_at, c.first_session_id), false),
       r.user_ids, r.steps, r.step_count
FROM etl_rebuilt_sessions r
LEFT JOIN etl_session_channels a
       ON (a.utm_source, a.utm_medium, a.campaign, a.click_id_type, a.referrer_host)
          IS NOT DISTINCT FROM (r.utm_source, r.utm_medium, r.campaign, r.click_id_type, r.referrer_host)
LEFT JOIN clients c ON c.client_id = r.client_id;

-- The other sessions of clients whose first session changed (a late earlier session, a session
-- that became a bot's): whether they are returning may have changed too.
UPDATE sessions s
SET is_returning = coalesce((s.started_at, s.session_id) > (f.started_at, f.session_id), false)
FROM etl_first_changed f
WHERE s.client_id = f.client_id
  AND NOT EXISTS (SELECT FROM etl_touched_sessions t WHERE t.session_id = s.session_id)
  AND s.is_returning IS DISTINCT FROM coalesce((s.started_at, s.session_id) > (f.started_at, f.session_id), false);

-- The signed-in users seen on each browser.
INSERT INTO client_users AS u (client_id, user_id, first_seen, last_seen)
    SELECT client_id, user_id, min(event_timestamp), max(event_timestamp)
    FROM etl_new_events WHERE user_id IS NOT NULL
    GROUP BY client_id, user_id
ON CONFLICT (client_id, user_id) DO UPDATE
    SET first_seen = least(u.first_seen, excluded.first_seen), last_seen = greatest(u.last_seen, excluded.last_seen);
