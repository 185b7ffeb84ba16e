-- One batch's temp tables (dropped at its commit): the staging table COPY fills with the
-- rows of rows.ROW_SPEC, the sessions it touched, and its new events as the rebuilds read them.
CREATE TEMP TABLE etl_staging ON COMMIT DROP AS
    SELECT {columns} FROM clickstream_events WITH NO DATA;
-- A batch is inserted in parts (see insert_events): a session seen in two parts is listed once.
CREATE TEMP TABLE etl_touched_sessions (session_id text PRIMARY KEY) ON COMMIT DROP;
CREATE TEMP TABLE etl_new_events ON COMMIT DROP AS
    SELECT {event_columns} FROM clickstream_events WITH NO DATA;
