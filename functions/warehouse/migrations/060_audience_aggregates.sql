-- Acquisition, audience and retention over any range without reading the range's sessions
-- (issue 15; docs/warehouse-etl.md, "Acquisition and audience", and docs/capacity.md):
--   agg_audience_daily      per UTC day and audience value: session figures that add up, and a
--                           HyperLogLog sketch of the visitors (postgresql-hll, Debian's
--                           postgresql-15-hll) that unions: a range's visitors are the
--                           cardinality of the union of its days' sketches, never a sum;
--   agg_acquisition_daily   per UTC day and channel / source / medium / campaign / referrer host;
--   purchase_attribution,   each purchase with its session's, first-touch and last non-direct
--   agg_attribution_daily   touch channel, and those by day and channel;
--   client_activity_weeks,  each client's ISO weeks with a non-bot session, and the weekly
--   agg_retention_weekly    cohort table they add up to;
--   agg_journey_daily,      per UTC day, the sessions' first steps (paths and transitions) and
--   agg_journey_pages_daily their entry and exit pages: journeys over every session.
-- The ETL keeps them for what a batch touches by calling the refresh_* functions below (the
-- one definition of each figure; functions/etl/sql/refresh_aggregates.sql); this migration
-- fills them once from the sessions there are, with the same functions.

-- Not a trusted extension: the migrating role must be a superuser (postgres, as the
-- postgres_dw role and the tests run migrate.py), or someone must have created it before.
CREATE EXTENSION IF NOT EXISTS hll;

-- The one place the sketches' precision is stated: 2^15 registers, relative standard error
-- 1.04 / sqrt(2^15) = 0.57 %; a sketch keeps up to 2,560 distinct visitors explicitly (exact).
-- Every sketch is built with it (sketches of different log2m cannot be unioned); changing it
-- means a migration that rebuilds the sketches.
CREATE FUNCTION visitor_sketch_log2m() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 15;

-- HyperLogLog's raw estimate (which postgresql-hll uses from 2.5 x 2^log2m on, below it linear
-- counting) overestimates just above that switch: by 2.6 % on average at 2.5 registers' worth
-- (82,000 visitors; up to 3.4 % for one sketch), fading out by 4.25 (measured on this extension
-- at log2m 15, docs/warehouse-etl.md). The fraction by which an estimate of p_ratio = estimate /
-- 2^log2m is too high, interpolated, as HLL++ corrects it; 0 outside [2.5, 4.25].
CREATE FUNCTION visitor_sketch_bias(p_ratio double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(max(a.bias + (b.bias - a.bias) * (p_ratio - a.ratio) / (b.ratio - a.ratio)), 0)
    FROM (VALUES (1, 2.50, 0.0270), (2, 2.56, 0.0242), (3, 2.79, 0.0150), (4, 3.03, 0.0092), (5, 3.27, 0.0052),
                 (6, 3.51, 0.0039), (7, 3.76, 0.0021), (8, 4.00, 0.0007), (9, 4.25, 0.0)) AS a (n, ratio, bias)
    JOIN (VALUES (1, 2.50, 0.0270), (2, 2.56, 0.0242), (3, 2.79, 0.0150), (4, 3.03, 0.0092), (5, 3.27, 0.0052),
                 (6, 3.51, 0.0039), (7, 3.76, 0.0021), (8, 4.00, 0.0007), (9, 4.25, 0.0)) AS b (n, ratio, bias)
      ON b.n = a.n + 1
    WHERE p_ratio >= a.ratio AND p_ratio < b.ratio;
END;

-- A sketch's distinct count: postgresql-hll's estimate less that bias, rounded; NULL (no rows) is 0.
CREATE FUNCTION visitor_sketch_count(p_sketch hll) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(round(x.e / (1 + visitor_sketch_bias(x.e / 2 ^ visitor_sketch_log2m())))::bigint, 0)
    FROM (SELECT hll_cardinality(p_sketch) AS e) x;
END;

-- Whether a sketch's count is an estimate: SPARSE or FULL (hll_type 3, 4), not EMPTY or EXPLICIT.
CREATE FUNCTION visitor_sketch_estimated(p_sketch hll) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(hll_type(p_sketch) > 2, false);

-- What the functions report as relative_error for an estimated figure (one standard error).
CREATE FUNCTION visitor_sketch_relative_error() RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN round((1.04 / sqrt(2 ^ visitor_sketch_log2m()))::numeric, 4);

-- One row per (UTC day, dimension, value) with a non-bot session that started that day:
--   dimension 'all' (value NULL), 'channel' (NULL channel as 'Direct'), 'device_type',
--   'browser', 'os', 'country' (value NULL when unknown), 'visitor_type' (new | returning),
--   'login_state' (signed_in | guest): the dimensions of dashboard.channels() and audience().
-- sessions .. revenue add up over days; visitors is the sketch of the sessions' client_ids and
-- signed_in_users (the 'all' rows only) of their events' user ids.
CREATE TABLE agg_audience_daily (
    day              date NOT NULL,
    dimension        text NOT NULL CHECK (dimension IN ('all', 'channel', 'device_type', 'browser', 'os',
                                                        'country', 'visitor_type', 'login_state')),
    value            text,
    sessions         bigint NOT NULL,
    events           bigint NOT NULL,     -- of those sessions
    duration_s       numeric NOT NULL,    -- their durations added up
    bounces          bigint NOT NULL,     -- sessions with one event
    converted        bigint NOT NULL,     -- sessions with a purchase
    orders           bigint NOT NULL,
    revenue          numeric NOT NULL,
    visitors         hll NOT NULL,
    signed_in_users  hll,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- a range of one dimension's days is one index range; NULL values are one value
    CONSTRAINT agg_audience_daily_key UNIQUE NULLS NOT DISTINCT (dimension, day, value),
    CHECK (dimension <> 'all' OR value IS NULL),
    CHECK ((dimension = 'all') = (signed_in_users IS NOT NULL))
);

-- One row per (UTC day, channel, source, medium, campaign, referrer host) of the non-bot
-- sessions that started that day: dashboard.sources() and referrers() add these up (and union
-- the sketches). Channel, source and medium as the functions show them ('Direct', '(direct)',
-- '(none)' for NULL); campaign and referrer_host as stored (NULL = none).
CREATE TABLE agg_acquisition_daily (
    day            date NOT NULL,
    channel        text NOT NULL,
    source         text NOT NULL,
    medium         text NOT NULL,
    campaign       text,
    referrer_host  text,
    sessions       bigint NOT NULL,
    converted      bigint NOT NULL,
    orders         bigint NOT NULL,
    revenue        numeric NOT NULL,
    visitors       hll NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agg_acquisition_daily_key UNIQUE NULLS NOT DISTINCT (day, channel, source, medium, campaign,
                                                                    referrer_host)
);

-- Each purchase event of a non-bot session, attributed three ways (the definitions of
-- docs/warehouse-etl.md, "Attribution"); day = the purchase event's UTC day.
CREATE TABLE purchase_attribution (
    event_id             uuid PRIMARY KEY,
    day                  date NOT NULL,
    client_id            text NOT NULL,
    session_id           text NOT NULL,
    revenue              numeric NOT NULL,
    session_channel      text NOT NULL,
    first_touch_channel  text NOT NULL,
    last_touch_channel   text NOT NULL
);
CREATE INDEX purchase_attribution_client_idx ON purchase_attribution (client_id);
-- The purchasing sessions of a client: a batch refreshes the attribution of every client it
-- touched, and most never bought (a probe of this small index finds nothing, where one of
-- sessions_client_started_idx read each of the client's sessions).
CREATE INDEX sessions_buyer_client_idx ON sessions (client_id) WHERE purchased AND NOT is_bot;

-- purchase_attribution by UTC day, model (first_touch | last_touch) and channel, changed by the
-- difference whenever a client's purchases are attributed again: dashboard.channels() reads a
-- month's 115,000 purchases (10 M events) in a few hundred rows.
CREATE TABLE agg_attribution_daily (
    day      date NOT NULL,
    model    text NOT NULL CHECK (model IN ('first_touch', 'last_touch')),
    channel  text NOT NULL,
    orders   bigint NOT NULL CHECK (orders >= 0),   -- 0 only within a refresh, which deletes it
    revenue  numeric NOT NULL,
    PRIMARY KEY (day, model, channel)
);

-- The ISO weeks (Monday, UTC) in which each client had a non-bot session, with the week of
-- their first one (their cohort); agg_retention_weekly counts them per (cohort, week).
CREATE TABLE client_activity_weeks (
    client_id    text NOT NULL,
    week         date NOT NULL,
    cohort_week  date NOT NULL,
    PRIMARY KEY (client_id, week)
);
CREATE TABLE agg_retention_weekly (
    cohort_week  date NOT NULL,
    week         date NOT NULL,
    visitors     bigint NOT NULL CHECK (visitors >= 0),   -- 0 only within a refresh, which deletes it
    PRIMARY KEY (cohort_week, week)
);

-- How many of a session's steps the journey aggregates keep: paths and transitions go up to
-- that many steps (the journeys page shows 6 and 5; the functions take up to this).
CREATE FUNCTION journey_steps_kept() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 10;

-- Per UTC day, the non-bot sessions that started that day by their first journey_steps_kept()
-- steps (sessions.steps: event names, repeats in a row collapsed) and how many steps they had
-- (capped at one more than kept: "longer"): dashboard.journey_paths() and journey_transitions()
-- add these up over a range, for every session.
CREATE TABLE agg_journey_daily (
    day         date NOT NULL,
    steps       text[] NOT NULL,
    step_count  integer NOT NULL,
    sessions    bigint NOT NULL,
    purchased   bigint NOT NULL,      -- of them, sessions with a purchase
    PRIMARY KEY (day, steps, step_count)
);

-- Per UTC day, the non-bot sessions that started that day by entry (first page.path) and by
-- exit page (last); '(unknown)' for a session without one.
CREATE TABLE agg_journey_pages_daily (
    day       date NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('entry', 'exit')),
    page      text NOT NULL,
    sessions  bigint NOT NULL,
    PRIMARY KEY (day, kind, page)
);

-- agg_audience_daily, agg_acquisition_daily and the journey tables for the days p_days, each recomputed from all of
-- its non-bot sessions (a sketch cannot forget a visitor, so no delta would do when a late
-- event moves a session to another value), so a rerun or a late event gives the same rows as
-- one load of everything.
CREATE FUNCTION refresh_daily_aggregates(p_days date[]) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    DELETE FROM agg_audience_daily a WHERE a.day = ANY (p_days);
    DELETE FROM agg_acquisition_daily a WHERE a.day = ANY (p_days);
    DELETE FROM agg_journey_daily a WHERE a.day = ANY (p_days);
    DELETE FROM agg_journey_pages_daily a WHERE a.day = ANY (p_days);
    -- one grouping set per dimension: a pass each over the day's sessions (a row per session and
    -- dimension, grouped once, took 6x as long)
    INSERT INTO agg_audience_daily (day, dimension, value, sessions, events, duration_s, bounces, converted, orders,
                                    revenue, visitors, signed_in_users)
    WITH day_sessions AS MATERIALIZED (
        SELECT d.day, s.client_id, s.events, s.duration_s, s.purchased, s.orders, s.revenue, s.user_ids,
               coalesce(s.channel, 'Direct') AS channel, s.device_type, s.browser_family, s.os_family, s.country,
               CASE WHEN s.is_returning THEN 'returning' ELSE 'new' END AS visitor_type,
               CASE WHEN s.logged_in THEN 'signed_in' ELSE 'guest' END AS login_state
        FROM (SELECT DISTINCT unnest(p_days) AS day) d
        JOIN sessions s
          ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
         AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
         AND NOT s.is_bot
    ), grouped AS (
        SELECT s.day,
               CASE WHEN GROUPING(s.channel) = 0 THEN 'channel' WHEN GROUPING(s.device_type) = 0 THEN 'device_type'
                    WHEN GROUPING(s.browser_family) = 0 THEN 'browser' WHEN GROUPING(s.os_family) = 0 THEN 'os'
                    WHEN GROUPING(s.country) = 0 THEN 'country' WHEN GROUPING(s.visitor_type) = 0 THEN 'visitor_type'
                    WHEN GROUPING(s.login_state) = 0 THEN 'login_state' ELSE 'all' END AS dimension,
               coalesce(s.channel, s.device_type, s.browser_family, s.os_family, s.country, s.visitor_type,
                        s.login_state) AS value,
               count(*) AS sessions, sum(s.events) AS events, sum(s.duration_s) AS duration_s,
               count(*) FILTER (WHERE s.events = 1) AS bounces,
               count(*) FILTER (WHERE s.purchased) AS converted, sum(s.orders) AS orders,
               sum(s.revenue) AS revenue, hll_add_agg(hll_hash_text(s.client_id), visitor_sketch_log2m()) AS visitors
        FROM day_sessions s
        GROUP BY GROUPING SETS ((s.day), (s.day, s.channel), (s.day, s.device_type), (s.day, s.browser_family),
                                (s.day, s.os_family), (s.day, s.country), (s.day, s.visitor_type),
                                (s.day, s.login_state))
    ), users AS (
        SELECT s.day, hll_add_agg(hll_hash_text(u.user_id), visitor_sketch_log2m()) AS signed_in_users
        FROM day_sessions s CROSS JOIN LATERAL unnest(s.user_ids) AS u (user_id)
        GROUP BY s.day
    )
    SELECT g.day, g.dimension, g.value, g.sessions, g.events, g.duration_s, g.bounces, g.converted, g.orders,
           g.revenue, g.visitors, CASE WHEN g.dimension = 'all' THEN coalesce(u.signed_in_users, hll_empty(visitor_sketch_log2m())) END
    FROM grouped g
    LEFT JOIN users u ON u.day = g.day AND g.dimension = 'all';

    INSERT INTO agg_acquisition_daily (day, channel, source, medium, campaign, referrer_host, sessions, converted,
                                       orders, revenue, visitors)
    SELECT d.day, coalesce(s.channel, 'Direct'), coalesce(s.source, '(direct)'), coalesce(s.medium, '(none)'),
           s.campaign, s.referrer_host, count(*), count(*) FILTER (WHERE s.purchased), sum(s.orders),
           sum(s.revenue), hll_add_agg(hll_hash_text(s.client_id), visitor_sketch_log2m())
    FROM (SELECT DISTINCT unnest(p_days) AS day) d
    JOIN sessions s
      ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
     AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
     AND NOT s.is_bot
    GROUP BY 1, 2, 3, 4, 5, 6;

    INSERT INTO agg_journey_daily (day, steps, step_count, sessions, purchased)
    SELECT d.day, coalesce(s.steps[1:journey_steps_kept()], '{}'),
           least(coalesce(s.step_count, 0), journey_steps_kept() + 1), count(*), count(*) FILTER (WHERE s.purchased)
    FROM (SELECT DISTINCT unnest(p_days) AS day) d
    JOIN sessions s
      ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
     AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
     AND NOT s.is_bot
    GROUP BY 1, 2, 3;

    INSERT INTO agg_journey_pages_daily (day, kind, page, sessions)
    SELECT d.day, p.kind, p.page, count(*)
    FROM (SELECT DISTINCT unnest(p_days) AS day) d
    JOIN sessions s
      ON s.started_at >= d.day::timestamp AT TIME ZONE 'UTC'
     AND s.started_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
     AND NOT s.is_bot
    CROSS JOIN LATERAL (VALUES ('entry', coalesce(s.entry_page, '(unknown)')),
                               ('exit', coalesce(s.exit_page, '(unknown)'))) AS p (kind, page)
    GROUP BY 1, 2, 3;
END;

-- purchase_attribution for the clients p_clients (NULL: every client in clients), from their sessions
-- now: the candidates are the client's non-bot sessions that started from 30 x 24 h before the
-- purchase event up to the start of the purchasing session, ordered by (started_at,
-- session_id); first touch is the earliest of them, last non-direct touch the latest that is
-- not Direct (else Direct). A batch passes the clients of the sessions it touched: whatever
-- changes a purchase's attribution is a change to one of its client's sessions.
CREATE FUNCTION refresh_purchase_attribution(p_clients text[]) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    WITH gone AS (
        DELETE FROM purchase_attribution p
        USING (SELECT DISTINCT unnest(coalesce(p_clients, ARRAY(SELECT client_id FROM clients)))) AS t (client_id)
        WHERE p.client_id = t.client_id
        RETURNING p.day, p.revenue, p.first_touch_channel, p.last_touch_channel
    )
    UPDATE agg_attribution_daily a SET orders = a.orders - g.orders, revenue = a.revenue - g.revenue
    FROM (SELECT x.day, m.model, m.channel, count(*) AS orders, sum(x.revenue) AS revenue
          FROM gone x
          CROSS JOIN LATERAL (VALUES ('first_touch', x.first_touch_channel),
                                     ('last_touch', x.last_touch_channel)) AS m (model, channel)
          GROUP BY 1, 2, 3) g
    WHERE a.day = g.day AND a.model = g.model AND a.channel = g.channel;
    WITH added AS (
    INSERT INTO purchase_attribution (event_id, day, client_id, session_id, revenue, session_channel,
                                      first_touch_channel, last_touch_channel)
    SELECT e.event_id, (e.event_timestamp AT TIME ZONE 'UTC')::date, ps.client_id, ps.session_id,
           coalesce(e.order_revenue, 0), coalesce(ps.channel, 'Direct'), coalesce(ft.channel, ps.channel, 'Direct'),
           coalesce(lt.channel, 'Direct')
    FROM (SELECT DISTINCT unnest(coalesce(p_clients, ARRAY(SELECT client_id FROM clients)))) AS t (client_id)
    JOIN sessions ps ON ps.client_id = t.client_id AND ps.purchased AND NOT ps.is_bot
    JOIN clickstream_events e ON e.session_id = ps.session_id AND e.event_name = 'purchase'
    LEFT JOIN LATERAL (
        SELECT coalesce(c.channel, 'Direct') AS channel FROM sessions c
        WHERE c.client_id = ps.client_id AND NOT c.is_bot
          AND c.started_at >= e.event_timestamp - interval '30 days'
          AND (c.started_at, c.session_id) <= (ps.started_at, ps.session_id)
        ORDER BY c.started_at, c.session_id
        LIMIT 1) ft ON true
    LEFT JOIN LATERAL (
        SELECT c.channel FROM sessions c
        WHERE c.client_id = ps.client_id AND NOT c.is_bot
          AND c.started_at >= e.event_timestamp - interval '30 days'
          AND (c.started_at, c.session_id) <= (ps.started_at, ps.session_id)
          AND coalesce(c.channel, 'Direct') <> 'Direct'
        ORDER BY c.started_at DESC, c.session_id DESC
        LIMIT 1) lt ON true
    RETURNING day, revenue, first_touch_channel, last_touch_channel
    )
    INSERT INTO agg_attribution_daily AS a (day, model, channel, orders, revenue)
    SELECT x.day, m.model, m.channel, count(*), sum(x.revenue)
    FROM added x
    CROSS JOIN LATERAL (VALUES ('first_touch', x.first_touch_channel),
                               ('last_touch', x.last_touch_channel)) AS m (model, channel)
    GROUP BY 1, 2, 3
    ON CONFLICT (day, model, channel)
        DO UPDATE SET orders = a.orders + EXCLUDED.orders, revenue = a.revenue + EXCLUDED.revenue;
    DELETE FROM agg_attribution_daily WHERE orders = 0;
END;

-- client_activity_weeks of the clients p_clients (NULL: every client in clients) from their non-bot
-- sessions and their first one (clients) now, and agg_retention_weekly changed by the
-- difference: their old weeks counted out, their weeks now counted in.
CREATE FUNCTION refresh_client_retention(p_clients text[]) RETURNS void
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    WITH gone AS (
        DELETE FROM client_activity_weeks w USING (SELECT DISTINCT unnest(coalesce(p_clients, ARRAY(SELECT client_id FROM clients)))) AS t (client_id)
        WHERE w.client_id = t.client_id
        RETURNING w.cohort_week, w.week
    )
    UPDATE agg_retention_weekly r SET visitors = r.visitors - g.visitors
    FROM (SELECT cohort_week, week, count(*) AS visitors FROM gone GROUP BY 1, 2) g
    WHERE r.cohort_week = g.cohort_week AND r.week = g.week;
    WITH added AS (
        INSERT INTO client_activity_weeks (client_id, week, cohort_week)
        SELECT DISTINCT s.client_id, date_trunc('week', s.started_at AT TIME ZONE 'UTC')::date,
               date_trunc('week', c.first_started_at AT TIME ZONE 'UTC')::date
        FROM (SELECT DISTINCT unnest(coalesce(p_clients, ARRAY(SELECT client_id FROM clients)))) AS t (client_id)
        JOIN clients c ON c.client_id = t.client_id
        JOIN sessions s ON s.client_id = c.client_id AND NOT s.is_bot
        RETURNING cohort_week, week
    )
    INSERT INTO agg_retention_weekly AS r (cohort_week, week, visitors)
    SELECT a.cohort_week, a.week, count(*) FROM added a GROUP BY 1, 2
    ON CONFLICT (cohort_week, week) DO UPDATE SET visitors = r.visitors + EXCLUDED.visitors;
    DELETE FROM agg_retention_weekly WHERE visitors = 0;
END;

GRANT SELECT, INSERT, UPDATE, DELETE
    ON agg_audience_daily, agg_acquisition_daily, purchase_attribution, agg_attribution_daily,
       client_activity_weeks, agg_retention_weekly, agg_journey_daily, agg_journey_pages_daily
    TO clickstream_writer;
GRANT SELECT ON agg_audience_daily, agg_acquisition_daily, purchase_attribution, agg_attribution_daily,
                agg_retention_weekly, agg_journey_daily, agg_journey_pages_daily
    TO clickstream_reader;
GRANT EXECUTE ON FUNCTION visitor_sketch_log2m(), visitor_sketch_relative_error(),
                          visitor_sketch_bias(double precision), visitor_sketch_count(hll),
                          visitor_sketch_estimated(hll), journey_steps_kept()
    TO clickstream_writer, clickstream_reader;
GRANT EXECUTE ON FUNCTION refresh_daily_aggregates(date[]), refresh_purchase_attribution(text[]),
                          refresh_client_retention(text[])
    TO clickstream_writer;

-- The extension's functions, created by the migrating role, got its default privileges (001:
-- none for PUBLIC, EXECUTE for the reader in schema public): the ETL needs them too.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT d.objid::regprocedure FROM pg_depend d
             WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
               AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'hll') AND d.deptype = 'e'
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO clickstream_writer, clickstream_reader', f);
    END LOOP;
END
$$;

-- The sessions there are, once.
SELECT refresh_daily_aggregates(ARRAY(SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM sessions));
SELECT refresh_purchase_attribution(NULL);   -- (every client in clients: the tables start empty)
SELECT refresh_client_retention(NULL);
