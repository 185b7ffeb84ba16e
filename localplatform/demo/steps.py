"""Steps 1-4 and 6 of `up`: templates, hosts, S3 and ingest, traffic (with the ETL on its
schedule), the final ETL run (step 5, the shop walk, is walk.py). Each prints its progress and
raises DemoError when it cannot go on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from localplatform import traffic
from localplatform.demo import containers, provision, services, shop
from localplatform.demo.config import DW_CONTAINER, OLTP_CONTAINER, REPO, VENV_BIN, DemoConfig, DemoError
from localplatform.demo.progress import Progress, rel, tail
from localplatform.demo.provision import MIN_BASELINE_PERIODS, anomaly_baseline_days
from localplatform.demo.state import traffic_window_end
from localplatform.scheduler import EtlRun, EtlScheduler


def step_templates(cfg: DemoConfig, progress: Progress) -> None:
    progress.step(1, "CloudFormation templates: build (python -m stacks build) and lint (cfn-lint)")
    if not (REPO / "stacks" / "__main__.py").exists():
        progress.skip(1, "the stacks builder is missing (stacks/__main__.py); no templates to build")
        return
    out = REPO / "build" / "templates"
    log = cfg.logs_dir / "templates.log"
    with log.open("w") as fh:
        proc = subprocess.run([sys.executable, "-m", "stacks", "build", "--out", str(out)], cwd=REPO,
                              stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise DemoError(f"python -m stacks build failed (exit {proc.returncode}):\n{tail(log)}")
    templates = sorted(out.glob("*.template.*"))  # <stack>.template.json; not deploy-order.json
    if not templates:
        raise DemoError(f"python -m stacks build wrote no templates into {rel(out)}")
    progress.info(f"built {len(templates)} template(s) into {rel(out)}/")
    cfn_lint = shutil.which("cfn-lint", path=str(VENV_BIN)) or shutil.which("cfn-lint")
    if not cfn_lint:
        raise DemoError("cfn-lint not found: run `make bootstrap`")
    with log.open("a") as fh:
        proc = subprocess.run([cfn_lint, *map(str, templates)], cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                              check=False)
    if proc.returncode not in (0, 4):  # 4 = informational findings only (see cfn-lint's exit codes)
        raise DemoError(f"cfn-lint found problems (exit {proc.returncode}):\n{tail(log)}")
    progress.done(f"cfn-lint clean on {len(templates)} template(s)")


def step_hosts(cfg: DemoConfig, progress: Progress) -> bool:
    """Start and configure the local hosts. Returns whether the DW container serves the warehouse."""
    progress.step(2, "local hosts: Debian 12 systemd containers configured by playbooks/site.yml")
    missing = provision.missing_host_pieces()
    use_dw_host = cfg.dwh_dsn is None
    if missing:
        progress.skip(2, "cannot configure the hosts, missing: " + ", ".join(missing))
        if use_dw_host:
            raise DemoError("no warehouse: the DW host cannot be configured without the pieces above; "
                            "set DWH_DSN=<PostgreSQL DSN> to use an existing server instead")
        return False
    if not containers.image_exists(cfg.image):
        raise DemoError(f"image {cfg.image} not found: run `make bootstrap` (scripts/build-test-image.sh)")
    # The shop's PostgreSQL on loopback: the demo's checkout writes orders, the ETL reads them.
    containers.ensure_container(OLTP_CONTAINER, "oltp", cfg.image, [f"127.0.0.1:{cfg.oltp_port}:5432"],
                                progress)
    if use_dw_host:
        containers.ensure_container(DW_CONTAINER, "dw", cfg.image,
                                    [f"127.0.0.1:{cfg.dw_port}:5432", f"127.0.0.1:{cfg.shiny_port}:3838"],
                                    progress)
    else:
        progress.info("DWH_DSN is set: no DW container; the dashboards (which live on the DW host) are off")
    # The hosts read their logins' passwords from Parameter Store themselves, as on AWS: here from
    # moto, which they reach at their bridge's gateway.
    ssm_url = services.put_host_secrets(cfg, containers.gateway(OLTP_CONTAINER))
    progress.info(f"Parameter Store stand-in for the hosts: moto at {ssm_url} (the passwords of "
                  f"{rel(cfg.secrets_dir)}/ as SecureStrings)")
    provision.run_playbook(cfg, None if use_dw_host else "oltp", progress, ssm_url)
    progress.done()
    return use_dw_host


def step_ingest(cfg: DemoConfig, progress: Progress) -> bool:
    """Start moto (unless S3_ENDPOINT) and the ingest adapter. Returns whether ingest is up."""
    progress.step(3, "raw bucket on an S3 emulator and the ingest HTTP adapter at /clickstream")
    progress.info(services.start_s3(cfg))
    services.ensure_bucket(cfg)
    progress.info(f"raw bucket: s3://{cfg.raw_bucket}")
    if not services.ingest_available():
        progress.skip(3, "the ingest adapter is missing (localplatform/ingest_http.py, "
                         "functions/ingest/handler.py): no events can be sent")
        return False
    pid = services.start_ingest(cfg)
    progress.done(f"ingest at {cfg.ingest_url} (pid {pid})")
    return True


def simulation(cfg: DemoConfig, end: datetime) -> traffic.Simulation:
    """The traffic of SEED/SHOPPERS/DAYS up to `end`, with the outage (the busiest hour with the
    anomaly baseline's history before it, when the window has one) and the late batch."""
    start = end - timedelta(days=cfg.days)
    history = timedelta(days=anomaly_baseline_days(cfg) * MIN_BASELINE_PERIODS)
    outage = traffic.outage_hour(start, end, history) if cfg.outage else None
    late_day = traffic.late_batch_day(start, end) if cfg.late_batch else None
    return traffic.simulate(traffic.load_catalog(), shoppers=cfg.shoppers, days=cfg.days, seed=cfg.seed,
                            window_end=end, outage=outage, late_day=late_day)


@dataclass
class TrafficOutcome:
    record: dict | None = None  # the generator's record of what was sent (traffic.record)
    sim: traffic.Simulation | None = None
    record_files: tuple[Path, ...] = ()


def step_traffic(cfg: DemoConfig, progress: Progress, scheduler: EtlScheduler | None) -> TrafficOutcome:
    """Send the traffic of SEED/SHOPPERS/DAYS unless an earlier run sent it, the ETL on its schedule;
    the late batch is held back for step 6."""
    progress.step(4, f"traffic: {cfg.shoppers} simulated shoppers over {cfg.days:g} day(s), seed {cfg.seed}")
    end = traffic_window_end(cfg)
    sim = simulation(cfg, end)
    key = (f"seed{cfg.seed}-shoppers{cfg.shoppers}-days{cfg.days:g}-{end:%Y%m%dT%H%MZ}"
           f"-outage{int(cfg.outage)}-late{int(cfg.late_batch)}")
    sent_file = cfg.state_dir / "sent" / f"{key}.json"
    files = (sent_file, cfg.record_path)
    if sent_file.exists():
        _write_shop_orders(cfg, progress, sim)   # idempotent: a replaced shop host gets them again
        shutil.copyfile(sent_file, cfg.record_path)
        progress.info(f"this traffic ({key}) was sent by an earlier run: not sending it again")
        progress.done()
        return TrafficOutcome(record=json.loads(sent_file.read_text()), sim=sim, record_files=files)
    progress.info(f"{len(sim.batches)} requests, {sum(len(b.events) for b in sim.batches)} events, "
                  f"window {traffic.iso_utc(sim.window_start)} .. {traffic.iso_utc(sim.window_end)}")
    _describe_injections(cfg, progress, sim)
    _write_shop_orders(cfg, progress, sim)
    if scheduler is not None:
        progress.info(f"ETL scheduled every {cfg.etl_interval:g}s while traffic flows")
        scheduler.start()
    started = time.monotonic()
    sent_from = datetime.now(UTC)
    try:
        result = traffic.send(sim.batches, cfg.ingest_url, progress=lambda n, total: progress.info(
            f"sent {n}/{total} requests"))
    finally:
        if scheduler is not None:
            scheduler.stop()
    rec = traffic.record(sim, result, cfg.ingest_url)
    rec["sent_at"] = {"from": traffic.iso_utc(sent_from), "to": traffic.iso_utc(datetime.now(UTC))}
    sent_file.parent.mkdir(exist_ok=True)
    _write_record(rec, files)
    rate = len(sim.batches) / max(time.monotonic() - started, 1e-3)
    progress.info(f"accepted {result.accepted}, rejected {result.rejected} "
                  f"({rec['sent']['invalid_events'] - (rec['late'] or {}).get('invalid_events', 0)} "
                  f"deliberately invalid), {result.failed_requests} failed request(s); {rate:.0f} requests/s")
    progress.done(f"record of what was sent: {rel(cfg.record_path)}")
    if result.failed_requests:
        raise DemoError(f"{result.failed_requests} request(s) failed on the server side; see "
                        f"{rel(cfg.logs_dir / 'ingest.log')}")
    return TrafficOutcome(record=rec, sim=sim, record_files=files)


def _write_record(rec: dict, files: tuple[Path, ...]) -> None:
    for path in files:
        path.write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")


def _describe_injections(cfg: DemoConfig, progress: Progress, sim: traffic.Simulation) -> None:
    if sim.outage:
        o = sim.outage
        progress.info(f"outage at {o['hour']}: {o['sessions_hit']} sessions lost their events of that hour "
                      f"({o['events_lost']} events, {o['purchases_lost']} purchase(s)); one browser in "
                      f"{round(1 / o['kept_share'])} got through")
    elif cfg.outage:
        progress.info(f"no outage: DAYS={cfg.days:g} leaves no hour with the anomaly baseline's "
                      f"{anomaly_baseline_days(cfg) * MIN_BASELINE_PERIODS} days of history before it")
    if sim.late:
        events = sum(len(s.events) for s in sim.late)
        progress.info(f"late batch held back: {len(sim.late)} sessions ({events} events) of {sim.late_day}, "
                      "sent after a later ETL run (step 6)")


def _write_shop_orders(cfg: DemoConfig, progress: Progress, sim: traffic.Simulation) -> None:
    """The shop's checkout: every purchase's order goes into the shop database before its browser
    reports it (ad-blocked buyers' orders too, which no event will report)."""
    if not shop.available():
        progress.info(f"no shop host ({OLTP_CONTAINER} is not running): no orders, no booked revenue")
        return
    new = shop.write_orders(cfg, sim.orders)
    figures = traffic.shop_orders(sim)
    progress.info(f"shop orders: {len(sim.orders)} ({new} new) through the app login; "
                  f"{figures['ad_blocked_orders']} from ad-blocked buyers (no events), "
                  f"{figures['forged_purchases']} forged purchase event(s) with no order")


def print_etl_run(run: EtlRun) -> None:
    Progress.info(f"[etl] run {run.number}: {run.describe()}")


def step_final_etl(cfg: DemoConfig, progress: Progress, scheduler: EtlScheduler | None,
                   outcome: TrafficOutcome | None = None) -> None:
    """The final ETL run; then the late batch, if one is held back, and the run that loads it."""
    progress.step(6, "ETL: once more at the end, as the schedule would; then the late batch")
    if scheduler is None:
        progress.skip(6, "the ETL is missing (functions/etl/__main__.py): nothing is loaded")
        return
    progress.info(f"{len(scheduler.runs)} scheduled run(s) while traffic flowed "
                  f"(log: {rel(scheduler.log_path)})")
    final = _etl_run(scheduler)
    if outcome is not None and outcome.record and outcome.sim is not None:
        _send_late_batch(cfg, progress, scheduler, outcome, final)
    failed = [r.number for r in scheduler.runs if not r.ok]
    if failed:
        progress.info(f"note: scheduled run(s) {failed} failed; the final run succeeded")
    progress.done()


def _etl_run(scheduler: EtlScheduler) -> EtlRun:
    run = scheduler.run_once()
    for _ in range(20):  # an ETL run started elsewhere holds the lock: the final run waits for it
        if not run.skipped:
            break
        time.sleep(3)
        run = scheduler.run_once()
    if not run.ok or run.skipped:
        raise DemoError(f"the final ETL run failed (exit {run.returncode}); last lines of "
                        f"{rel(scheduler.log_path)}:\n{tail(scheduler.log_path)}")
    return run


def _send_late_batch(cfg: DemoConfig, progress: Progress, scheduler: EtlScheduler,
                     outcome: TrafficOutcome, final: EtlRun) -> None:
    """Events of an already-loaded day, delivered after that run: the run that loads them restates
    the day's figures (agg_restatements). Done once; the record says when and which run."""
    rec, sim = outcome.record, outcome.sim
    late = rec.get("late")
    if not late or late.get("delivered") or not sim.late_batches:
        return
    sent_from = datetime.now(UTC)
    result = traffic.send(sim.late_batches, cfg.ingest_url)
    sent_to = datetime.now(UTC)
    if result.failed_requests:
        raise DemoError(f"the late batch: {result.failed_requests} request(s) failed on the server side; "
                        f"see {rel(cfg.logs_dir / 'ingest.log')}")
    run = _etl_run(scheduler)
    late["delivered"] = {"sent_from": traffic.iso_utc(sent_from), "sent_to": traffic.iso_utc(sent_to),
                         "after_run": (final.summary or {}).get("run_id"),
                         "run_id": (run.summary or {}).get("run_id")}
    rec["responses"] = _merged(rec.get("responses", {}), traffic.responses(result))
    _write_record(rec, outcome.record_files)
    progress.info(f"late batch: {late['sessions']} sessions ({late['events']} events) of {late['day']} "
                  f"sent; ETL run {run.number} (run_id {late['delivered']['run_id']}) loaded it: "
                  f"{run.describe()}")


def _merged(a: dict, b: dict) -> dict:
    """Two records of ingest's answers added up."""
    out = {}
    for key in a.keys() | b.keys():
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) or isinstance(y, dict):
            x, y = x or {}, y or {}
            out[key] = {k: x.get(k, 0) + y.get(k, 0) for k in x.keys() | y.keys()}
        else:
            out[key] = (x or 0) + (y or 0)
    return out
