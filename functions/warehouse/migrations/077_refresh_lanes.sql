-- The run's refresh of the recomputed aggregates (migration 070) in two lanes, side by side,
-- and the clients' refreshes planned for the clients they are given.
--
-- Measured on the 1 M-event benchmark (a refresh of 2 days and 211,358 clients, one session):
-- the days 2.2 s, the clients' attribution 1.6-2.0 s and retention 1.4-2.1 s, one after the
-- other while the host's second core sat idle. The days and the clients write no table in
-- common, so each is now a lane of its own: refresh_pending_days() and
-- refresh_pending_clients(), which the ETL calls on two sessions at once (functions/etl/refresh.py).
-- Each takes its own pending rows and commits alone: a lane that fails leaves its rows, and
-- only its rows, for the next run. refresh_pending_aggregates() stays, both lanes in one session.
--
-- The two clients' functions were SQL functions: the planner saw their array as a parameter and
-- estimated 10 clients for 211,358, so it probed the sessions and clients indexes once per
-- client. As PL/pgSQL functions planned for each call's own array (plan_cache_mode =
-- force_custom_plan: the array is a constant to the planner, unnest() counts it), they join by
-- hash when the clients are many and by index when they are few: 1.0 s and 1.2 s on the same
-- refresh. Their statements are 060's, unchanged; NULL still means every client.

CREATE OR REPLACE FUNCTION refresh_purchase_attribution(p_clients text[]) RETURNS void
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
    p_clients := coalesce(p_clients, ARRAY(SELECT client_id FROM clients));
    WITH gone AS (
        DELETE FROM purchase_attribution p
        USING (SELECT DISTINCT unnest(p_clients)) AS t (client_id)
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
    FROM (SELECT DISTINCT unnest(p_clients)) AS t (client_id)
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
$$;

CREATE OR REPLACE FUNCTION refresh_client_retention(p_clients text[]) RETURNS void
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
    p_clients := coalesce(p_clients, ARRAY(SELECT client_id FROM clients));
    WITH gone AS (
        DELETE FROM client_activity_weeks w USING (SELECT DISTINCT unnest(p_clients)) AS t (client_id)
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
        FROM (SELECT DISTINCT unnest(p_clients)) AS t (client_id)
        JOIN clients c ON c.client_id = t.client_id
        JOIN sessions s ON s.client_id = c.client_id AND NOT s.is_bot
        RETURNING cohort_week, week
    )
    INSERT INTO agg_retention_weekly AS r (cohort_week, week, visitors)
    SELECT a.cohort_week, a.week, count(*) FROM added a GROUP BY 1, 2
    ON CONFLICT (cohort_week, week) DO UPDATE SET visitors = r.visitors + EXCLUDED.visitors;
    DELETE FROM agg_retention_weekly WHERE visitors = 0;
END;
$$;

-- The days' lane: take the pending days, recompute their daily rows (060, 061), in the caller's
-- transaction; returns how many days it refreshed.
CREATE FUNCTION refresh_pending_days() RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_days date[];
BEGIN
    WITH taken AS (DELETE FROM agg_pending_days RETURNING day)
    SELECT coalesce(array_agg(day ORDER BY day), '{}') INTO v_days FROM taken;
    IF cardinality(v_days) > 0 THEN
        PERFORM refresh_daily_aggregates(v_days);
    END IF;
    RETURN cardinality(v_days);
END;
$$;

-- The clients' lane: take the pending clients, attribute their purchases again and recount
-- their retention weeks, in the caller's transaction; returns how many clients it refreshed.
CREATE FUNCTION refresh_pending_clients() RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_clients text[];
BEGIN
    WITH taken AS (DELETE FROM agg_pending_clients RETURNING client_id)
    SELECT coalesce(array_agg(client_id ORDER BY client_id), '{}') INTO v_clients FROM taken;
    IF cardinality(v_clients) > 0 THEN
        PERFORM refresh_purchase_attribution(v_clients);
        PERFORM refresh_client_retention(v_clients);
    END IF;
    RETURN cardinality(v_clients);
END;
$$;

-- Both lanes in one session and transaction (070's function, now by the lanes').
CREATE OR REPLACE FUNCTION refresh_pending_aggregates(OUT days integer, OUT clients integer)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    days := refresh_pending_days();
    clients := refresh_pending_clients();
END;
$$;

GRANT EXECUTE ON FUNCTION refresh_pending_days(), refresh_pending_clients() TO clickstream_writer;
