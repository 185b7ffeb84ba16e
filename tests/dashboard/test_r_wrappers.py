"""Runs the app's testthat tests (roles/shiny_server/files/app/tests) against the known warehouse:
the R query wrappers must return what an independent computation over the same events gives."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter

import pytest

from tests.dashboard import known_data
from tests.dashboard.conftest import APP_DIR, Warehouse, require_r
from tests.support import overview

pytestmark = pytest.mark.slow
SEGMENT = {"channel": "Email", "device_type": "mobile"}
DAYS = (known_data.FIRST_DAY, known_data.LAST_DAY)


def expected_figures(data: known_data.KnownData) -> dict:
    sessions = overview.human_sessions(data, *DAYS)
    activity = overview.activity(data.records, *DAYS)
    dell_laptops = {p[0] for p in known_data.PRODUCTS if p[2] == "Laptops" and p[3] == "Dell"}
    return {
        "from": known_data.FIRST_DAY.isoformat(),
        "to": known_data.LAST_DAY.isoformat(),
        "events": activity["events"],
        "sessions": activity["sessions"],
        "peak_hour_users": activity["peak_hour_users"],
        "days": [d.isoformat() for d in known_data.DAYS],
        "daily_users": [activity["daily"][d.isoformat()]["users"] for d in known_data.DAYS],
        "funnel": list(activity["funnel"].values()),
        "product_views": overview.product_views(data, *DAYS)[0],
        "dell_laptop_views": overview.product_views(data, *DAYS, dell_laptops)[0],
        "top_entry_page": Counter(s["entry_page"] for s in sessions).most_common(1)[0][0],
        "top_exit_page": Counter(s["exit_page"] for s in sessions).most_common(1)[0][0],
        "rejected": len(data.rejects),
        # the page filters: Email sessions on mobile devices
        "segment_funnel": list(overview.funnel_sessions(data, *DAYS, SEGMENT).values()),
        "segment_visitors": overview.overview(data, *DAYS, SEGMENT).visitors,
        "segment_sessions": overview.overview(data, *DAYS, SEGMENT).sessions,
    }


def test_r_query_wrappers(warehouse: Warehouse, known, tmp_path):
    rscript = require_r("testthat", "DBI", "RPostgreSQL", "jsonlite", "withr", "shiny", "bslib", "htmltools")
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps(expected_figures(known)))
    env = {
        **os.environ,
        "CLICKSTREAM_DB_CONFIG": str(warehouse.write_db_config(tmp_path)),
        "CLICKSTREAM_TEST_EXPECTED": str(expected),
        "TZ": "UTC",
    }
    proc = subprocess.run(
        [rscript, "tests/testthat.R"],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "DONE" in output and "Failed" not in output, output
