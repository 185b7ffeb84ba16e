"""`make demo` end to end: the real demo, small, then the dashboards in headless Chromium.

Runs `python -m localplatform.demo up`, as `make demo` does (Debian 12 systemd containers
configured by playbooks/site.yml, moto, the ingest adapter, the traffic generator, the demo shop
walked in headless Chromium, the scheduled ETL) and checks that the dashboard's funnel and
activity numbers equal the plain-Python oracle's over the raw events read back from the bucket
(tests/e2e/expected.py), bots excluded as the dashboards exclude them, and that the bucket holds
what the generator's own record and the shop walk's say was sent. Then a second `up` must change
nothing. The raw bucket is on a moto server this test runs (S3_ENDPOINT), so that it outlives
`up`; tests/e2e/test_pipeline.py runs the demo's own.

The demo's containers have fixed names (the local inventory names them), so this test replaces a
demo that is running on the machine, and removes everything afterwards (KEEP_DEMO=1 keeps it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from localplatform import traffic
from localplatform.demo.config import DW_CONTAINER, SECRET_FILES, DemoConfig
from localplatform.demo.state import read_secret
from localplatform.demo.warehouse import Warehouse
from tests.e2e.expected import (
    assert_bucket_holds_what_was_sent,
    bot_events,
    bucket_records,
    date_range,
    expected_anomalies,
    expected_restatements,
    sent,
)
from tests.support import revenue
from tests.support.acquisition import unique_events
from tests.support.moto import moto_server
from tests.support.overview import activity

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000")
# Four days, so that the injected outage has the anomaly baseline's three days of history before it
# (the demo selects the same hour of the previous days); 200 shoppers a day, enough for a tenth
# of an evening hour to stand out. The window ends at the start of this UTC day, so the outage
# is at 20:00 yesterday and the events per hour are those of this seed whenever the test runs
# (the daily rhythm is by UTC hour): the oracle below computes the verdicts, this fixes them.
DEMO_ENV = {"SHOPPERS": "800", "DAYS": "4", "SEED": "8080", "ETL_INTERVAL": "5", "WALK_SESSIONS": "3",
            "KEEP_RUNNING": ""}


def _missing_prerequisites() -> list[str]:
    missing = [tool for tool in ("podman",) if not shutil.which(tool)]
    missing += [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    return missing


def _run_demo(action: str, env: dict[str, str], log_name: str, timeout: float = 1200) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "localplatform.demo", action], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    output = proc.stdout + proc.stderr
    (ARTIFACTS / log_name).write_text(f"{output}\n(exit {proc.returncode} after "
                                      f"{time.monotonic() - started:.0f}s)\n")
    assert proc.returncode == 0, f"demo {action} failed; see test-artifacts/e2e/{log_name}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def raw_s3() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory, raw_s3) -> dict[str, str]:
    missing = _missing_prerequisites()
    if missing:
        pytest.skip(f"the end-to-end demo needs {', '.join(missing)} (make bootstrap installs them)")
    env = dict(os.environ)
    env.pop("DWH_DSN", None)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    env.update(DEMO_ENV, DEMO_STATE_DIR=str(tmp_path_factory.mktemp("demo") / "state"),
               WINDOW_END=today.isoformat(), S3_ENDPOINT=raw_s3)
    return env


@pytest.fixture(scope="module")
def demo_up(demo_env) -> Iterator[dict]:
    _run_demo("down", demo_env, "demo-down-before.log")
    started = time.monotonic()
    output = _run_demo("up", demo_env, "demo-up.log")
    seconds = time.monotonic() - started
    cfg = DemoConfig.from_env(demo_env)
    try:
        yield {"output": output, "cfg": cfg, "seconds": seconds,
               "record": json.loads(cfg.record_path.read_text()),
               "walk": json.loads(cfg.walk_record_path.read_text()),
               "records": bucket_records(cfg.s3_url, cfg.raw_bucket)}   # what ingest wrote, read back
    finally:
        if os.environ.get("KEEP_DEMO") != "1":
            _run_demo("down", demo_env, "demo-down.log")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from selenium import webdriver  # noqa: PLC0415 -- only the browser tests need selenium
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _value(driver, css: str, timeout: float = 120) -> str:
    """The raw number (data-value) the dashboard shows in the element at `css`, once rendered."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    def rendered(d):
        for element in d.find_elements(By.CSS_SELECTOR, css):
            value = element.get_attribute("data-value")
            if value:
                return value
        return False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(rendered)
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard-timeout.png"))
        (ARTIFACTS / "dashboard-timeout.html").write_text(driver.page_source)
        raise


def _table(driver, css: str, key: str, columns: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    _value(driver, f"{css} tbody td.{columns[0]}")
    rows = {}
    for row in driver.find_elements(By.CSS_SELECTOR, f"{css} tbody tr"):
        cell = row.find_element(By.CSS_SELECTOR, f"td.{key}")
        rows[cell.get_attribute("data-value") or cell.text] = tuple(
            row.find_element(By.CSS_SELECTOR, f"td.{c}").get_attribute("data-value") for c in columns)
    return rows


# The first test that asks for the demo pays for starting it: fresh hosts take several minutes.
@pytest.mark.timeout(1800)
def test_demo_runs_every_step_and_prints_the_summary(demo_up):
    out, cfg, rec, walked = demo_up["output"], demo_up["cfg"], demo_up["record"], demo_up["walk"]
    records = demo_up["records"]
    for step in range(1, 8):
        assert f"==> [{step}/7]" in out
    assert "playbooks/site.yml -i inventories/local" in out
    assert "anomaly baseline: the same hour on the previous days (dq_settings.baseline_period_days = 1" in out
    assert re.search(rf"dashboard +{re.escape(cfg.dashboard_url)}", out)
    assert re.search(rf"events sent +{rec['sent']['events']} in {rec['sent']['requests']} requests", out)
    assert re.search(rf"loaded into the DW +{len(unique_events(records))} events "
                     rf"\({bot_events(records)} from bots\)", out)
    want = activity(records, *date_range(records))
    sessions = (want["sessions"], rec["sessions"]["human"], walked["sessions"]["human"])
    pattern = r"sessions +{} shopper sessions \(sent: {} by the generator, {} walked"
    assert re.search(pattern.format(*sessions), out)
    assert rec["responses"]["accepted"] == rec["sent"]["valid_events"]
    assert rec["responses"]["rejected"] == rec["sent"]["invalid_events"] > 0
    # The shop walk: every event its browser made landed, and the warehouse holds them (the hours
    # after the traffic window), its orders booked and tracked.
    assert walked["params"]["sessions"] == 3 == walked["sessions"]["human"]
    assert walked["events_by_name"]["human"] == walked["expected_events"]
    made = sum(walked["expected_events"].values())
    assert re.search(rf"shop walk +3 session\(s\) in headless Chromium .*: {made} events made, {made} in the "
                     "raw bucket", out)
    placed = len(walked["orders_placed"])
    assert re.search(rf"shop walk in the DW +{made} events of 3 session\(s\) after the traffic window; "
                     rf"{placed} of its {placed} order\(s\) tracked", out)
    if placed:
        assert f"walk orders: {placed} ({placed} new) into the shop database" in out
    # Booked revenue: the shop's orders (written by the demo's checkout, read back by the ETL's
    # analytics login) beside what the trackers sent, ad blockers and forged purchases included.
    shop = rec["shop_orders"]
    assert shop["ad_blocked_orders"] > 0 and shop["forged_purchases"] > 0
    assert f"shop orders: {shop['orders']} ({shop['orders']} new) through the app login" in out
    booked_line = re.search(r"booked revenue +\$([\d,.]+) in (\d+) shop orders; tracked \$([\d,.]+); "
                            r"coverage [\d.]+% \((\d+) booked orders untracked, (\d+) purchase events", out)
    assert booked_line, out[-3000:]
    booked, orders, tracked, untracked, unbooked = booked_line.groups()
    shop = sent(rec, walked)["shop_orders"]
    assert float(booked.replace(",", "")) == pytest.approx(shop["booked_revenue"])
    tracked_revenue = sum(t["revenue"] for t in revenue.tracked_purchases(records).values())
    assert float(tracked.replace(",", "")) == pytest.approx(float(tracked_revenue))
    assert (int(orders), int(untracked), int(unbooked)) == (shop["booked_orders"], shop["untracked_orders"],
                                                            shop["forged_purchases"])
    # the generated passwords: files of mode 0600, never in the output, and never part of the
    # playbook run (the hosts read them from the Parameter Store stand-in themselves)
    ansible_log = (cfg.logs_dir / "ansible.log").read_text()
    assert "Set each login's password from its SSM parameter, read on the host" in ansible_log
    for name in SECRET_FILES:
        path = cfg.secrets_dir / name
        assert path.stat().st_mode & 0o777 == 0o600
        assert read_secret(path) not in out
        assert read_secret(path) not in ansible_log
    assert re.search(r"Parameter Store stand-in for the hosts: moto at http://[\d.]+:\d+", out)
    # only loopback: the containers' published ports and the demo's own processes
    ports = subprocess.run(["podman", "port", DW_CONTAINER], capture_output=True, text=True,
                           check=True).stdout
    assert ports.strip() and all(line.split("->")[1].strip().startswith("127.0.0.1:")
                                 for line in ports.strip().splitlines())


def test_the_raw_bucket_holds_what_was_sent(demo_up):
    """Every event the generator and the walk sent is in the bucket once: none lost, none twice,
    the human and bot ones as sent, every event id the walk's browser made."""
    assert_bucket_holds_what_was_sent(demo_up["records"], demo_up["record"], demo_up["walk"])


def test_dashboard_activity_and_funnel_equal_the_oracle_over_the_raw_bucket(demo_up, browser):
    """The oracle's figures over the raw events in the bucket are what the dashboards show."""
    records, cfg = demo_up["records"], demo_up["cfg"]
    assert bot_events(records) > 0, "the demo traffic should include bots for their exclusion to be checked"
    first, last = date_range(records)
    want = activity(records, first, last)
    browser.get(f"{cfg.dashboard_url}?from={first}&to={last}")

    # Activity (the page the dashboard opens on)
    assert int(_value(browser, "#activity-kpi_events .kpi-value")) == want["events"]
    assert int(_value(browser, "#activity-kpi_sessions .kpi-value")) == want["sessions"]
    assert int(_value(browser, "#activity-kpi_users .kpi-value")) == want["peak_hour_users"]
    assert int(_value(browser, "#activity-kpi_peak .kpi-value")) == want["peak_hour_events"]
    daily_columns = ("events", "users", "sessions", "peak_hour_users")
    daily = _table(browser, "#activity-daily", "day", daily_columns)
    assert daily == {d: tuple(str(v[k]) for k in daily_columns) for d, v in want["daily"].items()}

    # Conversion funnel (its tab loads when opened)
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    browser.find_element(By.CSS_SELECTOR, '.navbar a[data-value="funnel"]').click()
    funnel = want["funnel"]
    assert int(_value(browser, "#funnel-kpi_sessions .kpi-value")) == want["sessions"]
    assert int(_value(browser, "#funnel-kpi_purchases .kpi-value")) == funnel["purchase"]
    assert float(_value(browser, "#funnel-kpi_conversion .kpi-value")) == \
        pytest.approx(funnel["purchase"] / funnel["page_view"], abs=5e-5)
    steps = _table(browser, "#funnel-steps_table", "label", ("sessions",))
    assert [int(v[0]) for v in steps.values()] == [funnel[s] for s in traffic.FUNNEL_STEPS]
    shop = sent(demo_up["record"], demo_up["walk"])["shop_orders"]   # the shop's orders: the records know
    assert float(_value(browser, "#funnel-kpi_booked .kpi-value")) == pytest.approx(shop["booked_revenue"])
    coverage = float(_value(browser, "#funnel-kpi_coverage .kpi-value"))
    assert coverage == pytest.approx(shop["coverage"], abs=1e-6)


#: What the oracle needs from the warehouse: the detector's settings (read, not restated) and
#: what the data-health page's functions return.
QUALITY_SQL = """
SELECT json_build_object(
    'settings', (SELECT json_object_agg(name, value) FROM dq_settings),
    'judged_before', (SELECT max(window_end) FROM etl_runs WHERE status = 'succeeded'),
    'metrics', (SELECT json_object_agg(metric, json_build_object('kind', kind, 'abs_floor', abs_floor,
                                                                 'min_volume', min_volume)) FROM dq_metrics),
    'anomalies', (SELECT coalesce(json_agg(a), '[]') FROM dashboard.anomalies(:'from'::date, :'to'::date) a),
    'restatements', (SELECT coalesce(json_agg(r), '[]')
                     FROM dashboard.restatements(:'from'::date, :'to'::date) r))::text"""


def test_the_outage_is_flagged_and_the_late_batch_restated_as_the_oracle_computes(demo_up):
    """dashboard.anomalies and dashboard.restatements against a plain-Python computation from the
    raw events in the bucket (tests/e2e/expected.py, with tests/support/quality.py's metrics and
    judge): every flag the warehouse holds has the oracle's values and state, every hour the
    oracle flags is open, the injected outage hour among them; the late batch's run restated
    exactly the figures of its day that the recomputation without it and with it differ in. The
    summary names both."""
    out, cfg, rec, records = demo_up["output"], demo_up["cfg"], demo_up["record"], demo_up["records"]
    first, last = date_range(records)
    found = json.loads(Warehouse.for_demo(cfg, use_dw_host=True)._read(
        QUALITY_SQL, {"from": first.isoformat(), "to": last.isoformat()}))
    assert found["settings"]["baseline_period_days"] == 1
    knobs = {k: float(v) for k, v in found["settings"].items()}
    metrics = {m: {"kind": v["kind"], "abs_floor": float(v["abs_floor"]),
                   "min_volume": float(v["min_volume"])} for m, v in found["metrics"].items()}
    judged_before = traffic.parse_ts(found["judged_before"])   # the last run's window end
    want = expected_anomalies(records, rec["late"], knobs, metrics, judged_before=judged_before)
    rows = {(traffic.parse_ts(a["hour"]), a["metric"]): a for a in found["anomalies"]}
    for key, row in rows.items():   # open or since cleared: the values of the hour's last judgement
        assert key in want, key
        assert row["open"] == want[key]["flagged"], (key, row, want[key])
        for name in ("observed", "expected", "lower_bound", "upper_bound", "score"):
            assert float(row[name]) == pytest.approx(want[key][name], rel=1e-9, abs=1e-9), (key, name)
    assert {k for k, v in want.items() if v["flagged"]} <= {k for k, v in rows.items() if v["open"]}
    outage = traffic.parse_ts(rec["outage"]["hour"])
    flagged = {metric for (hour, metric), row in rows.items() if hour == outage and row["open"]}
    assert flagged & {"events", "sessions"}, f"the outage hour {outage} is not flagged: {rows}"
    for metric in flagged:
        row = rows[(outage, metric)]
        named = rf"anomaly +.*{outage:%Y-%m-%d %H}:00 UTC {metric}: [\d,]+ observed, [\d,.]+ expected"
        assert re.search(named, out), metric
        assert float(row["observed"]) < float(row["lower_bound"])

    late = rec["late"]
    restated = sorted((r["day"], r["figure"], float(r["before"]), float(r["after"]))
                      for r in found["restatements"] if r["run_id"] == late["delivered"]["run_id"])
    assert restated == [(d, f, float(b), float(a)) for d, f, b, a in expected_restatements(records, late)]
    assert {f for _, f, _, _ in restated} >= {"agg_activity_daily.events", "agg_funnel_daily.sessions"}
    assert f"run {late['delivered']['run_id']} restated {len(restated)} figure(s)" in out
    for day, figure, *_ in restated:
        assert re.search(rf"restated +{day} {re.escape(figure)}: [\d,.]+ -> [\d,.]+", out), figure


@pytest.mark.timeout(900)
def test_second_run_is_idempotent(demo_up, demo_env):
    cfg = demo_up["cfg"]
    before = Warehouse.for_demo(cfg, use_dw_host=True).figures()
    output = _run_demo("up", demo_env, "demo-up-again.log")
    assert "was sent by an earlier run: not sending it again" in output
    assert "was done by an earlier run: not walking again" in output
    assert "clickstream-dw: already running" in output
    shop = demo_up["record"]["shop_orders"]
    assert f"shop orders: {shop['orders']} (0 new) through the app login" in output
    placed = len(demo_up["walk"]["orders_placed"])
    if placed:
        assert f"walk orders: {placed} (0 new) into the shop database" in output
    after = Warehouse.for_demo(cfg, use_dw_host=True).figures()
    assert after["etl_runs"] > before["etl_runs"]
    assert {k: v for k, v in after.items() if k != "etl_runs"} == \
        {k: v for k, v in before.items() if k != "etl_runs"}
