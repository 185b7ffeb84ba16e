-- Data quality: hourly anomaly flags and the restatement ledger (docs/warehouse-etl.md, "Data
-- quality"). The ETL fills them: each batch queues the hours it touched (dq_pending_hours) and
-- records the daily figures it changed for days before its own hours (agg_restatements); at the
-- end of each run the queued hours are compared with the same hour of the previous weeks
-- (functions/etl/sql/evaluate_anomalies.sql) and flagged or cleared in dq_anomalies.

-- The detector's knobs, as data an operator changes with SQL (as the database owner).
CREATE TABLE dq_settings (
    name         text PRIMARY KEY,
    value        numeric NOT NULL,
    description  text NOT NULL
);
INSERT INTO dq_settings (name, value, description) VALUES
    ('threshold', 4, 'an hour is flagged when |observed - expected| exceeds this many scale units'),
    ('baseline_weeks', 4, 'the same hour of the week in this many previous weeks is the baseline'),
    ('min_baseline_weeks', 3, 'fewer baseline weeks with data than this: the hour is not judged'),
    ('relative_floor', 0.1, 'the scale is at least this fraction of the expected value');

-- One row per metric: its floors, so a quiet shop's hours are not flagged for a handful of events.
-- abs_floor: the scale is at least this (counts: events; shares: a fraction). min_volume: a share
-- is judged only when its denominator reaches this many lines/events (else it is not a signal).
CREATE TABLE dq_metrics (
    metric       text PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('count', 'share')),
    abs_floor    numeric NOT NULL CHECK (abs_floor > 0),
    min_volume   numeric NOT NULL DEFAULT 0 CHECK (min_volume >= 0),
    description  text NOT NULL
);
INSERT INTO dq_metrics (metric, kind, abs_floor, min_volume, description) VALUES
    ('events', 'count', 5, 0, 'non-bot events in the hour (agg_activity_hourly.events)'),
    ('sessions', 'count', 3, 0, 'distinct non-bot sessions with an event in the hour (agg_activity_hourly.sessions)'),
    ('purchases', 'count', 2, 0, 'purchase events of non-bot sessions in the hour'),
    ('reject_share', 'share', 0.02, 50, 'rejected lines / all lines of the raw objects of that hour (etl_file_manifest)'),
    ('bot_share', 'share', 0.05, 50, 'events of bot sessions / all events in the hour (activity_session_hours)');

-- Hours whose figures a batch changed and no run has judged since (a failed run leaves them here).
CREATE TABLE dq_pending_hours (
    hour  timestamptz PRIMARY KEY
);

CREATE TABLE dq_anomalies (
    hour               timestamptz NOT NULL,
    metric             text NOT NULL REFERENCES dq_metrics (metric),
    observed           numeric NOT NULL,
    expected           numeric NOT NULL,
    lower_bound        numeric NOT NULL,
    upper_bound        numeric NOT NULL,
    score              numeric NOT NULL,         -- (observed - expected) / scale
    open               boolean NOT NULL,         -- still outside the band at the last judgement
    first_flagged_run  bigint NOT NULL REFERENCES etl_runs (run_id),
    last_run           bigint NOT NULL REFERENCES etl_runs (run_id),
    flagged_at         timestamptz NOT NULL DEFAULT now(),
    cleared_at         timestamptz,              -- when late data brought it back in band
    PRIMARY KEY (hour, metric)
);
CREATE INDEX dq_anomalies_open_idx ON dq_anomalies (hour) WHERE open;

-- A daily figure that a run changed after its day had passed (late events, a backfill, a
-- reclassification): the day is before the earliest raw hour of the batch that changed it.
CREATE TABLE agg_restatements (
    restatement_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day             date NOT NULL,
    table_name      text NOT NULL,
    figure          text NOT NULL,
    before          numeric NOT NULL,
    after           numeric NOT NULL,
    run_id          bigint NOT NULL REFERENCES etl_runs (run_id),
    restated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agg_restatements_day_idx ON agg_restatements (day);

GRANT SELECT ON dq_settings, dq_metrics TO clickstream_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON dq_pending_hours, dq_anomalies TO clickstream_writer;
GRANT SELECT, INSERT ON agg_restatements TO clickstream_writer;
