"""Fast tests of the demo's traffic generator (localplatform.traffic): no containers, no database."""

from __future__ import annotations

import gzip
import itertools
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from functions.ingest.enrich import is_bot
from functions.schemas import EVENT_VALIDATOR, first_error
from localplatform import traffic

END = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> list[traffic.Product]:
    return traffic.load_catalog()


@pytest.fixture(scope="module")
def sim(catalog) -> traffic.Simulation:
    return traffic.simulate(catalog, shoppers=300, days=3, seed=11, window_end=END)


def _events(sim: traffic.Simulation) -> list[dict]:
    return [e for b in sim.batches for e in b.events]


def test_same_seed_same_traffic_other_seed_other_traffic(catalog, sim):
    again = traffic.simulate(catalog, shoppers=300, days=3, seed=11, window_end=END)
    other = traffic.simulate(catalog, shoppers=300, days=3, seed=12, window_end=END)
    assert [(b.encoding, b.user_agent, b.events) for b in again.batches] == \
        [(b.encoding, b.user_agent, b.events) for b in sim.batches]
    assert traffic.record(again, None, None) == traffic.record(sim, None, None)
    assert {e["event_id"] for e in _events(other)}.isdisjoint({e["event_id"] for e in _events(sim)})


def test_valid_events_pass_the_contract_and_broken_ones_do_not(sim):
    broken_ids = {e["event_id"] for s in sim.sessions for e in s.broken}
    assert broken_ids, "the generator should send a few invalid events for ingest to reject"
    for event in _events(sim):
        error = first_error(EVENT_VALIDATOR, event)
        if event["event_id"] in broken_ids:
            assert error is not None and error.startswith("event_name")
        else:
            assert error is None, (error, event)
    all_ids = [e["event_id"] for e in _events(sim)]
    assert len(all_ids) == len(set(all_ids)), "event ids must be unique"


def test_funnel_is_monotone_per_session_and_drops_off(sim):
    steps = traffic.FUNNEL_STEPS
    for session in sim.sessions:
        if session.forged:   # a bare purchase event: it skips the funnel by design
            continue
        reached = [step in session.names for step in steps]
        # a session that reached a step reached every earlier step too
        assert reached == sorted(reached, reverse=True), (session.session_id, reached)
    funnel = traffic.record(sim, None, None)["funnel_sessions"]
    counts = [funnel[step] for step in steps]
    assert all(a > b for a, b in itertools.pairwise(counts)), counts
    assert 0.02 < funnel["purchase"] / funnel["page_view"] < 0.2


def test_bots_are_flagged_by_ingest_and_shoppers_are_not(sim):
    bots = [s for s in sim.sessions if s.is_bot]
    humans = [s for s in sim.sessions if not s.is_bot]
    assert 1 <= len({s.client_id for s in bots}) <= 20
    assert all(is_bot(s.user_agent) for s in bots)
    assert not any(is_bot(s.user_agent) for s in humans)
    assert all(s.names <= {"page_view", "product_view"} for s in bots)
    for batch in sim.batches:  # one user agent per request, the one of its session
        assert len({e["client_id"] for e in batch.events}) == 1


def test_returning_visitors_logins_and_first_visits(sim):
    rec = traffic.record(sim, None, None)
    assert rec["sessions"]["returning_visitors"] > 0
    assert rec["sessions"]["human"] > rec["clients"]["human"]
    assert rec["sessions"]["logged_in"] > 0
    first_flags: dict[str, int] = {}
    for session in sim.sessions:
        for event in session.events:
            if event["user_login_state"] == "logged_in":
                assert event["user_id"] and event["identity_source"] == "cognito"
            else:
                assert event["user_id"] is None and event["identity_source"] == "anonymous"
            if event["is_first_visit"]:
                first_flags[event["client_id"]] = first_flags.get(event["client_id"], 0) + 1
    clients = {s.client_id for s in sim.sessions}
    assert first_flags == dict.fromkeys(clients, 1), "exactly one first-visit event per browser"


def test_timestamps_inside_the_window_in_both_formats(sim):
    kinds = set()
    for session in sim.sessions:
        previous = None
        for event in session.events:
            ts = traffic._parse_ts(event["event_timestamp"])
            kinds.add(type(event["event_timestamp"]))
            assert sim.window_start <= ts < sim.window_end
            assert previous is None or ts > previous
            previous = ts
    assert kinds == {str, int}
    assert sim.window_end - sim.window_start == timedelta(days=3)


def test_record_adds_up(sim):
    rec = traffic.record(sim, None, None)
    assert sum(rec["events_by_name"]["human"].values()) == rec["sent"]["human_events"]
    assert sum(h["events"] for h in rec["activity_by_hour"].values()) == rec["sent"]["human_events"]
    assert sum(d["events"] for d in rec["activity_by_day"].values()) == rec["sent"]["human_events"]
    assert rec["sent"]["valid_events"] == rec["sent"]["human_events"] + rec["sent"]["bot_events"]
    assert rec["sent"]["events"] == len(_events(sim))
    assert sum(d["page_view"] for d in rec["funnel_sessions_by_day"].values()) == rec["sessions"]["human"]
    assert sum(d["sessions"] for d in rec["sessions_by_start_day"].values()) == rec["sessions"]["human"]
    assert rec["sessions_by_start_day"].keys() == rec["funnel_sessions_by_day"].keys()
    assert rec["orders"] == rec["funnel_sessions"]["purchase"] == rec["events_by_name"]["human"]["purchase"]
    assert rec["conversion_rate"] == round(rec["orders"] / rec["sessions"]["human"], 4)


def test_batches_are_tracker_requests(sim):
    encodings = {b.encoding for b in sim.batches}
    assert encodings == {"json", "beacon", "gzip"}
    for batch in sim.batches:
        assert 1 <= len(batch.events) <= traffic.MAX_BATCH
        req = batch.request("http://127.0.0.1:9/clickstream")
        body = req.data
        if batch.encoding == "gzip":
            assert req.get_header("Content-encoding") == "gzip"
            body = gzip.decompress(body)
        expected_type = "text/plain;charset=UTF-8" if batch.encoding == "beacon" else "application/json"
        assert req.get_header("Content-type") == expected_type
        assert json.loads(body) == {"events": batch.events}


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in endpoint that answers like ingest: 202 {"accepted", "rejected"}; first call fails."""

    received: ClassVar[list[tuple[dict, str]]] = []
    fail_first = True
    lock = threading.Lock()

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            if _Recorder.fail_first:
                _Recorder.fail_first = False
                self.send_response(503)
                self.end_headers()
                return
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            events = json.loads(raw)["events"]
            _Recorder.received.append((events, self.headers["User-Agent"]))
        bad = [i for i, e in enumerate(events) if first_error(EVENT_VALIDATOR, e)]
        body = json.dumps({"accepted": len(events) - len(bad),
                           "rejected": [{"index": i, "reason": "event_name: bad"} for i in bad]}).encode()
        status = 202 if len(bad) < len(events) else 400
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if status == 202 else b'{"message": "event_name: bad"}')

    def log_message(self, *args) -> None:
        pass


def test_send_posts_every_event_and_retries_server_errors(catalog):
    sim = traffic.simulate(catalog, shoppers=40, days=1, seed=3, window_end=END)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clickstream"
        result = traffic.send(sim.batches, url, workers=3)
    finally:
        server.shutdown()
        server.server_close()
    rec = traffic.record(sim, result, url)
    assert result.requests == len(sim.batches) == len(_Recorder.received)
    assert result.failed_requests == 0
    got = sorted(e["event_id"] for events, _ in _Recorder.received for e in events)
    assert got == sorted(e["event_id"] for e in _events(sim))
    assert result.accepted == rec["sent"]["valid_events"]
    assert result.rejected == rec["sent"]["invalid_events"]
    assert rec["responses"]["accepted"] == result.accepted


def test_send_refuses_a_non_http_url(sim):
    with pytest.raises(traffic.TrafficError, match="http"):
        traffic.send(sim.batches[:1], "file:///etc/passwd")


def test_catalog_errors_name_the_problem(tmp_path: Path, catalog):
    assert len(catalog) >= 60 and len({p.category for p in catalog}) >= 8
    bad = tmp_path / "catalog.csv"
    bad.write_text("product_id,name,price\nX,Y,1\n")
    with pytest.raises(traffic.TrafficError, match="category"):
        traffic.load_catalog(bad)
    bad.write_text(",".join(traffic.CATALOG_COLUMNS) + "\nX,Y,C,B,cheap,1,/x,3\n")
    with pytest.raises(traffic.TrafficError, match="line 2"):
        traffic.load_catalog(bad)
    with pytest.raises(traffic.TrafficError, match=r"(?i)no such file"):
        traffic.load_catalog(tmp_path / "absent.csv")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"shoppers": 0}, "shoppers"),
    ({"days": 0}, "days"),
    ({"days": 31}, "days"),
    ({"bots": -1}, "bots"),
    ({"window_end": datetime(2026, 1, 1)}, "time zone"),  # naive on purpose
])
def test_bad_options_are_refused(catalog, kwargs, message):
    args = {"shoppers": 5, "days": 1, "seed": 1, "window_end": END} | kwargs
    with pytest.raises(traffic.TrafficError, match=message):
        traffic.simulate(catalog, **args)


def test_the_shops_orders_beside_what_the_trackers_sent(sim):
    """Every purchase a shopper made is an order of the shop (ad-blocked ones too, with nothing
    sent); forged purchase events reach ingest with no order; the record's figures add up."""
    sent_ids = {e["event_id"] for e in _events(sim)}
    assert sim.blocked and all(e["event_id"] not in sent_ids for s in sim.blocked for e in s.events)
    assert not any(s.is_bot for s in sim.blocked)
    orders = {o["order_id"]: o for o in sim.orders}
    assert len(orders) == len(sim.orders), "order ids are unique"
    purchases = [(s, e) for s in sim.sessions + sim.blocked if not s.is_bot
                 for e in s.events if e["event_name"] == "purchase"]
    forged = [e for s, e in purchases if s.forged]
    assert len(forged) == max(1, 300 // traffic.FORGED_PER_SHOPPERS)
    assert all(e["context"]["order"]["order_id"] not in orders for e in forged)
    for session, e in purchases:
        if session.forged:
            continue
        order = orders[e["context"]["order"]["order_id"]]
        assert order["tracked"] is not session.blocked
        assert order["total"] == e["context"]["order"]["revenue"]
        assert order["user_id"] == (e["user_id"] or f"guest-{session.client_id}")
        assert traffic._parse_ts(order["created_at"]) < traffic._parse_ts(e["event_timestamp"])
    assert {o["status"] for o in sim.orders} >= {"paid", "refunded"}
    shop = traffic.record(sim, None, None)["shop_orders"]
    booked = [o for o in sim.orders if o["status"] in ("paid", "shipped", "delivered")]
    assert shop["booked_orders"] == len(booked) and shop["forged_purchases"] == len(forged)
    assert shop["ad_blocked_orders"] == sum(1 for s, _ in purchases if s.blocked) > 0
    untracked = sum(not o["tracked"] for o in booked)
    assert shop["untracked_orders"] == untracked
    assert shop["coverage"] == pytest.approx((len(booked) - untracked) / len(booked))


def test_the_outage_hour_and_the_late_day_are_where_an_anomaly_check_and_a_restatement_see_them():
    end = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    # the busiest hour (the evening peak) with 3 days before it, ending an hour before the window
    assert traffic.outage_hour(end - timedelta(days=4), end, timedelta(days=3)) == end - timedelta(hours=2)
    assert traffic.outage_hour(end - timedelta(days=2), end, timedelta(days=3)) is None
    assert traffic.late_batch_day(end - timedelta(days=4), end).isoformat() == "2026-11-18"
    assert traffic.late_batch_day(end - timedelta(hours=30), end).isoformat() == "2026-11-19"
    # a 2-day window ending late in the evening only grazes the day before yesterday: yesterday it is
    late = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    assert traffic.late_batch_day(late - timedelta(days=2), late).isoformat() == "2026-11-19"
    assert traffic.late_batch_day(late - timedelta(days=2, hours=12), late).isoformat() == "2026-11-18"


def test_an_outage_leaves_a_tenth_of_its_hour_and_the_rest_as_it_was(catalog, sim):
    hour = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
    hit = traffic.simulate(catalog, shoppers=300, days=3, seed=11, window_end=END, outage=hour)

    def inside(e):
        return hour <= traffic.parse_ts(e["event_timestamp"]) < hour + timedelta(hours=1)
    before = {e["event_id"] for s in sim.sessions for e in s.events}
    after = {e["event_id"] for s in hit.sessions for e in s.events}
    assert after < before
    assert {e["event_id"] for s in sim.sessions for e in s.events if not inside(e)} <= after, \
        "outside its hour the outage takes nothing"
    active = [s for s in sim.sessions if any(inside(e) for e in s.events)]
    kept = [s for s in hit.sessions if any(inside(e) for e in s.events)]
    assert len(active) >= 20 and 0 < len(kept) < 0.3 * len(active), "about one browser in ten got through"
    assert hit.outage == {"hour": "2026-11-19T20:00:00.000Z", "kept_share": 0.1,
                          "sessions_hit": len(active) - len(kept), "events_lost": len(before - after),
                          "purchases_lost": sum(o.get("lost_in_outage", False) for o in hit.orders)}
    lost = [o for o in hit.orders if o.get("lost_in_outage")]
    assert all(not o["tracked"] for o in lost)
    rec = traffic.record(hit, None, None)
    assert rec["outage"] == hit.outage and rec["shop_orders"]["outage_orders"] == len(lost)
    assert rec["sent"]["valid_events"] == len(after)
    assert rec["activity_by_hour"]["2026-11-19T20:00:00Z"]["sessions"] == \
        sum(1 for s in kept if not s.is_bot)


def test_the_late_batch_is_held_back_and_its_day_figured_without_and_with_it(catalog):
    day = datetime(2026, 11, 18, tzinfo=UTC).date()
    sim = traffic.simulate(catalog, shoppers=300, days=3, seed=11, window_end=END, late_day=day)
    late = sim.late
    assert len(late) >= traffic.LATE_MIN and not any(s.is_bot or s.forged for s in late)
    assert all(traffic.parse_ts(e["event_timestamp"]).date() == day for s in late for e in s.events)
    late_ids = {e["event_id"] for s in late for e in s.events + s.broken}
    assert {e["event_id"] for b in sim.late_batches for e in b.events} == late_ids
    assert late_ids.isdisjoint(e["event_id"] for b in sim.batches for e in b.events)
    rec = traffic.record(sim, None, None)
    assert rec["sent"]["requests"] == len(sim.batches) + len(sim.late_batches)
    section = rec["late"]
    assert (section["day"], section["sessions"], section["requests"]) == ("2026-11-18", len(late),
                                                                          len(sim.late_batches))
    before, after = section["before"], section["after"]
    assert after["activity"] == rec["activity_by_day"]["2026-11-18"]
    assert after["activity"]["events"] - before["activity"]["events"] == section["events"]
    assert after["started"]["sessions"] - before["started"]["sessions"] == len(late)
    assert sum(h["events"] for h in section["activity_by_hour"].values()) == section["events"]
