-- The anomaly baseline's period becomes a setting (docs/warehouse-etl.md, "Data quality"): the same
-- hour of the week (7 days, as before) or, for a history shorter than a few weeks, the same hour
-- of the previous days (1). The counts of baseline values are then periods, not weeks.
UPDATE dq_settings
SET name = 'baseline_periods',
    description = 'the same hour in this many previous periods (baseline_period_days apart) is the baseline'
WHERE name = 'baseline_weeks';
UPDATE dq_settings
SET name = 'min_baseline_periods',
    description = 'fewer baseline periods with data than this: the hour is not judged'
WHERE name = 'min_baseline_weeks';
INSERT INTO dq_settings (name, value, description) VALUES
    ('baseline_period_days', 7, 'days between an hour and its baseline hours: 7 = the same hour of the week, '
                                '1 = the same hour of the previous days (for a history of days, not weeks)');
ALTER TABLE dq_settings ADD CONSTRAINT dq_settings_baseline_period_days_check
    CHECK (name <> 'baseline_period_days' OR (value >= 1 AND value = trunc(value)));
