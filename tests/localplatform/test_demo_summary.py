"""Step 6 of `up`: the summary of what was sent and what the warehouse holds (localplatform.demo.summary)."""

from __future__ import annotations

import re
from pathlib import Path

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
