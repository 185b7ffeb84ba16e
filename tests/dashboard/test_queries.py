"""The dashboard SQL functions (functions/warehouse/dashboard/*.sql) against figures recomputed in
plain Python from the known events, on a real PostgreSQL; and the reader's privileges on them."""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import date
from decimal import Decimal

import psycopg2
import pytest
from psycopg2 import sql

from tests.dashboard import known_data
from tests.dashboard.conftest import Warehouse
from tests.support import journeys, overview
from tests.support import revenue as revenue_oracle

FROM, TO = known_data.FIRST_DAY, known_data.LAST_DAY


def human_sessions(data: known_data.KnownData, day_from: date = FROM, day_to: date = TO) -> list[dict]:
    return overview.human_sessions(data, day_from, day_to)


def test_activity_summary_matches_events(warehouse: Warehouse, known):
    want = overview.activity(known.records, FROM, TO)
    [(n_events, n_sessions, peak_users, peak_hour, peak_events, peak_day_users, peak_day)] = warehouse.query(
        "SELECT * FROM dashboard.activity_summary(%s, %s)", (FROM, TO)
    )
    assert (n_events, n_sessions, peak_users, peak_events, peak_day_users, peak_day) == (
        want["events"], want["sessions"], want["peak_hour_users"], want["peak_hour_events"],
        want["peak_day_users"], want["peak_day"])
    assert want["hourly"][peak_hour][0] == peak_events
    # Distinct users of a day are not the sum of its hours' users (a shopper back later that
    # day counts once): the data must show that, or the daily table would test nothing.
    assert any(d["users"] < sum(u for h, (_, u, _) in want["hourly"].items() if h.date().isoformat() == day)
               for day, d in want["daily"].items())


def test_activity_daily_and_hourly(warehouse: Warehouse, known):
    want = overview.activity(known.records, FROM, TO)
    daily = warehouse.query(
        "SELECT day, events, users, peak_hour_users, sessions FROM dashboard.activity_daily(%s, %s)",
        (FROM, TO),
    )
    assert [d for d, *_ in daily] == list(known_data.DAYS)
    assert {day.isoformat(): {"events": n, "users": u, "peak_hour_users": p, "sessions": s}
            for day, n, u, p, s in daily} == want["daily"]
    last_day = {h: v for h, v in want["hourly"].items() if h.date() == TO}
    hourly = warehouse.query(
        "SELECT sum(events), count(*), count(*) FILTER (WHERE events = 0) "
        "FROM dashboard.activity_hourly(%s, %s)",
        (TO, TO),
    )
    assert hourly == [(sum(v[0] for v in last_day.values()), 24, 24 - len(last_day))]
    quiet = warehouse.query(
        "SELECT count(*), sum(events) FROM dashboard.activity_daily('2026-02-01', '2026-02-28')"
    )
    assert quiet == [(28, 0)], "days without traffic are listed as zeros"
    assert warehouse.query(
        "SELECT count(*) FROM dashboard.activity_daily('2026-02-01', '2026-02-28') WHERE users <> 0"
    ) == [(0,)]


def test_funnel_counts_sessions_per_step_and_rates(warehouse: Warehouse, known):
    steps = overview.funnel_sessions(known, FROM, TO)
    expected = [steps[step] for step in known_data.FUNNEL_STEPS]
    rows = warehouse.query(
        "SELECT step_no, step, sessions, step_rate, overall_rate FROM dashboard.funnel(%s, %s)", (FROM, TO)
    )
    assert [r[1] for r in rows] == list(known_data.FUNNEL_STEPS)
    assert [r[2] for r in rows] == expected
    assert rows[0][3] is None
    for i in range(1, 5):
        assert rows[i][3] == round(Decimal(expected[i]) / Decimal(expected[i - 1]), 4)
        assert rows[i][4] == round(Decimal(expected[i]) / Decimal(expected[0]), 4)
    assert expected[4] > 0, "the known data must include purchases"


def test_product_engagement_with_filters(warehouse: Warehouse, known):
    events = known.human_events()
    views = Counter(e["context_product_id"] for e in events if e["event_name"] == "product_view")
    carts = Counter(e["context_product_id"] for e in events if e["event_name"] == "add_to_cart")
    revenue: Counter = Counter()
    for e in events:
        for item in e["order_items"] or []:
            revenue[item["product_id"]] += Decimal(str(item["price"])) * item["quantity"]
    rows = warehouse.query(
        "SELECT product_id, views, add_to_carts, add_to_cart_rate, revenue "
        "FROM dashboard.product_engagement(%s, %s, NULL, NULL, 50)",
        (FROM, TO),
    )
    assert {r[0]: r[1] for r in rows} == dict(views)
    for pid, v, c, rate, rev in rows:
        assert c == carts[pid]
        assert rate == round(Decimal(c) / Decimal(v), 4)
        assert rev == revenue[pid]
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)

    laptops = {p[0] for p in known_data.PRODUCTS if p[2] == "Laptops"}
    rows = warehouse.query(
        "SELECT product_id FROM dashboard.product_engagement(%s, %s, 'Laptops', '', 50)", (FROM, TO)
    )
    assert {r[0] for r in rows} == laptops & set(views)
    dell_laptops = {p[0] for p in known_data.PRODUCTS if p[2] == "Laptops" and p[3] == "Dell"}
    [(products, n_views)] = warehouse.query(
        "SELECT products, views FROM dashboard.product_summary(%s, %s, 'Laptops', 'Dell')", (FROM, TO)
    )
    assert products == len(dell_laptops)
    assert n_views == sum(views[p] for p in dell_laptops)
    assert (
        warehouse.query("SELECT * FROM dashboard.product_engagement(%s, %s, 'No such', NULL, 5)", (FROM, TO))
        == []
    )


@pytest.mark.parametrize("category, brand",
                         [(None, None), ("Laptops", None), ("Laptops", "Dell"), (None, "Dell")])
def test_booked_revenue_by_product_and_category(warehouse: Warehouse, known, category, brand):
    def booked(category, brand):
        return revenue_oracle.booked_items(known.booked_orders, known.booked_order_items,
                                           revenue_oracle.product_attributes(known.records), (FROM, TO),
                                           category=category, brand=brand)

    items = booked(category, brand)
    assert items, "the known data must book items for every filter"
    by_product = revenue_oracle.booked_by(items, "product_id")
    [summary] = warehouse.query(
        "SELECT booked_orders, booked_units, booked_revenue"
        " FROM dashboard.product_summary(%s, %s, %s, %s)", (FROM, TO, category, brand))
    assert summary == (len({i["order_id"] for i in items}), sum(u for u, _ in by_product.values()),
                       sum(r for _, r in by_product.values()))
    rows = warehouse.query("SELECT product_id, booked_units, booked_revenue"
                           " FROM dashboard.product_engagement(%s, %s, %s, %s, 50)",
                           (FROM, TO, category, brand))
    assert rows
    assert {pid: (u, r) for pid, u, r in rows} == {pid: by_product.get(pid, (0, 0)) for pid, _, _ in rows}
    if category is None:
        # Per category within the brand; the gift card (never viewed) has no category.
        by_category = revenue_oracle.booked_by(booked(None, brand), "category")
        want = {c or "(none)": r for c, (_, r) in by_category.items()}
        got = dict(warehouse.query(
            "SELECT category, booked_revenue FROM dashboard.category_engagement(%s, %s, %s)",
            (FROM, TO, brand)))
        keys = set(got) | set(want)
        assert {c: got.get(c, 0) for c in keys} == {c: want.get(c, 0) for c in keys}
        assert (want.get("(none)") == Decimal("100.00")) is (brand is None)


def test_journey_paths_entry_and_exit_pages(warehouse: Warehouse, known):
    sessions = human_sessions(known)
    rows = warehouse.query(
        "SELECT path, sessions FROM dashboard.journey_paths(%s, %s, 50, 10)", (FROM, TO)
    )
    assert dict(rows) == dict(journeys.paths(known, FROM, TO, 10))
    assert max(s["step_count"] for s in sessions) <= 10                # whole paths, none cut
    pages = warehouse.query("SELECT kind, page, sessions, share FROM dashboard.journey_pages(%s, %s, 50)",
                            (FROM, TO))
    for kind in ("entry", "exit"):
        counts = Counter(s[f"{kind}_page"] for s in sessions)
        assert {p: n for k, p, n, _ in pages if k == kind} == dict(counts)
        assert sum(share for k, *_, share in pages if k == kind) == pytest.approx(1, abs=0.001)
        # The top p_limit of each kind: most sessions first, ties by page.
        top = sorted(counts.items(), key=lambda pn: (-pn[1], pn[0]))[:2]
        assert warehouse.query(
            "SELECT page, sessions FROM dashboard.journey_pages(%s, %s, 2) WHERE kind = %s", (FROM, TO, kind)
        ) == top
    assert [k for k, *_ in pages] == sorted(k for k, *_ in pages)
    [(n, bounce)] = warehouse.query(
        "SELECT sessions, bounce_rate FROM dashboard.journey_summary(%s, %s)", (FROM, TO)
    )
    assert n == len(sessions)
    assert bounce == round(Decimal(sum(s["events"] == 1 for s in sessions)) / Decimal(len(sessions)), 4)


def test_journeys_describe_every_session_from_the_daily_aggregates(warehouse: Warehouse, known):
    """Paths cut at p_steps (a longer session's ends in "…"), the step-to-step transitions with
    their exits and the averages: every session of the range, as the oracle counts them from
    the raw events, not a sample."""
    sessions = human_sessions(known)
    assert dict(warehouse.query("SELECT path, sessions FROM dashboard.journey_paths(%s, %s, 500, 3)",
                                (FROM, TO))) == dict(journeys.paths(known, FROM, TO, 3))
    assert max(s["step_count"] for s in sessions) > 3           # some paths are cut (the "…" is tested)
    for max_steps in (2, 5):
        got = warehouse.query("SELECT step_no, from_event, to_event, sessions"
                              " FROM dashboard.journey_transitions(%s, %s, %s)", (FROM, TO, max_steps))
        assert {(i, f, t): n for i, f, t, n in got} == dict(journeys.transitions(known, FROM, TO, max_steps))
    [(total, sampled, avg_events)] = warehouse.query(
        "SELECT sessions, sampled, avg_events FROM dashboard.journey_summary(%s, %s)", (FROM, TO))
    assert (total, sampled) == (len(sessions), len(sessions))
    assert avg_events == round(Decimal(sum(s["events"] for s in sessions)) / len(sessions), 2)


def test_the_journey_sample_is_gone(warehouse: Warehouse):
    """No dashboard function takes a p_max_sessions any more, nor reads a sample."""
    assert warehouse.query(
        "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'dashboard'::regnamespace"
        " AND (pg_get_function_arguments(p.oid) LIKE %s OR p.proname IN"
        " ('journey_sample_size', 'latest_sessions', 'session_steps'))", ("%p_max_sessions%",)) == []


def test_data_health(warehouse: Warehouse, known):
    [(files, loaded, rejected, runs, failed)] = warehouse.query(
        "SELECT * FROM dashboard.etl_summary(%s, %s)", (FROM, TO)
    )
    assert (files, loaded, rejected) == (len(known.manifest), len(known.events), len(known.rejects))
    assert (runs, failed) == (3, 1)
    assert warehouse.query("SELECT runs FROM dashboard.etl_summary(%s, %s)", (FROM, FROM)) == [(0,)]
    hourly = warehouse.query(
        "SELECT hour, files, events, rejected FROM dashboard.etl_loaded_hourly(%s, %s)", (FROM, TO)
    )
    assert [(h, f, e, r) for h, f, e, r in hourly] == [
        (run["started_at"], run["files"], run["events_loaded"], run["rejected"]) for run in known.runs
    ]
    reasons = Counter(r["reason"] for r in known.rejects)
    assert dict(
        warehouse.query("SELECT reason, rejects FROM dashboard.etl_rejects_by_reason(%s, %s)", (FROM, TO))
    ) == dict(reasons)
    [(run_id, status, last_success, lag, newest)] = warehouse.query(
        "SELECT run_id, status, last_success_at, lag_seconds, newest_hour FROM dashboard.etl_last_run()"
    )
    assert (run_id, status) == (3, "succeeded")
    assert last_success == known.runs[2]["finished_at"]
    assert lag > 0
    assert newest == max(m["object_hour"] for m in known.manifest)


def test_empty_warehouse_gives_zeros_not_errors(empty_warehouse: Warehouse):
    q = empty_warehouse.query
    assert q("SELECT * FROM dashboard.data_bounds()") == [(None, None)]
    assert q(
        "SELECT events, sessions, peak_hour_users, peak_hour, peak_day_users, peak_day"
        " FROM dashboard.activity_summary(%s, %s)",
        (FROM, TO),
    ) == [(0, 0, 0, None, 0, None)]
    assert [r[2] for r in q("SELECT * FROM dashboard.funnel(%s, %s)", (FROM, TO))] == [0] * 5
    assert q("SELECT products, views, revenue FROM dashboard.product_summary(%s, %s)", (FROM, TO)) == [
        (0, 0, 0)
    ]
    assert q("SELECT * FROM dashboard.journey_paths(%s, %s)", (FROM, TO)) == []
    assert q("SELECT run_id, lag_seconds FROM dashboard.etl_last_run()") == [(None, None)]


def test_reader_can_call_every_dashboard_function_and_write_nothing(warehouse: Warehouse):
    functions = warehouse.query(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'dashboard' ORDER BY 1"
    )
    assert len(functions) >= 20
    with (
        contextlib.closing(
            psycopg2.connect(
                host=warehouse.host,
                port=warehouse.port,
                dbname=warehouse.dbname,
                user=warehouse.reader,
                password=warehouse.reader_password,
            )
        ) as conn,
        conn.cursor() as cur,
    ):
        for (name,) in functions:
            cur.execute(
                "SELECT has_function_privilege(p.oid, 'EXECUTE') FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'dashboard' "
                "AND p.proname = %s",
                (name,),
            )
            assert cur.fetchone() == (True,), name
        cur.execute("SELECT * FROM dashboard.funnel(%s, %s)", (FROM, TO))
        assert len(cur.fetchall()) == 5
        conn.rollback()
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DELETE FROM agg_funnel_daily")
        conn.rollback()
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("CREATE FUNCTION dashboard.evil() RETURNS int LANGUAGE sql RETURN 1")


# ---- page filters: channel, device type, country (migration 061's agg_segment_daily) ----------

SEGMENTS = [
    {"channel": "Email"},
    {"device_type": "mobile"},
    {"country": "DE"},
    {"channel": "Direct", "device_type": "desktop"},
    {"channel": "Organic Search", "device_type": "mobile", "country": "US"},
    {"channel": "No such channel"},
]


def segment_args(segment: dict) -> tuple:
    return tuple(segment.get(k) for k in overview.SEGMENT_KEYS)


@pytest.mark.parametrize("segment", SEGMENTS, ids=lambda s: "+".join(f"{k}={v}" for k, v in s.items()))
def test_page_filters_match_the_oracle(warehouse: Warehouse, known, segment):
    """Visitors, the funnel, the daily figures, the summary and the audience of the sessions that
    pass the filters, as the plain-Python oracle counts them from the events and sessions."""
    args = (FROM, TO, *segment_args(segment))
    want = overview.overview(known, FROM, TO, segment)
    [(visitors, new, returning, signed_in, approximate, _)] = warehouse.query(
        "SELECT * FROM dashboard.visitors(%s, %s, %s, %s, %s)", args)
    assert (visitors, new, returning) == (want.visitors, want.new_visitors, want.returning_visitors)
    assert signed_in is None and approximate is False
    steps = overview.funnel_sessions(known, FROM, TO, segment)
    funnel = warehouse.query("SELECT step, sessions FROM dashboard.funnel(%s, %s, %s, %s, %s)", args)
    assert funnel == [(step, steps[step]) for step in known_data.FUNNEL_STEPS]
    days = overview.segment_days(known, FROM, TO, segment)
    daily = warehouse.query("SELECT day, events, users, sessions, peak_hour_users"
                            " FROM dashboard.activity_daily(%s, %s, %s, %s, %s)", args)
    assert daily == [(d, e, v, n, None) for d, e, v, n, *_ in days]
    funnel_daily = warehouse.query("SELECT day, sessions, purchase_sessions, orders, revenue"
                                   " FROM dashboard.funnel_daily(%s, %s, %s, %s, %s)", args)
    assert funnel_daily == [(d, n, p, o, r) for d, _, _, n, p, o, r in days if n > 0]
    [summary] = warehouse.query("SELECT events, sessions, peak_hour_users, peak_hour, peak_day_users,"
                                " peak_day FROM dashboard.activity_summary(%s, %s, %s, %s, %s)", args)
    busiest = max(days, key=lambda d: (d[2], -d[0].toordinal()))
    assert summary == (want.events, want.sessions, None, None, busiest[2],
                       busiest[0] if busiest[2] else None)
    for dimension in ("device_type", "country"):
        rows = warehouse.query("SELECT value, sessions, visitors, orders"
                               " FROM dashboard.audience(%s, %s, %s, %s, %s, %s)",
                               (FROM, TO, dimension, *segment_args(segment)))
        assert rows == overview.audience(known, FROM, TO, dimension, segment), dimension


def test_the_filters_have_data_to_test(known):
    """The segments above are not all empty: each but the last has sessions, the narrowest too."""
    for segment in SEGMENTS[:-1]:
        assert overview.human_sessions(known, FROM, TO, segment), segment
    assert not overview.human_sessions(known, FROM, TO, SEGMENTS[-1])


def test_without_filters_the_functions_are_what_they_were(warehouse: Warehouse):
    """NULL and '' filters are no filters: the same rows as the call without them (the old
    signature's callers), from the aggregates they read before; a filtered audience by a
    dimension the segments do not keep is an error."""
    for fn in ("visitors", "funnel", "funnel_daily", "activity_daily", "activity_summary"):
        call = sql.SQL("SELECT * FROM {}(%s, %s{})").format
        name = sql.Identifier("dashboard", fn)
        with contextlib.closing(psycopg2.connect(warehouse.dsn)) as conn, conn.cursor() as cur:
            results = []
            for extra in ("", ", NULL, NULL, NULL", ", '', '', ''"):
                cur.execute(call(name, sql.SQL(extra)), (FROM, TO))
                results.append(cur.fetchall())
        assert results[0] and results[1] == results[0] and results[2] == results[0], fn
    plain = warehouse.query("SELECT * FROM dashboard.audience(%s, %s, 'browser')", (FROM, TO))
    assert warehouse.query("SELECT * FROM dashboard.audience(%s, %s, 'browser', '', NULL, '')",
                           (FROM, TO)) == plain
    with pytest.raises(psycopg2.errors.InvalidParameterValue, match="not kept by channel"):
        warehouse.query("SELECT * FROM dashboard.audience(%s, %s, 'browser', 'Email')", (FROM, TO))
