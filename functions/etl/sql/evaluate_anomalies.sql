-- At the end of a run: judge every queued hour (dq_pending_hours) that has ended by the run's
-- window end (%(closed_before)s; NULL: every queued hour) against the same hour in the
-- previous periods (baseline_period_days apart: 7 = the same hour of the week, 1 = of the previous
-- days), per metric (dq_metrics), with the knobs in dq_settings:
--   expected = median of the baseline values, mad = median of |value - expected|,
--   scale = greatest(1.4826 * mad, relative_floor * |expected|, the metric's abs_floor),
--   score = (observed - expected) / scale; flagged when |score| > threshold;
--   band = expected -/+ threshold * scale (a count's band stops at 0, a share's at 0 and 1).
-- A baseline hour before the warehouse's first data is not a baseline (not a zero); an hour
-- with fewer than min_baseline_periods baseline values, or a share below its min_volume, is not
-- judged (its flag, if any, stays as it was). A flagged hour is opened (or updated); an open
-- flag whose hour is back in band is cleared. Returns (hours judged, flags opened or kept, flags cleared).
WITH knobs AS (
    SELECT max(value) FILTER (WHERE name = 'threshold') AS threshold,
           max(value) FILTER (WHERE name = 'baseline_periods')::int AS periods,
           max(value) FILTER (WHERE name = 'min_baseline_periods') AS min_periods,
           max(value) FILTER (WHERE name = 'baseline_period_days')::int AS period_days,
           max(value) FILTER (WHERE name = 'relative_floor') AS relative_floor
    FROM dq_settings
), judged AS (   -- the hours that have ended by the run's window end; one still filling waits
    DELETE FROM dq_pending_hours
    WHERE %(closed_before)s::timestamptz IS NULL OR hour + interval '1 hour' <= %(closed_before)s::timestamptz
    RETURNING hour
), first_data AS (
    SELECT least((SELECT min(hour) FROM agg_activity_hourly),
                 (SELECT min(object_hour) FROM etl_file_manifest)) AS hour
), wanted AS (   -- each judged hour (period 0) and its baseline hours (periods 1..N)
    SELECT j.hour AS target, w.period, j.hour - make_interval(days => k.period_days * w.period) AS hour
    FROM judged j CROSS JOIN knobs k CROSS JOIN LATERAL generate_series(0, k.periods) AS w (period)
    WHERE w.period = 0 OR j.hour - make_interval(days => k.period_days * w.period) >= (SELECT hour FROM first_data)
), hours AS (
    SELECT DISTINCT hour FROM wanted
), measured AS (  -- metric, value, volume (the share's denominator) per wanted hour
    SELECT h.hour, m.metric, m.value, m.volume
    FROM hours h
    LEFT JOIN agg_activity_hourly a ON a.hour = h.hour
    LEFT JOIN LATERAL (
        SELECT coalesce(sum(x.events) FILTER (WHERE x.is_bot), 0) AS bot_events, coalesce(sum(x.events), 0) AS events
        FROM activity_session_hours x WHERE x.hour = h.hour
    ) b ON true
    LEFT JOIN LATERAL (
        SELECT coalesce(sum(f.rejected), 0) AS rejected, coalesce(sum(f.events + f.rejected), 0) AS lines
        FROM etl_file_manifest f WHERE f.object_hour = h.hour
    ) r ON true
    LEFT JOIN LATERAL (
        SELECT count(*) AS purchases
        FROM clickstream_events e JOIN sessions s ON s.session_id = e.session_id AND NOT s.is_bot
        WHERE e.event_name = 'purchase' AND e.event_timestamp >= h.hour AND e.event_timestamp < h.hour + interval '1 hour'
    ) p ON true
    CROSS JOIN LATERAL (VALUES
        ('events', coalesce(a.events, 0)::numeric, NULL::numeric),
        ('sessions', coalesce(a.sessions, 0)::numeric, NULL),
        ('purchases', p.purchases::numeric, NULL),
        ('reject_share', r.rejected / nullif(r.lines, 0)::numeric, r.lines::numeric),
        ('bot_share', b.bot_events / nullif(b.events, 0)::numeric, b.events::numeric)
    ) m (metric, value, volume)
), usable AS (   -- values that count: a share only at or above its metric's volume
    SELECT w.target, w.period, x.metric, x.value
    FROM wanted w
    JOIN measured x ON x.hour = w.hour
    JOIN dq_metrics d ON d.metric = x.metric
    WHERE x.value IS NOT NULL AND (x.volume IS NULL OR x.volume >= d.min_volume)
), baseline AS (
    SELECT u.target, u.metric, count(*) AS periods,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY u.value) AS expected
    FROM usable u WHERE u.period > 0
    GROUP BY u.target, u.metric
), spread AS (
    SELECT b.target, b.metric, b.periods, b.expected::numeric AS expected,
           (percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(u.value - b.expected::numeric)))::numeric AS mad
    FROM baseline b JOIN usable u ON u.target = b.target AND u.metric = b.metric AND u.period > 0
    GROUP BY b.target, b.metric, b.periods, b.expected
), scored AS (
    SELECT s.target AS hour, s.metric, o.value AS observed, s.expected,
           greatest(1.4826 * s.mad, k.relative_floor * abs(s.expected), d.abs_floor) AS scale,
           k.threshold, d.kind = 'share' AS is_share
    FROM spread s
    CROSS JOIN knobs k
    JOIN dq_metrics d ON d.metric = s.metric
    JOIN usable o ON o.target = s.target AND o.metric = s.metric AND o.period = 0
    WHERE s.periods >= k.min_periods
), verdicts AS (
    SELECT hour, metric, observed, expected,
           greatest(expected - threshold * scale, 0) AS lower_bound,
           CASE WHEN is_share THEN least(expected + threshold * scale, 1) ELSE expected + threshold * scale END AS upper_bound,
           (observed - expected) / scale AS score,
           abs(observed - expected) > threshold * scale AS flagged
    FROM scored
), opened AS (
    INSERT INTO dq_anomalies AS a (hour, metric, observed, expected, lower_bound, upper_bound, score, open,
                                   first_flagged_run, last_run)
    SELECT hour, metric, observed, expected, lower_bound, upper_bound, score, true, %(run_id)s, %(run_id)s
    FROM verdicts WHERE flagged
    ON CONFLICT (hour, metric) DO UPDATE
        SET observed = EXCLUDED.observed, expected = EXCLUDED.expected, lower_bound = EXCLUDED.lower_bound,
            upper_bound = EXCLUDED.upper_bound, score = EXCLUDED.score, open = true, last_run = EXCLUDED.last_run,
            cleared_at = NULL
    RETURNING a.hour, a.metric
), cleared AS (
    UPDATE dq_anomalies a
    SET observed = v.observed, expected = v.expected, lower_bound = v.lower_bound, upper_bound = v.upper_bound,
        score = v.score, open = false, last_run = %(run_id)s, cleared_at = coalesce(a.cleared_at, now())
    FROM verdicts v
    WHERE NOT v.flagged AND a.hour = v.hour AND a.metric = v.metric
    RETURNING a.hour, a.metric
)
SELECT (SELECT count(*) FROM judged), (SELECT count(*) FROM opened), (SELECT count(*) FROM cleared);
