-- Before the batch changes the daily aggregates: the figures of the days it may restate, i.e.
-- the days its sessions touch (their events' days and their start days, before and after the
-- rebuild) that lie before the batch's own hours (%(own_from)s, the earliest raw hour it
-- loads). Usually none: only late events reach such days. data_quality.sql compares after.
CREATE TEMP TABLE etl_restatable_days ON COMMIT DROP AS
    SELECT day FROM (
        SELECT (e.event_timestamp AT TIME ZONE 'UTC')::date AS day FROM {session_events} e
        UNION SELECT (o.started_at AT TIME ZONE 'UTC')::date FROM etl_old_sessions o
        UNION SELECT (s.started_at AT TIME ZONE 'UTC')::date
              FROM etl_touched_sessions t JOIN sessions s ON s.session_id = t.session_id
    ) touched
    WHERE day < (%(own_from)s::timestamptz AT TIME ZONE 'UTC')::date;

CREATE TEMP TABLE etl_restatement_before ON COMMIT DROP AS
    SELECT f.day, f.table_name, f.figure, f.value FROM {daily_figures} f
    JOIN etl_restatable_days d ON d.day = f.day;
