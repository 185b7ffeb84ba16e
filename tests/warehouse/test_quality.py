"""The anomaly check (functions/etl/sql/evaluate_anomalies.sql) on known synthetic hourly series
in a real warehouse: a spike over a noisy baseline, a drop, a quiet night, a holiday-like week
and a reject-share jump, each flagged or not as designed, with the figures the plain-Python
oracle (tests/support/quality.py) computes."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from functions.etl.quality import evaluate_anomalies
from tests.support import quality

TARGET = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
WEEK = quality.WEEK


class _Warehouse(psycopg2.extensions.connection):
    run_id: int     # the etl_runs row the check records itself under


@pytest.fixture
def dw(migrated_dsn):
    with contextlib.closing(psycopg2.connect(migrated_dsn, connection_factory=_Warehouse)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("INSERT INTO etl_runs (trigger, status) VALUES ('cli', 'succeeded') RETURNING run_id")
            conn.run_id = cur.fetchone()[0]
        yield conn


def load(dw, series: dict[datetime, dict]) -> None:
    """Hourly figures as the ETL leaves them: events/sessions, bot events, raw lines and rejects."""
    with dw.cursor() as cur:
        for hour, f in series.items():
            events, bots = f.get("events", 0), f.get("bot_events", 0)
            cur.execute("INSERT INTO agg_activity_hourly (hour, events, users, sessions, page_views)"
                        " VALUES (%s, %s, %s, %s, %s)", (hour, events, events // 3, events // 3, events // 2))
            for session, (n, is_bot) in enumerate(((events, False), (bots, True))):
                if n:
                    cur.execute("INSERT INTO activity_session_hours (hour, session_id, client_id, events,"
                                " page_views, is_bot) VALUES (%s, %s, 'c', %s, 0, %s)",
                                (hour, f"s-{hour:%Y%m%d%H}-{session}", n, is_bot))
            lines, rejected = f.get("lines", events + bots), f.get("rejected", 0)
            cur.execute("INSERT INTO etl_file_manifest (key, etag, size, object_hour, events, rejected,"
                        " run_id) VALUES (%s, 'e', 1, %s, %s, %s, %s)",
                        (f"events/{hour:%Y/%m/%d/%H}/x.json", hour, lines - rejected, rejected, dw.run_id))


def judge(dw, series: dict[datetime, dict], hours) -> tuple[dict, dict]:
    """Queue `hours`, run the check; returns (rows in dq_anomalies, the oracle's verdicts)."""
    with dw.cursor() as cur:
        cur.executemany("INSERT INTO dq_pending_hours (hour) VALUES (%s) ON CONFLICT DO NOTHING",
                        [(h,) for h in hours])
    evaluate_anomalies(dw, dw.run_id)
    knobs, metrics = quality.detector_settings(dw)
    fields = ("observed", "expected", "lower_bound", "upper_bound", "score")
    with dw.cursor() as cur:
        cur.execute("SELECT hour, metric, observed, expected, lower_bound, upper_bound, score, open"
                    " FROM dq_anomalies")
        rows = {(r[0], r[1]): dict(zip(fields, map(float, r[2:7]), strict=True)) | {"open": r[7]}
                for r in cur.fetchall()}
    by_hour = {h: oracle_metrics(f) for h, f in series.items()}
    first = min(series)
    verdicts = {(h, m): v for h in hours for m, cfg in metrics.items()
                if (v := quality.judge(by_hour, h, m, first_data_hour=first, knobs=knobs, **cfg)) is not None}
    return rows, verdicts


def oracle_metrics(f: dict) -> dict:
    """The oracle's metrics of one synthetic hour, as load() writes it."""
    events, bots = f.get("events", 0), f.get("bot_events", 0)
    lines = f.get("lines", events + bots)
    return {"events": (events, None), "sessions": (events // 3, None), "purchases": (0, None),
            "bot_share": (bots / (events + bots) if events + bots else None, events + bots),
            "reject_share": (f.get("rejected", 0) / lines if lines else None, lines)}


def weeks(values: list[dict], hour: datetime = TARGET) -> dict[datetime, dict]:
    """values[0] is 4 weeks before `hour`, values[-1] is `hour` itself."""
    return {hour - (len(values) - 1 - i) * WEEK: v for i, v in enumerate(values)}


def flagged(rows: dict) -> set:
    return {k for k, v in rows.items() if v["open"]}


def assert_as_oracle(rows: dict, verdicts: dict) -> None:
    assert flagged(rows) == {k for k, v in verdicts.items() if v["flagged"]}
    for key in flagged(rows):
        for field in ("observed", "expected", "lower_bound", "upper_bound", "score"):
            assert rows[key][field] == pytest.approx(verdicts[key][field], rel=1e-9), (key, field)


def test_a_spike_over_a_noisy_baseline_is_flagged_where_the_spread_puts_the_band(dw):
    # median 115, deviations 15/45/45/15 -> mad 30, scale 1.4826 * 30 = 44.5 (above the floors):
    # upper bound 115 + 4 * 44.5 = 292.9, so 300 is flagged.
    series = weeks([{"events": v} for v in (100, 160, 70, 130, 300)])
    load(dw, series)
    rows, verdicts = judge(dw, series, [TARGET])
    assert_as_oracle(rows, verdicts)
    assert (TARGET, "events") in flagged(rows)
    assert rows[(TARGET, "events")]["expected"] == 115
    assert rows[(TARGET, "events")]["upper_bound"] == pytest.approx(115 + 4 * 1.4826 * 30)


def test_inside_the_band_of_a_noisy_baseline_nothing_is_flagged(dw):
    series = weeks([{"events": v} for v in (100, 160, 70, 130, 280)])
    load(dw, series)
    rows, verdicts = judge(dw, series, [TARGET])
    assert rows == {} and verdicts[(TARGET, "events")]["flagged"] is False


def test_a_drop_is_flagged_and_late_data_clears_it(dw):
    series = weeks([{"events": v} for v in (400, 420, 390, 410, 40)])
    load(dw, series)
    rows, verdicts = judge(dw, series, [TARGET])
    assert_as_oracle(rows, verdicts)
    assert {(TARGET, "events"), (TARGET, "sessions")} <= flagged(rows)
    assert rows[(TARGET, "events")]["score"] < -4
    with dw.cursor() as cur:      # late events arrive: the hour is back to 395
        cur.execute("UPDATE agg_activity_hourly SET events = 395, sessions = 131 WHERE hour = %s",
                    (TARGET,))
        cur.execute("UPDATE activity_session_hours SET events = 395 WHERE hour = %s AND NOT is_bot",
                    (TARGET,))
    series[TARGET] = {"events": 395}
    rows, verdicts = judge(dw, series, [TARGET])
    assert flagged(rows) == set() and rows[(TARGET, "events")]["observed"] == 395
    assert not verdicts[(TARGET, "events")]["flagged"]


def test_a_quiet_night_is_not_flagged_for_a_handful_of_events(dw):
    night = TARGET.replace(hour=3)
    series = weeks([{"events": v} for v in (2, 1, 3, 2, 0)], hour=night)
    load(dw, series)
    rows, verdicts = judge(dw, series, [night])
    assert rows == {}
    assert verdicts[(night, "events")]["flagged"] is False
    assert verdicts[(night, "events")]["upper_bound"] == pytest.approx(2 + 4 * 5)   # the abs floor of 5


def test_a_holiday_like_week_is_flagged_but_does_not_flag_the_week_after(dw):
    holiday = TARGET - WEEK
    series = weeks([{"events": v} for v in (1000, 1040, 980, 300, 1010)])
    load(dw, series)
    rows, verdicts = judge(dw, series, [holiday, TARGET])
    assert_as_oracle(rows, verdicts)
    assert (holiday, "events") in flagged(rows)
    assert (TARGET, "events") not in rows          # the median ignores the one low week


def test_a_reject_share_jump_is_flagged_but_a_few_lines_are_not_judged(dw):
    series = weeks([{"events": 1000, "lines": 1000, "rejected": r} for r in (10, 12, 9, 11, 200)])
    quiet = TARGET + timedelta(hours=1)
    series |= weeks([{"events": 1000, "lines": 1000, "rejected": 10}] * 4 + [{"events": 1000, "lines": 10,
                                                                              "rejected": 5}], hour=quiet)
    load(dw, series)
    rows, verdicts = judge(dw, series, [TARGET, quiet])
    assert_as_oracle(rows, verdicts)
    assert (TARGET, "reject_share") in flagged(rows)
    assert (quiet, "reject_share") not in verdicts     # 10 lines: below min_volume, not a signal


def test_hours_before_the_first_data_are_not_zeros_and_too_few_weeks_are_not_judged(dw):
    series = weeks([{"events": v} for v in (500, 520, 40)])       # only two baseline weeks exist
    load(dw, series)
    rows, verdicts = judge(dw, series, [TARGET])
    assert rows == {} and verdicts == {}
    with dw.cursor() as cur:
        cur.execute("SELECT count(*) FROM dq_pending_hours")
        assert cur.fetchone()[0] == 0
