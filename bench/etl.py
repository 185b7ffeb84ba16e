"""ETL throughput benchmark: raw JSON Lines in an S3 emulator -> the warehouse, against a bare COPY.

    python bench/etl.py [--events N] [--per-object M] [--hours H]

Writes N events (sessions of a shop's funnel) as hourly JSON Lines objects of M events to an
S3 emulator (moto, in its own process), runs the ETL (`python -m functions.etl run`, its own
process) into a throwaway PostgreSQL, then COPYs the same rows into an empty copy of
clickstream_events (same indexes) as the baseline. Prints events/s, the ratio ETL/COPY
(throughput), the ETL process's peak RSS, and the CPU the ETL process, PostgreSQL and the S3
emulator used during the run (how busy the cores were). Targets: ratio >= 0.6, 1 M events
<= 60 s, peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import boto3  # noqa: E402
import psycopg2  # noqa: E402
from psycopg2 import sql  # noqa: E402
from psycopg2.extensions import parse_dsn  # noqa: E402

from functions.etl.parsing import parse_line  # noqa: E402
from functions.etl.rows import COLUMNS  # noqa: E402
from functions.raw_layout import object_key  # noqa: E402
from functions.warehouse.migrate import apply_migrations  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.pgcluster import PgCluster  # noqa: E402

REGION = "ap-southeast-1"
BUCKET = "bench-raw"
PRODUCTS = [(f"P{i:03d}", f"Product {i}", ["laptops", "monitors", "gpus", "storage"][i % 4],
             ["Acme", "Viewpoint", "Fastdisk"][i % 3], round(50 + i * 13.7, 2)) for i in range(90)]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def generate(n: int, hours: int, seed: int = 42):
    """Yield raw-line dicts, in receive order: sessions of page_view -> product_view -> cart -> purchase."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    span = hours * 3600
    produced = 0
    while produced < n:
        base = start + timedelta(seconds=span * produced / n)
        sid, cid = f"s-{rng.getrandbits(64):016x}", f"c-{rng.getrandbits(48):012x}"
        uid = f"u-{rng.getrandbits(32):08x}" if rng.random() < 0.3 else None
        bot = rng.random() < 0.05
        steps = ["page_view"] + ["product_view"] * rng.randint(1, 4)
        if rng.random() < 0.4:
            steps += ["add_to_cart", "begin_checkout"] + (["purchase"] if rng.random() < 0.5 else [])
        at = base
        product = rng.choice(PRODUCTS)
        for name in steps[: n - produced]:
            at += timedelta(seconds=rng.randint(2, 40))
            event = {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "event_name": name, "user_id": uid, "user_login_state": "logged_in" if uid else "guest",
                "identity_source": "cognito" if uid else "anonymous", "client_id": cid, "session_id": sid,
                "is_first_visit": False,
                "page": {"url": f"https://shop.example/p/{product[0]}", "path": f"/p/{product[0]}",
                         "title": product[1], "referrer": "https://search.example/"},
                "received_at": iso(at + timedelta(seconds=1)),
                "ingest_request_id": f"{rng.getrandbits(64):016x}", "source_ip": "203.0.113.0",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0", "is_bot": bot,
            }
            if name in ("product_view", "add_to_cart"):
                product = rng.choice(PRODUCTS) if name == "product_view" else product
                event["context"] = {"product": {"id": product[0], "name": product[1], "category": product[2],
                                                "brand": product[3], "price": product[4],
                                                "url_path": f"/p/{product[0]}"}}
            elif name == "purchase":
                event["context"] = {"order": {"order_id": f"o-{rng.getrandbits(40):010x}",
                                              "revenue": product[4], "currency": "USD",
                                              "items": [{"product_id": product[0], "quantity": 1,
                                                         "price": product[4]}]}}
            yield event
            produced += 1


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU (user + system) a process used so far; with `children`, plus its reaped children's
    (the postmaster's: every backend that has exited)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def postmaster_pid(cluster: PgCluster) -> int | None:
    if cluster.datadir is None:
        return None
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    return None


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    for _ in range(100):
        with contextlib.suppress(Exception):
            s3.list_buckets()
            return proc, endpoint
        time.sleep(0.1)
    raise RuntimeError("moto server did not start")


RESET_REFRESH = """
TRUNCATE agg_audience_daily, agg_acquisition_daily, agg_journey_daily, agg_journey_pages_daily,
         agg_segment_daily, purchase_attribution, agg_attribution_daily, client_activity_weeks,
         agg_retention_weekly, agg_pending_days, agg_pending_clients;
INSERT INTO agg_pending_days SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date FROM sessions;
INSERT INTO agg_pending_clients SELECT DISTINCT client_id FROM sessions;
ANALYZE agg_pending_days, agg_pending_clients;
CHECKPOINT;
"""


def time_refresh(env: dict) -> float:
    """The run's aggregate refresh as the ETL calls it, from the state the bench's load left
    before it: the recomputed tables empty, every day and client pending."""
    from functions.etl import refresh, warehouse  # noqa: PLC0415 - the ETL's modules, only here
    from functions.etl.config import Settings  # noqa: PLC0415

    settings = Settings.from_env(env)
    conn = warehouse.connect(settings, env["DWH_PASSWORD"])
    try:
        with conn.cursor() as cur:
            cur.execute(RESET_REFRESH)
        started = time.monotonic()
        refresh.refresh_pending_aggregates(conn, settings)
        return time.monotonic() - started
    finally:
        conn.close()


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--per-object", type=int, default=5000, help="events per raw object")
    parser.add_argument("--hours", type=int, default=24, help="hours the events span")
    parser.add_argument("--verbose", action="store_true", help="show the ETL's phase timings")
    parser.add_argument("--refresh-repeats", type=int, default=0, metavar="N",
                        help="then time the run's aggregate refresh N more times, each from its state"
                             " after the load's batches (every touched day and client pending)")
    args = parser.parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")

    cluster = PgCluster.start()
    moto, endpoint = start_moto()
    workdir = Path(tempfile.mkdtemp(prefix="etl-bench-"))
    try:
        dsn = cluster.create_database("clickstream_dw")
        with contextlib.closing(psycopg2.connect(dsn)) as conn:
            apply_migrations(conn)
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})

        t0 = time.monotonic()
        copy_file = workdir / "rows.copy"
        objects = 0
        with copy_file.open("wb") as rows:
            open_objects: dict[datetime, list[bytes]] = {}

            def flush(hour: datetime) -> None:
                nonlocal objects
                lines = open_objects.pop(hour)
                key = object_key(hour)
                s3.put_object(Bucket=BUCKET, Key=key, Body=b"\n".join(lines) + b"\n")
                for line in lines:
                    rows.write(parse_line(line, key))
                objects += 1

            for event in generate(args.events, args.hours):
                hour = datetime.fromisoformat(event["received_at"]).replace(minute=0, second=0)
                lines = open_objects.setdefault(hour, [])
                lines.append(json.dumps(event, separators=(",", ":")).encode())
                if len(lines) >= args.per_object:
                    flush(hour)
            for hour in list(open_objects):
                flush(hour)
        print(f"generated {args.events:,} events in {objects} objects ({time.monotonic() - t0:.1f} s)",
              file=sys.stderr)

        params = parse_dsn(dsn)
        env = {**os.environ, "PYTHONPATH": str(REPO), "DWH_HOST": params["host"], "DWH_PORT": params["port"],
               "DWH_USER": params["user"], "DWH_PASSWORD": params["password"],
               "DWH_DATABASE": "clickstream_dw",
               "RAW_BUCKET": BUCKET, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint}
        postmaster = postmaster_pid(cluster)
        pg_cpu_before = cpu_seconds(postmaster, children=True) if postmaster else None
        moto_cpu_before = cpu_seconds(moto.pid)
        started = time.monotonic()
        verbose = ["-v"] if args.verbose else []
        proc = subprocess.Popen([sys.executable, "-m", "functions.etl", *verbose, "run"],
                                env=env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=None if args.verbose else subprocess.DEVNULL)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        etl_seconds = time.monotonic() - started
        if status != 0:
            print(f"ETL failed: {out.decode()}", file=sys.stderr)
            return 1
        summary = json.loads(out)
        assert summary["events_loaded"] == args.events, summary
        peak_rss_mb = usage.ru_maxrss / 1024
        etl_cpu = usage.ru_utime + usage.ru_stime
        moto_cpu = cpu_seconds(moto.pid) - moto_cpu_before
        time.sleep(0.5)    # the ETL's backends have exited and been reaped by now
        pg_cpu = cpu_seconds(postmaster, children=True) - pg_cpu_before if postmaster else None

        with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE copy_baseline (LIKE clickstream_events INCLUDING ALL)")
            conn.commit()
            started = time.monotonic()
            with copy_file.open("rb") as rows:
                cur.copy_expert(sql.SQL("COPY copy_baseline ({}) FROM STDIN").format(
                    sql.SQL(", ").join(map(sql.Identifier, COLUMNS))), io.BufferedReader(rows), size=1 << 20)
            conn.commit()
            copy_seconds = time.monotonic() - started

        refresh_seconds = [time_refresh(env) for _ in range(args.refresh_repeats)]

        etl_rate, copy_rate = args.events / etl_seconds, args.events / copy_seconds
        print(f"events:        {args.events:,} in {objects} objects")
        print(f"ETL:           {etl_seconds:.1f} s  ({etl_rate:,.0f} events/s;"
              f" run itself {summary['seconds']:.1f} s)")
        refreshed = summary.get("aggregates_refreshed")
        if refreshed:   # (a run before migration 070 refreshed in each batch)
            print(f"  of which the run's aggregate refresh: {refreshed['seconds']:.1f} s"
                  f" ({refreshed['days']} day(s), {refreshed['clients']:,} client(s))")
        print(f"COPY baseline: {copy_seconds:.1f} s  ({copy_rate:,.0f} events/s)")
        print(f"ratio ETL/COPY (throughput): {etl_rate / copy_rate:.2f}   (target >= 0.6)")
        print(f"ETL peak RSS:  {peak_rss_mb:.0f} MB   (target <= 300 MB)")
        if refresh_seconds:
            print("aggregate refresh alone: " + ", ".join(f"{t:.2f}" for t in refresh_seconds) + " s")
        pg_text = "n/a (external server)" if pg_cpu is None else f"{pg_cpu:.1f} s"
        print(f"CPU during the ETL: ETL process {etl_cpu:.1f} s, PostgreSQL {pg_text},"
              f" S3 emulator {moto_cpu:.1f} s, on {os.cpu_count()} cores")
        return 0
    finally:
        moto.terminate()
        moto.wait()
        cluster.stop()
        for path in workdir.glob("*"):
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
