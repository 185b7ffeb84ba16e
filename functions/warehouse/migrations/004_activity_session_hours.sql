-- What agg_activity_hourly and agg_activity_daily are counted from: one row per (UTC hour,
-- session, client) with its events, page views and the session's bot flag. Distinct users and
-- sessions do not add up, so a touched hour or day is recounted; over these rows (about one a
-- session) instead of every event of the hour or day, without a join to sessions. The ETL
-- rewrites the rows of the sessions each batch touches, in the batch's transaction.
CREATE TABLE activity_session_hours (
    hour        timestamptz NOT NULL,
    session_id  text NOT NULL,
    client_id   text NOT NULL,
    events      integer NOT NULL,
    page_views  integer NOT NULL,
    is_bot      boolean NOT NULL,               -- sessions.is_bot
    PRIMARY KEY (session_id, hour, client_id)
);
CREATE INDEX activity_session_hours_hour_idx ON activity_session_hours (hour) INCLUDE (is_bot);

INSERT INTO activity_session_hours (hour, session_id, client_id, events, page_views, is_bot)
SELECT date_trunc('hour', e.event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', s.session_id, e.client_id,
       count(*), count(*) FILTER (WHERE e.event_name = 'page_view'), s.is_bot
FROM clickstream_events e
JOIN sessions s ON s.session_id = e.session_id
GROUP BY 1, s.session_id, e.client_id;

GRANT SELECT, INSERT, UPDATE, DELETE ON activity_session_hours TO clickstream_writer;
GRANT SELECT ON activity_session_hours TO clickstream_reader;
