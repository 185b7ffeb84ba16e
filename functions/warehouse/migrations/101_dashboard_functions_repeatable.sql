-- The dashboard.* functions move out of the migrations into functions/warehouse/dashboard/*.sql,
-- one file per page, which migrate.py applies after the migrations and re-applies whenever a
-- file changes, so changing a query needs no new migration. Migration 100 stays as deployed;
-- this drops every function it created, so that on a fresh and on an existing warehouse alike
-- the files alone define them from here on (and a file using another's function without
-- declaring it fails on creation). The schema, its USAGE grant and the reader's default EXECUTE
-- privilege on functions created in it (migration 100) stay.
DROP FUNCTION
    dashboard.range_start(date),
    dashboard.range_end(date),
    dashboard.data_bounds(),
    dashboard.activity_hourly(date, date),
    dashboard.activity_daily(date, date),
    dashboard.activity_summary(date, date),
    dashboard.funnel(date, date),
    dashboard.funnel_daily(date, date),
    dashboard.product_filters(date, date),
    dashboard.product_engagement(date, date, text, text, integer),
    dashboard.product_summary(date, date, text, text),
    dashboard.category_engagement(date, date, text),
    dashboard.latest_sessions(date, date, integer),
    dashboard.journey_summary(date, date, integer),
    dashboard.entry_pages(date, date, integer, integer),
    dashboard.exit_pages(date, date, integer, integer),
    dashboard.session_steps(date, date, integer),
    dashboard.journey_paths(date, date, integer, integer, integer),
    dashboard.journey_transitions(date, date, integer, integer),
    dashboard.etl_loaded_hourly(date, date),
    dashboard.etl_rejects_by_reason(date, date, integer),
    dashboard.etl_summary(date, date),
    dashboard.etl_last_run();

-- The files' functions get the reader's EXECUTE, and not PUBLIC's, from default privileges,
-- which belong to the role that creates them: state them for the role running this migration,
-- the one that applies the files right after it (a no-op when that role also ran 001 and 100).
ALTER DEFAULT PRIVILEGES IN SCHEMA dashboard GRANT EXECUTE ON FUNCTIONS TO clickstream_reader;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
