-- The aggregates a batch recomputes for what it touched rather than changes by a delta
-- (migration 060 defines each refresh, the one definition of its figures):
--   the audience, acquisition and journey rows (with the visitor sketches) of the UTC days the
--   touched sessions started on, before and after their rebuild (a late earlier event moves a
--   start, a late bot event removes a session), and of the other sessions that turned new or
--   returning (rebuild_sessions.sql: a late earlier session of their client);
--   the attribution of the touched clients' purchases and their retention weeks (a session of a
--   client changes the attribution of the client's purchases and the client's weeks only).
SELECT refresh_daily_aggregates(ARRAY(
    SELECT (o.started_at AT TIME ZONE 'UTC')::date FROM etl_old_sessions o
    UNION SELECT (s.started_at AT TIME ZONE 'UTC')::date
          FROM etl_touched_sessions t JOIN sessions s ON s.session_id = t.session_id
    UNION SELECT (r.started_at AT TIME ZONE 'UTC')::date FROM etl_reclassified_sessions r));
SELECT refresh_purchase_attribution(ARRAY(SELECT client_id FROM etl_touched_clients));
SELECT refresh_client_retention(ARRAY(SELECT client_id FROM etl_touched_clients));
