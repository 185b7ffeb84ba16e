-- Daily activity (UTC day of the event); bot sessions excluded. Distinct users and sessions do
-- not add up across hours, so the day is counted on its own, exactly as agg_activity_hourly
-- counts an hour. The ETL recomputes the touched days with the touched hours.
CREATE TABLE agg_activity_daily (
    day         date PRIMARY KEY,
    events      bigint NOT NULL,
    users       bigint NOT NULL,               -- distinct client_id
    sessions    bigint NOT NULL,               -- distinct session_id
    page_views  bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO agg_activity_daily (day, events, users, sessions, page_views)
SELECT (e.event_timestamp AT TIME ZONE 'UTC')::date, count(*), count(DISTINCT e.client_id),
       count(DISTINCT e.session_id), count(*) FILTER (WHERE e.event_name = 'page_view')
FROM clickstream_events e
JOIN sessions s ON s.session_id = e.session_id AND NOT s.is_bot
GROUP BY 1;

GRANT SELECT, INSERT, UPDATE, DELETE ON agg_activity_daily TO clickstream_writer;
GRANT SELECT ON agg_activity_daily TO clickstream_reader;
