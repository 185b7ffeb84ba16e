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

-- The page filters (channel, device type, country; NULL or '' = every one): whether any is set.
-- A function taking them reads agg_segment_daily (migration 061) when one is, else the
-- aggregates it read before, so an unfiltered call is what it was.
CREATE OR REPLACE FUNCTION dashboard.segment_filtered(p_channel text, p_device_type text, p_country text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(p_channel, '') <> '' OR coalesce(p_device_type, '') <> '' OR coalesce(p_country, '') <> '';

-- How many of the page filters are set (0-3). With exactly one, a visitor count can come from that
-- dimension's agg_audience_daily rows (one sketch per day) instead of the segment rows' (one per
-- day and combination): the same visitors, a tenth of the unions.
CREATE OR REPLACE FUNCTION dashboard.segment_filter_count(p_channel text, p_device_type text, p_country text)
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (coalesce(p_channel, '') <> '')::int + (coalesce(p_device_type, '') <> '')::int
       + (coalesce(p_country, '') <> '')::int;

-- The one filter set, as agg_audience_daily's (dimension, value); NULLs unless exactly one is.
CREATE OR REPLACE FUNCTION dashboard.segment_single_dimension(p_channel text, p_device_type text, p_country text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN dashboard.segment_filter_count(p_channel, p_device_type, p_country) <> 1 THEN NULL
            WHEN coalesce(p_channel, '') <> '' THEN 'channel'
            WHEN coalesce(p_device_type, '') <> '' THEN 'device_type' ELSE 'country' END;

CREATE OR REPLACE FUNCTION dashboard.segment_single_value(p_channel text, p_device_type text, p_country text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN dashboard.segment_filter_count(p_channel, p_device_type, p_country) = 1
            THEN coalesce(nullif(p_channel, ''), nullif(p_device_type, ''), nullif(p_country, '')) END;

-- Whether an agg_segment_daily row's (channel, device type, country) passes the filters: without a
-- channel filter, the rows of every channel together (channel NULL), else that channel's rows.
CREATE OR REPLACE FUNCTION dashboard.in_segment(p_row_channel text, p_row_device_type text, p_row_country text,
                                                p_channel text, p_device_type text, p_country text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (CASE WHEN coalesce(p_channel, '') = '' THEN p_row_channel IS NULL ELSE p_row_channel = p_channel END)
   AND (coalesce(p_device_type, '') = '' OR p_row_device_type = p_device_type)
   AND (coalesce(p_country, '') = '' OR p_row_country = p_country);

-- The values the page filters offer for the range: per filter (channel, device_type, country),
-- each value with sessions in it, most sessions first (ties by value); unknown values (NULL)
-- cannot be picked and are left out.
CREATE OR REPLACE FUNCTION dashboard.segment_filters(p_from date, p_to date)
RETURNS TABLE (filter text, value text, sessions bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT f.filter, f.value, sum(a.sessions)::bigint
    FROM agg_segment_daily a
    CROSS JOIN LATERAL (VALUES ('channel', a.channel), ('device_type', a.device_type),
                               ('country', a.country)) AS f (filter, value)
    WHERE a.day BETWEEN p_from AND p_to AND f.value IS NOT NULL
      -- channels from the channels' rows, the others from the rows of every channel together
      AND (f.filter = 'channel') = (a.channel IS NOT NULL)
    GROUP BY 1, 2
    ORDER BY 1, 3 DESC, 2;
END;

-- Days that hold any (non-bot) activity: the app opens on the latest data.
CREATE OR REPLACE FUNCTION dashboard.data_bounds()
RETURNS TABLE (first_day date, last_day date)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT (min(hour) AT TIME ZONE 'UTC')::date, (max(hour) AT TIME ZONE 'UTC')::date
    FROM agg_activity_hourly;
END;
