"""Step 5 of `up`: the demo shop (localplatform/shop/) served locally with the built tracker, and a
handful of shoppers walking it in headless Chromium (localplatform.shop_walk), so the dashboards
show events a real browser made.

The walk's record (<state>/walk.json) is what landed: the events of the walk's browsers in the
raw bucket (ids, names, times), read back after the walk and tallied in the traffic record's
shapes (traffic.tally), beside what the walker's clicks must have made. The shop is static, with
no backend: the orders its checkout placed are written into the shop database here, as the
generator's checkout writes its own, so booked revenue counts them and they are tracked, not
"purchases without an order". A re-run does not walk again (the browser makes new ids every
time): it reuses the record and writes the same orders again (idempotent).
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from functions.raw_layout import hour_prefixes
from functions.schemas import ENRICHMENT_FIELDS
from localplatform import shop_walk, traffic
from localplatform.demo import shop
from localplatform.demo.config import EMULATOR_CREDENTIALS, OLTP_CONTAINER, DemoConfig, DemoError
from localplatform.demo.processes import managed, port_open, wait_http
from localplatform.demo.progress import Progress, rel
from localplatform.demo.services import aws_env

#: How long the walk's last events may take to reach the raw bucket after the walk.
LAND_TIMEOUT = 30


@dataclass
class WalkOutcome:
    record: dict | None = None  # the walk's record (see the module docstring); None: no walk


def missing() -> str | None:
    """Why the walk cannot run here (no Chromium or chromedriver, no Node.js to build the tracker)."""
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        return "chromium / chromedriver not found (make bootstrap installs them)"
    from localplatform import tracker_bundle  # noqa: PLC0415

    if not tracker_bundle.is_current() and not shutil.which("node"):
        return "the tracker is not built and node is missing (make bootstrap installs Node.js)"
    return None


def start_shop(cfg: DemoConfig) -> int:
    """The demo shop on 127.0.0.1:DEMO_SHOP_PORT, its tracker sending to the ingest adapter."""
    from localplatform import tracker_bundle  # noqa: PLC0415

    tracker_bundle.built()  # build it here, where a failure says so, not in the server's log
    server = managed(cfg, "shop")
    log = cfg.logs_dir / "shop.log"
    if not server.running_pid() and port_open(cfg.shop_port):
        raise DemoError(f"127.0.0.1:{cfg.shop_port} is in use; set DEMO_SHOP_PORT to a free port")
    pid = server.start([sys.executable, "-m", "localplatform.shop_walk", "--serve",
                        "--port", str(cfg.shop_port), "--ingest", cfg.ingest_url], aws_env(cfg), log)
    wait_http(cfg.shop_url + "/", 30, server, log)
    return pid


def step_walk(cfg: DemoConfig, progress: Progress) -> WalkOutcome:
    """Serve the shop and walk WALK_SESSIONS shoppers through it, unless an earlier run did."""
    progress.step(5, f"the demo shop in headless Chromium: {cfg.walk_sessions} shopper(s), seed {cfg.seed}")
    if cfg.walk_sessions == 0:
        progress.skip(5, "WALK_SESSIONS=0: no shop walk")
        return WalkOutcome()
    why = missing()
    if why:
        progress.skip(5, f"no shop walk: {why}")
        return WalkOutcome()
    key = f"walk-seed{cfg.seed}-sessions{cfg.walk_sessions}"
    done_file = cfg.state_dir / "sent" / f"{key}.json"
    pid = start_shop(cfg)
    progress.info(f"demo shop at {cfg.shop_url}/ (pid {pid}), tracked by tracker/dist/clickstream.min.js")
    if done_file.exists():
        rec = json.loads(done_file.read_text())
        _write_orders(cfg, progress, rec)
        shutil.copyfile(done_file, cfg.walk_record_path)
        progress.info(f"this walk ({key}) was done by an earlier run: not walking again")
        progress.done()
        return WalkOutcome(record=rec)
    started = datetime.now(UTC)
    walked = shop_walk.walk_served(cfg.shop_url, cfg.ingest_url, sessions=cfg.walk_sessions, seed=cfg.seed)
    finished = datetime.now(UTC)
    expected = walked.events()
    progress.info(f"walked {len(walked.sessions)} session(s) in {(finished - started).total_seconds():.0f}s: "
                  f"{sum(expected.values())} events made ({_names(expected)})")
    lines = landed_lines(cfg, {s.client_id for s in walked.sessions}, sum(expected.values()), started)
    rec = walk_record(walked, lines, started, finished)
    missing_events = sum(expected.values()) - rec["sent"]["valid_events"]
    progress.info(f"in the raw bucket: {rec['sent']['valid_events']} of them"
                  + (f" ({missing_events} not there after {LAND_TIMEOUT}s)" if missing_events > 0 else ""))
    _write_orders(cfg, progress, rec)
    done_file.parent.mkdir(exist_ok=True)
    for path in (done_file, cfg.walk_record_path):
        path.write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
    progress.done(f"record of the walk: {rel(cfg.walk_record_path)}")
    return WalkOutcome(record=rec)


def _names(counts) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def landed_lines(cfg: DemoConfig, client_ids: set[str], expected: int, since: datetime,
                 timeout: float = LAND_TIMEOUT) -> list[dict]:
    """The raw bucket's lines of these browsers (first copy of each event id), once `expected` of
    them are there or `timeout` seconds have passed. Only objects written since `since` are read."""
    import boto3  # noqa: PLC0415

    s3 = boto3.client("s3", endpoint_url=cfg.s3_url, region_name=cfg.region,
                      aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    read: set[str] = set()
    found: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while True:
        for prefix in hour_prefixes(since, datetime.now(UTC)):
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=cfg.raw_bucket, Prefix=prefix)
            for item in (i for page in pages for i in page.get("Contents", ())):
                if item["Key"] in read or item["LastModified"] < since - timedelta(seconds=5):
                    continue
                read.add(item["Key"])
                body = s3.get_object(Bucket=cfg.raw_bucket, Key=item["Key"])["Body"].read()
                if item["Key"].endswith(".gz"):
                    body = gzip.decompress(body)
                for line in body.decode("utf-8").splitlines():
                    event = json.loads(line) if line.strip() else {}
                    if event.get("client_id") in client_ids:
                        found.setdefault(str(event["event_id"]).lower(), event)
        if len(found) >= expected or time.monotonic() > deadline:
            return sorted(found.values(), key=lambda e: (traffic.parse_ts(e["event_timestamp"]),
                                                         e["event_id"]))
        time.sleep(0.5)


def walk_record(walked: shop_walk.WalkRecord, lines: list[dict], started: datetime,
                finished: datetime) -> dict:
    """The walk's record: what landed, tallied as the traffic record is (so the e2e tests add the two),
    the walker's own account of each session, and the shop orders its checkout placed."""
    by_session: dict[str, traffic.Session] = {}
    for line in lines:
        event = {k: v for k, v in line.items() if k not in ENRICHMENT_FIELDS}
        session = by_session.setdefault(event["session_id"], traffic.Session(
            event["session_id"], event["client_id"], line.get("user_agent", ""), bool(line.get("is_bot"))))
        session.events.append(event)
    tallied = traffic.tally(list(by_session.values()))
    client_of = {s.client_id: s for s in walked.sessions}
    # A guest checks out under a guest account of the browser, as in the generator's shop.
    orders = [{"order_id": o["order_id"], "user_id": o["user_id"] or f"guest-{s.client_id}",
               "status": "paid", "currency": o["currency"], "total": o["revenue"],
               "created_at": o["placed_at"], "items": o["items"]}
              for s in walked.sessions for o in s.orders]
    purchases = {e["context"]["order"]["order_id"] for s in by_session.values() for e in s.events
                 if e["event_name"] == "purchase"}
    order_ids = {o["order_id"] for o in orders}
    human = sum(tallied["events_by_name"]["human"].values())
    bot = sum(tallied["events_by_name"]["bot"].values())
    return {
        "generator": "localplatform.shop_walk",
        "params": {"sessions": len(walked.sessions), "shop_url": walked.shop_url,
                   "walked_from": traffic.iso_utc(started), "walked_to": traffic.iso_utc(finished)},
        "sent": {"events": human + bot, "valid_events": human + bot, "invalid_events": 0,
                 "human_events": human, "bot_events": bot},
        "expected_events": dict(sorted(walked.events().items())),
        "walked": [{"client_id": s.client_id, "landing": s.landing, "signed_in": s.signed_in,
                    "events": dict(sorted(s.events.items())), "orders": [o["order_id"] for o in s.orders]}
                   for s in walked.sessions],
        "events": [{k: e[k] for k in ("event_id", "event_name", "event_timestamp", "session_id", "client_id")}
                   for s in by_session.values() for e in s.events],
        "browsers_landed": len({s.client_id for s in by_session.values()} & set(client_of)),
        **tallied,
        "orders_placed": orders,
        "shop_orders": {"orders": len(orders), "booked_orders": len(orders),
                        "booked_revenue": round(sum(o["total"] for o in orders), 2), "refunded_revenue": 0.0,
                        "ad_blocked_orders": 0, "untracked_orders": len(order_ids - purchases),
                        "forged_purchases": len(purchases - order_ids),
                        "coverage": round(len(order_ids & purchases) / len(orders), 6) if orders else None},
    }


def _write_orders(cfg: DemoConfig, progress: Progress, rec: dict) -> None:
    """The shop's backend for the static shop: the walk's orders into the shop database."""
    orders = rec["orders_placed"]
    if not orders:
        return
    if not shop.available():
        progress.info(f"no shop host ({OLTP_CONTAINER} is not running): the walk's "
                      f"{len(orders)} order(s) are not booked")
        return
    new = shop.write_orders(cfg, orders)
    progress.info(f"walk orders: {len(orders)} ({new} new) into the shop database through the app login")
