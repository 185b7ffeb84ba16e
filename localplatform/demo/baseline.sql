-- The demo's anomaly baseline (docs/warehouse-etl.md, "Data quality"): the period, in days, between
-- an hour and its baseline hours, :'days' (7: the same hour of the week; 1: of the previous days).
UPDATE dq_settings SET value = :'days'::numeric
WHERE name = 'baseline_period_days' AND value <> :'days'::numeric;
