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

from localplatform import traffic
from localplatform.demo import containers, provision, services, shop
from localplatform.demo.config import DW_CONTAINER, OLTP_CONTAINER, REPO, VENV_BIN, DemoConfig, DemoError
from localplatform.demo.progress import Progress, rel, tail
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
    provision.run_playbook(cfg, None if use_dw_host else "oltp", progress)
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


@dataclass
class TrafficOutcome:
    record: dict | None = None  # the generator's record of what was sent (traffic.record)


def step_traffic(cfg: DemoConfig, progress: Progress, scheduler: EtlScheduler | None) -> TrafficOutcome:
    """Send the traffic of SEED/SHOPPERS/DAYS unless an earlier run sent it, the ETL on its schedule."""
    progress.step(4, f"traffic: {cfg.shoppers} simulated shoppers over {cfg.days:g} day(s), seed {cfg.seed}")
    end = traffic_window_end(cfg)
    sim = traffic.simulate(traffic.load_catalog(), shoppers=cfg.shoppers, days=cfg.days, seed=cfg.seed,
                           window_end=end)
    key = f"seed{cfg.seed}-shoppers{cfg.shoppers}-days{cfg.days:g}-{end:%Y%m%dT%H%MZ}"
    sent_file = cfg.state_dir / "sent" / f"{key}.json"
    if sent_file.exists():
        _write_shop_orders(cfg, progress, sim)   # idempotent: a replaced shop host gets them again
        shutil.copyfile(sent_file, cfg.record_path)
        progress.info(f"this traffic ({key}) was sent by an earlier run: not sending it again")
        progress.done()
        return TrafficOutcome(record=json.loads(sent_file.read_text()))
    progress.info(f"{len(sim.batches)} requests, {sum(len(b.events) for b in sim.batches)} events, "
                  f"window {traffic.iso_utc(sim.window_start)} .. {traffic.iso_utc(sim.window_end)}")
    _write_shop_orders(cfg, progress, sim)
    if scheduler is not None:
        progress.info(f"ETL scheduled every {cfg.etl_interval:g}s while traffic flows")
        scheduler.start()
    started = time.monotonic()
    try:
        result = traffic.send(sim.batches, cfg.ingest_url, progress=lambda n, total: progress.info(
            f"sent {n}/{total} requests"))
    finally:
        if scheduler is not None:
            scheduler.stop()
    rec = traffic.record(sim, result, cfg.ingest_url)
    sent_file.parent.mkdir(exist_ok=True)
    for path in (sent_file, cfg.record_path):
        path.write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
    rate = len(sim.batches) / max(time.monotonic() - started, 1e-3)
    progress.info(f"accepted {result.accepted}, rejected {result.rejected} "
                  f"({rec['sent']['invalid_events']} deliberately invalid), "
                  f"{result.failed_requests} failed request(s); {rate:.0f} requests/s")
    progress.done(f"record of what was sent: {rel(cfg.record_path)}")
    if result.failed_requests:
        raise DemoError(f"{result.failed_requests} request(s) failed on the server side; see "
                        f"{rel(cfg.logs_dir / 'ingest.log')}")
    return TrafficOutcome(record=rec)


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


def step_final_etl(cfg: DemoConfig, progress: Progress, scheduler: EtlScheduler | None) -> None:
    progress.step(6, "ETL: once more at the end, as the schedule would")
    if scheduler is None:
        progress.skip(6, "the ETL is missing (functions/etl/__main__.py): nothing is loaded")
        return
    progress.info(f"{len(scheduler.runs)} scheduled run(s) while traffic flowed "
                  f"(log: {rel(scheduler.log_path)})")
    run = scheduler.run_once()
    for _ in range(20):  # an ETL run started elsewhere holds the lock: the final run waits for it
        if not run.skipped:
            break
        time.sleep(3)
        run = scheduler.run_once()
    if not run.ok or run.skipped:
        raise DemoError(f"the final ETL run failed (exit {run.returncode}); last lines of "
                        f"{rel(scheduler.log_path)}:\n{tail(scheduler.log_path)}")
    failed = [r.number for r in scheduler.runs if not r.ok]
    if failed:
        progress.info(f"note: scheduled run(s) {failed} failed; the final run succeeded")
    progress.done()
