"""dashboard.revenue_reconciliation over real synced orders and real loaded events, against the
plain-Python oracle (tests/support/revenue.py): a matched order, a refunded one, a retried
purchase, a forged purchase, an untracked order (ad blocker), pending and cancelled orders, a bot's
purchase, and a purchase reported just after midnight for an order created before it."""

from __future__ import annotations

import copy
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg2
import pytest

from functions.etl.runner import run
from tests.etl.support import iso, make_session, put_by_hour
from tests.etl.test_orders import place_order, set_status, shop, shop_server, with_shop  # noqa: F401
from tests.support import acquisition, revenue

START = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def purchase_of(events: list[dict]) -> dict:
    return next(e for e in events if e["event_name"] == "purchase")


def at(event: dict) -> datetime:
    return datetime.fromisoformat(event["event_timestamp"].replace("Z", "+00:00"))


@pytest.mark.usefixtures("bucket")
def test_reconciliation_equals_the_oracle(with_shop, shop, s3, dw):  # noqa: F811
    rng = random.Random(17)
    records, orders = [], []

    def book(status: str, total: Decimal, created: datetime, user: str = "u-1") -> str:
        order_id = place_order(shop, user, status, [("LAP-1", 1, str(total))], created)
        orders.append({"order_id": order_id, "status": status, "total": total, "created_at": created,
                       "user_id": user})
        return order_id

    plan = ["paid"] * 6 + ["refunded", "retried", "forged", "bot", "midnight", "cancelled"]
    for i, kind in enumerate(plan):
        start = START + timedelta(minutes=20 * i)
        if kind == "midnight":
            start = datetime(2026, 11, 20, 23, 55, tzinfo=UTC)
        events = make_session(rng, start, depth=5, bot=kind == "bot", logged_in=True)
        while not any(e["event_name"] == "purchase" for e in events):
            events = make_session(rng, start, depth=5, bot=kind == "bot", logged_in=True)
        purchase = purchase_of(events)
        total = Decimal(repr(purchase["context"]["order"]["revenue"])).quantize(Decimal("0.01"))
        if kind == "forged":
            order_id = f"FORGED-{i}' OR '1'='1"
        elif kind == "midnight":       # created before midnight, reported after it
            order_id = book("paid", total, datetime(2026, 11, 20, 23, 59, 50, tzinfo=UTC))
            purchase["event_timestamp"] = iso(datetime(2026, 11, 21, 0, 0, 10, tzinfo=UTC))
        else:
            status = "paid" if kind in ("retried", "bot") else kind
            order_id = book(status, total, at(purchase) - timedelta(seconds=1))
        purchase["context"]["order"]["order_id"] = order_id
        if kind == "retried":
            again = copy.deepcopy(purchase)
            again["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            again["event_timestamp"] = iso(at(purchase) + timedelta(seconds=30))
            again["context"]["order"]["revenue"] = 1.0       # the retry's revenue does not count
            events.append(again)
        records += events
    set_status(shop, orders[6]["order_id"], "refunded", START + timedelta(hours=5))
    # ad blockers: orders with no tracked purchase; one by the user signed in on the first session
    # (coverage takes that session's values), one by a user with no session (a NULL value)
    for event in records:
        if event["session_id"] == records[0]["session_id"]:
            event["user_id"] = "u-2"
    book("paid", Decimal("120.50"), START + timedelta(hours=1), user="u-2")
    book("paid", Decimal("120.50"), START + timedelta(hours=3))
    book("pending", Decimal("99.00"), START + timedelta(hours=2))

    put_by_hour(s3, bucket=with_shop.raw_bucket, records=records)
    summary = run(with_shop, s3=s3, now=NOW)
    assert summary["orders"]["status"] == "synced" and summary["orders"]["pulled"] == len(orders)

    first, last = START.date(), NOW.date()
    with dw.cursor() as cur:
        cur.execute("SELECT * FROM dashboard.revenue_reconciliation(%s, %s)", (first, last))
        got = cur.fetchall()
    want = revenue.reconciliation(orders, records, first, last)
    assert [r[:-1] for r in got] == [r[:-1] for r in want]
    assert [r[-1] for r in got] == [pytest.approx(r[-1]) if r[-1] is not None else None for r in want]
    # As designed: booked = 6 paid + retried + bot's + midnight + 2 ad-blocked; tracked (non-bot,
    # once per order) = 6 + refunded + retried + forged + midnight + cancelled; matched = 6 +
    # refunded + retried + midnight; untracked = the bot's and the 2 ad-blocked; unbooked = forged.
    totals = [sum(r[i] for r in got) for i in (1, 4, 6, 7, 8)]
    assert totals == [11, 11, 9, 3, 1]
    with dw.cursor() as cur:            # every day of a range appears, with zeros
        cur.execute("SELECT day, booked_orders, coverage FROM dashboard.revenue_reconciliation(%s, %s)",
                    (last + timedelta(days=1), last + timedelta(days=2)))
        assert [(r[1], r[2]) for r in cur.fetchall()] == [(0, None), (0, None)]

    # coverage by the purchasing (or the buyer's latest) session's channel, device and browser
    with dw.cursor() as cur:
        cur.execute("SELECT source, category FROM channel_source_categories")
        sessions = acquisition.build_sessions(records, dict(cur.fetchall()))
        for dimension in ("channel", "device_type", "browser"):
            cur.execute("SELECT * FROM dashboard.tracking_coverage(%s, %s, %s)", (first, last, dimension))
            got = [(v, n, m, round(float(c), 12)) for v, n, m, c in cur.fetchall()]
            oracle = revenue.tracking_coverage(orders, records, sessions, (first, last), dimension)
            want = [(v, n, m, round(float(c), 12)) for v, n, m, c in oracle]
            assert got == want, dimension
            assert sum(n for _, n, _, _ in got) == 11 and any(v is None for v, *_ in got)
        with pytest.raises(psycopg2.errors.InvalidParameterValue,
                           match="allowed: channel, device_type, browser"):
            cur.execute("SELECT * FROM dashboard.tracking_coverage(%s, %s, 'country')", (first, last))
