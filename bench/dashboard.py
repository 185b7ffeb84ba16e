"""Dashboard query benchmark: every dashboard.* function over a warehouse of N events.

    python bench/dashboard.py [--events N] [--days D] [--repeat R] [--dsn SUPERUSER_DSN] [--pages]
                              [--pages-against OTHER_CHECKOUT/roles/shiny_server/files/app]

Fills a fresh warehouse (the real migrations) with N events of simulated shop sessions
streamed straight through COPY, derives their sessions and the aggregate tables with set-based
SQL (the meanings the schema documents; bots excluded) and the aggregates the ETL recomputes by
the warehouse's own refresh functions (migration 060), ANALYZEs, then runs each query the app
issues with the app's parameters (the last 30 days of data, no filters) R times, and prints
p50/p95 in ms. Sessions get
the ETL's acquisition and audience columns from a spread of channels, devices and countries
(the ETL derives them from raw events; here they are drawn per session). Target: every query
<= 200 ms p95.
Without --dsn a throwaway PostgreSQL cluster is started and removed.

With --pages, after the queries, it also times the pages in a browser: the app
(roles/shiny_server/files/app) is served by shiny::runApp against the same warehouse through a
read-only login in clickstream_reader (as in production and in the dashboard tests), and headless
Chromium opens each page by its link (?page=<page>: the app's default range, the last 30 days of
data, no filters) R times, the pages taken in turn. Measured, with the browser's clock: from the
document's time origin (navigation start, performance.now() = 0) to the moment the page's last
output was drawn - Shiny idle (no shiny-busy, no output .recalculating), the requested page the
active one, and every chart of it drawn (ECharts data-state rendered or empty, set when a render
finishes; ggplot images in). A MutationObserver installed before the page's own scripts stamps
performance.now() each time that condition becomes true; a load counts once it has held for
1 s, and its time is the last such stamp (so a redraw after a first settle counts). One untimed
load first warms the browser cache and R. Outputs that failed are counted beside, and the p50
time to the first byte of the page's HTML (navigation timing responseStart: R builds the page
for each request) is shown as the part of the time before the browser has anything. Target: every page
<= 1500 ms p95. --pages-against serves another checkout's app beside this one and alternates
each page's loads between them, so that a before/after comparison on a shared, noisy machine
sees the same load on both sides (ratios printed).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg2  # noqa: E402
from psycopg2 import sql  # noqa: E402

from functions.raw_layout import object_key  # noqa: E402
from functions.warehouse.migrate import apply_migrations  # noqa: E402
from tests.support import shiny_app  # noqa: E402
from tests.support.pgcluster import PgCluster  # noqa: E402

TARGET_P95_MS = 200
CATEGORIES = ["Laptops", "Desktops", "Monitors", "GPUs", "CPUs", "Keyboards", "Mice", "Storage", "Networking"]
BRANDS = ["Lenovo", "Dell", "HP", "ASUS", "Acer", "Logitech", "Samsung", "NVIDIA", "AMD"]
PRODUCTS = [
    (
        f"P{i:03d}",
        f"Product {i}",
        CATEGORIES[i % len(CATEGORIES)],
        BRANDS[(i * 7) % len(BRANDS)],
        round(20 + i * 17.3, 2),
    )
    for i in range(96)
]
PAGES = ["/", "/deals", "/search", *(f"/category/{c.lower()}" for c in CATEGORIES)]
COLUMNS = (
    "event_id",
    "event_timestamp",
    "event_name",
    "user_login_state",
    "client_id",
    "session_id",
    "context_product_id",
    "context_product_name",
    "context_product_category",
    "context_product_brand",
    "context_product_price",
    "page_path",
    "order_id",
    "order_revenue",
    "order_items",
    "received_at",
    "is_bot",
    "source_key",
)


def session_template(rng: random.Random) -> list[tuple[str, int, str | None]]:
    """One visit's (event_name, seconds after start, page) with a shop's drop-off."""
    out: list[tuple[str, int, str | None]] = []
    t = 0

    def add(name: str, page: str | None) -> None:
        nonlocal t
        out.append((name, t, page))
        t += rng.randint(5, 120)

    add("page_view", rng.choice(PAGES))
    if rng.random() < 0.3:
        return out
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        add("page_view", rng.choice(PAGES))
    for _ in range(rng.choice([1, 1, 2, 3])):
        add("product_view", "product")
    if rng.random() < 0.55:
        return out
    add("add_to_cart", "product")
    if rng.random() < 0.4:
        return out
    add("begin_checkout", "/checkout")
    if rng.random() < 0.35:
        return out
    add("purchase", "/checkout/complete")
    return out


class EventStream:
    """A file-like object yielding COPY text rows for psycopg2's copy_expert, generated lazily."""

    def __init__(self, n: int, days: int, first_day: date, seed: int = 7):
        self.n, self.produced, self.buffer = n, 0, b""
        self.rng = random.Random(seed)
        self.templates = [session_template(self.rng) for _ in range(400)]
        self.start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
        self.span = days * 86400
        self.clients = max(1000, n // 25)
        self.session_no = 0

    def _session(self) -> str:
        rng = self.rng
        self.session_no += 1
        sid = f"s{self.session_no:09d}"
        client = f"c{rng.randrange(self.clients):08d}"
        bot = rng.random() < 0.01
        # Daily rhythm: more traffic in the afternoon and evening (UTC).
        day = rng.randrange(self.span // 86400)
        hour = min(23, max(0, int(rng.gauss(15, 5))))
        start = self.start + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
        product = PRODUCTS[rng.randrange(len(PRODUCTS))]
        pid, pname, cat, brand, price = product
        key = object_key(start, sid)
        rows = []
        for name, offset, page in self.templates[rng.randrange(len(self.templates))]:
            self.produced += 1
            ts = (start + timedelta(seconds=offset)).isoformat()
            eid = f"{self.produced:08x}-0000-4000-8000-{self.session_no:012x}"
            has_product = name in ("product_view", "add_to_cart")
            path = f"/products/{pid.lower()}" if page == "product" else page
            order = (
                (
                    f"O{self.session_no}",
                    str(price),
                    f'[{{"product_id": "{pid}", "quantity": 1, "price": {price}}}]',
                )
                if name == "purchase"
                else (r"\N", r"\N", r"\N")
            )
            rows.append(
                "\t".join(
                    (
                        eid,
                        ts,
                        name,
                        "guest",
                        client,
                        sid,
                        *((pid, pname, cat, brand, str(price)) if has_product else (r"\N",) * 5),
                        path,
                        *order,
                        ts,
                        "t" if bot else "f",
                        key,
                    )
                )
            )
            if self.produced >= self.n:
                break
        return "\n".join(rows) + "\n"

    def read(self, size: int = 1 << 16) -> bytes:
        while len(self.buffer) < size and self.produced < self.n:
            self.buffer += "".join(self._session() for _ in range(200)).encode()
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk

    readline = read


DERIVE_SQL = """
INSERT INTO sessions (session_id, client_id, user_id, started_at, ended_at, duration_s, events, page_views,
                      product_views, entry_page, exit_page, landing_referrer, is_first_visit, logged_in,
                      reached_product, reached_cart, reached_checkout, purchased, orders, revenue, is_bot)
SELECT session_id, min(client_id), max(user_id), min(event_timestamp), max(event_timestamp),
       extract(epoch FROM max(event_timestamp) - min(event_timestamp)), count(*),
       count(*) FILTER (WHERE event_name = 'page_view'), count(*) FILTER (WHERE event_name = 'product_view'),
       (array_agg(page_path ORDER BY event_timestamp))[1],
       (array_agg(page_path ORDER BY event_timestamp DESC))[1],
       NULL, bool_or(is_first_visit), bool_or(user_login_state = 'logged_in'),
       bool_or(event_name = 'product_view'), bool_or(event_name = 'add_to_cart'),
       bool_or(event_name = 'begin_checkout'), bool_or(event_name = 'purchase'),
       count(*) FILTER (WHERE event_name = 'purchase'), coalesce(sum(order_revenue), 0), bool_or(is_bot)
FROM clickstream_events GROUP BY session_id;

-- the steps the ETL keeps on each session (migration 050's backfill, the same rule)
UPDATE sessions s
SET steps = x.steps[1:max_session_steps()], step_count = cardinality(x.steps)
FROM (SELECT o.session_id,
             array_agg(o.event_name ORDER BY o.event_timestamp, o.event_id)
                 FILTER (WHERE o.previous_name IS DISTINCT FROM o.event_name) AS steps
      FROM (SELECT e.session_id, e.event_name, e.event_timestamp, e.event_id,
                   lag(e.event_name) OVER (PARTITION BY e.session_id ORDER BY e.event_timestamp, e.event_id)
                       AS previous_name
            FROM clickstream_events e) o
      GROUP BY o.session_id) x
WHERE x.session_id = s.session_id;

-- acquisition and audience drawn per session from a hash of its id: a spread like a shop's
UPDATE sessions s
SET channel = (ARRAY['Direct', 'Direct', 'Organic Search', 'Organic Search', 'Organic Search', 'Paid Search',
                     'Paid Search', 'Organic Social', 'Email', 'Referral', 'Paid Social', 'Affiliates',
                     'Display', 'Unassigned'])[1 + h % 14],
    source = (ARRAY['(direct)', '(direct)', 'google', 'bing', 'duckduckgo', 'google', 'bing', 'reddit.com',
                    'newsletter', 'blog.example', 'facebook', 'partner', 'adnet', '(not set)'])[1 + h % 14],
    medium = (ARRAY['(none)', '(none)', 'organic', 'organic', 'organic', 'cpc', 'cpc', 'referral', 'email',
                    'referral', 'paid_social', 'affiliate', 'display', '(not set)'])[1 + h % 14],
    campaign = CASE WHEN h % 14 IN (5, 6, 8, 10) THEN 'campaign-' || (h / 14) % 20 END,
    referrer_host = CASE WHEN h % 14 IN (2, 3, 4, 7, 9) THEN
        (ARRAY['google.com', 'bing.com', 'duckduckgo.com', 'reddit.com', 'blog.example'])[1 + (h / 14) % 5]
        END,
    device_type = (ARRAY['desktop', 'desktop', 'mobile', 'mobile', 'tablet', 'other'])[1 + (h / 7) % 6],
    browser_family = (ARRAY['Chrome', 'Chrome Mobile', 'Mobile Safari', 'Firefox', 'Edge',
                            'Safari'])[1 + (h / 11) % 6],
    os_family = (ARRAY['Windows', 'Mac OS X', 'iOS', 'Android', 'Linux'])[1 + (h / 13) % 5],
    country = (ARRAY['AU', 'SG', 'US', 'DE', 'GB', 'JP', 'IN', 'FR', NULL])[1 + (h / 17) % 9],
    user_ids = CASE WHEN h % 5 = 0 THEN ARRAY['u' || (h / 5) % 50000] END
FROM (SELECT session_id, abs(hashtext(session_id)) AS h FROM sessions) x
WHERE x.session_id = s.session_id;

INSERT INTO clients (client_id, first_session_id, first_started_at)
SELECT DISTINCT ON (client_id) client_id, session_id, started_at FROM sessions WHERE NOT is_bot
ORDER BY client_id, started_at, session_id;
UPDATE sessions s SET is_returning = true FROM clients c
WHERE c.client_id = s.client_id AND (s.started_at, s.session_id) > (c.first_started_at, c.first_session_id);

INSERT INTO agg_funnel_daily (day, sessions, sessions_page_view, sessions_product_view, sessions_add_to_cart,
                              sessions_begin_checkout, sessions_purchase, orders, revenue)
SELECT (started_at AT TIME ZONE 'UTC')::date, count(*), count(*) FILTER (WHERE page_views > 0),
       count(*) FILTER (WHERE reached_product), count(*) FILTER (WHERE reached_cart),
       count(*) FILTER (WHERE reached_checkout), count(*) FILTER (WHERE purchased), sum(orders), sum(revenue)
FROM sessions WHERE NOT is_bot GROUP BY 1;

CREATE TEMP TABLE human_events AS
SELECT e.* FROM clickstream_events e JOIN sessions s USING (session_id) WHERE NOT s.is_bot;

INSERT INTO agg_activity_hourly (hour, events, users, sessions, page_views)
SELECT date_trunc('hour', event_timestamp), count(*), count(DISTINCT client_id), count(DISTINCT session_id),
       count(*) FILTER (WHERE event_name = 'page_view')
FROM human_events GROUP BY 1;

INSERT INTO agg_activity_daily (day, events, users, sessions, page_views)
SELECT (event_timestamp AT TIME ZONE 'UTC')::date, count(*), count(DISTINCT client_id),
       count(DISTINCT session_id), count(*) FILTER (WHERE event_name = 'page_view')
FROM human_events GROUP BY 1;

INSERT INTO agg_product_daily (day, product_id, product_name, product_category, product_brand, views,
                               add_to_carts, purchases, units, revenue)
SELECT day, product_id, max(name), max(category), max(brand), sum(views), sum(carts), sum(purchases),
       sum(units), sum(revenue)
FROM (
    SELECT (event_timestamp AT TIME ZONE 'UTC')::date AS day, context_product_id AS product_id,
           context_product_name AS name, context_product_category AS category, context_product_brand AS brand,
           (event_name = 'product_view')::int AS views, (event_name = 'add_to_cart')::int AS carts,
           0 AS purchases, 0 AS units, 0::numeric AS revenue
    FROM human_events WHERE event_name IN ('product_view', 'add_to_cart')
    UNION ALL
    SELECT (event_timestamp AT TIME ZONE 'UTC')::date, item->>'product_id', NULL, NULL, NULL, 0, 0, 1,
           (item->>'quantity')::int, (item->>'quantity')::int * (item->>'price')::numeric
    FROM human_events, jsonb_array_elements(order_items) AS item WHERE event_name = 'purchase'
) x
GROUP BY day, product_id;

INSERT INTO etl_runs (started_at, finished_at, status, trigger, files, events_loaded)
SELECT h, h + interval '40 seconds', CASE WHEN extract(hour FROM h) = 3 THEN 'failed' ELSE 'succeeded' END,
       'scheduled', 0, 0
FROM generate_series((SELECT date_trunc('hour', min(event_timestamp)) FROM clickstream_events),
                     (SELECT date_trunc('hour', max(event_timestamp)) + interval '1 hour'
                      FROM clickstream_events),
                     interval '1 hour') AS h;

INSERT INTO etl_file_manifest (key, etag, size, object_hour, events, rejected, loaded_at, run_id)
SELECT source_key, md5(source_key), count(*) * 600, date_trunc('hour', min(received_at)), count(*), 0,
       date_trunc('hour', min(received_at)) + interval '1 hour',
       (SELECT max(run_id) FROM etl_runs)
FROM clickstream_events GROUP BY source_key;

UPDATE etl_runs r SET files = m.files, events_loaded = m.events
FROM (SELECT object_hour + interval '1 hour' AS run_hour, count(*) AS files, sum(events) AS events
      FROM etl_file_manifest GROUP BY 1) m
WHERE r.started_at = m.run_hour AND r.status = 'succeeded';

INSERT INTO etl_rejects (key, line, reason, raw_line, rejected_at, run_id)
SELECT key, 1,
       (ARRAY['invalid JSON', 'event_id: not a UUID', 'missing required field: client_id'])
           [1 + abs(hashtext(key) % 3)],
       '{bad', loaded_at, run_id
FROM etl_file_manifest
WHERE hashtext(key) % 200 = 0;
"""


# The aggregates the ETL recomputes for what a batch touched (migration 060), for everything,
# by the warehouse's own refresh functions.
REFRESH_SQL = """
SELECT refresh_daily_aggregates(ARRAY(SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM sessions));
SELECT refresh_purchase_attribution(NULL);
SELECT refresh_client_retention(NULL);
"""


def queries(first: date, last: date) -> list[tuple[str, str, tuple]]:
    """What the app runs when each page opens: (label, SQL, parameters)."""
    frm = max(first, last - timedelta(days=29))
    rng = (frm, last)
    return [
        ("data_bounds", "SELECT * FROM dashboard.data_bounds()", ()),
        ("activity_summary", "SELECT * FROM dashboard.activity_summary(%s, %s)", rng),
        ("activity_hourly", "SELECT * FROM dashboard.activity_hourly(%s, %s)", rng),
        ("activity_daily", "SELECT * FROM dashboard.activity_daily(%s, %s)", rng),
        ("funnel", "SELECT * FROM dashboard.funnel(%s, %s)", rng),
        ("funnel_daily", "SELECT * FROM dashboard.funnel_daily(%s, %s)", rng),
        ("product_filters", "SELECT * FROM dashboard.product_filters(%s, %s)", rng),
        ("product_summary", "SELECT * FROM dashboard.product_summary(%s, %s, '', '')", rng),
        ("product_engagement", "SELECT * FROM dashboard.product_engagement(%s, %s, '', '', 25)", rng),
        (
            "product_engagement (category)",
            "SELECT * FROM dashboard.product_engagement(%s, %s, 'Laptops', '', 25)",
            rng,
        ),
        ("category_engagement", "SELECT * FROM dashboard.category_engagement(%s, %s, '')", rng),
        ("journey_summary", "SELECT * FROM dashboard.journey_summary(%s, %s)", rng),
        ("journey_paths", "SELECT * FROM dashboard.journey_paths(%s, %s, 15, 6)", rng),
        ("journey_transitions", "SELECT * FROM dashboard.journey_transitions(%s, %s, 5)", rng),
        ("journey_pages", "SELECT * FROM dashboard.journey_pages(%s, %s, 10)", rng),
        ("visitors", "SELECT * FROM dashboard.visitors(%s, %s)", rng),
        ("channels", "SELECT * FROM dashboard.channels(%s, %s)", rng),
        ("sources", "SELECT * FROM dashboard.sources(%s, %s)", rng),
        ("referrers", "SELECT * FROM dashboard.referrers(%s, %s)", rng),
        ("audience (device_type)", "SELECT * FROM dashboard.audience(%s, %s, 'device_type')", rng),
        ("audience (country)", "SELECT * FROM dashboard.audience(%s, %s, 'country')", rng),
        # the page filters (channel, device type, country; agg_segment_daily, migration 061)
        ("visitors (channel)", "SELECT * FROM dashboard.visitors(%s, %s, 'Direct', NULL, NULL)", rng),
        ("visitors (device_type)", "SELECT * FROM dashboard.visitors(%s, %s, NULL, 'mobile', NULL)", rng),
        ("activity_summary (device_type)",
         "SELECT * FROM dashboard.activity_summary(%s, %s, NULL, 'mobile', NULL)", rng),
        ("activity_daily (channel, device_type)",
         "SELECT * FROM dashboard.activity_daily(%s, %s, 'Direct', 'desktop', NULL)", rng),
        ("funnel (channel)", "SELECT * FROM dashboard.funnel(%s, %s, 'Direct', NULL, NULL)", rng),
        ("funnel_daily (device_type)", "SELECT * FROM dashboard.funnel_daily(%s, %s, NULL, 'mobile', NULL)",
         rng),
        ("audience (country, device_type)",
         "SELECT * FROM dashboard.audience(%s, %s, 'country', NULL, 'mobile', NULL)", rng),
        ("segment_filters", "SELECT * FROM dashboard.segment_filters(%s, %s)", rng),
        ("retention_weekly", "SELECT * FROM dashboard.retention_weekly(%s, %s, 8)",
         (last - timedelta(days=83), last)),
        ("etl_summary", "SELECT * FROM dashboard.etl_summary(%s, %s)", rng),
        ("etl_loaded_hourly", "SELECT * FROM dashboard.etl_loaded_hourly(%s, %s)", rng),
        ("etl_rejects_by_reason", "SELECT * FROM dashboard.etl_rejects_by_reason(%s, %s)", rng),
        ("etl_last_run", "SELECT * FROM dashboard.etl_last_run()", ()),
    ]


# Each sketched visitor figure of the default range beside its exact count over the sessions:
# (label, SQL of (key, sketched), SQL of (key, exact)); the exact side is what the functions
# replaced (count DISTINCT over the range's non-bot sessions).
RANGE_SESSIONS = ("FROM sessions WHERE NOT is_bot AND started_at >= %(frm)s::timestamp AT TIME ZONE 'UTC'"
                  " AND started_at < (%(to)s::date + 1)::timestamp AT TIME ZONE 'UTC'")
SKETCHED_VISITORS = [
    ("visitors", "SELECT 'all', visitors FROM dashboard.visitors(%(frm)s, %(to)s)",
     f"SELECT 'all', count(DISTINCT client_id) {RANGE_SESSIONS}"),
    ("channels", "SELECT channel, visitors FROM dashboard.channels(%(frm)s, %(to)s) WHERE sessions > 0",
     f"SELECT coalesce(channel, 'Direct'), count(DISTINCT client_id) {RANGE_SESSIONS} GROUP BY 1"),
    ("audience (device_type)",
     "SELECT value, visitors FROM dashboard.audience(%(frm)s, %(to)s, 'device_type')",
     f"SELECT device_type, count(DISTINCT client_id) {RANGE_SESSIONS} GROUP BY 1"),
    ("sources", "SELECT concat_ws('/', channel, source, medium, campaign), visitors"
                " FROM dashboard.sources(%(frm)s, %(to)s)",
     "SELECT concat_ws('/', coalesce(channel, 'Direct'), coalesce(source, '(direct)'),"
     " coalesce(medium, '(none)'), coalesce(campaign, '(not set)')), count(DISTINCT client_id)"
     f" {RANGE_SESSIONS} GROUP BY 1"),
]


def sketch_errors(cur, frm: date, to: date) -> list[tuple[str, int, float]]:
    """(label, figures compared, largest |sketched / exact - 1|) for each sketched visitor figure."""
    out = []
    for label, sketched_sql, exact_sql in SKETCHED_VISITORS:
        cur.execute(sketched_sql, {"frm": frm, "to": to})
        sketched = dict(cur.fetchall())
        cur.execute(exact_sql, {"frm": frm, "to": to})
        exact = dict(cur.fetchall())
        errors = [abs(sketched[k] / n - 1) for k, n in exact.items() if k in sketched and n]
        out.append((label, len(errors), max(errors, default=0.0)))
    return out


PAGE_TARGET_P95_MS = 1500
APP_PAGES = [("Activity", "activity"), ("Acquisition", "acquisition"), ("Audience", "audience"),
             ("Retention", "retention"), ("Conversion funnel", "funnel"), ("Products", "products"),
             ("User journeys", "journeys"), ("Data health", "health")]
SETTLED_MS = 1000  # the condition must hold this long (browser clock) for a load to count
PAGE_TIMEOUT_S = 60

# Run before each document's own scripts: stamps when the page becomes fully drawn (see the
# module's docstring) in window.__benchRender.
RENDER_WATCH_JS = f"""
(() => {{
  const page = new URLSearchParams(location.search).get('page');
  const w = window.__benchRender = {{done: false, at: null, errors: 0}};
  const check = () => {{
    const html = document.documentElement;
    const done = html !== null && !html.classList.contains('shiny-busy') &&
      document.querySelector('.recalculating') === null &&
      document.querySelector('.tab-pane.active[data-value="' + page + '"]') !== null &&
      {shiny_app.PLOTS_DONE_EXPR};
    if (done && !w.done) w.at = performance.now();
    w.done = done;
    if (done) w.errors = document.querySelectorAll(
      '.tab-pane.active .shiny-output-error:not(.shiny-output-error-validation)').length;
  }};
  new MutationObserver(check).observe(document, {{subtree: true, childList: true, attributes: true,
                                                 attributeFilter: ['class', 'data-state', 'src']}});
}})();
"""
RENDER_STATE_JS = ("const w = window.__benchRender;"
                   " const n = performance.getEntriesByType('navigation')[0];"
                   " return w ? [w.done, w.at, performance.now(), w.errors,"
                   " n ? n.responseStart : null] : null;")


def time_page(driver, url: str) -> tuple[float | None, int, float | None]:
    """(ms from navigation start to the page's last drawn output, or None on timeout; outputs
    failed; ms to the first byte of the page's HTML, which R builds per request)."""
    driver.get(url)
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    while time.monotonic() < deadline:
        state = driver.execute_script(RENDER_STATE_JS)
        if state and state[0] and state[2] - state[1] >= SETTLED_MS:
            return state[1], state[3], state[4]
        time.sleep(0.1)
    return None, 0, None


def bench_pages(dsn: str, repeat: int, against: Path | None = None) -> None:
    """Serves the app against `dsn`'s database as a fresh reader login and times every page.
    With `against` (another checkout's app directory) both apps are served side by side and each
    page is loaded from one and then the other, the order swapped every round, so both see the
    same machine load; the ratios of this app's times to the other's are printed after."""
    rscript = shiny_app.require_r(*shiny_app.APP_R_PACKAGES)
    params = psycopg2.extensions.parse_dsn(dsn)
    with contextlib.closing(psycopg2.connect(dsn)) as conn:
        conn.autocommit = True
        reader, password = shiny_app.create_reader(conn)
    apps = {"this app": shiny_app.APP_DIR, **({"against": against} if against else {})}
    workdirs = {name: Path(tempfile.mkdtemp(prefix="bench-dashboard-app-")) for name in apps}
    try:
        with contextlib.ExitStack() as stack:
            urls, logs = {}, {}
            for name, app_dir in apps.items():
                config = shiny_app.write_db_config(
                    workdirs[name], host=params.get("host", "127.0.0.1"), port=int(params.get("port", 5432)),
                    dbname=params["dbname"], user=reader, password=password)
                urls[name], logs[name] = stack.enter_context(
                    shiny_app.serve_app(rscript, config, workdirs[name], app_dir=app_dir))
            driver = stack.enter_context(shiny_app.chromium())
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RENDER_WATCH_JS})
            for url in urls.values():
                time_page(driver, f"{url}?page={APP_PAGES[0][1]}")  # warm-up, untimed
            runs = {name: PageTimes() for name in apps}
            for i in range(repeat):
                for _, page in APP_PAGES:
                    for name in list(apps) if i % 2 == 0 else list(apps)[::-1]:
                        runs[name].add(page, *time_page(driver, f"{urls[name]}?page={page}"))
            for name, app_dir in apps.items():
                if against:
                    print(f"\n{name}: {app_dir}")
                runs[name].report(repeat)
                if any(runs[name].failed.values()):
                    print(f"R console: {logs[name].read_text()[-2000:]}")
            if against:
                print_ratios(runs["this app"], runs["against"])
    finally:
        for workdir in workdirs.values():
            shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.closing(psycopg2.connect(dsn)) as conn:
            conn.autocommit = True
            shiny_app.drop_reader(conn, reader)


def print_ratios(mine: PageTimes, theirs: PageTimes) -> None:
    print(f"\n{'this app / against (same loads, alternating)':<44} {'p50':>9} {'p95':>9}")
    for label, page in [*APP_PAGES, ("every load", None)]:
        a, b = mine.times(page), theirs.times(page)
        if a and b:
            print(f"{label:<44} {statistics.median(a) / statistics.median(b):>9.2f}"
                  f" {percentile(a, 0.95) / percentile(b, 0.95):>9.2f}")


class PageTimes:
    """One app's page loads: ms to the last drawn output, outputs failed, ms to the HTML's first byte."""

    def __init__(self) -> None:
        self.timings: dict[str, list[float]] = {page: [] for _, page in APP_PAGES}
        self.failed = dict.fromkeys(self.timings, 0)
        self.first_byte: dict[str, list[float]] = {page: [] for _, page in APP_PAGES}
        self.timeouts = dict.fromkeys(self.timings, 0)

    def add(self, page: str, ms: float | None, errors: int, html_ms: float | None) -> None:
        if html_ms is not None:
            self.first_byte[page].append(html_ms)
        if ms is None:
            self.timeouts[page] += 1
        else:
            self.timings[page].append(ms)
        self.failed[page] += errors

    def times(self, page: str | None) -> list[float]:
        """One page's times, or every page's (None)."""
        return self.timings[page] if page else [t for got in self.timings.values() for t in got]

    def report(self, repeat: int) -> None:
        print(f"\n{'page (navigation start to last drawn output)':<44} {'p50 ms':>9} {'p95 ms':>9}"
              f" {'> ' + str(PAGE_TARGET_P95_MS):>7} {'failed':>7} {'HTML p50':>9}")
        slow = []
        for label, page in APP_PAGES:
            got = self.timings[page]
            html = (f"{statistics.median(self.first_byte[page]):>9.0f}" if self.first_byte[page]
                    else f"{'-':>9}")
            over = sum(t > PAGE_TARGET_P95_MS for t in got) + self.timeouts[page]
            note = f"  {self.timeouts[page]} timed out (> {PAGE_TIMEOUT_S} s)" if self.timeouts[page] else ""
            if not got:
                slow.append(label)
                print(f"{label:<44} {'-':>9} {'-':>9} {over:>7} {self.failed[page]:>7} {html}{note}",
                      flush=True)
                continue
            p50, p95 = statistics.median(got), percentile(got, 0.95)
            if p95 > PAGE_TARGET_P95_MS or self.timeouts[page]:
                slow.append(label)
                note = f"  > {PAGE_TARGET_P95_MS} ms{note}"
            print(f"{label:<44} {p50:>9.0f} {p95:>9.0f} {over:>7} {self.failed[page]:>7} {html}{note}",
                  flush=True)
        print(f"\n{len(slow)} of {len(APP_PAGES)} pages over the {PAGE_TARGET_P95_MS} ms p95 target"
              + (f": {', '.join(slow)}" if slow else "")
              + f" ({repeat} loads each; '> {PAGE_TARGET_P95_MS}': loads over it or timed out;"
              " 'failed': outputs that failed, summed over the loads; 'HTML p50': ms to the first byte"
              " of the page's HTML, part of the page's time)")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 -- one straight run, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90, help="days the events spread over")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--dsn", help="superuser DSN of a server to use (a database is created and dropped)")
    parser.add_argument("--pages", action="store_true",
                        help="also time each page in headless Chromium (the app served by R; see above)")
    parser.add_argument("--pages-against", type=Path, metavar="APP_DIR",
                        help="with --pages: also serve another checkout's app"
                        " (its roles/shiny_server/files/app) and alternate every page's loads between the two"
                        " (ratios printed)")
    parser.add_argument("--keep", action="store_true",
                        help="with --dsn: keep the database (to EXPLAIN its queries); prints its name")
    args = parser.parse_args(argv)
    if args.keep and not args.dsn:
        parser.error("--keep needs --dsn (a throwaway cluster goes with its databases)")
    if args.pages_against and not args.pages:
        parser.error("--pages-against needs --pages")
    if args.pages_against and not (args.pages_against / "app.R").is_file():
        parser.error(f"--pages-against: no app.R in {args.pages_against}")
    if args.events < 1000 or args.days < 1 or args.repeat < 1:
        parser.error("--events >= 1000, --days >= 1 and --repeat >= 1")

    cluster = PgCluster.existing(args.dsn) if args.dsn else PgCluster.start()
    dbname = f"bench_dashboard_{int(time.time())}"
    try:
        dsn = cluster.create_database(dbname)
        with contextlib.closing(psycopg2.connect(dsn)) as conn:
            apply_migrations(conn)
            first_day = date(2026, 1, 1)
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                cur.copy_expert(
                    sql.SQL("COPY clickstream_events ({}) FROM STDIN")
                    .format(sql.SQL(", ").join(map(sql.Identifier, COLUMNS)))
                    .as_string(conn),
                    EventStream(args.events, args.days, first_day),
                )
            conn.commit()
            t1 = time.perf_counter()
            print(f"COPY {args.events:,} events over {args.days} days: {t1 - t0:.1f} s", flush=True)
            with conn.cursor() as cur:
                cur.execute("SET work_mem = '256MB'")
                cur.execute(DERIVE_SQL)
                cur.execute(REFRESH_SQL)
            conn.commit()
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("VACUUM ANALYZE")
                cur.execute(
                    "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM etl_file_manifest), "
                    "(SELECT min(day) FROM agg_funnel_daily), (SELECT max(day) FROM agg_funnel_daily)"
                )
                n_sessions, n_files, first, last = cur.fetchone()
            print(
                f"sessions {n_sessions:,}, files {n_files:,}, aggregates and bookkeeping: "
                f"{time.perf_counter() - t1:.1f} s",
                flush=True,
            )

            print(f"\n{'query (default page range: last 30 days)':<40} {'p50 ms':>9} {'p95 ms':>9}")
            slow = []
            with conn.cursor() as cur:
                for label, statement, params in queries(first, last):
                    timings = []
                    for _ in range(args.repeat):
                        start = time.perf_counter()
                        cur.execute(statement, params)
                        cur.fetchall()
                        timings.append((time.perf_counter() - start) * 1000)
                    p50, p95 = statistics.median(timings), percentile(timings, 0.95)
                    flag = "" if p95 <= TARGET_P95_MS else f"  > {TARGET_P95_MS} ms"
                    if flag:
                        slow.append(label)
                    print(f"{label:<40} {p50:>9.1f} {p95:>9.1f}{flag}", flush=True)
            print(
                f"\n{len(slow)} of {len(queries(first, last))} queries over the {TARGET_P95_MS} ms p95 target"
                + (f": {', '.join(slow)}" if slow else "")
            )
            print(f"\n{'visitor sketches against exact counts':<40} {'figures':>9} {'max error':>9}")
            with conn.cursor() as cur:
                for label, compared, error in sketch_errors(cur, max(first, last - timedelta(days=29)), last):
                    print(f"{label:<40} {compared:>9} {error:>9.2%}", flush=True)
        if args.pages:
            bench_pages(dsn, args.repeat, args.pages_against)
    finally:
        if args.keep and args.dsn:
            print(f"kept database {dbname}")
            cluster.keep_database(dbname)
        else:
            with contextlib.suppress(psycopg2.Error):
                cluster.drop_database(dbname)
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
