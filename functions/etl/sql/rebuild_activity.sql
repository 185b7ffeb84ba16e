-- Hourly and daily activity count distinct users/sessions, which do not add up: the touched
-- hours, and the days they fall in, are recounted from activity_session_hours, whose rows for
-- the touched sessions are rewritten first. The touched hours are the hours of the new events,
-- plus every hour of a session whose bot flag changed (one late bot event turns all of its
-- session's events into bot traffic).
DELETE FROM activity_session_hours a USING etl_touched_sessions t WHERE a.session_id = t.session_id;
INSERT INTO activity_session_hours (hour, session_id, client_id, events, page_views, is_bot)
SELECT date_trunc('hour', e.event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', s.session_id, e.client_id,
       count(*), count(*) FILTER (WHERE e.event_name = 'page_view'), s.is_bot
FROM {session_events} e
JOIN sessions s ON s.session_id = e.session_id
GROUP BY 1, s.session_id, e.client_id;

CREATE TEMP TABLE etl_touched_hours ON COMMIT DROP AS
    SELECT date_trunc('hour', n.event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour
    FROM etl_new_events n
    UNION
    SELECT date_trunc('hour', e.event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    FROM etl_old_sessions o
    JOIN sessions s ON s.session_id = o.session_id AND s.is_bot <> o.is_bot
    JOIN {session_events} e ON e.session_id = o.session_id;
ANALYZE etl_touched_hours;

DELETE FROM agg_activity_hourly a USING etl_touched_hours h WHERE a.hour = h.hour;
INSERT INTO agg_activity_hourly (hour, events, users, sessions, page_views)
SELECT a.hour, sum(a.events), count(DISTINCT a.client_id), count(DISTINCT a.session_id), sum(a.page_views)
FROM etl_touched_hours h
JOIN activity_session_hours a ON a.hour = h.hour AND NOT a.is_bot
GROUP BY a.hour;

-- The same counts per UTC day, for the days of the touched hours.
CREATE TEMP TABLE etl_touched_days ON COMMIT DROP AS
    SELECT DISTINCT (h.hour AT TIME ZONE 'UTC')::date AS day FROM etl_touched_hours h;

DELETE FROM agg_activity_daily a USING etl_touched_days d WHERE a.day = d.day;
INSERT INTO agg_activity_daily (day, events, users, sessions, page_views)
SELECT d.day, sum(a.events), count(DISTINCT a.client_id), count(DISTINCT a.session_id), sum(a.page_views)
FROM etl_touched_days d
JOIN activity_session_hours a
  ON a.hour >= d.day::timestamp AT TIME ZONE 'UTC' AND a.hour < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
 AND NOT a.is_bot
GROUP BY d.day;
