-- What the batch touched of the aggregates that are recomputed rather than changed by a delta
-- (migration 060 defines each refresh, the one definition of its figures), recorded for the
-- run to refresh once after its last batch (migration 070, refresh_pending_aggregates()):
--   the UTC days the touched sessions started on, before and after their rebuild (a late earlier
--   event moves a start, a late bot event removes a session), and those of the other sessions
--   that turned new or returning (rebuild_sessions.sql: a late earlier session of their client);
--   the touched clients (a session of a client changes the attribution of the client's
--   purchases and the client's retention weeks only).
INSERT INTO agg_pending_days (day)
    SELECT (o.started_at AT TIME ZONE 'UTC')::date FROM etl_old_sessions o
    UNION SELECT (s.started_at AT TIME ZONE 'UTC')::date
          FROM etl_touched_sessions t JOIN sessions s ON s.session_id = t.session_id
    UNION SELECT (r.started_at AT TIME ZONE 'UTC')::date FROM etl_reclassified_sessions r
ON CONFLICT (day) DO NOTHING;
INSERT INTO agg_pending_clients (client_id)
    SELECT client_id FROM etl_touched_clients
ON CONFLICT (client_id) DO NOTHING;
