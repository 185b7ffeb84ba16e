"""Step 6 of `up`: the summary of what was sent and what the warehouse holds (localplatform.demo.summary)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import psycopg2

from localplatform.demo.config import DemoConfig
from localplatform.demo.progress import Progress
from localplatform.demo.steps import TrafficOutcome
from localplatform.demo.summary import step_summary
from localplatform.demo.walk import WalkOutcome
from localplatform.demo.warehouse import Warehouse
from tests.support.net import free_port

RECORD = {"sent": {"events": 130, "requests": 21, "invalid_events": 2, "bot_events": 12},
          "responses": {"accepted": 128, "rejected": 2},
          "sessions": {"human": 25, "bot": 2}, "conversion_rate": 0.12}


def _lines(out: str) -> dict[str, str]:
    """The summary's rows by their label (two spaces or more separate label and value)."""
    lines = out.split("[7/7] summary")[1].splitlines()
    rows = [re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines]
    return {row[0]: row[1] for row in rows if len(row) == 2}


def test_the_summary_shows_the_record_and_the_dashboards_figures(filled_warehouse, tmp_path: Path, capsys):
    warehouse, expected = filled_warehouse
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), "DWH_DSN": warehouse.reader_dsn})
    wh = Warehouse.for_demo(cfg, use_dw_host=False)
    summary = step_summary(cfg, Progress(), TrafficOutcome(record=RECORD), wh, dashboards=False)
    assert summary == {"record": {"events": 130, "accepted": 128, "rejected": 2}, "warehouse": expected}
    rows = _lines(capsys.readouterr().out)
    assert rows["events sent"] == "130 in 21 requests (2 deliberately invalid, 12 from bots)"
    assert rows["accepted by ingest"] == "128; rejected by ingest 2"
    assert rows["loaded into the DW"] == ("100 events (12 from bots); rejected by the ETL 3; "
                                          "3 ETL run(s), 1 failed")
    assert rows["sessions"] == ("25 shopper sessions (sent: 25 by the generator, and 2 bot sessions the "
                                "dashboards leave out)")
    assert rows["conversion rate"] == "12.0% (3 of 25 shopper sessions purchased)"
    assert rows["booked revenue"] == ("$200.00 in 2 shop orders; tracked $0.00; coverage 0.0% "
                                      "(2 booked orders untracked, 0 purchase events without an order)")
    assert rows["warehouse"].startswith("DWH_DSN (127.0.0.1:")
    assert rows["dashboard"] == "not available (DWH_DSN set: the dashboards live on the DW host)"
    assert wh.etl["DWH_PASSWORD"] not in str(rows)


def test_an_unreadable_warehouse_is_named_and_the_record_still_shown(tmp_path: Path, capsys):
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), "DEMO_SHINY_PORT": "23838",
                               "DWH_DSN": f"host=127.0.0.1 port={free_port()} dbname=dw user=me"})
    progress = Progress()
    progress.skip(3, "no ingest")
    summary = step_summary(cfg, progress, TrafficOutcome(record=RECORD), Warehouse.for_demo(cfg, False),
                           dashboards=True)
    out = capsys.readouterr().out
    assert "warehouse" not in summary
    assert "warehouse not readable for the summary: OperationalError" in out
    rows = _lines(out)
    assert rows["conversion rate (sent)"] == "12.0% of 25 shopper sessions"
    assert rows["dashboard"] == "http://127.0.0.1:23838/"
    assert "skipped: step 3: no ingest" in out


#: A shop walk after a generator window ending 2026-03-02 20:00 UTC: FILL_SQL's 22:00 hour is the
#: walk's (38 events), and of 2026-03-02's 15 sessions (agg_funnel_daily) 12 are the generator's.
WALK = {"params": {"sessions": 3}, "sent": {"valid_events": 38},
        "expected_events": {"page_view": 30, "login": 8},
        "walked": [{"signed_in": True}, {"signed_in": False}, {"signed_in": False}],
        "sessions": {"human": 3}, "activity_by_day": {"2026-03-02": {}},
        "orders_placed": [{"order_id": "0b6a0d5e-0000-4000-8000-000000000003"},
                          {"order_id": "0b6a0d5e-0000-4000-8000-0000000000ff"}]}
WALKED_RECORD = {**RECORD, "params": {"window_end": "2026-03-02T20:00:00.000Z"},
                 "sessions_by_start_day": {"2026-03-02": {"sessions": 12}}}


def test_the_summary_names_the_shop_walk_and_what_the_warehouse_holds_of_it(filled_warehouse, tmp_path: Path,
                                                                              capsys):
    warehouse, _ = filled_warehouse
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), "DWH_DSN": warehouse.reader_dsn})
    summary = step_summary(cfg, Progress(), TrafficOutcome(record=WALKED_RECORD),
                           Warehouse.for_demo(cfg, use_dw_host=False), dashboards=False,
                           walk=WalkOutcome(record=WALK))
    # no purchase event reports either order in FILL_SQL: none tracked
    assert summary["walk"] == {"events": 38, "sessions": 3, "tracked_orders": 0}
    rows = _lines(capsys.readouterr().out)
    assert rows["shop walk"] == ("3 session(s) in headless Chromium (1 signed in, 2 order(s)): "
                                 "38 events made, 38 in the raw bucket")
    assert rows["shop walk in the DW"] == ("38 events of 3 session(s) after the traffic window; "
                                           "0 of its 2 order(s) tracked")
    assert rows["sessions"] == ("25 shopper sessions (sent: 25 by the generator, 3 walked, and 2 bot "
                                "sessions the dashboards leave out)")


QUALITY_SQL = """
INSERT INTO dq_anomalies (hour, metric, observed, expected, lower_bound, upper_bound, score, open,
                          first_flagged_run, last_run)
SELECT h::timestamptz, m, o, e, l, u, s, op, (SELECT min(run_id) FROM etl_runs),
       (SELECT max(run_id) FROM etl_runs)
FROM (VALUES ('2026-03-02 20:00+00', 'events', 13, 144, 86.4, 201.6, -9.1, true),
             ('2026-03-02 20:00+00', 'sessions', 3, 28, 16, 40, -8.3, true),
             ('2026-03-01 10:00+00', 'bot_share', 0.41, 0.02, 0, 0.22, 7.8, true),
             ('2026-03-01 11:00+00', 'events', 50, 40, 0, 80, 0.5, false)) AS a (h, m, o, e, l, u, s, op);
INSERT INTO agg_restatements (day, table_name, figure, before, after, run_id)
VALUES ('2026-03-01', 'agg_activity_daily', 'events', 0, 1763, (SELECT min(run_id) FROM etl_runs)),
       ('2026-03-01', 'agg_activity_daily', 'events', 1763, 1793, (SELECT max(run_id) FROM etl_runs)),
       ('2026-03-01', 'agg_funnel_daily', 'revenue', 812.5, 1011.25, (SELECT max(run_id) FROM etl_runs));
"""


def test_the_summary_names_the_outages_anomaly_and_the_late_batchs_restatements(filled_warehouse,
                                                                                 tmp_path: Path, capsys):
    warehouse, _ = filled_warehouse
    with contextlib.closing(psycopg2.connect(warehouse.owner_dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(QUALITY_SQL)
        cur.execute("SELECT max(run_id) FROM etl_runs")
        late_run = cur.fetchone()[0]
    rec = {**RECORD, "outage": {"hour": "2026-03-02T20:00:00.000Z", "kept_share": 0.1, "sessions_hit": 17,
                                "events_lost": 81},
           "late": {"day": "2026-03-01", "sessions": 10, "events": 30,
                    "delivered": {"after_run": late_run - 1, "run_id": late_run}}}
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), "DWH_DSN": warehouse.reader_dsn})
    wh = Warehouse.for_demo(cfg, use_dw_host=False)
    summary = step_summary(cfg, Progress(), TrafficOutcome(record=rec), wh, dashboards=False)
    assert len(summary["quality"]["anomalies"]) == 3, "the open ones"
    out = capsys.readouterr().out
    rows = _lines(out)
    assert rows["outage"] == ("injected at 2026-03-02 20:00 UTC: 81 events of 17 sessions lost "
                              "(one browser in 10 got through)")
    assert rows["anomaly"] == ("2026-03-02 20:00 UTC events: 13 observed, 144 expected (band 86.40-201.60, "
                               "score -9.1); 2026-03-02 20:00 UTC sessions: 3 observed, 28 expected "
                               "(band 16-40, score -8.3)")
    assert rows["other anomalies"] == ("1 open: 2026-03-01 10:00 UTC bot_share: 41.0% observed, "
                                       "2.0% expected (band 0.0%-22.0%, score 7.8)")
    assert rows["late batch"] == (f"10 sessions (30 events) of 2026-03-01, sent after ETL run "
                                  f"{late_run - 1}; run {late_run} restated 2 figure(s)")
    assert "2026-03-01 agg_activity_daily.events: 1,763 -> 1,793" in out
    assert "2026-03-01 agg_funnel_daily.revenue: 812.50 -> 1,011.25" in out
    assert rows["restatement ledger"].startswith("1 other restated figure(s): the demo's own backfill")


def test_an_outage_hour_not_flagged_is_said_so(filled_warehouse, tmp_path: Path, capsys):
    warehouse, _ = filled_warehouse
    rec = {**RECORD, "outage": {"hour": "2026-03-02T20:00:00.000Z", "kept_share": 0.1, "sessions_hit": 2,
                                "events_lost": 9}, "late": None}
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), "DWH_DSN": warehouse.reader_dsn})
    step_summary(cfg, Progress(), TrafficOutcome(record=rec), Warehouse.for_demo(cfg, use_dw_host=False),
                 dashboards=False)
    rows = _lines(capsys.readouterr().out)
    assert rows["anomaly"].startswith("the outage hour is NOT flagged")
    assert "late batch" not in rows and "other anomalies" not in rows
