"""Acquisition and audience end to end: raw objects -> ETL -> sessions, clients and the dashboard's
acquisition functions, each compared with the plain-Python oracle (tests/support/acquisition.py),
with late events that re-attribute, sessions crossing midnight, list bots ingest missed, a
country database, and a channel rule change re-derived by ``reclassify``."""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg2
import pytest

from functions.enrichment import geo, urls
from functions.etl import enrich, runner, warehouse
from functions.etl.__main__ import main
from functions.etl.config import dwh_password
from functions.etl.reclassify import reclassify
from functions.etl.refresh import refresh_pending_aggregates
from functions.etl.runner import run
from tests.etl.support import iso, put_by_hour
from tests.support import acquisition as oracle
from tests.support.events import ingested, seeded_event

FIRST_DAY = date(2026, 10, 5)            # a Monday
WEEKS = 5
SINCE = datetime(2026, 10, 5, tzinfo=UTC)
UNTIL = datetime(2026, 11, 14, tzinfo=UTC)
SHOP = "https://shop.example"

AGENTS = [  # (user agent, ingest's is_bot)
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", False),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", False),
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/16.6 Mobile/15E148 Safari/604.1", False),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", False),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15", False),
]
BOT_AGENTS = [("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
              ("python-requests/2.32.3", False)]          # the list catches what ingest did not flag
LANDINGS = [  # (query of the landing URL, referrer)
    ("", None), ("", None), ("", "https://www.google.com/"), ("", "https://www.bing.com/search?q=gpu"),
    ("?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday", None),
    ("?gclid=Cj0KCQ&utm_term=ignored", "https://www.google.com/"),
    ("?fbclid=IwAR2", "https://m.facebook.com/"),
    ("", "https://news.ycombinator.com/item?id=42"),
    ("", "https://blog.example/best-gpus"), ("", "https://forum.example/t/1"),
    ("", SHOP + "/cart"), ("", "https://www.paypal.com/checkoutnow"),
    ("?utm_source=facebook&utm_medium=paid_social&utm_campaign=gpu%20week&utm_content=video+a", None),
    ("?utm_source=partner&utm_medium=affiliate", None),
    ("?utm_campaign=summer", None),
    ("?utm_source=adnet&utm_medium=cpm#frag", "https://adnet.example/"),
]
ADDRESSES = ["203.0.113.0", "198.51.100.0", "192.0.2.0", "2001:db8:1::"]


def _event(rng, session: dict, name: str, at: datetime, *, url: str, referrer: str | None, **extra) -> dict:
    page = {"url": url, "path": url.removeprefix(SHOP).split("?")[0].split("#")[0], "title": "Shop"}
    if referrer:
        page["referrer"] = referrer
    event = ingested(
        seeded_event(rng, name, event_timestamp=iso(at), user_id=session["user_id"],
                     client_id=session["client_id"], session_id=session["session_id"], page=page, context={}),
        rng, received_at=iso(at + timedelta(seconds=3)), source_ip=session["address"],
        user_agent=session["agent"][0], is_bot=session["agent"][1])
    event.update(extra)
    return event


def make_session(rng: random.Random, client: dict, start: datetime,
                 landing: tuple[str, str | None]) -> list[dict]:
    """A landing page view, then browsing, sometimes a purchase; some sessions cross midnight."""
    session = {"session_id": f"s-{rng.getrandbits(48):012x}", "client_id": client["client_id"],
               "user_id": client["user_id"] if rng.random() < 0.5 else None, "agent": client["agent"],
               "address": client["address"]}
    query, referrer = landing
    at = start
    events = [_event(rng, session, "page_view", at, url=f"{SHOP}/{query}", referrer=referrer)]
    for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
        at += timedelta(seconds=rng.randint(20, 400))
        name = rng.choice(["page_view", "page_view", "product_view", "product_view", "add_to_cart"])
        product = f"gpu-{rng.randint(1, 4)}"
        context = {} if name == "page_view" else {"product": {"id": product, "name": product, "price": 499.0}}
        events.append(_event(rng, session, name, at, url=f"{SHOP}/p/{product}", referrer=f"{SHOP}/",
                             context=context))
    if len(events) > 2 and rng.random() < 0.4:
        at += timedelta(seconds=rng.randint(30, 200))
        revenue = round(rng.uniform(20, 2000), 2)
        order = {"order_id": f"o-{rng.getrandbits(32):08x}", "revenue": revenue, "currency": "USD",
                 "items": [{"product_id": "gpu-1", "quantity": 1, "price": revenue}]}
        events.append(_event(rng, session, "purchase", at, url=f"{SHOP}/checkout/done", referrer=f"{SHOP}/",
                             context={"order": order}))
    return events


def make_traffic(seed: int, clients: int = 60) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for n in range(clients):
        agent = rng.choice(BOT_AGENTS) if rng.random() < 0.08 else rng.choice(AGENTS)
        client = {"client_id": f"c-{n:03d}", "user_id": f"u-{n % 45:03d}" if rng.random() < 0.4 else None,
                  "agent": agent, "address": rng.choice(ADDRESSES)}
        for _ in range(rng.choice([1, 1, 2, 3, 4, 6])):
            day = FIRST_DAY + timedelta(days=rng.randrange(WEEKS * 7))
            start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                seconds=rng.choice([rng.randrange(86400), 86400 - rng.randint(60, 600)]))  # near midnight
            records.extend(make_session(rng, client, start.replace(microsecond=rng.randrange(1000) * 1000),
                                        rng.choice(LANDINGS)))
    return records


# ---------------------------------------------------------------- fixtures and helpers

@pytest.fixture
def country_db(tmp_path, monkeypatch, settings):
    from tests.enrichment.test_geo import build_database, country  # noqa: PLC0415 - the geo tests' builder

    path = build_database(tmp_path / "country.mmdb", {"203.0.113.0/24": {"country": country("AU")},
                                                      "198.51.100.0/24": {"country": country("SG")},
                                                      "2001:db8::/32": {"country": country("DE")}})
    geo.forget_lookups()
    yield path
    geo.forget_lookups()
    enrich.configure_geography(None)


def load(settings, s3, bucket, records) -> None:
    put_by_hour(s3, bucket, records)
    summary = run(settings, SINCE, UNTIL, s3=s3, now=UNTIL)
    assert summary["status"] == "succeeded" and summary["rejected"] == 0, summary


def categories(dw) -> dict[str, str]:
    with dw.cursor() as cur:
        cur.execute("SELECT source, category FROM channel_source_categories")
        return dict(cur.fetchall())


def model(dw, records, country_of=lambda _address: None) -> dict[str, oracle.Session]:
    return oracle.build_sessions(records, categories(dw), country_of=country_of)


SESSION_COLUMNS = ("is_bot", "bot_reason", "device_type", "browser_family", "browser_major", "os_family",
                   "country", "landing_path", "utm_source", "utm_medium", "campaign", "term", "content",
                   "click_id_type", "referrer_host", "source", "medium", "channel", "is_returning",
                   "user_ids", "steps", "step_count")


def assert_sessions_match(dw, expected: dict[str, oracle.Session]) -> None:
    with dw.cursor() as cur:
        cur.execute(f"SELECT session_id, {', '.join(SESSION_COLUMNS)} FROM sessions")  # noqa: S608 - constants
        actual = {row[0]: dict(zip(SESSION_COLUMNS, row[1:], strict=True)) for row in cur.fetchall()}
        cur.execute("SELECT client_id, first_started_at, first_session_id FROM clients")
        clients = {row[0]: (row[1], row[2]) for row in cur.fetchall()}
        cur.execute("SELECT client_id, user_id, first_seen, last_seen FROM client_users")
        users = {(row[0], row[1]): (row[2], row[3]) for row in cur.fetchall()}
    assert actual.keys() == expected.keys()
    for sid, session in expected.items():
        want = {c: getattr(session, c) for c in SESSION_COLUMNS}
        want["user_ids"] = want["user_ids"] or None
        got = dict(actual[sid], user_ids=sorted(actual[sid]["user_ids"]) if actual[sid]["user_ids"] else None)
        assert got == want, sid
    assert clients == oracle.first_sessions(expected)
    assert users == oracle.client_users(expected)


def _plain(value):
    """Rates compared to 12 places: SQL's numeric division and Decimal's carry different digits."""
    if isinstance(value, Decimal) and value != value.to_integral_value():
        return round(float(value), 12)
    if isinstance(value, Decimal):
        return int(value)
    return value


def rows(dw, query: str, *args) -> list[tuple]:
    with dw.cursor() as cur:
        cur.execute(query, args)
        return [tuple(_plain(v) for v in row) for row in cur.fetchall()]


def plain(expected: list[tuple]) -> list[tuple]:
    return [tuple(_plain(v) for v in row) for row in expected]


RANGES = [(date(2026, 10, 1), date(2026, 11, 30)), (date(2026, 10, 12), date(2026, 10, 18)),
          (date(2026, 10, 20), date(2026, 10, 20)), (date(2026, 11, 2), date(2026, 11, 9))]


def assert_dashboard_matches(dw, sessions: dict[str, oracle.Session], own_hosts: set[str]) -> None:
    for p_from, p_to in RANGES:
        assert rows(dw, "SELECT * FROM dashboard.visitors(%s, %s)", p_from, p_to) == plain(
            [oracle.visitors(sessions, p_from, p_to)]), (p_from, p_to)
        assert rows(dw, "SELECT * FROM dashboard.channels(%s, %s)", p_from, p_to) == plain(
            oracle.channels(sessions, p_from, p_to)), (p_from, p_to)
        assert rows(dw, "SELECT * FROM dashboard.sources(%s, %s)", p_from, p_to) == plain(
            oracle.sources(sessions, p_from, p_to)), (p_from, p_to)
        top_search = "SELECT * FROM dashboard.sources(%s, %s, 'Organic Search', 3)"
        assert rows(dw, top_search, p_from, p_to) == plain(
            oracle.sources(sessions, p_from, p_to, "Organic Search", 3)), (p_from, p_to)
        assert rows(dw, "SELECT * FROM dashboard.referrers(%s, %s)", p_from, p_to) == plain(
            oracle.referrers(sessions, p_from, p_to, own_hosts)), (p_from, p_to)
        for dimension in oracle.AUDIENCE:
            assert rows(dw, "SELECT * FROM dashboard.audience(%s, %s, %s)", p_from, p_to, dimension) == plain(
                oracle.audience(sessions, p_from, p_to, dimension)), (p_from, p_to, dimension)
        assert rows(dw, "SELECT * FROM dashboard.retention_weekly(%s, %s, 4)", p_from, p_to) == plain(
            oracle.retention_weekly(sessions, p_from, p_to, 4)), (p_from, p_to)


#: The aggregates the batches recompute for what they touched (migrations 060, 061), as comparable rows.
RECOMPUTED = {
    "agg_audience_daily": "SELECT day, dimension, value, sessions, events, duration_s, bounces, converted,"
                          " orders, revenue,"
                          " visitors::text, signed_in_users::text FROM agg_audience_daily ORDER BY 1, 2, 3",
    "agg_acquisition_daily": "SELECT day, channel, source, medium, campaign, referrer_host, sessions,"
                             " converted, orders, revenue, visitors::text FROM agg_acquisition_daily"
                             " ORDER BY 1, 2, 3, 4, 5, 6",
    "purchase_attribution": "SELECT * FROM purchase_attribution ORDER BY event_id",
    "agg_attribution_daily": "SELECT * FROM agg_attribution_daily ORDER BY 1, 2, 3",
    "client_activity_weeks": "SELECT * FROM client_activity_weeks ORDER BY 1, 2",
    "agg_retention_weekly": "SELECT * FROM agg_retention_weekly ORDER BY 1, 2",
    "agg_journey_daily": "SELECT * FROM agg_journey_daily ORDER BY 1, 2, 3",
    "agg_journey_pages_daily": "SELECT * FROM agg_journey_pages_daily ORDER BY 1, 2, 3",
    # migration 061: the page filters' segments, refreshed with the daily rows
    "agg_segment_daily": "SELECT day, channel, device_type, country, sessions, new_visitors, events, bounces,"
                         " sessions_page_view, sessions_product_view, sessions_add_to_cart,"
                         " sessions_begin_checkout, sessions_purchase, orders, revenue, visitors::text"
                         " FROM agg_segment_daily ORDER BY 1, 2, 3, 4",
}
REFRESH_EVERYTHING = ("SELECT refresh_daily_aggregates(ARRAY(SELECT DISTINCT"
                      " (started_at AT TIME ZONE 'UTC')::date FROM sessions"
                      " UNION SELECT day FROM agg_audience_daily));"
                      " SELECT refresh_purchase_attribution(ARRAY(SELECT client_id FROM clients"
                      " UNION SELECT client_id FROM purchase_attribution));"
                      " SELECT refresh_client_retention(ARRAY(SELECT client_id FROM clients"
                      " UNION SELECT client_id FROM client_activity_weeks))")


def assert_aggregates_are_a_recompute(dw) -> None:
    """The recomputed aggregates as the batches left them are what refreshing everything from the
    sessions gives (the same sketches, byte for byte): nothing a late event, a bot or a rule
    change moved was left behind."""
    kept = {table: rows(dw, query) for table, query in RECOMPUTED.items()}
    # agg_attribution_daily is changed by differences: it must be what its rows add up to now
    assert kept["agg_attribution_daily"] == rows(
        dw, "SELECT day, m.model, m.channel, count(*), sum(revenue) FROM purchase_attribution"
            " CROSS JOIN LATERAL (VALUES ('first_touch', first_touch_channel),"
            " ('last_touch', last_touch_channel)) m (model, channel) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    dw.autocommit = False
    try:
        with dw.cursor() as cur:
            cur.execute(REFRESH_EVERYTHING)
        for table, query in RECOMPUTED.items():
            assert rows(dw, query) == kept[table], table
    finally:
        dw.rollback()
        dw.autocommit = True
    assert all(kept.values()), [table for table, got in kept.items() if not got]


# ---------------------------------------------------------------- the tests

def test_sessions_and_every_acquisition_figure_match_the_oracle_through_late_events(settings, s3, bucket, dw):
    records = make_traffic(seed=15)
    by_client: dict[str, list[dict]] = {}
    for r in records:
        by_client.setdefault(r["client_id"], []).append(r)
    # Late: the first session of some returning clients (their later sessions turn returning and
    # their purchases' first touch moves), and an earlier landing for some sessions (their
    # acquisition and channel change). Each arrives three days after it happened.
    late: list[dict] = []
    for _client, events in sorted(by_client.items())[::4]:
        first_sid = min(events, key=lambda r: r["event_timestamp"])["session_id"]
        if len({r["session_id"] for r in events}) > 1:
            late.extend(r for r in events if r["session_id"] == first_sid)
    rng = random.Random(16)
    relanded = {}
    for r in records[5::37]:
        if r["session_id"] in relanded or r in late:
            continue
        first = min((e for e in records if e["session_id"] == r["session_id"]),
                    key=lambda e: e["event_timestamp"])
        at = datetime.fromisoformat(first["event_timestamp"].replace("Z", "+00:00")) - timedelta(seconds=5)
        if len(relanded) % 5 == 0:  # a landing before the day's midnight: the session moves to the day before
            at = at.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(seconds=60)
        relanded[r["session_id"]] = dict(
            first, event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), event_timestamp=iso(at),
            page=dict(first["page"], url=f"{SHOP}/landing?utm_source=google&utm_medium=cpc&utm_campaign=gpus",
                      referrer="https://www.google.com/"),
            received_at=iso(at + timedelta(days=3)))
    late.extend(relanded.values())
    on_time = [r for r in records if r not in late]

    load(settings, s3, bucket, on_time)
    assert_sessions_match(dw, model(dw, on_time))
    before = dict(rows(dw, "SELECT session_id, (started_at AT TIME ZONE 'UTC')::date FROM sessions"))
    load(settings, s3, bucket, late)
    everything = on_time + late
    after = dict(rows(dw, "SELECT session_id, (started_at AT TIME ZONE 'UTC')::date FROM sessions"))
    assert any(after[sid] < day for sid, day in before.items()), "no late landing moved a session a day back"
    expected = model(dw, everything)
    assert_sessions_match(dw, expected)
    assert_dashboard_matches(dw, expected, {"shop.example"})
    assert_aggregates_are_a_recompute(dw)

    # the traffic holds the cases the definitions are about (so the comparison can fail)
    sessions = list(expected.values())
    assert {s.channel for s in sessions} >= {"Direct", "Organic Search", "Paid Search", "Organic Social",
                                             "Paid Social", "Email", "Affiliates", "Display", "Referral",
                                             "Unassigned"}
    assert any(s.is_bot and s.bot_reason == "crawler:python-requests" for s in sessions), \
        "a list bot that ingest did not flag"
    assert any(s.is_returning for s in sessions) and any(not s.is_returning for s in sessions)
    purchases = oracle.attributed_purchases(expected, *RANGES[0])
    assert any(first != last for _e, _r, _own, first, last in purchases), "first and last touch differ"
    assert any(own == "Direct" and last != "Direct" for _e, _r, own, _f, last in purchases)
    assert any(s.started_at.date() != (s.started_at + timedelta(minutes=10)).date() and s.events > 1
               for s in sessions), "sessions crossing midnight"
    assert any(s.channel == "Paid Search" and s.session_id in relanded for s in sessions)


def test_a_run_that_dies_after_its_batches_leaves_its_refresh_to_the_next_run(settings, s3, bucket, dw,
                                                                              monkeypatch):
    """The batches only record the days and clients to refresh (migration 070); the run refreshes
    them once after its last batch. A run that dies before that (a timeout) leaves them pending,
    and the next run, with nothing new to load, refreshes them: nothing a batch committed is
    left out of the aggregates."""
    def dies(_conn, _settings):
        raise TimeoutError("the run's time is up")

    monkeypatch.setattr(runner, "refresh_pending_aggregates", dies)
    put_by_hour(s3, bucket, make_traffic(seed=70, clients=30))
    with pytest.raises(TimeoutError):
        run(dataclasses.replace(settings, batch_max_files=2), SINCE, UNTIL, s3=s3, now=UNTIL)
    def count(table: str) -> int:
        return rows(dw, f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608 - the test's own names

    assert count("sessions") > 0
    assert [count(t) for t in ("agg_audience_daily", "purchase_attribution", "client_activity_weeks")] \
        == [0, 0, 0]
    pending_days = rows(dw, "SELECT day FROM agg_pending_days ORDER BY 1")
    assert pending_days == rows(
        dw, "SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM sessions ORDER BY 1")
    assert rows(dw, "SELECT count(*) FROM agg_pending_clients") == rows(
        dw, "SELECT count(DISTINCT client_id) FROM sessions")

    monkeypatch.setattr(runner, "refresh_pending_aggregates", refresh_pending_aggregates)
    summary = run(settings, SINCE, UNTIL, s3=s3, now=UNTIL)
    assert summary["files"] == 0, summary
    assert summary["aggregates_refreshed"]["days"] == len(pending_days), summary
    assert count("agg_pending_days") == count("agg_pending_clients") == 0
    assert_aggregates_are_a_recompute(dw)
    assert run(settings, SINCE, UNTIL, s3=s3, now=UNTIL)["aggregates_refreshed"] == {
        "days": 0, "clients": 0, "seconds": pytest.approx(0, abs=5)}


def test_countries_come_from_the_configured_database(settings, s3, bucket, dw, country_db):
    settings = dataclasses.replace(settings, geoip_country_db=str(country_db))
    records = make_traffic(seed=17, clients=25)
    load(settings, s3, bucket, records)
    lookup = geo.CountryLookup(country_db)
    expected = model(dw, records, country_of=lookup.country)
    assert_sessions_match(dw, expected)
    assert {s.country for s in expected.values()} == {"AU", "SG", "DE", None}   # 192.0.2.0 is in none
    assert rows(dw, "SELECT * FROM dashboard.audience(%s, %s, 'country')", *RANGES[0]) == plain(
        oracle.audience(expected, *RANGES[0], "country"))


def test_without_a_country_database_country_is_one_null_row(settings, s3, bucket, dw):
    load(settings, s3, bucket, make_traffic(seed=18, clients=10))
    got = rows(dw, "SELECT value FROM dashboard.audience(%s, %s, 'country')", *RANGES[0])
    assert got == [(None,)]


def test_an_unknown_audience_dimension_is_an_error_naming_the_allowed_ones(dw):
    with pytest.raises(psycopg2.errors.InvalidParameterValue,
                       match="unknown dimension 'city'; allowed: device_type, browser, os, country, "
                             "visitor_type, login_state"):
        rows(dw, "SELECT * FROM dashboard.audience('2026-10-01', '2026-10-02', 'city')")


@pytest.mark.parametrize("url", [
    "https://shop.example/", "https://WWW.Shop.Example:8443/x?y#z", "http://user:pw@shop.example./a",
    "https://www.example.co.uk", "https://sub.shop.example/p?q=1", "ftp://files.example/x",
    "https://bücher.example/", "https:///nohost", "/relative/path", "", "https://a_b.example/",
    " https://padded.example/ ", "https://www./", "https://[2001:db8::1]/x",
])
def test_the_warehouse_reads_a_landing_host_as_the_library_does(dw, url):
    assert rows(dw, "SELECT url_host(%s)", url) == [(urls.host(url) if "[" not in url else None,)]


def test_reclassify_re_derives_the_windows_channels_after_a_rule_change(settings, s3, bucket, dw, capsys):
    records = make_traffic(seed=19, clients=40)
    load(settings, s3, bucket, records)
    with dw.cursor() as cur:   # the analyst renames a channel and drops a gateway from the exclusions
        cur.execute("UPDATE channel_rules SET channel = 'Newsletter' WHERE channel = 'Email'")
        cur.execute("DELETE FROM channel_referrer_exclusions WHERE host = 'paypal.com'")
    before = model(dw, records)
    window = (datetime(2026, 10, 12, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC))

    assert main(["reclassify", "--since", window[0].isoformat(), "--until", window[1].isoformat()]) == 0
    summary = json.loads(capsys.readouterr().out)

    def reclassified(session: oracle.Session) -> oracle.Session:
        if not window[0] <= session.started_at < window[1]:
            return session
        source, medium = oracle.ga4_source_medium(session.utm_source, session.utm_medium, session.campaign,
                                                  session.click_id_type, session.referrer_host,
                                                  {"shop.example"}, oracle.PAYMENT_GATEWAYS - {"paypal.com"})
        channel = oracle.ga4_channel(source, medium, session.campaign, session.click_id_type, categories(dw))
        return dataclasses.replace(session, source=source, medium=medium,
                                   channel="Newsletter" if channel == "Email" else channel)

    expected = {sid: reclassified(s) for sid, s in before.items()}
    changed = sum((s.source, s.medium, s.channel) != (b.source, b.medium, b.channel)
                  for s, b in ((expected[sid], before[sid]) for sid in expected))
    assert summary["status"] == "succeeded" and summary["sessions_changed"] == changed > 0
    assert summary["sessions"] == sum(window[0] <= s.started_at < window[1] for s in before.values())
    assert_sessions_match(dw, expected)
    assert {s.channel for s in expected.values() if s.started_at >= window[1]} >= {"Email"}  # outside: as was
    weeks = (date(2026, 10, 12), date(2026, 10, 25))
    assert rows(dw, "SELECT * FROM dashboard.channels(%s, %s)", *weeks) == plain(
        oracle.channels(expected, *weeks))
    assert_aggregates_are_a_recompute(dw)
    with dw.cursor() as cur:
        cur.execute("SELECT trigger, status FROM etl_runs ORDER BY run_id DESC LIMIT 1")
        assert cur.fetchone() == ("reclassify", "succeeded")

    assert main(["reclassify", "--since", window[0].isoformat(), "--until", window[1].isoformat()]) == 0
    assert json.loads(capsys.readouterr().out)["sessions_changed"] == 0       # once is enough


def test_reclassify_waits_for_no_load_and_refuses_an_empty_window(settings, dw, capsys):
    with pytest.raises(ValueError, match="is not before --until"):
        reclassify(settings, datetime(2026, 10, 2, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC))
    holder = warehouse.connect(settings, dwh_password(settings))
    try:
        assert warehouse.try_lock(holder)
        assert reclassify(settings, datetime(2026, 10, 1, tzinfo=UTC),
                          datetime(2026, 10, 2, tzinfo=UTC))["status"] == "skipped"
    finally:
        holder.close()
    assert reclassify(settings, datetime(2026, 10, 1, tzinfo=UTC),
                      datetime(2026, 10, 2, tzinfo=UTC))["status"] == "succeeded"



SCALE_SESSIONS = """
INSERT INTO sessions (session_id, client_id, started_at, ended_at, duration_s, events, page_views,
                      product_views, is_first_visit, logged_in, reached_product, reached_cart,
                      reached_checkout, purchased, orders, revenue, is_bot, channel, device_type,
                      is_returning, user_ids)
SELECT 's-' || n, 'c-' || (n %% %(clients)s), at, at, 0, 1 + n %% 3, 1, 0, false, n %% 7 = 0, false, false,
       false, false, 0, 0, n %% 50 = 0,
       (ARRAY['Direct', 'Organic Search', 'Paid Search', 'Email', 'Referral'])[1 + (n / 7) %% 5],
       (ARRAY['desktop', 'mobile', 'tablet'])[1 + (n / 11) %% 3], n >= %(clients)s,
       CASE WHEN n %% 7 = 0 THEN ARRAY['u-' || (n %% 40000)] END
FROM generate_series(0, %(sessions)s - 1) AS n
CROSS JOIN LATERAL (SELECT timestamptz '2026-10-01 00:00Z' + (hashtext(n::text) & 2147483647) %% 2592000
                           * interval '1 second' AS at) t
"""


def test_visitors_from_sketches_are_within_2_percent_of_exact_at_200k_visitors(dw):
    """200,000 clients, 360,000 sessions over 30 days straight into sessions: every sketched
    visitor figure is within 2 % of count(DISTINCT) (and within 3.5 relative standard errors),
    visitors() says it is approximate and with what error; small groups stay exact."""
    with dw.cursor() as cur:
        cur.execute(SCALE_SESSIONS, {"clients": 200_000, "sessions": 360_000})
        cur.execute("ANALYZE sessions")
        cur.execute("SELECT refresh_daily_aggregates(ARRAY(SELECT DISTINCT"
                    " (started_at AT TIME ZONE 'UTC')::date FROM sessions))")
        cur.execute("SELECT visitor_sketch_relative_error()")
        bound = cur.fetchone()[0]
    assert bound == Decimal("0.0057")

    def exact(query: str, *args) -> dict:
        return {row[0]: row[1] for row in rows(dw, query, *args)}

    checked = 0
    for p_from, p_to in [(date(2026, 10, 1), date(2026, 10, 30)), (date(2026, 10, 8), date(2026, 10, 14)),
                         (date(2026, 10, 20), date(2026, 10, 20))]:
        human = ("FROM sessions WHERE NOT is_bot AND started_at >= %s::timestamp AT TIME ZONE 'UTC'"
                 " AND started_at < (%s::date + 1)::timestamp AT TIME ZONE 'UTC'")
        want = rows(dw, "SELECT count(DISTINCT client_id), (SELECT count(DISTINCT u) FROM"  # noqa: S608
                        f" (SELECT unnest(user_ids) AS u {human}) x) {human}", p_from, p_to, p_from, p_to)[0]
        visitors, _new, _returning, users, approximate, relative_error = rows(
            dw, "SELECT * FROM dashboard.visitors(%s, %s)", p_from, p_to)[0]
        assert approximate is True and relative_error == float(bound)
        for got, true in ((visitors, want[0]), (users, want[1])):
            assert abs(got - true) <= min(0.02, 3.5 * float(bound)) * true, (got, true)
            checked += 1
        for dimension, column in (("channel", "channel"), ("device_type", "device_type")):
            true = exact(f"SELECT {column}, count(DISTINCT client_id) {human} GROUP BY 1", p_from, p_to)
            query = ("SELECT channel, visitors FROM dashboard.channels(%s, %s)" if dimension == "channel" else
                     "SELECT value, visitors FROM dashboard.audience(%s, %s, 'device_type')")
            got = exact(query, p_from, p_to)
            assert got.keys() == true.keys()
            for value, count in true.items():
                assert abs(got[value] - count) <= 0.02 * count, (p_from, p_to, dimension, value, got[value],
                                                                 count)
                checked += 1
    assert checked == 3 * (2 + 5 + 3)


def test_the_sketch_count_corrects_hyperloglogs_bias_above_its_switch_from_linear_counting(dw):
    """Just above 2.5 x 2^15 distinct visitors postgresql-hll's raw estimate runs 2-3.5 % high
    (it switches from linear counting there); visitor_sketch_count() takes that bias off: every
    count from 60,000 to 160,000 visitors is within 1.5 % (the 2 % bound with room), five
    different sets of ids each, where the raw estimate is not."""
    raw_errors, corrected_errors = [], []
    with dw.cursor() as cur:
        for n in (60_000, 82_000, 84_000, 90_000, 100_000, 120_000, 160_000):
            for seed in range(5):
                cur.execute("SELECT hll_cardinality(h), visitor_sketch_count(h) FROM (SELECT hll_add_agg("
                            "hll_hash_text(%s || g), visitor_sketch_log2m()) AS h"
                            " FROM generate_series(1, %s) g) x",
                            (f"visitor-{seed}-", n))
                raw, corrected = cur.fetchone()
                raw_errors.append(abs(raw / n - 1))
                corrected_errors.append(abs(corrected / n - 1))
    assert max(corrected_errors) <= 0.015, max(corrected_errors)
    assert max(raw_errors) > 0.02        # the bias is there to correct (so the check can fail)

