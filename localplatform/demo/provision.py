"""Configuring the local hosts with playbooks/site.yml through inventories/local, or, with
DWH_DSN, applying the warehouse migrations to that server instead of the DW host's role.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from localplatform.demo.config import (
    DW_CONTAINER,
    DW_DATABASE,
    REPO,
    VENV_BIN,
    DemoConfig,
    DemoError,
    parse_dsn,
    tool_env,
)
from localplatform.demo.containers import podman
from localplatform.demo.progress import Progress, rel, tail


def missing_host_pieces() -> list[str]:
    """The playbook, inventory and roles the hosts need that are not in the tree."""
    missing = []
    for path in ("playbooks/site.yml", "inventories/local/hosts.yml"):
        if not (REPO / path).exists():
            missing.append(path)
    site = REPO / "playbooks" / "site.yml"
    if site.exists():
        for role in site_roles(site):
            if not (REPO / "roles" / role / "tasks" / "main.yml").exists():
                missing.append(f"roles/{role}/tasks/main.yml")
    return missing


def site_roles(site: Path) -> list[str]:
    """The roles a playbook's plays apply, each once, in order."""
    import yaml  # noqa: PLC0415 -- PyYAML comes with ansible in the venv

    plays = yaml.safe_load(site.read_text(encoding="utf-8")) or []
    roles = []
    for play in plays:
        for entry in play.get("roles", []) if isinstance(play, dict) else []:
            name = entry.get("role") if isinstance(entry, dict) else entry
            if isinstance(name, str) and name not in roles:
                roles.append(name)
    return roles


def _ansible_env(cfg: DemoConfig, ssm_url: str) -> dict[str, str]:
    env = tool_env()
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        # Our own temp dirs: a molecule run on the same machine must not read this run's state.
        ANSIBLE_LOCAL_TEMP=str(cfg.state_dir / "ansible" / "tmp"),
        ANSIBLE_ASYNC_DIR=str(cfg.state_dir / "ansible" / "async"),
        # The Parameter Store stand-in the hosts read their passwords from (inventories/local).
        CLICKSTREAM_SSM_ENDPOINT_URL=ssm_url,
    )
    return env


def run_playbook(cfg: DemoConfig, limit: str | None, progress: Progress, ssm_url: str) -> None:
    """ansible-playbook playbooks/site.yml -i inventories/local, its log in <state>/logs/ansible.log;
    the plays, the recap and a heartbeat of tasks are shown. The hosts read their passwords from
    the Parameter Store at `ssm_url` (no password is a variable of the play)."""
    extra = cfg.state_dir / "ansible-vars.json"
    demo_vars = {
        # Shiny must listen on the container's interface for the port published to the host's
        # loopback to reach it; on the host side it stays 127.0.0.1 only.
        "shiny_server_listen_address": "0.0.0.0",  # noqa: S104
        # Size PostgreSQL for a demo container, not from the whole machine's memory it sees.
        "postgres_dw_memory_mb": 1024,
    }
    extra.write_text(json.dumps(demo_vars) + "\n")
    cmd = [str(VENV_BIN / "ansible-playbook"), "playbooks/site.yml", "-i", "inventories/local",
           "-e", f"@{extra}"]
    if limit:
        cmd += ["--limit", limit]
    log = cfg.logs_dir / "ansible.log"
    shown = " ".join(["ansible-playbook playbooks/site.yml -i inventories/local"]
                     + (["--limit", limit] if limit else []))
    progress.info(f"{shown} (log: {rel(log)})")
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, env=_ansible_env(cfg, ssm_url), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        recap = False
        last_shown = time.monotonic()
        for line in proc.stdout:
            fh.write(line)
            fh.flush()
            if line.startswith("PLAY RECAP"):
                recap = True
            if line.startswith("PLAY [") or (recap and re.match(r"^\S+\s+: ok=", line)):
                progress.info(line.rstrip().rstrip("*").rstrip())
                last_shown = time.monotonic()
            elif line.startswith("TASK [") and time.monotonic() - last_shown > 15:
                # A heartbeat, not every task: package installs take minutes on a fresh host.
                progress.info("  " + line.rstrip().rstrip("*").rstrip())
                last_shown = time.monotonic()
        code = proc.wait()
    if code != 0:
        raise DemoError(f"ansible-playbook failed (exit {code}); last lines of {rel(log)}:\n"
                        f"{tail(log, 50)}")


def migrate_dsn(cfg: DemoConfig, progress: Progress) -> None:
    """With DWH_DSN the warehouse role does not run, so apply the migrations here (as the DSN's user)."""
    assert cfg.dwh_dsn
    params = parse_dsn(cfg.dwh_dsn)
    env = tool_env()
    env.update({"PGHOST": params.get("host", ""), "PGPORT": params.get("port", "5432"),
                "PGUSER": params.get("user", ""), "PGPASSWORD": params.get("password", ""),
                "PGDATABASE": params.get("dbname", DW_DATABASE)})
    cmd = [sys.executable, "functions/warehouse/migrate.py", "--dbname", params.get("dbname", DW_DATABASE)]
    for flag, key in (("--host", "host"), ("--port", "port"), ("--user", "user")):
        if params.get(key):
            cmd += [flag, params[key]]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines()[-5:]:
        progress.info(f"migrate: {line}")
    if proc.returncode != 0:
        raise DemoError(f"migrations on DWH_DSN failed: {proc.stderr.strip() or proc.stdout.strip()}")


#: The anomaly baseline's values the warehouse needs before it judges an hour (its default
#: min_baseline_periods): the demo's outage goes where that much history lies before it.
MIN_BASELINE_PERIODS = 3
BASELINE_SQL = (REPO / "localplatform" / "demo" / "baseline.sql").read_text(encoding="utf-8")


def anomaly_baseline_days(cfg: DemoConfig) -> int:
    """The baseline period the demo selects (dq_settings.baseline_period_days, docs/warehouse-etl.md):
    the same hour of the week once DAYS holds 3 weeks and a day, else the same hour of the
    previous days (the weekly baseline would judge nothing in a history of days)."""
    return 7 if cfg.days >= 7 * MIN_BASELINE_PERIODS + 1 else 1


def select_anomaly_baseline(cfg: DemoConfig, use_dw_host: bool, progress: Progress) -> None:
    """Set the warehouse's anomaly baseline for the demo's history, as its owner (an operator's
    change, made with SQL): postgres on the DW host, the DSN's user with DWH_DSN."""
    days = anomaly_baseline_days(cfg)
    if use_dw_host:
        proc = podman("exec", "-i", "-u", "postgres", DW_CONTAINER, "psql", "-d", DW_DATABASE, "-X", "-q",
                      "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", f"days={days}", "-f", "-",
                      stdin_text=BASELINE_SQL, check=False, timeout=60)
        if proc.returncode != 0:
            raise DemoError(f"setting the anomaly baseline on {DW_CONTAINER} failed: "
                            f"{proc.stderr.strip() or proc.stdout.strip()}")
    else:
        import psycopg2  # noqa: PLC0415

        assert cfg.dwh_dsn
        try:
            with contextlib.closing(psycopg2.connect(cfg.dwh_dsn)) as conn, conn, conn.cursor() as cur:
                cur.execute(BASELINE_SQL.replace(":'days'", "%(days)s"), {"days": days})
        except psycopg2.Error as exc:
            raise DemoError(f"setting the anomaly baseline on DWH_DSN failed (its user must own the "
                            f"warehouse's tables): {str(exc).strip()}") from exc
    what = "the same hour of the week" if days == 7 else "the same hour on the previous days"
    progress.info(f"anomaly baseline: {what} (dq_settings.baseline_period_days = {days}, "
                  f"for DAYS={cfg.days:g})")
