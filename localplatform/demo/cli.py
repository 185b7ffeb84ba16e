"""The command line: `python -m localplatform.demo up|down|status|etl` (docs/demo.md)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence

from localplatform import traffic
from localplatform.demo import containers, provision, steps, walk
from localplatform.demo.config import DW_CONTAINER, OLTP_CONTAINER, DemoConfig, DemoError
from localplatform.demo.processes import PROCESS_NAMES, answers_ok, managed
from localplatform.demo.progress import Progress, rel
from localplatform.demo.state import ensure_secrets, ensure_state_dir
from localplatform.demo.summary import step_summary
from localplatform.demo.warehouse import Warehouse, etl_available, etl_env
from localplatform.scheduler import EtlScheduler


def cmd_up(cfg: DemoConfig) -> int:
    progress = Progress()
    ensure_state_dir(cfg)
    ensure_secrets(cfg)
    print(f"make demo: state in {rel(cfg.state_dir)}/ (`make demo-down` removes everything it starts)")
    steps.step_templates(cfg, progress)
    use_dw_host = steps.step_hosts(cfg, progress)
    if cfg.dwh_dsn:
        provision.migrate_dsn(cfg, progress)
    if use_dw_host or cfg.dwh_dsn:
        provision.select_anomaly_baseline(cfg, use_dw_host, progress)
    wh = Warehouse.for_demo(cfg, use_dw_host)
    # A scheduler left on by an earlier KEEP_RUNNING=1 run would overlap with this run's own.
    managed(cfg, "scheduler").stop()
    ingest_up = steps.step_ingest(cfg, progress)
    scheduler = None
    if etl_available():
        scheduler = EtlScheduler(cfg.etl_interval, etl_env(cfg, wh), cfg.logs_dir / "etl.log",
                                 on_run=steps.print_etl_run)
    outcome = walked = None
    if ingest_up:
        outcome = steps.step_traffic(cfg, progress, scheduler)
        walked = walk.step_walk(cfg, progress)
    else:
        for number, title in ((4, "traffic"), (5, "the demo shop in headless Chromium")):
            progress.step(number, title)
            progress.skip(number, "no ingest endpoint to send to (see step 3)")
    steps.step_final_etl(cfg, progress, scheduler, outcome)
    shiny_ready = use_dw_host and answers_ok(cfg.dashboard_url, timeout=90)
    step_summary(cfg, progress, outcome, wh, shiny_ready, walk=walked)
    if cfg.keep_running and scheduler is not None:
        pid = managed(cfg, "scheduler").start(
            [sys.executable, "-m", "localplatform.scheduler", "--interval", f"{cfg.etl_interval:g}",
             "--log", str(cfg.logs_dir / "etl.log")], etl_env(cfg, wh), cfg.logs_dir / "scheduler.log")
        print(f"\nKEEP_RUNNING=1: ingest stays at {cfg.ingest_url}, the ETL runs every "
              f"{cfg.etl_interval:g}s (pid {pid}, log {rel(cfg.logs_dir / 'etl.log')}).")
        if managed(cfg, "shop").running_pid():
            print(f"The demo shop stays at {cfg.shop_url}/: what you click there reaches the dashboards.")
    else:
        for name in ("shop", "ingest", "s3"):
            managed(cfg, name).stop()
        print("\nIngest, the demo shop and the S3 emulator are stopped (KEEP_RUNNING=1 keeps them and the "
              "ETL schedule on); the hosts keep running.")
    elapsed = time.monotonic() - progress.started
    print(f"make demo: finished in {elapsed:.0f}s; `make demo-down` removes it all.")
    return 0


def cmd_down(cfg: DemoConfig) -> int:
    print("make demo-down: removing what the demo started")
    for name in PROCESS_NAMES:
        if managed(cfg, name).stop():
            print(f"  stopped {name}")
    for name in (DW_CONTAINER, OLTP_CONTAINER):
        done = containers.remove_ours(name)
        if done:
            print(f"  {done}")
    if cfg.state_dir.exists():
        shutil.rmtree(cfg.state_dir)
        print(f"  removed {rel(cfg.state_dir)}/")
    print("make demo-down: done")
    return 0


def cmd_status(cfg: DemoConfig) -> int:
    for name in (DW_CONTAINER, OLTP_CONTAINER):
        state = containers.container_state(name)
        print(f"container {name}: " + ("absent" if state is None else "running" if state[0] else "stopped"))
    for name in PROCESS_NAMES:
        pid = managed(cfg, name).running_pid()
        print(f"process {name}: " + (f"running (pid {pid})" if pid else "not running"))
    return 0


def cmd_etl(cfg: DemoConfig) -> int:
    if not etl_available():
        raise DemoError("the ETL is missing (functions/etl/__main__.py)")
    wh = Warehouse.for_demo(cfg, cfg.dwh_dsn is None)
    run = EtlScheduler(cfg.etl_interval, etl_env(cfg, wh), cfg.logs_dir / "etl.log").run_once()
    steps.print_etl_run(run)
    return 0 if run.ok else 1


COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "etl": cmd_etl}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localplatform.demo",
                                     description="the whole platform on one machine (docs/demo.md)")
    parser.add_argument("command", choices=tuple(COMMANDS))
    args = parser.parse_args(argv)
    try:
        cfg = DemoConfig.from_env(os.environ)
        return COMMANDS[args.command](cfg)
    except (DemoError, traffic.TrafficError) as exc:
        print(f"\nmake demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmake demo: interrupted; `make demo-down` removes what was started", file=sys.stderr)
        return 130
