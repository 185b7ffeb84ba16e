"""End to end: the Shiny app against the known warehouse, every page opened in headless
Chromium; the numbers on screen must equal the dashboard SQL over the same data.
Screenshots land in test-artifacts/dashboard/<page>.png."""

from __future__ import annotations

import contextlib
import re
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import psycopg2
import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.dashboard import known_data
from tests.dashboard.conftest import ARTIFACTS, Warehouse
from tests.support import compare, journeys, overview, quality, shiny_app
from tests.support import revenue as revenue_oracle
from tests.support.shiny_app import PLOTS_DONE_JS

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
FROM, TO = known_data.FIRST_DAY, known_data.LAST_DAY


def open_page(browser, page: str, kpis: list[str]) -> dict[str, str]:
    """Shows `page` and waits until its value boxes are filled; returns their raw values."""
    browser.find_element(By.CSS_SELECTOR, f'.navbar a[data-value="{page}"]').click()
    selectors = {k: f"#{page}-kpi_{k} .kpi-value" for k in kpis}

    def filled(driver):
        found = {}
        for k, css in selectors.items():
            els = driver.find_elements(By.CSS_SELECTOR, css)
            if not els or not els[0].is_displayed():
                return False
            found[k] = els[0].get_attribute("data-value")
        return found

    try:
        values = WebDriverWait(browser, 30, poll_frequency=0.2).until(filled)
    except TimeoutException:
        screenshot(browser, f"failed-{page}")
        raise
    # Charts are drawn after the value boxes: wait until each is drawn or shows its empty message.
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(PLOTS_DONE_JS))
    return values


def table_values(browser, table_id: str, column: str) -> list[str]:
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr"))
    return [
        td.get_attribute("data-value")
        for td in browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody td.{column}")
    ]


def settled(browser, until=lambda d: True, timeout: float = 30) -> None:
    """Waits for `until` and for Shiny to finish redrawing (a table being replaced goes stale)."""
    WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: until(d) and not d.find_elements(By.CSS_SELECTOR, ".recalculating, .shiny-busy"))


def screenshot(browser, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, max(900, min(height + 40, 4000)))
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def shown_range(browser) -> tuple[str, str]:
    inputs = browser.find_elements(By.CSS_SELECTOR, "#range input")
    return inputs[0].get_attribute("value"), inputs[-1].get_attribute("value")


def num(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture(scope="module")
def app(browser, dashboard_url):
    browser.get(dashboard_url)
    WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#activity-kpi_events .kpi-value")
    )
    return browser


def test_opens_on_the_latest_data(app, warehouse: Warehouse):
    assert shown_range(app) == (FROM.isoformat(), TO.isoformat())
    # One range for every page, in the bar under the navbar; no page has its own.
    assert app.find_elements(By.CSS_SELECTOR, ".tab-pane .shiny-date-range-input") == []
    meta = app.find_element(By.CSS_SELECTOR, 'meta[name="clickstream-warehouse"]').get_attribute("content")
    assert meta == "reachable"


def test_activity_page(app, warehouse: Warehouse):
    kpi = open_page(app, "activity", ["events", "sessions", "users", "peak"])
    [(events, sessions, users, peak)] = warehouse.query(
        "SELECT events, sessions, peak_hour_users, peak_hour_events FROM dashboard.activity_summary(%s, %s)",
        (FROM, TO),
    )
    assert (num(kpi["events"]), num(kpi["sessions"]), num(kpi["users"]), num(kpi["peak"])) == (
        events,
        sessions,
        users,
        peak,
    )
    # The headline revenue is booked (the shop's orders), tracked beside it.
    booked = open_page(app, "activity", ["booked"])["booked"]
    shown_tracked = app.find_element(By.CSS_SELECTOR, "#activity-kpi_booked .kpi-tracked").get_attribute(
        "data-value")
    [(want_booked, want_tracked)] = warehouse.query(
        "SELECT sum(booked_revenue), sum(tracked_revenue) FROM dashboard.revenue_reconciliation(%s, %s)",
        (FROM, TO))
    assert want_booked != want_tracked and (num(booked), num(shown_tracked)) == (want_booked, want_tracked)
    daily = warehouse.query("SELECT events, users FROM dashboard.activity_daily(%s, %s)", (FROM, TO))
    assert [num(v) for v in table_values(app, "activity-daily", "events")] == [e for e, _ in daily]
    assert [num(v) for v in table_values(app, "activity-daily", "users")] == [u for _, u in daily]
    # The per-day chart: a time series of the same figures.
    assert timeseries_values(app, "activity-daily_chart") == [float(e) for e, _ in daily]
    # Formatted for people: thousands separators, no raw floats.
    shown = app.find_element(By.CSS_SELECTOR, "#activity-kpi_events .kpi-value").text
    assert shown == f"{events:,}"
    screenshot(app, "1-activity")


def test_activity_overview(app, warehouse: Warehouse):
    """Visitors (exact here, so marked exact), new and returning, sessions, booked orders and
    conversion with its Wilson interval, against the oracle over the known events."""
    kpi = open_page(app, "activity", ["visitors", "new", "sessions", "events", "orders", "conversion"])
    want = overview.overview(warehouse.data, FROM, TO)
    assert want.new_visitors > 0  # every visitor of the known days is new; one day has returning ones
    assert (num(kpi["visitors"]), num(kpi["new"]), num(kpi["sessions"]), num(kpi["events"])) == (
        want.visitors, want.new_visitors, want.sessions, want.events)
    returning = app.find_element(By.CSS_SELECTOR, "#activity-kpi_new .kpi-returning")
    assert num(returning.get_attribute("data-value")) == want.returning_visitors
    note = app.find_element(By.CSS_SELECTOR, "#activity-kpi_visitors .visitor-note")
    [(approximate,)] = warehouse.query("SELECT approximate FROM dashboard.visitors(%s, %s)", (FROM, TO))
    assert approximate is False  # the known data is small: its visitors are counted exactly
    assert (note.get_attribute("data-approximate"), note.text) == ("false", "distinct browsers, exact")
    orders, _ = overview.booked(warehouse.data, FROM, TO)
    assert num(kpi["orders"]) == orders
    assert float(kpi["conversion"]) == pytest.approx(want.conversion)
    interval = app.find_element(By.CSS_SELECTOR, "#activity-kpi_conversion .kpi-interval")
    low, high = compare.wilson(want.purchase_sessions, want.sessions)
    assert (float(interval.get_attribute("data-low")), float(interval.get_attribute("data-high"))) == (
        pytest.approx(low), pytest.approx(high))
    # No data before the known days: every change reads "from zero" or none, never an error.
    directions = {e.get_attribute("data-direction")
                  for e in app.find_elements(By.CSS_SELECTOR, ".tab-pane.active .kpi-change")}
    assert directions and directions <= {"new", "none", "flat", ""}


def test_activity_trends_are_zoomable_time_series(app, warehouse: Warehouse):
    """Per hour: every hour of the range with the oracle's events; hovering a point shows its
    exact figures with their units; the slider and the wheel zoom."""
    open_page(app, "activity", ["events"])
    hourly = overview.activity(warehouse.data.records, FROM, TO)["hourly"]
    per_hour = {hour: events for hour, (events, _, _) in hourly.items()}
    hours = 24 * ((TO - FROM).days + 1)
    values = timeseries_values(app, "activity-hourly")
    assert len(values) == hours and sum(values) == sum(per_hour.values())
    busiest = max(per_hour, key=lambda h: (per_hour[h], -h.timestamp()))
    index = int((busiest - datetime(FROM.year, FROM.month, FROM.day, tzinfo=UTC)).total_seconds() // 3600)
    assert values[index] == per_hour[busiest]
    users = hourly[busiest][1]
    text = hover_point(app, "activity-hourly", busiest.timestamp() * 1000, per_hour[busiest])
    assert busiest.strftime("%Y-%m-%d %H:%M UTC") in text
    assert f"Events: {per_hour[busiest]} events" in text
    assert f"Users: {users} distinct browsers" in text
    kinds = app.execute_script(
        "return echarts.getInstanceByDom(document.querySelector('#activity-hourly .chart-canvas'))"
        ".getOption().dataZoom.map(z => z.type);")
    assert sorted(kinds) == ["inside", "slider"]


def test_funnel_page(app, warehouse: Warehouse):
    kpi = open_page(app, "funnel", ["sessions", "purchases", "conversion", "abandonment"])
    rows = warehouse.query(
        "SELECT step, sessions, step_rate, overall_rate FROM dashboard.funnel(%s, %s)", (FROM, TO)
    )
    assert [num(v) for v in table_values(app, "funnel-steps_table", "sessions")] == [r[1] for r in rows]
    assert [num(v) for v in table_values(app, "funnel-steps_table", "step_rate")[1:]] == [
        r[2] for r in rows[1:]
    ]
    assert num(kpi["purchases"]) == rows[4][1]
    assert float(kpi["conversion"]) == pytest.approx(rows[4][1] / rows[0][1])
    [(started,)] = warehouse.query("SELECT sum(sessions) FROM dashboard.funnel_daily(%s, %s)", (FROM, TO))
    assert num(kpi["sessions"]) == started
    revenue = open_page(app, "funnel", ["booked", "tracked", "coverage"])
    [(booked, tracked, orders, untracked)] = warehouse.query(
        "SELECT sum(booked_revenue), sum(tracked_revenue), sum(booked_orders), sum(untracked_orders)"
        " FROM dashboard.revenue_reconciliation(%s, %s)", (FROM, TO))
    assert (num(revenue["booked"]), num(revenue["tracked"])) == (booked, tracked)
    assert untracked > 0 and num(revenue["coverage"]) == pytest.approx((orders - untracked) / orders)
    # The charts: the funnel's steps and the conversion per day, as the oracle counts them.
    steps = overview.funnel_sessions(warehouse.data, FROM, TO)
    assert chart_values(app, "funnel-funnel_chart") == [float(steps[s]) for s in known_data.FUNNEL_STEPS]
    per_day = [overview.overview(warehouse.data, d, d) for d in known_data.DAYS]
    assert timeseries_values(app, "funnel-daily") == pytest.approx([d.purchase_sessions / d.sessions
                                                                    for d in per_day])
    last_day_ms = datetime(TO.year, TO.month, TO.day, tzinfo=UTC).timestamp() * 1000
    text = hover_point(app, "funnel-daily", last_day_ms, per_day[-1].conversion)
    assert f"{100 * per_day[-1].conversion:.1f}% of sessions started" in text
    screenshot(app, "2-funnel")


def test_products_page(app, warehouse: Warehouse):
    kpi = open_page(app, "products", ["views", "cart_rate", "purchases", "revenue"])
    [(views, rate, purchases, tracked, booked)] = warehouse.query(
        "SELECT views, add_to_cart_rate, purchases, revenue, booked_revenue"
        " FROM dashboard.product_summary(%s, %s)",
        (FROM, TO),
    )
    assert (num(kpi["views"]), num(kpi["cart_rate"]), num(kpi["purchases"]), num(kpi["revenue"])) == (
        views,
        rate,
        purchases,
        booked,
    )
    shown_tracked = app.find_element(By.CSS_SELECTOR, "#products-kpi_revenue .kpi-tracked").get_attribute(
        "data-value")
    assert booked != tracked and num(shown_tracked) == tracked
    top = warehouse.query(
        "SELECT product_name, views, booked_revenue"
        " FROM dashboard.product_engagement(%s, %s, NULL, NULL, 25)",
        (FROM, TO),
    )
    WebDriverWait(app, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#products-products tbody tr td"))
    rows = app.find_elements(By.CSS_SELECTOR, "#products-products tbody tr")
    shown = [
        (
            r.find_elements(By.TAG_NAME, "td")[0].text,
            int(r.find_elements(By.TAG_NAME, "td")[4].text.replace(",", "")),
            Decimal(r.find_elements(By.TAG_NAME, "td")[-1].text.replace("$", "").replace(",", "")),
        )
        for r in rows
    ]
    assert shown == [(name, v, b) for name, v, b in top][:10]
    screenshot(app, "3-products")


def test_acquisition_page(app, warehouse: Warehouse):
    kpi = open_page(app, "acquisition", ["visitors", "new", "sessions", "conversion"])
    [(visitors, new, _returning, _signed_in, _approximate, _error)] = warehouse.query(
        "SELECT * FROM dashboard.visitors(%s, %s)", (FROM, TO))
    channels = warehouse.query(
        "SELECT channel, sessions, visitors, bounce_rate, conversion_rate, orders, revenue,"
        " last_touch_orders, last_touch_revenue FROM dashboard.channels(%s, %s)", (FROM, TO))

    def shown(table: str, column: str, driver=app) -> list:
        values = table_values(driver, f"acquisition-{table}_table", column)
        return values if column in ("channel", "campaign", "referrer_host") else [num(v) for v in values]

    sessions = sum(c[1] for c in channels)
    converted = sum(c[4] * c[1] for c in channels if c[4] is not None)
    assert (num(kpi["visitors"]), num(kpi["new"]), num(kpi["sessions"])) == (visitors, new, sessions)
    assert float(kpi["conversion"]) == pytest.approx(float(converted / sessions))
    assert len(channels) >= 4, "the known data should spread sessions over several channels"
    assert shown("channels", "channel") == [c[0] for c in channels]
    assert shown("channels", "sessions") == [c[1] for c in channels]
    assert shown("channels", "visitors") == [c[2] for c in channels]
    assert shown("channels", "attributed_revenue") == [c[6] for c in channels]
    # The attribution switch changes the orders and revenue columns to that model's.
    app.find_element(By.CSS_SELECTOR, '#acquisition-attribution input[value="last_touch"]').click()
    settled(app, lambda d: shown("channels", "attributed_orders", d) == [c[7] for c in channels])
    assert shown("channels", "attributed_revenue") == [c[8] for c in channels]
    sources = warehouse.query("SELECT channel, source, medium, campaign, sessions"
                              " FROM dashboard.sources(%s, %s, NULL, 25)", (FROM, TO))
    assert shown("sources", "sessions") == [s[4] for s in sources]
    assert shown("sources", "campaign") == [s[3] for s in sources]
    referrers = warehouse.query("SELECT referrer_host FROM dashboard.referrers(%s, %s, 25)", (FROM, TO))
    assert referrers and shown("referrers", "referrer_host") == [r[0] for r in referrers]
    # The channel chart: interactive bars of the same sessions; a click on one shows its sources.
    drawn = [c for c in channels if c[1] > 0]
    assert chart_values(app, "acquisition-channel_chart") == [float(c[1]) for c in drawn]
    clicked = drawn[1][0]
    for attempt in range(3):  # a click during the bars' entry animation may land beside them
        click_bar(app, "acquisition-channel_chart", 1, drawn[1][1])
        try:
            settled(app, lambda d: set(shown("sources", "channel", d)) == {clicked}, timeout=10)
            break
        except TimeoutException:
            if attempt == 2:
                raise
    assert Select(app.find_element(By.ID, "acquisition-channel")).first_selected_option.text == clicked
    mine = warehouse.query("SELECT sessions FROM dashboard.sources(%s, %s, %s, 25)", (FROM, TO, clicked))
    assert shown("sources", "sessions") == [m[0] for m in mine]
    # The click filters the page: the headline figures are the oracle's for that channel.
    want = overview.overview(warehouse.data, FROM, TO, {"channel": clicked})
    eventually(app, lambda d: [kpi_of(d, "acquisition", k) for k in ("visitors", "new", "sessions")],
               [str(want.visitors), str(want.new_visitors), str(want.sessions)])
    assert float(kpi_of(app, "acquisition", "conversion")) == pytest.approx(want.conversion)
    assert query_of(app)["channel"] == clicked
    settled(app)
    screenshot(app, "4-acquisition")


TIMESERIES_VALUES_JS = """
const chart = echarts.getInstanceByDom(document.querySelector(arguments[0] + ' .chart-canvas'));
return chart.getOption().series[0].data.map(p => p[1]);
"""
CANVAS_JS = """
const canvas = document.querySelector(arguments[0] + ' .chart-canvas');
canvas.scrollIntoView({block: 'center', behavior: 'instant'});
const r = canvas.getBoundingClientRect();
const xy = echarts.getInstanceByDom(canvas).convertToPixel({seriesIndex: 0}, arguments[1]);
return [r.left + xy[0], r.top + xy[1]];
"""


def timeseries_values(browser, chart_id: str) -> list[float]:
    """The first series' values of a drawn time series."""
    settled(browser, lambda d: d.find_element(By.ID, chart_id).get_attribute("data-state") == "rendered")
    return [float(v) for v in browser.execute_script(TIMESERIES_VALUES_JS, f"#{chart_id}")]


def hover_point(browser, chart_id: str, time_ms: float, value: float) -> str:
    """Moves the mouse onto a time series' point and returns the tooltip's text."""
    x, y = browser.execute_script(CANVAS_JS, f"#{chart_id}", [time_ms, value])
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.perform()

    def shown(driver):
        tips = [t for t in driver.find_elements(By.CSS_SELECTOR, f"#{chart_id} .chart-tooltip")
                if t.is_displayed()]
        return tips[0].text if tips and tips[0].text else False

    text = WebDriverWait(browser, 10, poll_frequency=0.1).until(shown)
    browser.execute_script("window.scrollTo({top: 0, behavior: 'instant'});")
    return text


CHART_VALUES_JS = """
const chart = echarts.getInstanceByDom(document.querySelector(arguments[0] + ' .chart-canvas'));
return chart.getOption().series[0].data.map(p => (p !== null && typeof p === 'object') ? p.value : p);
"""
POINT_JS = ("return echarts.getInstanceByDom(document.querySelector(arguments[0] + ' .chart-canvas'))"
            ".convertToPixel({seriesIndex: 0}, arguments[1]);")


def chart_values(browser, chart_id: str) -> list[float]:
    """The first series' values of a drawn ECharts chart."""
    settled(browser, lambda d: d.find_element(By.ID, chart_id).get_attribute("data-state") == "rendered")
    return [float(v) for v in browser.execute_script(CHART_VALUES_JS, f"#{chart_id}")]


def click_bar(browser, chart_id: str, index: int, value: float) -> None:
    """A real mouse click in the middle of a horizontal bar (Selenium places the pointer relative
    to the canvas' centre, scrolled into view)."""
    canvas = browser.find_element(By.CSS_SELECTOR, f"#{chart_id} .chart-canvas")
    # instant: Bootstrap makes scrolling smooth, and a click during the scroll lands beside the bar
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", canvas)
    x, y = browser.execute_script(POINT_JS, f"#{chart_id}", [value / 2, index])
    width, height = browser.execute_script("return [arguments[0].clientWidth, arguments[0].clientHeight];",
                                           canvas)
    ActionChains(browser).move_to_element_with_offset(canvas, int(x - width / 2), int(y - height / 2)).pause(
        0.3).click().perform()
    # the navbar scrolls with the page
    browser.execute_script("window.scrollTo({top: 0, behavior: 'instant'});")


def test_audience_page(app, warehouse: Warehouse):
    app.find_element(By.CSS_SELECTOR, '.navbar a[data-value="audience"]').click()
    for dimension in ("device_type", "browser", "visitor_type", "login_state"):
        Select(app.find_element(By.ID, "audience-dimension")).select_by_value(dimension)
        rows = warehouse.query("SELECT value, sessions, visitors FROM dashboard.audience(%s, %s, %s)",
                               (FROM, TO, dimension))
        assert len(rows) >= 2, dimension
        labels = [r[0] for r in rows]
        settled(app, lambda d, labels=labels: table_values(d, "audience-audience_table", "label") == labels)
        for index, column in ((1, "sessions"), (2, "visitors")):
            values = table_values(app, "audience-audience_table", column)
            assert [num(v) for v in values] == [r[index] for r in rows]
        assert chart_values(app, "audience-chart") == [float(r[1]) for r in rows]
    settled(app)
    screenshot(app, "5-audience")


def test_retention_page_without_a_whole_week(app, warehouse: Warehouse):
    """The known data spans three days, so no cohort week ends inside the range: the page says
    how to get one instead of showing an empty chart."""
    assert warehouse.query("SELECT * FROM dashboard.retention_weekly(%s, %s, 8)", (FROM, TO)) == []
    app.find_element(By.CSS_SELECTOR, '.navbar a[data-value="retention"]').click()
    WebDriverWait(app, 30).until(lambda d: "No complete cohort week" in d.find_element(
        By.CSS_SELECTOR, "#retention-table").text)
    settled(app, lambda d: d.find_element(By.ID, "retention-heatmap").get_attribute("data-state") == "empty")


def test_journeys_page(app, warehouse: Warehouse):
    kpi = open_page(app, "journeys", ["sessions", "events", "duration", "bounce"])
    [(sessions, _sampled, avg_events, duration, bounce, _)] = warehouse.query(
        "SELECT * FROM dashboard.journey_summary(%s, %s)", (FROM, TO)
    )
    assert (num(kpi["sessions"]), num(kpi["events"]), num(kpi["duration"]), num(kpi["bounce"])) == (
        sessions,
        avg_events,
        duration,
        bounce,
    )
    paths = warehouse.query(
        "SELECT path, sessions FROM dashboard.journey_paths(%s, %s, 15, 6)", (FROM, TO)
    )
    assert table_values(app, "journeys-paths_table", "path") == [p for p, _ in paths]
    assert [num(v) for v in table_values(app, "journeys-paths_table", "sessions")] == [s for _, s in paths]
    pages = warehouse.query("SELECT kind, page FROM dashboard.journey_pages(%s, %s, 10)", (FROM, TO))
    assert table_values(app, "journeys-entry_table", "page") == [p for k, p in pages if k == "entry"]
    assert table_values(app, "journeys-exit_table", "page") == [p for k, p in pages if k == "exit"]
    screenshot(app, "4-journeys")


SANKEY_LINKS_JS = """
const chart = echarts.getInstanceByDom(document.querySelector('#journeys-flow .chart-canvas'));
return chart.getOption().series[0].links.map(l => [l.source, l.target, l.value]);
"""
# The middle of a Sankey link (a band from (x1, y1) to (x2, y2), extent thick) in page pixels.
SANKEY_LINK_POINT_JS = """
const canvas = document.querySelector('#journeys-flow .chart-canvas');
canvas.scrollIntoView({block: 'center', behavior: 'instant'});
const chart = echarts.getInstanceByDom(canvas);
const edges = chart.getModel().getSeriesByIndex(0).getData('edge');
const el = edges.getItemGraphicEl(arguments[0]);
const s = el.shape;
const b = (a, c1, c2, z) => (a + 3 * c1 + 3 * c2 + z) / 8;  // the cubic curve at t = 1/2
const xy = el.transformCoordToGlobal(b(s.x1, s.cpx1, s.cpx2, s.x2),
                                     b(s.y1, s.cpy1, s.cpy2, s.y2) + s.extent / 2);
const r = canvas.getBoundingClientRect();
return [r.left + xy[0], r.top + xy[1]];
"""


def test_journeys_sankey_is_every_sessions_transitions(app, warehouse: Warehouse):
    """The Sankey's links are the oracle's step-to-step transitions of every session of the range
    (exits included); hovering a link shows its exact sessions."""
    open_page(app, "journeys", ["sessions"])
    settled(app, lambda d: d.find_element(By.ID, "journeys-flow").get_attribute("data-state") == "rendered")
    links = app.execute_script(SANKEY_LINKS_JS)
    shown = {}
    for source, target, value in links:
        step, event = source.split("\u00b7")
        next_step, next_event = target.split("\u00b7")
        assert int(next_step) == int(step) + 1
        shown[(int(step), event, next_event)] = value
    want = journeys.transitions(warehouse.data, FROM, TO, 5)
    assert shown == dict(want)
    assert any(to == "(exit)" for _, _, to in want) and max(step for step, _, _ in want) == 5
    # Hover the widest link: its steps and its exact count, with the unit.
    index = max(range(len(links)), key=lambda i: links[i][2])
    (step, event), (_, next_event) = (n.split("\u00b7") for n in links[index][:2])
    sessions = want[(int(step), event, next_event)]
    x, y = app.execute_script(SANKEY_LINK_POINT_JS, index)
    actions = ActionBuilder(app)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.perform()

    def tip(driver):
        tips = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#journeys-flow .chart-tooltip")
                if t.is_displayed() and t.text]
        return tips[0] if tips else False

    text = WebDriverWait(app, 10, poll_frequency=0.1).until(tip)
    app.execute_script("window.scrollTo({top: 0, behavior: 'instant'});")
    assert f"{event} (step {step}) \u2192 {next_event} (step {int(step) + 1})" in text
    assert f"{sessions:,} sessions" in text


def test_data_health_page(app, warehouse: Warehouse):
    kpi = open_page(app, "health", ["last_run", "lag", "loaded", "rejected"])
    [(status, newest)] = warehouse.query("SELECT status, newest_hour FROM dashboard.etl_last_run()")
    assert kpi["last_run"] == status
    assert num(kpi["lag"]) > 0
    [(_files, loaded, rejected, _, _)] = warehouse.query(
        "SELECT * FROM dashboard.etl_summary(%s, %s)", (FROM, TO)
    )
    assert (num(kpi["loaded"]), num(kpi["rejected"])) == (loaded, rejected)
    reasons = warehouse.query(
        "SELECT reason, rejects FROM dashboard.etl_rejects_by_reason(%s, %s)", (FROM, TO)
    )
    assert table_values(app, "health-rejects_table", "reason") == [r for r, _ in reasons]
    assert [num(v) for v in table_values(app, "health-rejects_table", "rejects")] == [n for _, n in reasons]
    assert newest.strftime("%Y-%m-%d %H:%M UTC") in app.find_element(By.ID, "health-kpi_lag").text
    flags = warehouse.query("SELECT hour, metric, observed FROM dashboard.anomalies(%s, %s) WHERE open"
                            " ORDER BY hour, metric", (FROM, TO))
    assert len(flags) == 2                                   # the cleared one is not listed
    assert table_values(app, "health-anomalies_table", "metric") == [m for _, m, _ in flags]
    observed = table_values(app, "health-anomalies_table", "observed")
    assert [num(v) for v in observed] == [o for _, _, o in flags]
    restated = warehouse.query("SELECT day, figure, after - before FROM dashboard.restatements(%s, %s)",
                               (FROM, TO))
    assert table_values(app, "health-restatements_table", "figure") == [f for _, f, _ in restated]
    assert table_values(app, "health-restatements_table", "day") == [d.isoformat() for d, _, _ in restated]
    changes = table_values(app, "health-restatements_table", "change")
    assert [num(v) for v in changes] == [c for _, _, c in restated]
    assert app.find_element(By.ID, "health-bots").get_attribute("data-state") == "rendered"  # the bot chart
    days = warehouse.query("SELECT day, booked_orders, untracked_orders, unbooked_purchases"
                           " FROM dashboard.revenue_reconciliation(%s, %s)", (FROM, TO))
    assert table_values(app, "health-coverage_table", "day") == [d.isoformat() for d, *_ in days]
    for column, index in (("booked_orders", 1), ("untracked_orders", 2), ("unbooked_purchases", 3)):
        shown = table_values(app, "health-coverage_table", column)
        assert [num(v) for v in shown] == [r[index] for r in days]
    for dimension in ("channel", "device_type", "browser"):
        Select(app.find_element(By.ID, "health-coverage_dimension")).select_by_value(dimension)
        rows = warehouse.query("SELECT value, booked_orders, matched_orders"
                               " FROM dashboard.tracking_coverage(%s, %s, %s)", (FROM, TO, dimension))
        assert rows and any(r[0] is not None for r in rows), dimension
        labels = ["(no session)" if r[0] is None else r[0] for r in rows]
        settled(app, lambda d, labels=labels: [td.text for td in d.find_elements(
            By.CSS_SELECTOR, "#health-coverage_by_table tbody td.label")] == labels)
        booked = table_values(app, "health-coverage_by_table", "booked_orders")
        assert [num(v) for v in booked] == [r[1] for r in rows]
        matched = table_values(app, "health-coverage_by_table", "matched_orders")
        assert [num(v) for v in matched] == [r[2] for r in rows]
    screenshot(app, "5-health")


def test_link_with_a_range_and_empty_states(browser, dashboard_url, warehouse: Warehouse):
    browser.get(f"{dashboard_url}?from={TO}&to={TO}")
    kpi = open_page(browser, "activity", ["events"])
    [(events,)] = warehouse.query("SELECT events FROM dashboard.activity_summary(%s, %s)", (TO, TO))
    assert num(kpi["events"]) == events

    browser.get(f"{dashboard_url}?from=2020-01-01&to=2020-01-07")
    kpi = open_page(browser, "funnel", ["sessions", "conversion"])
    assert (kpi["sessions"], kpi["conversion"]) == ("0", "")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#funnel-steps .empty-state"))
    assert "No sessions in the selected period" in browser.find_element(By.ID, "funnel-steps").text
    screenshot(browser, "6-empty-period")


# ---- links: the range, the page and its filters travel in the URL --------------------------------

SET_RANGE_JS = """
const el = document.getElementById('range');
const binding = Shiny.inputBindings.bindingNames['shiny.dateRangeInput'].binding;
binding.setValue(el, {start: arguments[0], end: arguments[1]});
$(el).find('input').trigger('change');
"""


def set_range(browser, first, last) -> None:
    """Sets the shared date range through its own input binding, as a pick in its calendar does."""
    browser.execute_script(SET_RANGE_JS, first.isoformat(), last.isoformat())


def query_of(browser) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(browser.current_url).query))


def eventually(browser, read, expected, timeout: float = 30):
    """Waits until read(browser) == expected (Shiny redraws after an input changes); fails with
    what was last read."""
    seen = []

    def check(driver):
        seen[:] = [read(driver)]
        return seen[0] == expected

    with contextlib.suppress(TimeoutException):
        settled(browser, check, timeout)
    assert seen, "nothing was read"
    assert seen[0] == expected


def kpi_of(browser, page: str, name: str) -> str | None:
    els = browser.find_elements(By.CSS_SELECTOR, f"#{page}-kpi_{name} .kpi-value")
    return els[0].get_attribute("data-value") if els else None


def active_page(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, ".navbar a.nav-link.active").get_attribute("data-value")


def selected(browser, select_id: str) -> str:
    return Select(browser.find_element(By.ID, select_id)).first_selected_option.get_attribute("value")


def real_errors(browser) -> list[str]:
    """Outputs that failed (an empty state's validation message is not a failure)."""
    return [e.text for e in browser.find_elements(
        By.CSS_SELECTOR, ".shiny-output-error:not(.shiny-output-error-validation)")]


def test_a_link_reproduces_the_range_page_and_filters(browser, dashboard_url, warehouse: Warehouse):
    """A products link with a range, category and brand opens that view; changing the range or a
    filter changes the address bar, so the link copied then reproduces the new view."""
    known = warehouse.data
    day = known_data.DAYS[1]
    dell_laptops = {p[0] for p in known_data.PRODUCTS if p[2] == "Laptops" and p[3] == "Dell"}
    laptops = {p[0] for p in known_data.PRODUCTS if p[2] == "Laptops"}
    browser.get(f"{dashboard_url}?page=products&from={day}&to={TO}&category=Laptops&brand=Dell")
    kpi = open_page(browser, "products", ["views"])
    assert active_page(browser) == "products"
    assert shown_range(browser) == (day.isoformat(), TO.isoformat())
    eventually(browser, lambda d: (selected(d, "products-category"), selected(d, "products-brand")),
               ("Laptops", "Dell"))
    views, _ = overview.product_views(known, day, TO, dell_laptops)
    assert views > 0
    eventually(browser, lambda d: kpi_of(d, "products", "views"), str(views))
    assert num(kpi["views"]) == views
    assert query_of(browser) == {"page": "products", "from": day.isoformat(), "to": TO.isoformat(),
                                 "category": "Laptops", "brand": "Dell"}
    # A wider range: the figures and the address bar follow.
    set_range(browser, FROM, TO)
    eventually(browser, lambda d: kpi_of(d, "products", "views"),
               str(overview.product_views(known, FROM, TO, dell_laptops)[0]))
    eventually(browser, query_of, {"page": "products", "from": FROM.isoformat(), "to": TO.isoformat(),
                                   "category": "Laptops", "brand": "Dell"})
    # Every brand: the brand leaves the link.
    Select(browser.find_element(By.ID, "products-brand")).select_by_value("All")
    eventually(browser, lambda d: kpi_of(d, "products", "views"),
               str(overview.product_views(known, FROM, TO, laptops)[0]))
    eventually(browser, query_of, {"page": "products", "from": FROM.isoformat(), "to": TO.isoformat(),
                                   "category": "Laptops"})
    # Another page: the range stays (one for all pages), the products filters leave the link.
    browser.find_element(By.CSS_SELECTOR, '.navbar a[data-value="activity"]').click()
    eventually(browser, query_of, {"page": "activity", "from": FROM.isoformat(), "to": TO.isoformat()})
    events = open_page(browser, "activity", ["events"])["events"]
    assert num(events) == overview.overview(known, FROM, TO).events
    assert real_errors(browser) == []


def test_a_link_opens_the_acquisition_and_audience_filters(browser, dashboard_url, warehouse: Warehouse):
    known = warehouse.data
    sessions = overview.human_sessions(known, FROM, TO)
    channel = "Email"
    of_channel = sum(s["channel"] == channel for s in sessions)
    assert of_channel > 0
    browser.get(f"{dashboard_url}?page=acquisition&from={FROM}&to={TO}"
                f"&attribution=first_touch&channel={channel}")
    open_page(browser, "acquisition", ["visitors"])
    radio = browser.find_element(By.CSS_SELECTOR, '#acquisition-attribution input[value="first_touch"]')
    assert radio.is_selected()
    eventually(browser, lambda d: selected(d, "acquisition-channel"), channel)
    eventually(browser, lambda d: set(table_values(d, "acquisition-sources_table", "channel")), {channel})
    assert sum(num(v) for v in table_values(browser, "acquisition-sources_table", "sessions")) == of_channel
    assert query_of(browser) == {"page": "acquisition", "from": FROM.isoformat(), "to": TO.isoformat(),
                                 "attribution": "first_touch", "channel": channel}

    browser.get(f"{dashboard_url}?page=audience&from={FROM}&to={TO}&dimension=browser")
    assert active_page(browser) == "audience"
    assert selected(browser, "audience-dimension") == "browser"
    counts: dict[str, int] = {}
    for s in sessions:
        counts[s["browser_family"]] = counts.get(s["browser_family"], 0) + 1
    want = [b for b, _ in sorted(counts.items(), key=lambda bn: (-bn[1], bn[0]))]
    eventually(browser, lambda d: table_values(d, "audience-audience_table", "label"), want)
    assert [num(v) for v in table_values(browser, "audience-audience_table", "sessions")] == [
        counts[b] for b in want]
    assert query_of(browser)["dimension"] == "browser"


def test_invalid_values_in_a_link_fall_back_to_the_defaults(browser, dashboard_url, warehouse: Warehouse):
    browser.get(f"{dashboard_url}?page=admin&from=2026-02-31&to=soon&dimension=%27%3B--&category=x")
    kpi = open_page(browser, "activity", ["events"])
    assert shown_range(browser) == (FROM.isoformat(), TO.isoformat())
    assert num(kpi["events"]) == overview.overview(warehouse.data, FROM, TO).events
    eventually(browser, query_of, {"page": "activity", "from": FROM.isoformat(), "to": TO.isoformat()})
    browser.get(f"{dashboard_url}?page=audience&dimension=everything&from={TO}&to={FROM}")
    assert active_page(browser) == "audience"
    assert selected(browser, "audience-dimension") == "device_type"
    assert shown_range(browser) == (FROM.isoformat(), TO.isoformat())  # read the other way round
    eventually(browser, query_of, {"page": "audience", "from": FROM.isoformat(), "to": TO.isoformat(),
                                   "dimension": "device_type"})
    settled(browser)
    assert real_errors(browser) == []


def change_of(browser, page: str, name: str) -> str | None:
    """The raw change of a value box on the previous period; None when the box shows no change."""
    els = browser.find_elements(By.CSS_SELECTOR, f"#{page}-kpi_{name} .kpi-change")
    return els[0].get_attribute("data-value") if els else None


def test_activity_compares_with_the_previous_period(browser, dashboard_url, warehouse: Warehouse):
    """One day against the day before, on by default: each headline figure's change equals the
    oracle's; switching the comparison off hides the changes and says so in the link."""
    known = warehouse.data
    before_from, before_to = compare.previous_period(TO, TO)
    browser.get(f"{dashboard_url}?page=activity&from={TO}&to={TO}")
    kpi = open_page(browser, "activity", ["events", "sessions", "booked"])
    assert browser.find_element(By.ID, "compare").is_selected()
    now, then = overview.overview(known, TO, TO), overview.overview(known, before_from, before_to)
    assert (num(kpi["events"]), num(kpi["sessions"])) == (now.events, now.sessions)
    assert then.events > 0 and now.events != then.events
    for name, current, previous in (("events", now.events, then.events),
                                    ("sessions", now.sessions, then.sessions)):
        shown = change_of(browser, "activity", name)
        assert float(shown) == pytest.approx(overview.change(current, previous)), name
    _, booked_now = overview.booked(known, TO, TO)
    _, booked_then = overview.booked(known, before_from, before_to)
    assert num(kpi["booked"]) == booked_now
    assert float(change_of(browser, "activity", "booked")) == pytest.approx(
        overview.change(booked_now, booked_then))
    assert f"against {before_from} to {before_to}" in browser.find_element(By.ID, "previous_period").text
    # Visitors of the day and the day before; on the last day some come back.
    more = open_page(browser, "activity", ["visitors", "new", "conversion"])
    assert now.returning_visitors > 0
    assert (num(more["visitors"]), num(more["new"])) == (now.visitors, now.new_visitors)
    returning = browser.find_element(By.CSS_SELECTOR, "#activity-kpi_new .kpi-returning")
    assert num(returning.get_attribute("data-value")) == now.returning_visitors
    for name, current, previous in (("visitors", now.visitors, then.visitors),
                                    ("new", now.new_visitors, then.new_visitors)):
        shown = change_of(browser, "activity", name)
        assert float(shown) == pytest.approx(overview.change(current, previous)), name
    # Conversion: the change in points, its interval and whether the two days' intervals overlap.
    rate = overview.rate_change(now.purchase_sessions, now.sessions, then.purchase_sessions, then.sessions)
    assert float(more["conversion"]) == pytest.approx(rate.rate)
    box = browser.find_element(By.CSS_SELECTOR, "#activity-kpi_conversion .kpi-change")
    assert float(box.get_attribute("data-value")) == pytest.approx(rate.change)
    assert box.get_attribute("data-significant") == str(rate.significant).lower()
    assert ("not significant" in box.text) is (rate.significant is False)
    interval = browser.find_element(By.CSS_SELECTOR, "#activity-kpi_conversion .kpi-interval")
    assert (float(interval.get_attribute("data-low")), float(interval.get_attribute("data-high"))) == (
        pytest.approx(rate.low), pytest.approx(rate.high))
    # Off: the figures stay, their changes go, and the link says so.
    browser.find_element(By.ID, "compare").click()
    names = ("visitors", "new", "sessions", "events", "orders", "booked", "conversion", "users", "peak")
    eventually(browser, lambda d: [change_of(d, "activity", k) for k in names], [None] * len(names))
    assert kpi_of(browser, "activity", "events") == kpi["events"]
    eventually(browser, query_of, {"page": "activity", "from": TO.isoformat(), "to": TO.isoformat(),
                                   "compare": "off"})
    # A link with compare=off opens without them.
    browser.get(browser.current_url)
    open_page(browser, "activity", ["events"])
    assert not browser.find_element(By.ID, "compare").is_selected()
    assert change_of(browser, "activity", "events") is None


def test_funnel_compares_with_the_previous_period(browser, dashboard_url, warehouse: Warehouse):
    """The funnel's conversion and cart abandonment against the day before: change in points,
    Wilson interval and significance as the oracle has them; a fall in abandonment is good."""
    known = warehouse.data
    before_from, before_to = compare.previous_period(TO, TO)
    browser.get(f"{dashboard_url}?page=funnel&from={TO}&to={TO}")
    kpi = open_page(browser, "funnel", ["sessions", "purchases", "conversion", "abandonment"])
    now = overview.funnel_sessions(known, TO, TO)
    then = overview.funnel_sessions(known, before_from, before_to)
    assert num(kpi["purchases"]) == now["purchase"]
    assert float(change_of(browser, "funnel", "purchases")) == pytest.approx(
        overview.change(now["purchase"], then["purchase"]))
    rates = {
        "conversion": overview.rate_change(now["purchase"], now["page_view"],
                                           then["purchase"], then["page_view"]),
        "abandonment": overview.rate_change(now["add_to_cart"] - now["purchase"], now["add_to_cart"],
                                            then["add_to_cart"] - then["purchase"], then["add_to_cart"]),
    }
    for name, rate in rates.items():
        assert float(kpi[name]) == pytest.approx(rate.rate), name
        box = browser.find_element(By.CSS_SELECTOR, f"#funnel-kpi_{name} .kpi-change")
        assert float(box.get_attribute("data-value")) == pytest.approx(rate.change), name
        assert box.get_attribute("data-significant") == str(rate.significant).lower(), name
        interval = browser.find_element(By.CSS_SELECTOR, f"#funnel-kpi_{name} .kpi-interval")
        low, high = float(interval.get_attribute("data-low")), float(interval.get_attribute("data-high"))
        assert (low, high) == (pytest.approx(rate.low), pytest.approx(rate.high)), name
    abandonment = browser.find_element(By.CSS_SELECTOR, "#funnel-kpi_abandonment .kpi-change")
    want_tone = {"up": "tone-bad", "down": "tone-good"}.get(abandonment.get_attribute("data-direction"))
    assert want_tone is None or want_tone in abandonment.get_attribute("class")


def test_products_compare_with_the_previous_period_under_their_filters(browser, dashboard_url,
                                                                        warehouse: Warehouse):
    """The category filter applies to both periods: the views' change, and the add-to-cart rate's
    in points (a ratio of events: no interval), equal the oracle's for laptops only."""
    known = warehouse.data
    before_from, before_to = compare.previous_period(TO, TO)
    laptops = {p[0] for p in known_data.PRODUCTS if p[2] == "Laptops"}
    browser.get(f"{dashboard_url}?page=products&from={TO}&to={TO}&category=Laptops")
    open_page(browser, "products", ["views", "cart_rate"])
    views, carts = overview.product_views(known, TO, TO, laptops)
    views_then, carts_then = overview.product_views(known, before_from, before_to, laptops)
    assert views_then > 0 and views != views_then
    eventually(browser, lambda d: kpi_of(d, "products", "views"), str(views))
    assert float(change_of(browser, "products", "views")) == pytest.approx(overview.change(views, views_then))
    rate_change = round(carts / views, 4) - round(carts_then / views_then, 4)  # the SQL's rates (4 places)
    assert float(change_of(browser, "products", "cart_rate")) == pytest.approx(rate_change)
    assert browser.find_elements(By.CSS_SELECTOR, "#products-kpi_cart_rate .kpi-interval") == []


def test_acquisition_compares_with_the_previous_period(browser, dashboard_url, warehouse: Warehouse):
    """One day against the day before: each headline figure's change, and the conversion rate's
    Wilson interval, equal the oracle's."""
    browser.get(f"{dashboard_url}?from={TO}&to={TO}")
    kpi = open_page(browser, "acquisition", ["visitors", "sessions", "conversion"])
    before_from, before_to = compare.previous_period(TO, TO)
    [(now_visitors,)] = warehouse.query("SELECT visitors FROM dashboard.visitors(%s, %s)", (TO, TO))
    [(then_visitors,)] = warehouse.query("SELECT visitors FROM dashboard.visitors(%s, %s)",
                                         (before_from, before_to))

    def sessions_and_converted(day_from, day_to):
        rows = warehouse.query("SELECT sessions, conversion_rate FROM dashboard.channels(%s, %s)",
                               (day_from, day_to))
        return sum(s for s, _ in rows), round(sum(float(r or 0) * s for s, r in rows))

    now_sessions, now_converted = sessions_and_converted(TO, TO)
    then_sessions, _ = sessions_and_converted(before_from, before_to)
    assert num(kpi["visitors"]) == now_visitors and then_visitors > 0

    def change_of(name):
        return browser.find_element(By.CSS_SELECTOR, f"#acquisition-kpi_{name} .kpi-change").get_attribute(
            "data-value")

    assert float(change_of("visitors")) == pytest.approx(compare.relative_change(now_visitors, then_visitors))
    assert float(change_of("sessions")) == pytest.approx(compare.relative_change(now_sessions, then_sessions))
    interval = browser.find_element(By.CSS_SELECTOR, "#acquisition-kpi_conversion .kpi-interval")
    low, high = compare.wilson(now_converted, now_sessions)
    assert (float(interval.get_attribute("data-low")), float(interval.get_attribute("data-high"))) == (
        pytest.approx(low), pytest.approx(high))
    assert float(kpi["conversion"]) == pytest.approx(now_converted / now_sessions)


# ---- click to filter: a bar of a breakdown filters the page, and the link carries it -------------

BAR_CENTRE_JS = """
const canvas = document.querySelector(arguments[0] + ' .chart-canvas');
const data = echarts.getInstanceByDom(canvas).getModel().getSeriesByIndex(0).getData();
const l = data.getItemLayout(arguments[1]);
return [l.x + l.width / 2, l.y + l.height / 2, canvas.clientWidth, canvas.clientHeight];
"""


def click_bar_until(browser, chart_id: str, index: int, done) -> None:
    """Clicks the middle of the first series' bar `index` (of grouped bars too) until `done`
    holds (a click during the bars' entry animation may land beside them)."""
    canvas = browser.find_element(By.CSS_SELECTOR, f"#{chart_id} .chart-canvas")
    for attempt in range(3):
        browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", canvas)
        x, y, width, height = browser.execute_script(BAR_CENTRE_JS, f"#{chart_id}", index)
        ActionChains(browser).move_to_element_with_offset(
            canvas, int(x - width / 2), int(y - height / 2)).pause(0.3).click().perform()
        browser.execute_script("window.scrollTo({top: 0, behavior: 'instant'});")
        try:
            settled(browser, done, timeout=10)
            return
        except TimeoutException:
            if attempt == 2:
                raise


def test_clicking_a_breakdown_bar_filters_the_audience_page(browser, dashboard_url, warehouse: Warehouse):
    """Audience by device type: a click on mobile's bar filters the page by it - the headline
    figures become the oracle's for mobile sessions, the link says device_type=mobile - and the
    country breakdown is then of mobile sessions; a second click clears the filter."""
    known = warehouse.data
    browser.get(f"{dashboard_url}?page=audience&from={FROM}&to={TO}")
    open_page(browser, "audience", ["sessions", "visitors", "conversion"])
    everyone = overview.overview(known, FROM, TO)
    eventually(browser, lambda d: kpi_of(d, "audience", "sessions"), str(everyone.sessions))
    rows = overview.audience(known, FROM, TO, "device_type")
    assert [float(r[1]) for r in rows] == chart_values(browser, "audience-chart")
    index = next(i for i, r in enumerate(rows) if r[0] == "mobile")
    mobile = overview.overview(known, FROM, TO, {"device_type": "mobile"})
    assert 0 < mobile.sessions < everyone.sessions
    click_bar_until(browser, "audience-chart", index,
                    lambda d: kpi_of(d, "audience", "sessions") == str(mobile.sessions))
    assert selected(browser, "audience-device_type") == "mobile"
    eventually(browser, lambda d: kpi_of(d, "audience", "visitors"), str(mobile.visitors))
    assert float(kpi_of(browser, "audience", "conversion")) == pytest.approx(mobile.conversion)
    eventually(browser, query_of, {"page": "audience", "from": FROM.isoformat(), "to": TO.isoformat(),
                                   "dimension": "device_type", "device_type": "mobile"})
    # The bars stay (to click another), the other devices' faded.
    faded = browser.execute_script(
        "return echarts.getInstanceByDom(document.querySelector('#audience-chart .chart-canvas'))"
        ".getOption().series[0].data.map(p => !!(p.itemStyle && p.itemStyle.opacity < 1));")
    assert faded == [r[0] != "mobile" for r in rows]
    # Countries of mobile sessions only, as the oracle has them.
    Select(browser.find_element(By.ID, "audience-dimension")).select_by_value("country")
    want = overview.audience(known, FROM, TO, "country", {"device_type": "mobile"})
    labels = ["(unknown)" if r[0] is None else r[0] for r in want]
    eventually(browser, lambda d: table_values(d, "audience-audience_table", "label"), labels)
    shown = table_values(browser, "audience-audience_table", "sessions")
    assert [num(v) for v in shown] == [r[1] for r in want]
    # The link reproduces the view.
    browser.get(browser.current_url)
    open_page(browser, "audience", ["sessions"])
    assert selected(browser, "audience-device_type") == "mobile"
    eventually(browser, lambda d: kpi_of(d, "audience", "sessions"), str(mobile.sessions))
    eventually(browser, lambda d: table_values(d, "audience-audience_table", "label"), labels)
    # A second click on the selected bar clears the filter.
    Select(browser.find_element(By.ID, "audience-dimension")).select_by_value("device_type")
    chart_values(browser, "audience-chart")  # drawn again
    click_bar_until(browser, "audience-chart", index,
                    lambda d: kpi_of(d, "audience", "sessions") == str(everyone.sessions))
    eventually(browser, query_of, {"page": "audience", "from": FROM.isoformat(), "to": TO.isoformat(),
                                   "dimension": "device_type"})
    settled(browser)
    screenshot(browser, "5-audience-filtered")
    assert real_errors(browser) == []


# ---- page filters on Activity and the funnel: channel, device type, country ----------------------

FOUR = ("visitors", "new", "sessions", "events")


def hourly_state(browser) -> str:
    return browser.find_element(By.ID, "activity-hourly").get_attribute("data-state")


def test_activity_filters_by_channel_and_device_type(browser, dashboard_url, warehouse: Warehouse):
    """A link with a channel filters the overview to that channel's sessions; picking a device
    type narrows it further; each time every headline figure and the per-day chart are the
    oracle's for those sessions, and the address bar carries the filters."""
    known = warehouse.data
    browser.get(f"{dashboard_url}?page=activity&from={FROM}&to={TO}&channel=Email")
    names = ["visitors", "new", "sessions", "events", "orders", "conversion"]
    open_page(browser, "activity", names)
    eventually(browser, lambda d: selected(d, "activity-channel"), "Email")
    for segment in ({"channel": "Email"}, {"channel": "Email", "device_type": "desktop"}):
        if "device_type" in segment:
            Select(browser.find_element(By.ID, "activity-device_type")).select_by_value("desktop")
        want = overview.overview(known, FROM, TO, segment)
        everyone = overview.overview(known, FROM, TO)
        assert 0 < want.sessions < everyone.sessions and want.new_visitors > 0
        eventually(browser, lambda d: [kpi_of(d, "activity", k) for k in FOUR],
                   [str(want.visitors), str(want.new_visitors), str(want.sessions), str(want.events)])
        sessions = overview.human_sessions(known, FROM, TO, segment)
        assert num(kpi_of(browser, "activity", "orders")) == sum(s["orders"] for s in sessions)
        assert float(kpi_of(browser, "activity", "conversion")) == pytest.approx(want.conversion)
        days = overview.segment_days(known, FROM, TO, segment)
        assert timeseries_values(browser, "activity-daily_chart") == [float(d[1]) for d in days]
        # Hours are not kept by segment: the hourly chart says so instead of showing everyone's.
        eventually(browser, hourly_state, "empty")
        eventually(browser, query_of, {"page": "activity", "from": FROM.isoformat(), "to": TO.isoformat(),
                                       **segment})
    # Back to every channel and device: the unfiltered overview, and the link without filters.
    for name in ("channel", "device_type"):
        Select(browser.find_element(By.ID, f"activity-{name}")).select_by_value("All")
    everyone = overview.overview(known, FROM, TO)
    eventually(browser, lambda d: kpi_of(d, "activity", "events"), str(everyone.events))
    eventually(browser, query_of, {"page": "activity", "from": FROM.isoformat(), "to": TO.isoformat()})
    # (drawing until its animation ends)
    eventually(browser, hourly_state, "rendered")
    assert real_errors(browser) == []


def test_funnel_filters_by_device_type_and_channel(browser, dashboard_url, warehouse: Warehouse):
    """The funnel of mobile sessions, then of mobile Direct ones: steps, conversion and the
    conversion per day equal the oracle's; the link reproduces the view."""
    known = warehouse.data
    browser.get(f"{dashboard_url}?page=funnel&from={FROM}&to={TO}&device_type=mobile")
    open_page(browser, "funnel", ["sessions", "purchases", "conversion"])
    for segment in ({"device_type": "mobile"}, {"device_type": "mobile", "channel": "Direct"}):
        if "channel" in segment:
            Select(browser.find_element(By.ID, "funnel-channel")).select_by_value("Direct")
        steps = overview.funnel_sessions(known, FROM, TO, segment)
        assert steps["purchase"] > 0 or "channel" in segment
        want = [str(steps[s]) for s in known_data.FUNNEL_STEPS]
        eventually(browser, lambda d: table_values(d, "funnel-steps_table", "sessions"), want)
        sessions = overview.human_sessions(known, FROM, TO, segment)
        assert num(kpi_of(browser, "funnel", "sessions")) == len(sessions)
        assert num(kpi_of(browser, "funnel", "purchases")) == steps["purchase"]
        assert float(kpi_of(browser, "funnel", "conversion")) == pytest.approx(
            steps["purchase"] / steps["page_view"])
        assert chart_values(browser, "funnel-funnel_chart") == [float(v) for v in want]
        assert kpi_of(browser, "funnel", "booked") == ""       # booked orders carry no segment
        eventually(browser, query_of, {"page": "funnel", "from": FROM.isoformat(), "to": TO.isoformat(),
                                       **segment})
    browser.get(browser.current_url)
    open_page(browser, "funnel", ["sessions"])
    eventually(browser, lambda d: table_values(d, "funnel-steps_table", "sessions"), want)
    shown = (selected(browser, "funnel-channel"), selected(browser, "funnel-device_type"))
    assert shown == ("Direct", "mobile")
    settled(browser)
    screenshot(browser, "2-funnel-filtered")
    assert real_errors(browser) == []


# ---- Products and Data health on ECharts -----------------------------------------------------------

def test_products_category_chart_filters_by_a_click(browser, dashboard_url, warehouse: Warehouse):
    """Booked revenue per category as the oracle books it (the shop's items by their product's
    latest category); a click on Laptops' bar filters the page (views become the oracle's for
    laptops, the link carries category=Laptops); a click on it again clears it."""
    known = warehouse.data
    items = revenue_oracle.booked_items(known.booked_orders, known.booked_order_items,
                                        revenue_oracle.product_attributes(known.records), (FROM, TO))
    by_category = {c or "(none)": r for c, (_, r) in revenue_oracle.booked_by(items, "category").items()}
    browser.get(f"{dashboard_url}?page=products&from={FROM}&to={TO}")
    open_page(browser, "products", ["views"])
    categories = browser.execute_script(
        "return echarts.getInstanceByDom(document.querySelector('#products-categories .chart-canvas'))"
        ".getOption().yAxis[0].data;")
    booked = chart_values(browser, "products-categories")
    assert {c: Decimal(str(v)) for c, v in zip(categories, booked, strict=True) if v} == by_category
    laptops = {p[0] for p in known_data.PRODUCTS if p[2] == "Laptops"}
    views, _ = overview.product_views(known, FROM, TO, laptops)
    index = categories.index("Laptops")
    click_bar_until(browser, "products-categories", index,
                    lambda d: kpi_of(d, "products", "views") == str(views))
    assert selected(browser, "products-category") == "Laptops"
    eventually(browser, query_of, {"page": "products", "from": FROM.isoformat(), "to": TO.isoformat(),
                                   "category": "Laptops"})
    chart_values(browser, "products-categories")
    every = str(overview.product_views(known, FROM, TO)[0])
    click_bar_until(browser, "products-categories", index, lambda d: kpi_of(d, "products", "views") == every)
    eventually(browser, query_of, {"page": "products", "from": FROM.isoformat(), "to": TO.isoformat()})
    assert real_errors(browser) == []


def test_data_health_charts_on_echarts(browser, dashboard_url, warehouse: Warehouse):
    """Events loaded per run hour as the known runs loaded them; the bot share per hour as the
    oracle counts it from the raw events (the bot session's events of each hour's events);
    the flagged hours named under it."""
    known = warehouse.data
    browser.get(f"{dashboard_url}?page=health&from={FROM}&to={TO}")
    open_page(browser, "health", ["loaded"])
    assert chart_values(browser, "health-loaded") == [float(r["events_loaded"]) for r in known.runs]
    shares = [m["bot_share"][0] for _, m in sorted(quality.hourly_metrics(known.records).items())]
    assert any(shares) and timeseries_values(browser, "health-bots") == pytest.approx(shares)
    flagged = sorted({a["hour"] for a in known.anomalies if a["open"]})
    note = browser.find_element(By.ID, "health-bots_flagged_hours").text
    assert note == "Flagged hours: " + ", ".join(h.strftime("%Y-%m-%d %H:%M UTC") for h in flagged)
    assert real_errors(browser) == []


# ---- what a page load costs: the warehouse connection, the hidden pages' queries ------------------

def page_meta(url: str) -> dict[str, str]:
    """The health-check meta tags of the page's HTML, as a plain HTTP client reads them."""
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (our own localhost URL)
        html = resp.read().decode()
    return dict(re.findall(r'<meta name="(clickstream-[a-z-]+)" content="([^"]*)"', html))


def bounds_backends(warehouse: Warehouse) -> list[tuple]:
    """The app's connections whose last statement read the data bounds (Shiny sessions never do)."""
    return warehouse.query(
        "SELECT pid, backend_start FROM pg_stat_activity WHERE usename = %s"
        " AND query LIKE '%%dashboard.data_bounds()%%'", (warehouse.reader,))


def test_page_loads_keep_one_connection_and_read_the_newest_day(empty_warehouse: Warehouse, tmp_path):
    """Every load reads where the page opens (the data bounds) through one connection the R process
    keeps, not a connection per load; and still reads them anew, so a page opens on the day the ETL
    has just loaded."""
    rscript = shiny_app.require_r(*shiny_app.APP_R_PACKAGES)
    config = empty_warehouse.write_db_config(tmp_path)
    with shiny_app.serve_app(rscript, config, tmp_path) as (url, _):
        assert page_meta(url) == {"clickstream-warehouse": "reachable", "clickstream-data-through": ""}
        kept = bounds_backends(empty_warehouse)
        assert len(kept) == 1, "the bounds connection is not kept after the load"
        for day in ("2026-03-01", "2026-03-04"):
            with (contextlib.closing(psycopg2.connect(empty_warehouse.dsn)) as conn, conn,
                  conn.cursor() as cur):
                cur.execute("INSERT INTO agg_activity_hourly (hour, events, users, sessions, page_views)"
                            " VALUES (%s::date + time '13:00' AT TIME ZONE 'UTC', 5, 1, 1, 2)", (day,))
            assert page_meta(url)["clickstream-data-through"] == day
            assert bounds_backends(empty_warehouse) == kept


def test_hidden_pages_query_nothing_until_opened(browser, dashboard_url, warehouse: Warehouse):
    """A page's filter choices are filled when it is first opened: until then the queries behind
    them wait (at session start they delayed the open page's first figures), and then they run."""
    def options(driver, select_id: str) -> list[str]:
        return [o.get_attribute("value") for o in Select(driver.find_element(By.ID, select_id)).options]

    browser.get(f"{dashboard_url}?page=journeys&from={FROM}&to={TO}")
    open_page(browser, "journeys", ["sessions"])
    settled(browser)
    # Retention, journeys and health have no filter choices from the data; every other page has.
    hidden = ["activity-channel", "funnel-device_type", "audience-country", "products-category",
              "acquisition-channel"]
    assert {s: options(browser, s) for s in hidden} == {s: ["All"] for s in hidden}
    categories = sorted({c for (c,) in warehouse.query(
        "SELECT DISTINCT category FROM dashboard.product_filters(%s, %s)", (FROM, TO))})
    open_page(browser, "products", ["views"])
    eventually(browser, lambda d: options(d, "products-category"), ["All", *categories])
    channels = [c for (c,) in warehouse.query(
        "SELECT value FROM dashboard.segment_filters(%s, %s) WHERE filter = 'channel'", (FROM, TO))]
    open_page(browser, "funnel", ["sessions"])
    eventually(browser, lambda d: options(d, "funnel-channel"), ["All", *channels])
    assert options(browser, "activity-channel") == ["All"]  # still not opened
    assert real_errors(browser) == []
