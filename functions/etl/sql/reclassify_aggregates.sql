-- After reclassify_sessions.sql changed channels in [%(since)s, %(until)s): the audience and
-- acquisition rows of the window's days and the attribution of its clients' purchases (a
-- purchase up to 30 days later may credit a session of the window), from the sessions now
-- (migration 060's refresh functions).
SELECT refresh_daily_aggregates(ARRAY(
    SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM sessions
    WHERE started_at >= %(since)s AND started_at < %(until)s));
SELECT refresh_purchase_attribution(ARRAY(
    SELECT DISTINCT client_id FROM sessions WHERE started_at >= %(since)s AND started_at < %(until)s));
