-- Page "Activity": events, users and sessions per UTC hour and day, and the period's headline
-- figures. Page filters p_channel, p_device_type, p_country (NULL or '' = every one, in any
-- combination) on the daily figures and the summary: from agg_segment_daily when one is set
-- (migration 061), by the sessions that started on each day: events are then those sessions'
-- events and users their visitors (the union of the day's sketches). Hours are not kept by
-- segment: activity_hourly takes no filters, and a filtered summary has no peak hour.
-- requires: common

-- (the signatures before the page filters)
DROP FUNCTION IF EXISTS dashboard.activity_daily(date, date);
DROP FUNCTION IF EXISTS dashboard.activity_summary(date, date);

-- Every hour of the range, quiet hours as zeros, so a chart shows a gap in traffic as a drop
-- to zero instead of a line drawn across it.
CREATE OR REPLACE FUNCTION dashboard.activity_hourly(p_from date, p_to date)
RETURNS TABLE (hour timestamptz, events bigint, users bigint, sessions bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT h.hour, coalesce(a.events, 0)::bigint, coalesce(a.users, 0)::bigint, coalesce(a.sessions, 0)::bigint
    FROM generate_series(dashboard.range_start(p_from), dashboard.range_end(p_to) - interval '1 hour',
                         interval '1 hour') AS h(hour)
    LEFT JOIN agg_activity_hourly a ON a.hour = h.hour
    ORDER BY h.hour;
END;

-- Every day of the range (quiet days as zeros): events and distinct users from the daily
-- aggregate, sessions (by start day) from the daily funnel, peak_hour_users = the day's busiest
-- hour's users (from the hourly aggregate).
CREATE OR REPLACE FUNCTION dashboard.activity_daily(p_from date, p_to date, p_channel text DEFAULT NULL,
                                                    p_device_type text DEFAULT NULL, p_country text DEFAULT NULL)
RETURNS TABLE (day date, events bigint, users bigint, sessions bigint, peak_hour_users bigint)
LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH peak AS (
        SELECT (a.hour AT TIME ZONE 'UTC')::date AS day, max(a.users)::bigint AS peak_users
        FROM agg_activity_hourly a
        WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
          AND NOT dashboard.segment_filtered(p_channel, p_device_type, p_country)
        GROUP BY 1
    ), segment AS (
        -- one filter: its dimension's day rows of agg_audience_daily (a sketch per day); several: the segment rows
        SELECT a.day, a.events::bigint AS events, visitor_sketch_count(a.visitors) AS users, a.sessions::bigint AS sessions
        FROM agg_audience_daily a
        WHERE a.day BETWEEN p_from AND p_to
          AND a.dimension = dashboard.segment_single_dimension(p_channel, p_device_type, p_country)
          AND a.value = dashboard.segment_single_value(p_channel, p_device_type, p_country)
        UNION ALL
        SELECT a.day, sum(a.events)::bigint, visitor_sketch_count(hll_union_agg(a.visitors)), sum(a.sessions)::bigint
        FROM agg_segment_daily a
        WHERE a.day BETWEEN p_from AND p_to AND dashboard.segment_filter_count(p_channel, p_device_type, p_country) > 1
          AND dashboard.in_segment(a.channel, a.device_type, a.country, p_channel, p_device_type, p_country)
        GROUP BY a.day
    )
    SELECT d.day::date, coalesce(ad.events, 0)::bigint, coalesce(ad.users, 0)::bigint,
           coalesce(f.sessions, 0)::bigint, coalesce(peak.peak_users, 0)
    FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS d(day)
    LEFT JOIN agg_activity_daily ad ON ad.day = d.day::date
    LEFT JOIN peak ON peak.day = d.day::date
    LEFT JOIN agg_funnel_daily f ON f.day = d.day::date
    WHERE NOT dashboard.segment_filtered(p_channel, p_device_type, p_country)
    UNION ALL
    SELECT d.day::date, coalesce(g.events, 0), coalesce(g.users, 0), coalesce(g.sessions, 0), NULL::bigint
    FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS d(day)
    LEFT JOIN segment g ON g.day = d.day::date
    WHERE dashboard.segment_filtered(p_channel, p_device_type, p_country)
    ORDER BY 1;
END;

-- Headline figures of the period. Distinct users over a whole period would need every session
-- of it, so users are reported per day and per hour: peak_day_users = the most distinct client
-- ids in one UTC day of the range (agg_activity_daily), peak_hour_users = the most in one hour
-- (agg_activity_hourly).
CREATE OR REPLACE FUNCTION dashboard.activity_summary(p_from date, p_to date, p_channel text DEFAULT NULL,
                                                      p_device_type text DEFAULT NULL,
                                                      p_country text DEFAULT NULL)
RETURNS TABLE (events bigint, sessions bigint, peak_hour_users bigint, peak_hour timestamptz,
               peak_hour_events bigint, peak_day_users bigint, peak_day date)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT
        (SELECT coalesce(sum(a.events), 0)::bigint FROM agg_activity_hourly a
          WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)),
        (SELECT coalesce(sum(f.sessions), 0)::bigint FROM agg_funnel_daily f
          WHERE f.day BETWEEN p_from AND p_to),
        (SELECT coalesce(max(a.users), 0)::bigint FROM agg_activity_hourly a
          WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)),
        peak.hour, peak.events,
        coalesce(peak_day.users, 0), peak_day.day
    FROM (SELECT NULL::int) one
    LEFT JOIN LATERAL (
        SELECT a.hour, a.events::bigint AS events FROM agg_activity_hourly a
        WHERE a.hour >= dashboard.range_start(p_from) AND a.hour < dashboard.range_end(p_to)
        ORDER BY a.events DESC, a.hour
        LIMIT 1
    ) peak ON true
    LEFT JOIN LATERAL (
        SELECT a.day, a.users FROM agg_activity_daily a
        WHERE a.day BETWEEN p_from AND p_to
        ORDER BY a.users DESC, a.day
        LIMIT 1
    ) peak_day ON true
    WHERE NOT dashboard.segment_filtered(p_channel, p_device_type, p_country)
    UNION ALL
    -- filtered: the segment's sessions and their events; no hours (NULL), the busiest day's visitors
    SELECT coalesce(sum(d.events), 0)::bigint, coalesce(sum(d.sessions), 0)::bigint, NULL::bigint,
           NULL::timestamptz, NULL::bigint, coalesce(max(d.users), 0)::bigint,
           (array_agg(d.day ORDER BY d.users DESC, d.day) FILTER (WHERE d.users > 0))[1]
    FROM dashboard.activity_daily(p_from, p_to, p_channel, p_device_type, p_country) d
    WHERE dashboard.segment_filtered(p_channel, p_device_type, p_country)
    HAVING dashboard.segment_filtered(p_channel, p_device_type, p_country);   -- no row when unfiltered
END;
