"""quality.py and the batch's data-quality SQL, through the real ETL into real PostgreSQL: hours
flagged against the same hour of earlier weeks and cleared by late data, and the restatement
ledger, each compared with the plain-Python oracle (tests/support/quality.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from functions.etl.runner import run
from tests.etl.support import make_session, make_traffic, put_by_hour, put_object
from tests.support import quality
from tests.support.acquisition import event_time
from tests.support.aggregates import recompute

TARGET = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)      # a Tuesday afternoon
FIRST = TARGET - 4 * quality.WEEK


def etl(settings, s3, until: datetime):
    return run(settings, FIRST - timedelta(hours=1), until, s3=s3, now=until)


def same_hour_of_five_weeks(sessions_by_week: dict[int, int], seed: int) -> list[dict]:
    """Traffic in TARGET's hour of the week, weeks -4..0; sessions start in the hour's first 40 min."""
    out = []
    for week, sessions in sessions_by_week.items():
        out += make_traffic(seed=seed + week, start=TARGET + week * quality.WEEK, sessions=sessions,
                            spread=timedelta(minutes=40), bot_share=0.1)
    return out


def anomalies(dw) -> dict:
    with dw.cursor() as cur:
        cur.execute("SELECT hour, metric, observed, expected, lower_bound, upper_bound, score, open"
                    " FROM dq_anomalies")
        return {(r[0], r[1]): {"observed": float(r[2]), "expected": float(r[3]), "lower_bound": float(r[4]),
                               "upper_bound": float(r[5]), "score": float(r[6]), "open": r[7]}
                for r in cur.fetchall()}


def expected_flags(dw, records: list[dict], hours) -> dict:
    """The oracle's verdict for every (hour, metric) judged, flagged or not."""
    knobs, metrics = quality.detector_settings(dw)
    by_hour = quality.hourly_metrics(records, lines_by_raw_hour(records))
    first = min(by_hour)
    out = {}
    for hour in hours:
        for metric, cfg in metrics.items():
            verdict = quality.judge(by_hour, hour, metric, first_data_hour=first, knobs=knobs, **cfg)
            if verdict is not None:
                out[(hour, metric)] = verdict
    return out


def lines_by_raw_hour(records: list[dict]) -> dict:
    by = {}
    for r in records:
        hour = datetime.fromisoformat(r["received_at"].replace("Z", "+00:00")).replace(minute=0, second=0,
                                                                                    microsecond=0)
        valid, rejected = by.get(hour, (0, 0))
        by[hour] = (valid + 1, rejected)
    return by


def assert_flags_match(found: dict, verdicts: dict) -> None:
    flagged = {k: v for k, v in verdicts.items() if v["flagged"]}
    assert {k for k, v in found.items() if v["open"]} == set(flagged)
    for key, want in flagged.items():
        got = found[key]
        for field in ("observed", "expected", "lower_bound", "upper_bound", "score"):
            assert got[field] == pytest.approx(want[field], rel=1e-9, abs=1e-9), (key, field)


def test_a_drop_is_flagged_as_the_oracle_says_and_late_data_clears_it(settings, s3, bucket, dw):
    records = same_hour_of_five_weeks({-4: 40, -3: 44, -2: 38, -1: 42, 0: 4}, seed=100)
    put_by_hour(s3, bucket, records, per_object=25)
    summary = etl(settings, s3, until=TARGET + timedelta(hours=2))
    hours = {datetime.fromisoformat(r["event_timestamp"].replace("Z", "+00:00")).replace(
        minute=0, second=0, microsecond=0) for r in records}
    verdicts = expected_flags(dw, records, hours)
    found = anomalies(dw)
    assert_flags_match(found, verdicts)
    # Designed: the target hour dropped to a tenth, in events, sessions and purchases alike.
    assert {(TARGET, "events"), (TARGET, "sessions")} <= {k for k, v in found.items() if v["open"]}
    assert found[(TARGET, "events")]["score"] < -4
    # Weeks -4..-2 have fewer than 3 weeks before them: never judged, so never flagged.
    assert not any(hour < TARGET - quality.WEEK for hour, _ in found)
    assert summary["anomalies"]["open"] == sum(v["open"] for v in found.values())
    with dw.cursor() as cur:   # the page's API: the same flags for the days asked, nothing outside them
        cur.execute("SELECT hour, metric, observed, open FROM dashboard.anomalies(%s, %s)",
                    (TARGET.date(), TARGET.date()))
        assert {(r[0], r[1]): (float(r[2]), r[3]) for r in cur.fetchall()} == {
            k: (v["observed"], v["open"]) for k, v in found.items() if k[0].date() == TARGET.date()}
        cur.execute("SELECT count(*) FROM dashboard.anomalies(%s, %s)",
                    (TARGET.date() - timedelta(days=2), TARGET.date() - timedelta(days=1)))
        assert cur.fetchone()[0] == 0
        # Bot traffic per hour, as the oracle counts it from the raw events.
        cur.execute("SELECT hour, events, bot_events, share FROM dashboard.bot_share(%s, %s)",
                    (FIRST.date(), TARGET.date()))
        shares = {r[0]: (r[1], r[2], float(r[3])) for r in cur.fetchall()}
    oracle = quality.hourly_metrics(records)
    assert shares == {h: (m["bot_share"][1], round(m["bot_share"][0] * m["bot_share"][1]), m["bot_share"][0])
                      for h, m in oracle.items()}
    assert any(bots for _, bots, _ in shares.values())     # the designed traffic has bots
    with dw.cursor() as cur:   # and by detection reason
        cur.execute("SELECT hour, reason, bot_events, share FROM dashboard.bot_share_by_reason(%s, %s)",
                    (FIRST.date(), TARGET.date()))
        by_reason = {(r[0], r[1]): (r[2], round(float(r[3]), 12)) for r in cur.fetchall()}
    want = quality.bot_share_by_reason(records)
    assert by_reason == {k: (n, round(share, 12)) for k, (n, share) in want.items()}
    assert {reason for _, reason in by_reason} == {"crawler:Googlebot"}
    with dw.cursor() as cur:
        cur.execute("SELECT count(*) FROM dq_pending_hours")
        assert cur.fetchone()[0] == 0                       # every queued hour judged

    # Late events for the target hour arrive two hours later: the hour is back in band.
    late = make_traffic(seed=200, start=TARGET, sessions=38, spread=timedelta(minutes=40), bot_share=0.1)
    for r in late:
        r["received_at"] = r["event_timestamp"]
    put_object(s3, bucket, TARGET + timedelta(hours=2), late)
    summary = etl(settings, s3, until=TARGET + timedelta(hours=3))
    found = anomalies(dw)
    assert not found[(TARGET, "events")]["open"] and not found[(TARGET, "sessions")]["open"]
    after = expected_flags(dw, records + late, hours)
    assert not after[(TARGET, "events")]["flagged"]
    assert found[(TARGET, "events")]["observed"] == after[(TARGET, "events")]["observed"]
    assert summary["anomalies"]["cleared"] >= 2
    with dw.cursor() as cur:
        cur.execute("SELECT cleared_at IS NOT NULL, first_flagged_run < last_run FROM dq_anomalies"
                    " WHERE hour = %s AND metric = 'events'", (TARGET,))
        assert cur.fetchone() == (True, True)


def test_the_hour_still_filling_is_judged_only_after_it_ends(settings, s3, bucket, dw):
    """An hourly run loads part of the current hour: judged then, a busy hour reads as a drop and
    clears at the next run. It waits in the queue until a run's window has passed its end."""
    records = same_hour_of_five_weeks({-4: 40, -3: 44, -2: 38, -1: 42, 0: 41}, seed=300)
    cut = TARGET + timedelta(minutes=10)
    within = [r for r in records if datetime.fromisoformat(r["event_timestamp"].replace("Z", "+00:00")) < cut]
    put_by_hour(s3, bucket, within, per_object=25)
    summary = etl(settings, s3, until=TARGET + timedelta(minutes=20))   # a run inside the hour
    with dw.cursor() as cur:
        cur.execute("SELECT hour FROM dq_pending_hours")
        assert cur.fetchall() == [(TARGET,)]
    assert not any(hour == TARGET for hour, _ in anomalies(dw))
    assert expected_flags(dw, within, {TARGET})[(TARGET, "events")]["flagged"], \
        "judged with a third of its events, the hour would have been flagged"

    put_by_hour(s3, bucket, [r for r in records if r not in within], per_object=25)
    summary = etl(settings, s3, until=TARGET + timedelta(hours=1, minutes=5))   # the run after it ended
    assert summary["anomalies"]["hours_judged"] >= 1
    verdicts = expected_flags(dw, records, {TARGET})
    assert not verdicts[(TARGET, "events")]["flagged"]
    assert_flags_match({k: v for k, v in anomalies(dw).items() if k[0] == TARGET}, verdicts)
    with dw.cursor() as cur:
        cur.execute("SELECT count(*) FROM dq_pending_hours")
        assert cur.fetchone()[0] == 0


def test_a_steady_shop_and_a_quiet_night_raise_nothing(settings, s3, bucket, dw):
    """Ordinary week-to-week noise, and an hour with a couple of sessions (the floors), stay in band."""
    records = same_hour_of_five_weeks({-4: 30, -3: 36, -2: 33, -1: 29, 0: 35}, seed=300)
    night = TARGET.replace(hour=3)
    for week, sessions in {-4: 2, -3: 1, -2: 3, -1: 2, 0: 0}.items():
        records += make_traffic(seed=400 + week, start=night + week * quality.WEEK, sessions=sessions,
                                spread=timedelta(minutes=30), bot_share=0)
    put_by_hour(s3, bucket, records, per_object=25)
    etl(settings, s3, until=TARGET + timedelta(hours=2))
    assert anomalies(dw) == {}
    hours = {TARGET, night}
    verdicts = expected_flags(dw, records, hours)
    assert (TARGET, "events") in verdicts and not any(v["flagged"] for v in verdicts.values())


def test_with_a_daily_baseline_a_drop_is_judged_against_the_previous_days(settings, s3, bucket, dw):
    """baseline_period_days = 1 (a history of days, not weeks): the same hour of the previous days
    is the baseline, so four days of traffic are enough to flag a drop, as the oracle says; with
    the default (the same hour of the week) the same traffic judges nothing."""
    records = []
    for day, sessions in {-3: 40, -2: 44, -1: 38, 0: 4}.items():
        records += make_traffic(seed=700 + day, start=TARGET + timedelta(days=day), sessions=sessions,
                                spread=timedelta(minutes=40), bot_share=0.1)
    put_by_hour(s3, bucket, records, per_object=25)
    with dw.cursor() as cur:
        cur.execute("SELECT value FROM dq_settings WHERE name = 'baseline_period_days'")
        assert cur.fetchone()[0] == 7, "the default: the same hour of the week"
        cur.execute("UPDATE dq_settings SET value = 1 WHERE name = 'baseline_period_days'")
    until = TARGET + timedelta(hours=2)
    run(settings, TARGET - timedelta(days=4), until, s3=s3, now=until)
    hours = {quality._hour(event_time(r)) for r in records}
    verdicts = expected_flags(dw, records, hours)
    found = anomalies(dw)
    assert_flags_match(found, verdicts)
    assert {(TARGET, "events"), (TARGET, "sessions")} <= {k for k, v in found.items() if v["open"]}
    assert found[(TARGET, "events")]["expected"] == pytest.approx(verdicts[(TARGET, "events")]["expected"])
    assert not any(hour < TARGET for hour, _ in found), "the earlier days have too few days before them"
    with dw.cursor() as cur:   # a period is a whole number of days, at least one
        for bad in (0, 1.5):
            with pytest.raises(psycopg2.errors.CheckViolation):
                cur.execute("UPDATE dq_settings SET value = %s WHERE name = 'baseline_period_days'", (bad,))


def test_with_the_weekly_default_days_of_history_judge_nothing(settings, s3, bucket, dw):
    records = []
    for day, sessions in {-3: 40, -2: 44, -1: 38, 0: 4}.items():
        records += make_traffic(seed=700 + day, start=TARGET + timedelta(days=day), sessions=sessions,
                                spread=timedelta(minutes=40), bot_share=0.1)
    put_by_hour(s3, bucket, records, per_object=25)
    summary = run(settings, TARGET - timedelta(days=4), TARGET + timedelta(hours=2), s3=s3,
                  now=TARGET + timedelta(hours=2))
    assert summary["anomalies"]["hours_judged"] > 0 and anomalies(dw) == {}
    hours = {quality._hour(event_time(r)) for r in records}
    assert expected_flags(dw, records, hours) == {}, "no hour has three weeks before it"


def test_a_late_event_records_exactly_the_restated_figures_and_a_rerun_adds_none(settings, s3, bucket, dw):
    day = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    records = make_traffic(seed=500, start=day, sessions=30, spread=timedelta(hours=6), bot_share=0.1)
    put_by_hour(s3, bucket, records, per_object=20)
    run(settings, day - timedelta(hours=1), day + timedelta(hours=8), s3=s3, now=day + timedelta(hours=8))
    with dw.cursor() as cur:
        cur.execute("SELECT count(*) FROM agg_restatements")
        assert cur.fetchone()[0] == 0                     # loading a day in its own hours restates nothing

    # The next morning: a late session of that day, and one event late for an existing session.
    rng = random.Random(501)
    late = make_session(rng, day + timedelta(hours=3), depth=5, logged_in=False)
    existing = next(r for r in records if not r["is_bot"])
    late.append({**existing, "event_id": "9f0c3b8e-1b7a-4c4e-9d2a-0123456789ab", "event_name": "page_view",
                 "event_timestamp": existing["event_timestamp"]})
    own = day + timedelta(days=1, hours=1)
    for r in late:
        r["received_at"] = own.isoformat().replace("+00:00", "Z")
    put_object(s3, bucket, own, late)
    summary = run(settings, own - timedelta(hours=1), own + timedelta(hours=1), s3=s3,
                  now=own + timedelta(hours=1))
    assert summary["events_loaded"] == len(late)
    want = quality.restatements(recompute(records), recompute(records + late), own)
    with dw.cursor() as cur:
        cur.execute("SELECT day, table_name, figure, before, after, run_id FROM agg_restatements"
                    " ORDER BY day, table_name, figure")
        got = cur.fetchall()
    assert [r[:5] for r in got] == want
    assert {r[5] for r in got} == {summary["run_id"]}
    with dw.cursor() as cur:
        cur.execute("SELECT day, figure, before, after, run_id FROM dashboard.restatements(%s, %s)"
                    " ORDER BY day, figure", (day.date(), own.date()))
        assert cur.fetchall() == sorted((d, f"{t}.{f}", b, a, r) for d, t, f, b, a, r in got)
    assert {(r[1], r[2]) for r in got} >= {("agg_activity_daily", "events"), ("agg_funnel_daily", "sessions"),
                                           ("agg_funnel_daily", "orders")}

    # The same objects again (a rerun, or a reloaded copy under a new key): nothing changes, no rows.
    put_object(s3, bucket, own, late, name="retry.json")
    run(settings, own - timedelta(hours=1), own + timedelta(hours=1), s3=s3, now=own + timedelta(hours=1))
    with dw.cursor() as cur:
        cur.execute("SELECT count(*) FROM agg_restatements")
        assert cur.fetchone()[0] == len(got)
