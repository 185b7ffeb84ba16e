"""The dashboard app's chart and comparison helpers (R/charts.R, R/compare.R, www/charts/) in
headless Chromium. A test app (tests/dashboard/chart_app) sources them and draws one chart of
each kind from fixed data (chart_app/data.json); the expected tooltips, changes and intervals
are computed here from the same data. Also: the pinned ECharts bundle is the one the role ships,
and the page requests nothing from beyond 127.0.0.1."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.dashboard.conftest import APP_DIR, ARTIFACTS, REPO, require_r
from tests.support import shiny_app

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CHART_APP = Path(__file__).parent / "chart_app"
DATA = json.loads((CHART_APP / "data.json").read_text())
ROLE = REPO / "roles" / "shiny_server"
VENDOR = ROLE / "vendor"
BUNDLE = VENDOR / "node_modules" / "echarts" / "dist" / "echarts.min.js"
DRAWN = ["hourly", "daily", "channels", "devices", "funnel", "retention", "journeys"]
Z95 = 1.959963984540054  # the 97.5 % point of the standard normal


# ---- the pins ------------------------------------------------------------------------------------


def test_the_pinned_bundle_is_the_one_the_role_and_app_expect():
    version = json.loads((VENDOR / "package.json").read_text())["dependencies"]["echarts"]
    assert version[0].isdigit(), f"echarts must be pinned to an exact version, got {version}"
    locked = json.loads((VENDOR / "package-lock.json").read_text())["packages"]["node_modules/echarts"]
    assert locked["version"] == version
    assert locked["integrity"].startswith("sha512-")
    pins = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert pins["shiny_server_echarts_version"] == version
    assert BUNDLE.exists(), "roles/shiny_server/vendor is not installed: run scripts/bootstrap.sh"
    assert json.loads((BUNDLE.parents[1] / "package.json").read_text())["version"] == version
    assert hashlib.sha256(BUNDLE.read_bytes()).hexdigest() == pins["shiny_server_echarts_sha256"]
    charts_r = (APP_DIR / "R" / "charts.R").read_text()
    assert f'ECHARTS_VERSION <- "{version}"' in charts_r


def test_the_host_has_every_r_package_the_role_installs():
    """The browser tests run the app on this host: it needs what the role puts on the DW host."""
    role = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["shiny_server_packages"]
    lines = (REPO / "requirements" / "apt.txt").read_text().splitlines()
    apt = {line.split("#")[0].strip() for line in lines} - {""}
    assert [p for p in role if p.startswith("r-") and p not in apt] == []


# ---- the app and the browser ---------------------------------------------------------------------


@dataclass
class ChartPage:
    driver: webdriver.Chrome
    url: str
    downloads: Path
    seen: list[str] = field(default_factory=list)

    def requests(self) -> list[str]:
        """Every URL the page has requested so far (Chrome's performance log, drained)."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.seen.append(message["params"]["request"]["url"])
            elif message["method"] == "Network.webSocketCreated":
                self.seen.append(message["params"]["url"])
        return self.seen

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def download(self, name: str, click_css: str, timeout: float = 15) -> Path:
        target = self.downloads / name
        target.unlink(missing_ok=True)
        self.driver.find_element(By.CSS_SELECTOR, click_css).click()
        deadline = time.monotonic() + timeout
        while not (target.exists() and target.stat().st_size > 0):
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} was not downloaded; found {sorted(os.listdir(self.downloads))}")
            time.sleep(0.1)
        time.sleep(0.2)  # the file is renamed into place when complete; let it settle
        return target


@pytest.fixture(scope="module")
def chart_app_url() -> Iterator[str]:
    rscript = require_r("shiny", "bslib", "jsonlite", "htmltools")
    tmp = Path(tempfile.mkdtemp(prefix="chart-app-"))
    log = tmp / "app.log"
    try:
        with shiny_app.serve_app(rscript, None, tmp, app_dir=CHART_APP) as (url, log):
            yield url
    finally:
        if log.exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, ARTIFACTS / "chart_app.log")
        shutil.rmtree(tmp, ignore_errors=True)


SETTLED_JS = """
const charts = Array.from(document.querySelectorAll('.clickstream-chart'));
return charts.length > 0 && charts.every(c => ['rendered', 'empty', 'error'].includes(c.dataset.state)) &&
    document.querySelector('#channels_table tbody tr') !== null;
"""


@pytest.fixture(scope="module")
def page(chart_app_url) -> Iterator[ChartPage]:
    """One headless Chromium for the module, logging every request, with names outside
    127.0.0.1 unresolvable (a request that tried to leave would fail, and be logged)."""
    downloads = Path(tempfile.mkdtemp(prefix="chart-downloads-"))
    browser = shiny_app.chromium(
        window=(1400, 1200), extra_flags=("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",),
        capabilities={"goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"}})
    try:
        with browser as driver:
            driver.execute_cdp_cmd(
                "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
            )
            driver.get_log("performance")  # the browser's own start (its new-tab page), not the app's
            driver.get(chart_app_url)
            try:
                WebDriverWait(driver, 60, poll_frequency=0.2).until(lambda d: d.execute_script(SETTLED_JS))
            finally:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                height = driver.execute_script("return document.body.scrollHeight")
                driver.set_window_size(1400, max(900, min(height + 40, 4000)))
                driver.save_screenshot(str(ARTIFACTS / "charts.png"))
                driver.set_window_size(1400, 1200)
            chart_page = ChartPage(driver, chart_app_url, downloads)
            chart_page.requests()
            yield chart_page
    finally:
        shutil.rmtree(downloads, ignore_errors=True)


# ---- expected figures, formatted as the app formats them ----------------------------------------


def fmt_int(v: float) -> str:
    return f"{round(v):,}"


def fmt_pct(v: float, digits: int = 1) -> str:
    return f"{100 * v:.{digits}f}%"


def fmt_money(v: float) -> str:
    return f"${v:,.2f}"


def wilson(successes: int, trials: int) -> tuple[float, float]:
    p, n, z2 = successes / trials, trials, Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


# ---- the charts ----------------------------------------------------------------------------------


def test_every_chart_is_drawn_or_shows_its_empty_state(page: ChartPage):
    states = page.js(
        "return Object.fromEntries(Array.from(document.querySelectorAll('.clickstream-chart'))"
        ".map(c => [c.id, c.dataset.state]))"
    )
    assert states == {**dict.fromkeys(DRAWN, "rendered"), "nothing": "empty", "waiting": "empty"}
    for chart_id in DRAWN:
        size = page.js(
            "const c = document.querySelector(arguments[0] + ' .chart-canvas canvas');"
            "return c ? [c.clientWidth, c.clientHeight] : null;",
            f"#{chart_id}",
        )
        assert size and size[0] > 200 and size[1] > 100, (chart_id, size)
        # ECharts' aria: the canvas' label describes the chart's data for screen readers.
        described = page.driver.find_element(By.CSS_SELECTOR, f"#{chart_id} .chart-canvas").get_attribute(
            "aria-label"
        )
        assert described and "chart" in described.lower(), (chart_id, described)
    assert "Events" in page.driver.find_element(By.CSS_SELECTOR, "#hourly .chart-canvas").get_attribute(
        "aria-label"
    )
    empty = page.driver.find_element(By.CSS_SELECTOR, "#nothing .chart-empty").text
    assert "No referrers in the selected period." in empty
    assert "Pick a channel to see its trend." in page.driver.find_element(By.CSS_SELECTOR, "#waiting").text
    assert not page.driver.find_element(By.CSS_SELECTOR, "#nothing .chart-png").is_enabled()
    errors = [
        e for e in page.driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]
    ]
    assert errors == []


# Where to put the mouse: JS returning [x, y] in the chart canvas' pixels.
POINT_JS = (
    "return echarts.getInstanceByDom(document.querySelector(arguments[0] + ' .chart-canvas'))"
    ".convertToPixel({seriesIndex: 0}, arguments[1]);"
)
SANKEY_NODE_JS = """
const chart = echarts.getInstanceByDom(document.querySelector('#journeys .chart-canvas'));
const data = chart.getModel().getSeriesByIndex(0).getData();
const l = data.getItemLayout(data.indexOfName(arguments[0]));
return [l.x + l.dx / 2, l.y + l.dy / 2];
"""


def epoch_ms(t: datetime) -> int:
    return int(t.timestamp()) * 1000


def hover_cases() -> dict[str, tuple[str, str, object, list[str]]]:
    hourly, daily, ch, dev = DATA["hourly"], DATA["daily"], DATA["channels"], DATA["devices"]
    peak = max(range(len(hourly["events"])), key=lambda i: hourly["events"][i])
    hour_ms = epoch_ms(datetime.fromisoformat(hourly["hour"][peak].replace("Z", "+00:00")))
    d = 6
    day_ms = epoch_ms(datetime.combine(date.fromisoformat(daily["day"][d]), datetime.min.time(), UTC))
    funnel = DATA["funnel"]
    cohort0 = [r for r in DATA["retention"] if r["cohort"] == DATA["retention"][0]["cohort"]]
    cell = cohort0[2]
    journeys = DATA["journeys"]
    node_in = sum(j["sessions"] for j in journeys if j["step"] == 1 and j["to"] == "product_view")
    node_out = sum(j["sessions"] for j in journeys if j["step"] == 2 and j["from"] == "product_view")
    return {
        "hourly": (
            "hourly",
            POINT_JS,
            [hour_ms, hourly["events"][peak]],
            [
                hourly["hour"][peak][:10] + " " + hourly["hour"][peak][11:16] + " UTC",
                f"Events: {fmt_int(hourly['events'][peak])}",
                f"Sessions: {fmt_int(hourly['sessions'][peak])}",
            ],
        ),
        "daily": (
            "daily",
            POINT_JS,
            [day_ms, daily["revenue"][d]],
            [daily["day"][d], fmt_money(daily["revenue"][d])],
        ),
        "vertical bar": (
            "channels",
            POINT_JS,
            [1, ch["sessions"][1] / 2],
            [ch["channel"][1], f"{fmt_int(ch['sessions'][1])} sessions"],
        ),
        "horizontal bar": (
            "devices",
            POINT_JS,
            [dev["conversion"][1] / 2, 1],
            [dev["device"][1], f"{fmt_pct(dev['conversion'][1])} converted"],
        ),
        "funnel": (
            "funnel",
            POINT_JS,
            [funnel["sessions"][2] / 2, 2],
            [
                funnel["step"][2],
                f"{fmt_int(funnel['sessions'][2])} sessions",
                f"{fmt_pct(funnel['sessions'][2] / funnel['sessions'][0])} of {funnel['step'][0]}",
                f"{fmt_pct(funnel['sessions'][2] / funnel['sessions'][1])} of the step before",
            ],
        ),
        "heatmap": (
            "retention",
            POINT_JS,
            [2, 0],
            [
                f"cohort (week of first visit): {cell['cohort']} ({fmt_int(cell['size'])} visitors)",
                "weeks since the first visit: week 2",
                f"{fmt_pct(cell['share'])} active "
                f"({fmt_int(cell['active'])} of {fmt_int(cell['size'])} visitors)",
            ],
        ),
        "sankey": (
            "journeys",
            SANKEY_NODE_JS,
            "2\u00b7product_view",
            ["product_view (step 2)", f"{fmt_int(max(node_in, node_out))} sessions"],
        ),
    }


HOVER = hover_cases()


def move_mouse_to(page: ChartPage, chart_id: str, point_js: str, point) -> None:
    page.js(
        "document.getElementById(arguments[0]).scrollIntoView({block: 'center', behavior: 'instant'});",
        chart_id,
    )
    x, y = page.js(point_js, f"#{chart_id}", point) if point_js is POINT_JS else page.js(point_js, point)
    left, top = page.js(
        "const r = document.querySelector(arguments[0] + ' .chart-canvas').getBoundingClientRect();"
        "return [r.left, r.top];",
        f"#{chart_id}",
    )
    actions = ActionBuilder(page.driver)
    actions.pointer_action.move_to_location(int(left + x), int(top + y))
    actions.perform()


@pytest.mark.parametrize("case", list(HOVER))
def test_hover_shows_the_exact_value_with_its_unit(page: ChartPage, case: str):
    chart_id, point_js, point, expected = HOVER[case]
    ActionChains(page.driver).move_by_offset(0, 0).perform()
    move_mouse_to(page, chart_id, point_js, point)
    tooltip_css = f"#{chart_id} .chart-tooltip"

    def shown(driver):
        tips = [t for t in driver.find_elements(By.CSS_SELECTOR, tooltip_css) if t.is_displayed()]
        return tips[0].text if tips and all(e in tips[0].text for e in expected) else False

    try:
        text = WebDriverWait(page.driver, 10, poll_frequency=0.1).until(shown)
    except Exception:
        tips = page.driver.find_elements(By.CSS_SELECTOR, tooltip_css)
        raise AssertionError(f"{case}: expected {expected}, tooltip shows {[t.text for t in tips]}") from None
    for line in expected:
        assert line in text


# chart id -> (its categories, its values, whether its bars run across)
BARS = {
    "channels": (DATA["channels"]["channel"], DATA["channels"]["sessions"], False),
    "devices": (DATA["devices"]["device"], DATA["devices"]["conversion"], True),
}
OPACITIES_JS = """
const chart = echarts.getInstanceByDom(document.querySelector('#channels .chart-canvas'));
return chart.getOption().series[0].data.map(p => p.itemStyle ? p.itemStyle.opacity : 1);
"""


@pytest.mark.parametrize("chart_id", list(BARS))
def test_a_click_on_a_bar_sets_the_shiny_input(page: ChartPage, chart_id: str):
    categories, values, horizontal = BARS[chart_id]
    index = 2
    echo = page.driver.find_element(By.ID, f"{chart_id}_clicked")
    assert echo.text == "none"
    point = [values[index] / 2, index] if horizontal else [index, values[index] / 2]
    move_mouse_to(page, chart_id, POINT_JS, point)
    ActionChains(page.driver).click().perform()
    WebDriverWait(page.driver, 10).until(lambda d: echo.text == categories[index])
    if chart_id == "channels":  # its page draws it again: the chosen bar solid, the others faded
        faded = [1 if i == index else 0.35 for i in range(len(categories))]
        WebDriverWait(page.driver, 10).until(lambda d: d.execute_script(OPACITIES_JS) == faded)


# Installed before the page's own scripts: records every chart's data-state changes as
# [chart id, state before, callback number]; the changes made within one task arrive in one
# MutationObserver callback.
STATE_CHANGES_JS = """
window.__stateChanges = [];
let callback = 0;
new MutationObserver((records) => {
  callback += 1;
  for (const r of records) window.__stateChanges.push([r.target.id, r.oldValue, callback]);
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-state'],
                      attributeOldValue: true});
"""


def test_a_chart_is_final_on_its_first_frame(chart_app_url):
    """No animation: a chart's first draw is its last, so it is marked rendered (what the tests
    and bench/dashboard.py wait for) within the task that draws it, not after a grow-in. A page
    of its own, watched from before its scripts run."""
    with shiny_app.chromium(window=(1400, 1200)) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STATE_CHANGES_JS})
        driver.get(chart_app_url)
        WebDriverWait(driver, 60, poll_frequency=0.2).until(lambda d: d.execute_script(SETTLED_JS))
        animation = driver.execute_script(
            "return Object.fromEntries(arguments[0].map(id => [id, echarts.getInstanceByDom("
            "document.querySelector('#' + id + ' .chart-canvas')).getOption().animation]));",
            DRAWN,
        )
        changes = driver.execute_script("return window.__stateChanges;")
    assert animation == dict.fromkeys(DRAWN, False)
    for chart_id in DRAWN:
        mine = [(old, n) for target, old, n in changes if target == chart_id]
        drawn = [i for i, (old, _) in enumerate(mine) if old == "drawing"]
        assert drawn, (chart_id, mine)
        # drawing -> rendered in the callback of the change into drawing (with a grow-in of
        # 0.3 s it came in a later one)
        assert all(i > 0 and mine[i][1] == mine[i - 1][1] for i in drawn), (chart_id, mine)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("chart_id", DRAWN)
def test_every_chart_exports_as_png(page: ChartPage, chart_id: str):
    page.js(
        "document.getElementById(arguments[0]).scrollIntoView({block: 'center', behavior: 'instant'});",
        chart_id,
    )
    WebDriverWait(page.driver, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f"#{chart_id}").get_attribute("data-state") == "rendered"
    )
    path = page.download(f"{chart_id}.png", f"#{chart_id} .chart-png")
    width, height = png_size(path)
    canvas = page.js(
        "const r = document.querySelector(arguments[0] + ' .chart-canvas').getBoundingClientRect();"
        "return [Math.round(r.width), Math.round(r.height)];",
        f"#{chart_id}",
    )
    # Saved at twice the screen's resolution, the whole chart.
    assert (width, height) == (2 * canvas[0], 2 * canvas[1])


# ---- comparisons and downloads -------------------------------------------------------------------


def test_value_boxes_show_the_change_and_the_rate_interval(page: ChartPage):
    k = DATA["kpis"]

    def box(output_id: str) -> dict[str, str]:
        el = page.driver.find_element(By.ID, output_id)
        change = el.find_element(By.CSS_SELECTOR, ".kpi-change")
        return {
            "value": el.find_element(By.CSS_SELECTOR, ".kpi-value").text,
            "change": change.find_element(By.CSS_SELECTOR, ".kpi-change-amount").text,
            "significant": change.get_attribute("data-significant"),
            "text": el.text,
        }

    sessions = box("kpi_sessions")
    rise = (k["sessions"] - k["previous_sessions"]) / k["previous_sessions"]
    assert sessions["value"] == fmt_int(k["sessions"])
    assert sessions["change"] == f"\u25b2 {100 * rise:.1f}%"
    assert "vs previous period" in sessions["text"]

    orders = box("kpi_orders")  # nothing the period before: no percent
    assert orders["change"] == "\u25b2 from zero"

    bounce = box("kpi_bounce")  # a rate, in percentage points; up is bad
    points = k["bounce_rate"] - k["previous_bounce_rate"]
    assert bounce["change"] == f"\u25b2 {100 * points:.1f} pp"
    assert "tone-bad" in page.driver.find_element(By.CSS_SELECTOR, "#kpi_bounce .kpi-change").get_attribute(
        "class"
    )

    conversion = box("kpi_conversion")
    rate, previous = k["purchases"] / k["sessions"], k["previous_purchases"] / k["previous_sessions"]
    low, high = wilson(k["purchases"], k["sessions"])
    prev_low, prev_high = wilson(k["previous_purchases"], k["previous_sessions"])
    assert conversion["value"] == fmt_pct(rate)
    assert f"95% CI {100 * low:.1f}\u2013{100 * high:.1f}%" in conversion["text"]
    interval = page.driver.find_element(By.CSS_SELECTOR, "#kpi_conversion .kpi-interval")
    assert float(interval.get_attribute("data-low")) == pytest.approx(low, abs=1e-12)
    assert float(interval.get_attribute("data-high")) == pytest.approx(high, abs=1e-12)
    assert conversion["change"] == f"\u25b2 {100 * (rate - previous):.1f} pp"
    overlap = low <= prev_high and prev_low <= high
    assert overlap, "the fixed data is meant to hold a change within the noise"
    assert conversion["significant"] == "false"
    assert "not significant" in conversion["text"]


def test_the_csv_download_is_the_table_as_shown(page: ChartPage):
    page.js("document.getElementById('channels_csv').scrollIntoView({block: 'center', behavior: 'instant'});")
    path = page.download("channels.csv", "#channels_csv")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"  # UTF-8 byte order mark, for spreadsheets
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    table = page.driver.find_element(By.ID, "channels_table")
    header = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    shown = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    # Compared case-blind: the table's header is upper-cased by CSS.
    assert [h.lower() for h in rows[0]] == [h.lower() for h in header]
    assert rows[1:] == shown
    ch = DATA["channels"]
    assert rows[1] == [
        ch["channel"][0],
        fmt_int(ch["sessions"][0]),
        f"\u25b2 {100 * (ch['sessions'][0] / ch['previous_sessions'][0] - 1):.1f}%",
        fmt_pct(ch["conversion"][0]),
        fmt_money(ch["revenue"][0]),
    ]


def test_no_request_leaves_the_host(page: ChartPage):
    urls = page.requests()
    version = json.loads((VENDOR / "package.json").read_text())["dependencies"]["echarts"]
    assert any(urlsplit(u).path.endswith(f"/echarts-{version}/echarts.min.js") for u in urls), urls
    assert any(urlsplit(u).path.endswith("/charts.js") for u in urls), urls
    assert any(urlsplit(u).scheme == "ws" for u in urls), urls  # Shiny's websocket is logged too
    outside = [
        u for u in urls if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert outside == []
