-- After the batch changed the aggregates (same transaction): queue the hours it touched for the
-- run's anomaly check (the events' hours, and the raw hours it loaded, whose reject share moved)
-- and record each daily figure it changed on a day before its own hours (restatement_snapshot.sql).
INSERT INTO dq_pending_hours (hour)
SELECT hour FROM etl_touched_hours
UNION SELECT unnest(%(object_hours)s::timestamptz[])
ON CONFLICT (hour) DO NOTHING;

INSERT INTO agg_restatements (day, table_name, figure, before, after, run_id)
SELECT coalesce(b.day, a.day), coalesce(b.table_name, a.table_name), coalesce(b.figure, a.figure),
       coalesce(b.value, 0), coalesce(a.value, 0), %(run_id)s
FROM etl_restatement_before b
FULL JOIN (SELECT f.day, f.table_name, f.figure, f.value FROM {daily_figures} f
           JOIN etl_restatable_days d ON d.day = f.day) a
  ON a.day = b.day AND a.table_name = b.table_name AND a.figure = b.figure
WHERE coalesce(b.value, 0) <> coalesce(a.value, 0)
ORDER BY 1, 2, 3;
