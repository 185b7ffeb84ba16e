-- Re-derive GA4's source / medium and the channel of the sessions that started in
-- [%(since)s, %(until)s) from their stored acquisition fields, by the channel rules as they are
-- now (after an edit of channel_rules or of the referrer exclusions), once per distinct
-- combination. Only sessions whose answer changed are written. Returns (sessions in the window,
-- sessions changed).
WITH window_sessions AS (
    SELECT s.session_id, s.utm_source, s.utm_medium, s.campaign, s.click_id_type, s.referrer_host,
           s.source, s.medium, s.channel
    FROM sessions s
    WHERE s.started_at >= %(since)s AND s.started_at < %(until)s
), derived AS (
    SELECT k.utm_source, k.utm_medium, k.campaign, k.click_id_type, k.referrer_host, a.source, a.medium, a.channel
    FROM (SELECT DISTINCT utm_source, utm_medium, campaign, click_id_type, referrer_host FROM window_sessions) k
    CROSS JOIN LATERAL channel_acquisition(k.utm_source, k.utm_medium, k.campaign, k.click_id_type,
                                           k.referrer_host) a
), changed AS (
    UPDATE sessions s
    SET source = d.source, medium = d.medium, channel = d.channel, updated_at = now()
    FROM window_sessions w
    JOIN derived d ON (d.utm_source, d.utm_medium, d.campaign, d.click_id_type, d.referrer_host)
                      IS NOT DISTINCT FROM (w.utm_source, w.utm_medium, w.campaign, w.click_id_type, w.referrer_host)
    WHERE s.session_id = w.session_id
      AND (s.source, s.medium, s.channel) IS DISTINCT FROM (d.source, d.medium, d.channel)
    RETURNING 1
)
SELECT (SELECT count(*) FROM window_sessions), (SELECT count(*) FROM changed)
