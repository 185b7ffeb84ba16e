-- The staged part of the batch into clickstream_events; the events actually inserted (not
-- duplicates) and their sessions are kept for the rebuilds. First tried as a plain INSERT (the
-- on_conflict clause empty: cheaper than ON CONFLICT's speculative insertion, which writes an
-- extra WAL record per row); a unique violation rolls back to a savepoint and the part is
-- inserted again with ON CONFLICT (event_id) DO NOTHING, which skips duplicates in the table
-- and in the batch.
-- Returns (rows staged, events inserted, sessions newly touched).
WITH inserted AS (
    INSERT INTO clickstream_events ({columns}, etl_run_id)
    SELECT {columns}, %(run_id)s FROM etl_staging
    {on_conflict}
    RETURNING {event_columns}
), new_events AS (
    INSERT INTO etl_new_events ({event_columns}) SELECT {event_columns} FROM inserted
    RETURNING 1
), touched AS (
    INSERT INTO etl_touched_sessions (session_id) SELECT DISTINCT session_id FROM inserted
    ON CONFLICT (session_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM etl_staging), (SELECT count(*) FROM new_events), (SELECT count(*) FROM touched)
