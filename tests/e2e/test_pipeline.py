"""The demo's pipeline without containers: moto server + ingest adapter + traffic + the demo shop
walked in headless Chromium + scheduled ETL into a real PostgreSQL (the session's throwaway
server), checked against the generator's and the walk's records through the very dashboard.*
functions the Shiny app calls, against the plain-Python oracle over the raw events read back
from the bucket (tests/e2e/expected.py); the records of what was sent are checked against the
bucket. Runs the demo's own step functions, with DWH_DSN naming a login that, as docs/demo.md asks
of DWH_DSN's user, both loads (the ETL) and reads the dashboards' functions (the summary).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from functions.warehouse.migrate import apply_migrations
from localplatform import traffic
from localplatform.demo import processes, state, steps, walk
from localplatform.demo.config import DemoConfig
from localplatform.demo.progress import Progress
from localplatform.demo.summary import step_summary
from localplatform.demo.warehouse import Warehouse, etl_env
from localplatform.scheduler import EtlScheduler
from tests.e2e.expected import (
    assert_bucket_holds_what_was_sent,
    bot_events,
    bucket_lines,
    date_range,
    expected_restatements,
)
from tests.support.acquisition import event_is_bot, raw_records, unique_events
from tests.support.net import free_port
from tests.support.overview import activity

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _login(conn, *groups: str) -> tuple[str, str]:
    name, password = f"{groups[0]}_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
            sql.Identifier(name), sql.Literal(password), sql.SQL(", ").join(map(sql.Identifier, groups))))
    return name, password


@pytest.fixture(scope="module")
def pipeline(pg_cluster, tmp_path_factory) -> Iterator[dict]:
    dbname = f"dw_{secrets.token_hex(4)}"
    superuser_dsn = pg_cluster.create_database(dbname)
    with contextlib.closing(psycopg2.connect(superuser_dsn)) as conn:
        conn.autocommit = True
        apply_migrations(conn)
        writer = _login(conn, "clickstream_writer", "clickstream_reader")
        reader = _login(conn, "clickstream_reader")
    params = parse_dsn(superuser_dsn)
    writer_dsn = make_dsn(superuser_dsn, user=writer[0], password=writer[1])
    reader_dsn = make_dsn(superuser_dsn, user=reader[0], password=reader[1])
    env = {"DEMO_STATE_DIR": str(tmp_path_factory.mktemp("demo-state")), "DWH_DSN": writer_dsn,
           "SHOPPERS": "120", "DAYS": "2", "SEED": "424242", "ETL_INTERVAL": "2", "WALK_SESSIONS": "2",
           "DEMO_S3_PORT": str(free_port()), "DEMO_INGEST_PORT": str(free_port()),
           "DEMO_SHOP_PORT": str(free_port())}
    cfg = DemoConfig.from_env(env)
    state.ensure_state_dir(cfg)
    progress = Progress()
    try:
        assert steps.step_ingest(cfg, progress), "the ingest adapter should be there"
        wh = Warehouse.for_demo(cfg, use_dw_host=False)
        assert wh.etl["DWH_USER"] == writer[0] and wh.etl["DWH_PORT"] == params["port"]
        scheduler = EtlScheduler(cfg.etl_interval, etl_env(cfg, wh), cfg.logs_dir / "etl.log")
        outcome = steps.step_traffic(cfg, progress, scheduler)
        walked = walk.step_walk(cfg, progress)
        assert walked.record, "the shop walk should run here (chromium, chromedriver, node)"
        steps.step_final_etl(cfg, progress, scheduler, outcome)
        lines = bucket_lines(cfg.s3_url, cfg.raw_bucket)   # what ingest wrote, read back
        yield {"cfg": cfg, "record": outcome.record, "walk": walked.record, "scheduler": scheduler,
               "reader_dsn": reader_dsn, "writer_dsn": writer_dsn, "wh": wh, "progress": progress,
               "lines": lines, "records": raw_records(lines)}
    finally:
        for name in processes.PROCESS_NAMES:
            processes.managed(cfg, name).stop()
        pg_cluster.drop_database(dbname)
        with contextlib.closing(psycopg2.connect(pg_cluster.dsn)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                for name, _ in (writer, reader):
                    cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _query(dsn: str, query: str, args: tuple = ()) -> list[dict]:
    """Rows as dicts by column name, so a reordered function result still compares right."""
    with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_the_walk_is_a_persons_browser_and_every_event_it_made_landed(pipeline):
    walked = pipeline["walk"]
    assert walked["params"]["sessions"] == 2 == walked["sessions"]["human"] == walked["browsers_landed"]
    assert walked["sent"]["bot_events"] == 0 and walked["sent"]["human_events"] > 0
    assert walked["events_by_name"]["human"] == walked["expected_events"], "what its clicks made landed"
    assert len({e["event_id"] for e in walked["events"]}) == walked["sent"]["valid_events"]
    # after the traffic window, by the browser's clock
    end = traffic.parse_ts(pipeline["record"]["params"]["window_end"])
    assert all(traffic.parse_ts(e["event_timestamp"]) >= end for e in walked["events"])
    assert pipeline["cfg"].walk_record_path.is_file()


def test_the_raw_bucket_holds_what_was_sent(pipeline):
    """Every event the generator and the walk sent is in the bucket once: none lost, none twice,
    the human and bot ones as sent, every event id the walk's browser made."""
    assert len(pipeline["records"]) == len(pipeline["lines"]), "ingest writes events only"
    assert_bucket_holds_what_was_sent(pipeline["records"], pipeline["record"], pipeline["walk"])


def test_every_event_in_the_bucket_is_loaded_and_the_invalid_ones_rejected_at_ingest(pipeline):
    rec = pipeline["record"]
    assert rec["sent"]["invalid_events"] > 0 and rec["sent"]["bot_events"] > 0
    assert rec["responses"]["accepted"] == rec["sent"]["valid_events"]
    assert rec["responses"]["rejected"] == rec["sent"]["invalid_events"]
    assert rec["responses"]["failed_requests"] == 0
    [row] = _query(pipeline["writer_dsn"], """
        SELECT (SELECT count(*) FROM clickstream_events) AS loaded,
               (SELECT count(*) FROM clickstream_events WHERE is_bot) AS bots,
               (SELECT count(*) FROM etl_rejects) AS rejects,
               (SELECT count(*) FROM etl_runs WHERE status <> 'succeeded') AS failed""")
    events = unique_events(pipeline["records"]).values()
    assert (row["loaded"], row["bots"], row["rejects"], row["failed"]) == (
        len(events), sum(event_is_bot(r) for r in events), 0, 0)
    assert len(pipeline["scheduler"].runs) >= 2, "the ETL ran on its schedule and once at the end"


def test_dashboard_functions_equal_the_oracle_over_the_raw_bucket(pipeline):
    records, dsn = pipeline["records"], pipeline["reader_dsn"]
    first, last = date_range(records)
    want = activity(records, first, last)
    [summary] = _query(dsn, "SELECT * FROM dashboard.activity_summary(%s, %s)", (first, last))
    assert (summary["events"], summary["sessions"], summary["peak_hour_users"], summary["peak_hour_events"]) \
        == (want["events"], want["sessions"], want["peak_hour_users"], want["peak_hour_events"])

    funnel = {r["step"]: r["sessions"] for r in _query(dsn, "SELECT * FROM dashboard.funnel(%s, %s)",
                                                           (first, last))}
    assert funnel == want["funnel"]

    hourly = {r["hour"]: (r["events"], r["users"], r["sessions"])
              for r in _query(dsn, "SELECT * FROM dashboard.activity_hourly(%s, %s)", (first, last))}
    assert {h: v for h, v in hourly.items() if v != (0, 0, 0)} == want["hourly"]

    daily = {r["day"].isoformat(): {k: r[k] for k in ("events", "users", "sessions", "peak_hour_users")}
             for r in _query(dsn, "SELECT * FROM dashboard.activity_daily(%s, %s)", (first, last))}
    assert daily == want["daily"]


def test_the_late_batch_restates_its_day_as_the_oracle_computes(pipeline):
    """The late batch (sessions of an already-loaded day, sent after the final run) is loaded by a
    run of its own, which records exactly the figures it changed on that day, as the oracle's
    recomputation of the bucket without the late batch and with it says (no outage here: DAYS=2
    has no hour with three days before it)."""
    rec, records = pipeline["record"], pipeline["records"]
    late = rec["late"]
    assert rec["outage"] is None
    assert late["sessions"] >= 3 and late["delivered"]["run_id"] > late["delivered"]["after_run"]
    assert late["day"] < rec["params"]["window_end"][:10]
    rows = _query(pipeline["reader_dsn"], "SELECT day, figure, before, after, run_id "
                  "FROM dashboard.restatements(%s, %s)", date_range(records))
    by_late_run = sorted((r["day"].isoformat(), r["figure"], float(r["before"]), float(r["after"]))
                         for r in rows if r["run_id"] == late["delivered"]["run_id"])
    want = expected_restatements(records, late)
    assert by_late_run == [(d, f, float(b), float(a)) for d, f, b, a in want]
    assert {f for _, f, _, _ in want} >= {"agg_activity_daily.events", "agg_funnel_daily.sessions"}
    assert {d for d, *_ in want} == {late["day"]}


def test_resending_the_same_traffic_changes_nothing(pipeline):
    """Idempotent re-runs: the same seed makes the same event ids, which the ETL deduplicates."""
    cfg, rec = pipeline["cfg"], pipeline["record"]
    before = pipeline["wh"].figures()
    sim = steps.simulation(cfg, traffic.parse_ts(rec["params"]["window_end"]))
    assert traffic.record(sim, None, None)["sent"] == rec["sent"]
    result = traffic.send(sim.batches[:40], cfg.ingest_url)
    assert result.accepted > 0
    run = pipeline["scheduler"].run_once()
    assert run.ok and run.summary["duplicates"] == result.accepted and run.summary["events_loaded"] == 0
    after = pipeline["wh"].figures()
    assert {k: v for k, v in after.items() if k != "etl_runs"} == \
        {k: v for k, v in before.items() if k != "etl_runs"}


def test_the_summary_reports_the_warehouse(pipeline, capsys):
    cfg, wh, walked = pipeline["cfg"], pipeline["wh"], pipeline["walk"]
    outcome = steps.TrafficOutcome(record=pipeline["record"])
    summary = step_summary(cfg, pipeline["progress"], outcome, wh, dashboards=False,
                           walk=walk.WalkOutcome(record=walked))
    out = capsys.readouterr().out
    rec, records = pipeline["record"], pipeline["records"]
    want = activity(records, *date_range(records))
    assert summary["warehouse"]["loaded"] == len(unique_events(records))
    assert summary["warehouse"]["loaded_bot"] == bot_events(records)
    assert summary["warehouse"]["sessions"] == want["sessions"]
    assert summary["warehouse"]["purchase_sessions"] == want["funnel"]["purchase"]
    placed = walked["orders_placed"]
    assert summary["walk"] == {"events": walked["sent"]["human_events"], "sessions": 2,
                               "tracked_orders": len(placed) - walked["shop_orders"]["untracked_orders"]}
    assert f"{rec['sent']['events']} in {rec['sent']['requests']} requests" in out
    made = sum(walked["expected_events"].values())
    assert f"{made} events made, {walked['sent']['valid_events']} in the raw bucket" in out
    assert f"{walked['sent']['human_events']} events of 2 session(s) after the traffic window" in out
    assert "dashboard" in out and "DWH_DSN set" in out
    assert wh.etl["DWH_PASSWORD"] not in out
