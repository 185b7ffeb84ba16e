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

-- The touched sessions as they are now, from all their events. Each event's place in its
-- session (n; how many events with a page.path up to it) comes from one window over
-- (session_id, event_timestamp, event_id), so the values of the first event and of the landing
-- event (the first with a page.path) are plain FILTERs: an ordered aggregate each would sort
-- every session's events again, 13 times (PostgreSQL 15). The steps are the event names with
-- repeats in a row collapsed (lag).
CREATE TEMP TABLE etl_rebuilt_sessions ON COMMIT DROP AS
WITH ordered AS (
    SELECT e.session_id, e.event_id, e.event_timestamp, e.event_name, e.client_id, e.user_id,
           e.user_login_state, e.is_first_visit, e.page_path, e.page_referrer, e.order_revenue, e.is_bot,
           e.bot_reason, e.device_type, e.browser_family, e.browser_major, e.os_family, e.country,
           e.page_url, e.utm_source, e.utm_medium, e.utm_campaign, e.utm_term, e.utm_content,
           e.click_id_type, e.referrer_host,
           row_number() OVER running AS n,
           lag(e.event_name) OVER running AS previous_name,
           count(e.page_path) OVER running AS paths_so_far
    FROM {session_events} e
    WINDOW running AS (PARTITION BY e.session_id ORDER BY e.event_timestamp, e.event_id ROWS UNBOUNDED PRECEDING)
)
SELECT
    e.session_id,
    min(e.client_id) FILTER (WHERE e.n = 1) AS client_id,
    (array_agg(e.user_id ORDER BY e.n DESC) FILTER (WHERE e.user_id IS NOT NULL))[1] AS user_id,
    min(e.event_timestamp) AS started_at,
    max(e.event_timestamp) AS ended_at,
    extract(epoch FROM max(e.event_timestamp) - min(e.event_timestamp)) AS duration_s,
    count(*) AS events,
    count(*) FILTER (WHERE e.event_name = 'page_view') AS page_views,
    count(*) FILTER (WHERE e.event_name = 'product_view') AS product_views,
    min(e.page_path) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS entry_page,
    (array_agg(e.page_path ORDER BY e.n DESC) FILTER (WHERE e.page_path IS NOT NULL))[1] AS exit_page,
    (array_agg(e.page_referrer ORDER BY e.n) FILTER (WHERE e.page_referrer IS NOT NULL))[1] AS landing_referrer,
    bool_or(e.is_first_visit) AS is_first_visit,
    bool_or(e.user_login_state = 'logged_in') AS logged_in,
    bool_or(e.event_name = 'product_view') AS reached_product,
    bool_or(e.event_name = 'add_to_cart') AS reached_cart,
    bool_or(e.event_name = 'begin_checkout') AS reached_checkout,
    bool_or(e.event_name = 'purchase') AS purchased,
    count(*) FILTER (WHERE e.event_name = 'purchase') AS orders,
    coalesce(sum(e.order_revenue) FILTER (WHERE e.event_name = 'purchase'), 0) AS revenue,
    bool_or(e.is_bot) AS is_bot,
    (array_agg(e.bot_reason ORDER BY e.n) FILTER (WHERE e.bot_reason IS NOT NULL))[1] AS bot_reason,
    -- the first event's
    min(e.device_type) FILTER (WHERE e.n = 1) AS device_type,
    min(e.browser_family) FILTER (WHERE e.n = 1) AS browser_family,
    min(e.browser_major) FILTER (WHERE e.n = 1) AS browser_major,
    min(e.os_family) FILTER (WHERE e.n = 1) AS os_family,
    min(e.country) FILTER (WHERE e.n = 1) AS country,
    -- the landing event's
    min(e.page_path) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS landing_path,
    min(e.page_url) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS landing_url,
    min(e.utm_source) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS utm_source,
    min(e.utm_medium) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS utm_medium,
    min(e.utm_campaign) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS campaign,
    min(e.utm_term) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS term,
    min(e.utm_content) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS content,
    min(e.click_id_type) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS click_id_type,
    min(e.referrer_host) FILTER (WHERE e.page_path IS NOT NULL AND e.paths_so_far = 1) AS referrer_host,
    array_agg(DISTINCT e.user_id) FILTER (WHERE e.user_id IS NOT NULL) AS user_ids,
    (array_agg(e.event_name ORDER BY e.n) FILTER (WHERE e.previous_name IS DISTINCT FROM e.event_name))
        [1:max_session_steps()] AS steps,
    count(*) FILTER (WHERE e.previous_name IS DISTINCT FROM e.event_name) AS step_count
FROM ordered e
GROUP BY e.session_id;
ANALYZE etl_rebuilt_sessions;

-- The landing pages' hosts are the shop's own: a referrer from them is no referrer. Recorded
-- before the channels are derived, so a batch's first session already counts them.
-- (url_host() once per distinct scheme://authority: a regular expression per session cost 1.5 s
-- per 300,000 events.)
SELECT channel_add_own_hosts(ARRAY(
    SELECT DISTINCT url_host(a.origin)
    FROM (SELECT DISTINCT split_part(r.landing_url, '/', 1) || '//' || split_part(r.landing_url, '/', 3) AS origin
          FROM etl_rebuilt_sessions r WHERE r.landing_url IS NOT NULL) a));

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
-- (coalesce to '': hashable, where IS NOT DISTINCT FROM is not; no stored value is '')
LEFT JOIN etl_session_channels a
       ON coalesce(a.utm_source, '') = coalesce(r.utm_source, '') AND coalesce(a.utm_medium, '') = coalesce(r.utm_medium, '')
      AND coalesce(a.campaign, '') = coalesce(r.campaign, '') AND coalesce(a.click_id_type, '') = coalesce(r.click_id_type, '')
      AND coalesce(a.referrer_host, '') = coalesce(r.referrer_host, '')
LEFT JOIN clients c ON c.client_id = r.client_id;

-- The other sessions of clients whose first session changed (a late earlier session, a session
-- that became a bot's): whether they are returning may have changed too. Their starts are kept
-- (etl_reclassified_sessions): the audience rows of their days change (audience_daily.sql).
CREATE TEMP TABLE etl_reclassified_sessions (started_at timestamptz NOT NULL) ON COMMIT DROP;
WITH reclassified AS (
    UPDATE sessions s
    SET is_returning = coalesce((s.started_at, s.session_id) > (f.started_at, f.session_id), false)
    FROM etl_first_changed f
    WHERE s.client_id = f.client_id
      AND NOT EXISTS (SELECT FROM etl_touched_sessions t WHERE t.session_id = s.session_id)
      AND s.is_returning IS DISTINCT FROM coalesce((s.started_at, s.session_id) > (f.started_at, f.session_id),
                                                   false)
    RETURNING s.started_at
)
INSERT INTO etl_reclassified_sessions SELECT started_at FROM reclassified;

-- The signed-in users seen on each browser: from the start of the first to the end of the last
-- session they were seen in (per session, not per event: a tenth of the rows).
INSERT INTO client_users AS u (client_id, user_id, first_seen, last_seen)
    SELECT r.client_id, x.user_id, min(r.started_at), max(r.ended_at)
    FROM etl_rebuilt_sessions r CROSS JOIN LATERAL unnest(r.user_ids) AS x(user_id)
    GROUP BY r.client_id, x.user_id
ON CONFLICT (client_id, user_id) DO UPDATE
    SET first_seen = least(u.first_seen, excluded.first_seen), last_seen = greatest(u.last_seen, excluded.last_seen);
