-- What every dashboard page uses. The dashboards' queries are SQL functions in schema
-- "dashboard" (created by migration 100), one file per page; the R app only calls them, and the
-- Python tests and bench/dashboard.py run the very same functions. Every function takes an
-- inclusive range of UTC days (p_from, p_to). Headline numbers come from the aggregate tables
-- (agg_*); no query reads all of a period's sessions, so every one stays fast at tens of
-- millions of events (bench/dashboard.py). Bot traffic is excluded everywhere, as in the
-- aggregates.
-- These files are re-applied by migrate.py whenever they change: functions are written
-- CREATE OR REPLACE, with SQL-standard bodies (BEGIN ATOMIC / RETURN), so PostgreSQL checks
-- their references when they are created and records what uses what.

-- [p_from, p_to] as a half-open timestamptz range, whatever the session's TimeZone.
CREATE OR REPLACE FUNCTION dashboard.range_start(p_from date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN p_from::timestamp AT TIME ZONE 'UTC';

CREATE OR REPLACE FUNCTION dashboard.range_end(p_to date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (p_to + 1)::timestamp AT TIME ZONE 'UTC';

-- Days that hold any (non-bot) activity: the app opens on the latest data.
CREATE OR REPLACE FUNCTION dashboard.data_bounds()
RETURNS TABLE (first_day date, last_day date)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT (min(hour) AT TIME ZONE 'UTC')::date, (max(hour) AT TIME ZONE 'UTC')::date
    FROM agg_activity_hourly;
END;
