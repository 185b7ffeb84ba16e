"""`make demo`: the whole platform on one machine, configured by the same roles as on AWS.

    python -m localplatform.demo up       # (what `make demo` runs) build, start, send, load, summarise
    python -m localplatform.demo down     # (what `make demo-down` runs) remove everything `up` started
    python -m localplatform.demo status   # what is running
    python -m localplatform.demo etl      # one ETL run now, as the schedule would

Steps of `up`, each with a progress line:
  1. build the CloudFormation templates (python -m stacks build) and lint them (cfn-lint);
  2. start two Debian 12 systemd containers (clickstream-oltp, clickstream-dw) and configure them
     with playbooks/site.yml through inventories/local (agents off);
  3. start the S3 emulator (moto in server mode) holding the raw bucket, and the ingest HTTP
     adapter on 127.0.0.1 at /clickstream;
  4. run the traffic generator (localplatform.traffic) against the adapter;
  5. run the ETL as the schedule would: every ETL_INTERVAL seconds while traffic flows, then once more;
  6. print a summary (sent, accepted, loaded, rejected; sessions; conversion) and the dashboard URL.

Options (environment, or make variables): SHOPPERS, DAYS, SEED, KEEP_RUNNING=1, DWH_DSN,
ETL_INTERVAL, S3_ENDPOINT (an emulator you run, e.g. LocalStack), DEMO_DW_PORT, DEMO_SHINY_PORT,
DEMO_S3_PORT, DEMO_INGEST_PORT, DEMO_STATE_DIR. See docs/demo.md.

Everything the demo starts is recorded under the state dir (.demo/): process ids, logs, the
generated passwords (mode 0600, never printed), the traffic record. Containers carry the label
io.clickstream.demo=1, and `down` removes only what carries it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from localplatform import traffic
from localplatform.scheduler import EtlRun, EtlScheduler

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEMO_LABEL = "io.clickstream.demo"
DW_CONTAINER = "clickstream-dw"
OLTP_CONTAINER = "clickstream-oltp"
DW_DATABASE = "clickstream_dw"
ETL_LOGIN = "etl_writer"
#: Files under <state>/secrets/, read by inventories/local (CLICKSTREAM_LOCAL_SECRETS_DIR) as well.
SECRET_FILES = ("dw_etl_writer", "dw_dashboard_reader", "oltp_shop_app")
#: moto accepts any credentials; these placeholders only keep botocore from looking for real ones.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"}
TOTAL_STEPS = 6


class DemoError(Exception):
    """A step cannot go on; the message says what is wrong and what to do."""


# --------------------------------------------------------------------------------------------
# Configuration


def _int_env(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DemoError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise DemoError(f"{name}={value} must be at least {minimum}")
    return value


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise DemoError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise DemoError(f"{name}={raw} must be positive")
    return value


def _port_env(env: Mapping[str, str], name: str, default: int) -> int:
    port = _int_env(env, name, default)
    if port > 65535:
        raise DemoError(f"{name}={port} is not a TCP port")
    return port


@dataclass(frozen=True)
class DemoConfig:
    state_dir: Path
    shoppers: int = 200
    days: float = 3
    seed: int = 7
    keep_running: bool = False
    dwh_dsn: str | None = None
    etl_interval: float = 15
    s3_endpoint: str | None = None
    dw_port: int = 15432
    shiny_port: int = 13838
    s3_port: int = 15000
    ingest_port: int = 18080
    raw_bucket: str = "clickstream-s3-ingest"
    region: str = "ap-southeast-1"
    image: str = "localhost/debian-systemd:bookworm"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DemoConfig:
        state = Path(env.get("DEMO_STATE_DIR") or REPO / ".demo")
        days = _float_env(env, "DAYS", 3)
        if days > 30:
            raise DemoError(f"DAYS={days:g}: at most 30 days of traffic")
        dsn = env.get("DWH_DSN", "").strip() or None
        if dsn:
            _parse_dsn(dsn)  # fail early on a malformed DSN
        endpoint = env.get("S3_ENDPOINT", "").strip() or None
        if endpoint and not endpoint.startswith(("http://", "https://")):
            raise DemoError(f"S3_ENDPOINT={endpoint!r} must be an http(s) URL")
        return cls(
            state_dir=state.resolve(),
            shoppers=_int_env(env, "SHOPPERS", 200),
            days=days,
            seed=_int_env(env, "SEED", 7, minimum=0),
            keep_running=env.get("KEEP_RUNNING", "").strip().lower() in {"1", "true", "yes", "on"},
            dwh_dsn=dsn,
            etl_interval=_float_env(env, "ETL_INTERVAL", 15),
            s3_endpoint=endpoint,
            dw_port=_port_env(env, "DEMO_DW_PORT", 15432),
            shiny_port=_port_env(env, "DEMO_SHINY_PORT", 13838),
            s3_port=_port_env(env, "DEMO_S3_PORT", 15000),
            ingest_port=_port_env(env, "DEMO_INGEST_PORT", 18080),
            raw_bucket=env.get("RAW_BUCKET") or "clickstream-s3-ingest",
            region=env.get("AWS_REGION") or "ap-southeast-1",
            image=env.get("DEMO_IMAGE") or "localhost/debian-systemd:bookworm",
        )

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def s3_url(self) -> str:
        return self.s3_endpoint or f"http://127.0.0.1:{self.s3_port}"

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}/clickstream"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.shiny_port}/"

    @property
    def record_path(self) -> Path:
        return self.state_dir / "traffic.json"


def _parse_dsn(dsn: str) -> dict[str, str]:
    from psycopg2.extensions import parse_dsn  # noqa: PLC0415 -- psycopg2 only when a DSN is used

    try:
        return parse_dsn(dsn)
    except Exception as exc:
        # psycopg2's message may quote the DSN, password included: say only what is wrong.
        raise DemoError("DWH_DSN is not a valid libpq connection string or URI") from exc


# --------------------------------------------------------------------------------------------
# Output


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self._step_started = self.started
        self.skipped: list[str] = []

    def step(self, number: int, title: str) -> None:
        self._step_started = time.monotonic()
        print(f"\n==> [{number}/{TOTAL_STEPS}] {title}", flush=True)

    @staticmethod
    def info(text: str) -> None:
        print(f"    {text}", flush=True)

    def done(self, text: str = "done") -> None:
        print(f"    {text} ({time.monotonic() - self._step_started:.0f}s)", flush=True)

    def skip(self, number: int, reason: str) -> None:
        self.skipped.append(f"step {number}: {reason}")
        print(f"    SKIPPED: {reason}", flush=True)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        content = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"    | {line}" for line in content[-lines:])


# --------------------------------------------------------------------------------------------
# State: directory, secrets, background processes


def ensure_state_dir(cfg: DemoConfig) -> None:
    for directory in (cfg.state_dir, cfg.secrets_dir, cfg.logs_dir, cfg.state_dir / "pids"):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)


def ensure_secrets(cfg: DemoConfig) -> None:
    """Generate each local password once (mode 0600); inventories/local reads the same files."""
    alphabet = string.ascii_letters + string.digits
    for name in SECRET_FILES:
        path = cfg.secrets_dir / name
        if path.exists() and read_secret(path):
            path.chmod(0o600)
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(secrets.choice(alphabet) for _ in range(32)) + "\n")


def read_secret(path: Path) -> str:
    """The password in a file written by us or by Ansible's password lookup (first token)."""
    try:
        words = path.read_text(encoding="utf-8").split()
    except OSError:
        return ""
    return words[0] if words else ""


def _proc_start_ticks(pid: int) -> str | None:
    """The process's start time since boot, to tell it from a later process with a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass
class ManagedProcess:
    name: str
    pid_file: Path

    def read(self) -> dict | None:
        try:
            return json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def running_pid(self) -> int | None:
        info = self.read()
        if not info:
            return None
        pid = int(info["pid"])
        return pid if _proc_start_ticks(pid) == info.get("start") else None

    def start(self, cmd: Sequence[str], env: Mapping[str, str], log: Path) -> int:
        pid = self.running_pid()
        if pid:
            return pid
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            # A session of its own: `down` ends the process group it leads, and Ctrl-C in the
            # terminal does not reach a process meant to keep running (KEEP_RUNNING=1).
            proc = subprocess.Popen(list(cmd), cwd=REPO, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "start": _proc_start_ticks(proc.pid),
                                             "cmd": list(cmd)}))
        return proc.pid

    def stop(self, timeout: float = 10) -> bool:
        """End the process group this demo started (verified by start time); True if one was running."""
        pid = self.running_pid()
        self.pid_file.unlink(missing_ok=True)
        if not pid:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if _proc_start_ticks(pid) is None:
                return True
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        return True


def managed(cfg: DemoConfig, name: str) -> ManagedProcess:
    return ManagedProcess(name, cfg.state_dir / "pids" / f"{name}.json")


PROCESS_NAMES = ("scheduler", "ingest", "s3")


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _wait_http(url: str, timeout: float, proc: ManagedProcess | None = None, log: Path | None = None) -> None:
    """Wait until `url` answers at all (any HTTP status counts: the server is up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 -- our own http://127.0.0.1 URL
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc is not None and proc.running_pid() is None:
            raise DemoError(f"{proc.name} exited while starting; its log:\n{_tail(log) if log else ''}")
        if time.monotonic() > deadline:
            raise DemoError(f"{url} did not answer within {timeout:.0f}s"
                            + (f"; log:\n{_tail(log)}" if log else ""))
        time.sleep(0.3)


# --------------------------------------------------------------------------------------------
# Step 1: templates


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
        raise DemoError(f"python -m stacks build failed (exit {proc.returncode}):\n{_tail(log)}")
    templates = sorted(out.glob("*.template.*"))  # <stack>.template.json; not deploy-order.json
    if not templates:
        raise DemoError(f"python -m stacks build wrote no templates into {out.relative_to(REPO)}")
    progress.info(f"built {len(templates)} template(s) into {out.relative_to(REPO)}/")
    cfn_lint = shutil.which("cfn-lint", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if not cfn_lint:
        raise DemoError("cfn-lint not found: run `make bootstrap`")
    with log.open("a") as fh:
        proc = subprocess.run([cfn_lint, *map(str, templates)], cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                              check=False)
    if proc.returncode not in (0, 4):  # 4 = informational findings only (see cfn-lint's exit codes)
        raise DemoError(f"cfn-lint found problems (exit {proc.returncode}):\n{_tail(log)}")
    progress.done(f"cfn-lint clean on {len(templates)} template(s)")


# --------------------------------------------------------------------------------------------
# Step 2: hosts


def _podman(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise DemoError(f"podman {' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _container_state(name: str) -> tuple[bool, bool] | None:
    """(running, ours) for an existing container, None when there is none of that name."""
    proc = _podman("container", "inspect", "--format",
                   "{{.State.Running}} {{index .Config.Labels \"" + DEMO_LABEL + "\"}}", name, check=False)
    if proc.returncode != 0:
        return None
    running, _, label = proc.stdout.strip().partition(" ")
    return running == "true", label == "1"


def ensure_container(cfg: DemoConfig, name: str, hostname: str, publish: Sequence[str],
                     progress: Progress) -> None:
    state = _container_state(name)
    if state and not state[1]:
        raise DemoError(f"a container named {name} exists but was not started by the demo "
                        f"(no label {DEMO_LABEL}=1); remove or rename it first")
    if state:
        published = _published_ports(name)
        wanted = {f"{spec.split(':')[2]}/tcp -> {spec.rsplit(':', 1)[0]}" for spec in publish}
        # podman shows the ports of a running container only; a stopped one is checked once started.
        if state[0] and published != wanted:
            raise DemoError(f"{name} publishes {sorted(published) or 'no ports'}, this run wants "
                            f"{sorted(wanted) or 'none'}: run `make demo-down` first to change ports")
    if state and state[0]:
        progress.info(f"{name}: already running")
        return
    if state:
        progress.info(f"{name}: starting the existing container")
        _podman("start", name)
    else:
        for spec in publish:
            port = int(spec.split(":")[1])
            if _port_open(port):
                raise DemoError(f"127.0.0.1:{port} is already in use; choose another port "
                                "(DEMO_DW_PORT / DEMO_SHINY_PORT) or stop what listens there")
        args = ["run", "-d", "--name", name, "--hostname", hostname, "--label", f"{DEMO_LABEL}=1",
                "--systemd=always"]
        for spec in publish:
            args += ["-p", spec]
        progress.info(f"{name}: creating from {cfg.image}")
        _podman(*args, cfg.image, "/sbin/init")
    wait_for_systemd(name)


def _published_ports(name: str) -> set[str]:
    """Lines like "5432/tcp -> 127.0.0.1:15432" for the container's published ports."""
    proc = _podman("port", name, check=False)
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}


def wait_for_systemd(name: str, timeout: float = 120) -> None:
    """Until systemd in the container has finished booting (its bus exists a moment after start)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = _podman("exec", name, "systemctl", "is-system-running", "--wait", check=False, timeout=timeout)
        status = proc.stdout.strip()
        if status in {"running", "degraded"}:
            return
        if time.monotonic() > deadline:
            raise DemoError(f"{name}: systemd did not come up (state {status or proc.stderr.strip()!r})")
        time.sleep(1)


def missing_host_pieces() -> list[str]:
    missing = []
    for path in ("playbooks/site.yml", "inventories/local/hosts.yml"):
        if not (REPO / path).exists():
            missing.append(path)
    site = REPO / "playbooks" / "site.yml"
    if site.exists():
        for role in _site_roles(site):
            if not (REPO / "roles" / role / "tasks" / "main.yml").exists():
                missing.append(f"roles/{role}/tasks/main.yml")
    return missing


def _site_roles(site: Path) -> list[str]:
    import yaml  # noqa: PLC0415 -- PyYAML comes with ansible in the venv

    plays = yaml.safe_load(site.read_text(encoding="utf-8")) or []
    roles = []
    for play in plays:
        for entry in play.get("roles", []) if isinstance(play, dict) else []:
            name = entry.get("role") if isinstance(entry, dict) else entry
            if isinstance(name, str) and name not in roles:
                roles.append(name)
    return roles


def _ansible_env(cfg: DemoConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        # Our own temp dirs: a molecule run on the same machine must not read this run's state.
        ANSIBLE_LOCAL_TEMP=str(cfg.state_dir / "ansible" / "tmp"),
        ANSIBLE_ASYNC_DIR=str(cfg.state_dir / "ansible" / "async"),
        CLICKSTREAM_LOCAL_SECRETS_DIR=str(cfg.secrets_dir),
        CONTAINERS_CONF=env.get("CONTAINERS_CONF") or str(REPO / "ci" / "containers.conf"),
    )
    return env


def _inventory_defines(variable: str) -> bool:
    """Whether inventories/local sets `variable` anywhere (a plain text search of its YAML)."""
    pattern = re.compile(rf"^\s*{re.escape(variable)}\s*:", re.MULTILINE)
    return any(pattern.search(p.read_text(encoding="utf-8"))
               for p in (REPO / "inventories" / "local").rglob("*.y*ml"))


def run_playbook(cfg: DemoConfig, limit: str | None, progress: Progress) -> None:
    extra = cfg.state_dir / "ansible-vars.json"
    demo_vars = {
        # Shiny must listen on the container's interface for the port published to the host's
        # loopback to reach it; on the host side it stays 127.0.0.1 only.
        "shiny_server_listen_address": "0.0.0.0",  # noqa: S104
        # Size PostgreSQL for a demo container, not from the whole machine's memory it sees.
        "postgres_dw_memory_mb": 1024,
    }
    if not _inventory_defines("shiny_server_db_password"):
        # The dashboards read the warehouse as its reader login: same password, by reference only.
        demo_vars["shiny_server_db_password"] = "{{ postgres_dw_reader_password }}"  # noqa: S105 (a reference)
    extra.write_text(json.dumps(demo_vars) + "\n")
    cmd = [str(VENV_BIN / "ansible-playbook"), "playbooks/site.yml", "-i", "inventories/local",
           "-e", f"@{extra}"]
    if limit:
        cmd += ["--limit", limit]
    log = cfg.logs_dir / "ansible.log"
    shown = " ".join(["ansible-playbook playbooks/site.yml -i inventories/local"]
                     + (["--limit", limit] if limit else []))
    progress.info(f"{shown} (log: {_rel(log)})")
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, env=_ansible_env(cfg), stdout=subprocess.PIPE,
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
        raise DemoError(f"ansible-playbook failed (exit {code}); last lines of {_rel(log)}:\n"
                        f"{_tail(log, 50)}")


def step_hosts(cfg: DemoConfig, progress: Progress) -> bool:
    """Start and configure the local hosts. Returns whether the DW container serves the warehouse."""
    progress.step(2, "local hosts: Debian 12 systemd containers configured by playbooks/site.yml")
    missing = missing_host_pieces()
    use_dw_host = cfg.dwh_dsn is None
    if missing:
        progress.skip(2, "cannot configure the hosts, missing: " + ", ".join(missing))
        if use_dw_host:
            raise DemoError("no warehouse: the DW host cannot be configured without the pieces above; "
                            "set DWH_DSN=<PostgreSQL DSN> to use an existing server instead")
        return False
    if _podman("image", "exists", cfg.image, check=False).returncode != 0:
        raise DemoError(f"image {cfg.image} not found: run `make bootstrap` (scripts/build-test-image.sh)")
    ensure_container(cfg, OLTP_CONTAINER, "oltp", [], progress)
    if use_dw_host:
        ensure_container(cfg, DW_CONTAINER, "dw",
                         [f"127.0.0.1:{cfg.dw_port}:5432", f"127.0.0.1:{cfg.shiny_port}:3838"], progress)
    else:
        progress.info("DWH_DSN is set: no DW container; the dashboards (which live on the DW host) are off")
    run_playbook(cfg, None if use_dw_host else "oltp", progress)
    progress.done()
    return use_dw_host


def step_migrations_on_dsn(cfg: DemoConfig, progress: Progress) -> None:
    """With DWH_DSN the warehouse role does not run, so apply the migrations here."""
    assert cfg.dwh_dsn
    params = _parse_dsn(cfg.dwh_dsn)
    env = dict(os.environ)
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


# --------------------------------------------------------------------------------------------
# Step 3: S3 emulator and the ingest adapter


def _aws_env(cfg: DemoConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(EMULATOR_CREDENTIALS)
    env.update(AWS_ENDPOINT_URL=cfg.s3_url, AWS_REGION=cfg.region, AWS_DEFAULT_REGION=cfg.region,
               RAW_BUCKET=cfg.raw_bucket, PYTHONPATH=str(REPO))
    return env


def ensure_bucket(cfg: DemoConfig) -> None:
    import boto3  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415

    s3 = boto3.client("s3", endpoint_url=cfg.s3_url, region_name=cfg.region,
                      aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    try:
        s3.head_bucket(Bucket=cfg.raw_bucket)
    except ClientError:
        s3.create_bucket(Bucket=cfg.raw_bucket,
                         CreateBucketConfiguration={"LocationConstraint": cfg.region})


def step_ingest(cfg: DemoConfig, progress: Progress) -> bool:
    """Start moto (unless S3_ENDPOINT) and the ingest adapter. Returns whether ingest is up."""
    progress.step(3, "raw bucket on an S3 emulator and the ingest HTTP adapter at /clickstream")
    if cfg.s3_endpoint:
        progress.info(f"S3 emulator: {cfg.s3_endpoint} (S3_ENDPOINT)")
    else:
        moto = managed(cfg, "s3")
        log = cfg.logs_dir / "moto.log"
        if not moto.running_pid() and _port_open(cfg.s3_port):
            raise DemoError(f"127.0.0.1:{cfg.s3_port} is in use; set DEMO_S3_PORT to a free port")
        pid = moto.start([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(cfg.s3_port)],
                         _aws_env(cfg), log)
        _wait_http(f"{cfg.s3_url}/moto-api/", 60, moto, log)
        progress.info(f"S3 emulator: moto server at {cfg.s3_url} (pid {pid})")
    ensure_bucket(cfg)
    progress.info(f"raw bucket: s3://{cfg.raw_bucket}")
    if not (REPO / "localplatform" / "ingest_http.py").exists() or \
            not (REPO / "functions" / "ingest" / "handler.py").exists():
        progress.skip(3, "the ingest adapter is missing (localplatform/ingest_http.py, "
                         "functions/ingest/handler.py): no events can be sent")
        return False
    adapter = managed(cfg, "ingest")
    log = cfg.logs_dir / "ingest.log"
    if not adapter.running_pid() and _port_open(cfg.ingest_port):
        raise DemoError(f"127.0.0.1:{cfg.ingest_port} is in use; set DEMO_INGEST_PORT to a free port")
    pid = adapter.start([sys.executable, "-m", "localplatform.ingest_http", "--host", "127.0.0.1",
                         "--port", str(cfg.ingest_port)], _aws_env(cfg), log)
    _wait_http(cfg.ingest_url, 60, adapter, log)
    progress.done(f"ingest at {cfg.ingest_url} (pid {pid})")
    return True


# --------------------------------------------------------------------------------------------
# Steps 4 and 5: traffic, with the ETL on its schedule


@dataclass
class Warehouse:
    """How the ETL (writer) and the summary (reader) reach the warehouse."""

    etl: dict[str, str]             # DWH_* for the ETL
    summary_dsn: str                # for the summary's counts
    label: str

    @classmethod
    def for_demo(cls, cfg: DemoConfig, use_dw_host: bool) -> Warehouse:
        from psycopg2.extensions import make_dsn  # noqa: PLC0415

        if use_dw_host:
            etl = {"DWH_HOST": "127.0.0.1", "DWH_PORT": str(cfg.dw_port), "DWH_USER": ETL_LOGIN,
                   "DWH_PASSWORD": read_secret(cfg.secrets_dir / "dw_etl_writer"),
                   "DWH_DATABASE": DW_DATABASE}
            # The reader login may connect from the DW host itself only (pg_hba), as on AWS; the
            # summary reads with the ETL's login, which may SELECT what it writes.
            summary = make_dsn(host="127.0.0.1", port=cfg.dw_port, dbname=DW_DATABASE, user=ETL_LOGIN,
                              password=etl["DWH_PASSWORD"], connect_timeout=10)
            return cls(etl, summary, f"DW container {DW_CONTAINER} at 127.0.0.1:{cfg.dw_port}")
        assert cfg.dwh_dsn
        params = _parse_dsn(cfg.dwh_dsn)
        etl = {"DWH_HOST": params.get("host", "127.0.0.1"), "DWH_PORT": params.get("port", "5432"),
               "DWH_USER": params.get("user", ""), "DWH_PASSWORD": params.get("password", ""),
               "DWH_DATABASE": params.get("dbname", DW_DATABASE)}
        return cls(etl, cfg.dwh_dsn, f"DWH_DSN ({etl['DWH_HOST']}:{etl['DWH_PORT']}/{etl['DWH_DATABASE']})")


def etl_available() -> bool:
    return (REPO / "functions" / "etl" / "__main__.py").exists()


def etl_env(cfg: DemoConfig, wh: Warehouse) -> dict[str, str]:
    env = _aws_env(cfg)
    env.update(wh.etl)
    return env


def _print_etl_run(run: EtlRun) -> None:
    Progress.info(f"[etl] run {run.number}: {run.describe()}")


@dataclass
class TrafficOutcome:
    record: dict | None = None
    sent_now: bool = False
    scheduled_runs: list[EtlRun] = field(default_factory=list)


def _traffic_window_end(cfg: DemoConfig) -> datetime:
    """The window end is fixed on the first run and kept in the state dir: a re-run sends the same events."""
    state_file = cfg.state_dir / "state.json"
    try:
        state = json.loads(state_file.read_text())
        return datetime.fromisoformat(state["window_end"])
    except (OSError, ValueError, KeyError):
        end = traffic.window_end_now()
        state_file.write_text(json.dumps({"window_end": end.isoformat()}) + "\n")
        return end


def step_traffic(cfg: DemoConfig, progress: Progress, scheduler: EtlScheduler | None) -> TrafficOutcome:
    progress.step(4, f"traffic: {cfg.shoppers} simulated shoppers over {cfg.days:g} day(s), seed {cfg.seed}")
    outcome = TrafficOutcome()
    end = _traffic_window_end(cfg)
    catalog = traffic.load_catalog()
    sim = traffic.simulate(catalog, shoppers=cfg.shoppers, days=cfg.days, seed=cfg.seed, window_end=end)
    key = f"seed{cfg.seed}-shoppers{cfg.shoppers}-days{cfg.days:g}-{end:%Y%m%dT%H%MZ}"
    sent_file = cfg.state_dir / "sent" / f"{key}.json"
    if sent_file.exists():
        outcome.record = json.loads(sent_file.read_text())
        shutil.copyfile(sent_file, cfg.record_path)
        progress.info(f"this traffic ({key}) was sent by an earlier run: not sending it again")
        progress.done()
        return outcome
    progress.info(f"{len(sim.batches)} requests, {sum(len(b.events) for b in sim.batches)} events, "
                  f"window {traffic.iso_utc(sim.window_start)} .. {traffic.iso_utc(sim.window_end)}")
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
    outcome.record, outcome.sent_now = rec, True
    rate = len(sim.batches) / max(time.monotonic() - started, 1e-3)
    progress.info(f"accepted {result.accepted}, rejected {result.rejected} "
                  f"({rec['sent']['invalid_events']} deliberately invalid), "
                  f"{result.failed_requests} failed request(s); {rate:.0f} requests/s")
    progress.done(f"record of what was sent: {_rel(cfg.record_path)}")
    if result.failed_requests:
        raise DemoError(f"{result.failed_requests} request(s) failed on the server side; see "
                        f"{_rel(cfg.logs_dir / 'ingest.log')}")
    return outcome


def step_final_etl(cfg: DemoConfig, progress: Progress, scheduler: EtlScheduler | None) -> None:
    progress.step(5, "ETL: once more at the end, as the schedule would")
    if scheduler is None:
        progress.skip(5, "the ETL is missing (functions/etl/__main__.py): nothing is loaded")
        return
    scheduled = len(scheduler.runs)
    progress.info(f"{scheduled} scheduled run(s) while traffic flowed (log: {_rel(scheduler.log_path)})")
    run = scheduler.run_once()
    for _ in range(20):  # an ETL run started elsewhere holds the lock: the final run waits for it
        if not run.skipped:
            break
        time.sleep(3)
        run = scheduler.run_once()
    if not run.ok or run.skipped:
        raise DemoError(f"the final ETL run failed (exit {run.returncode}); last lines of "
                        f"{_rel(scheduler.log_path)}:\n{_tail(scheduler.log_path)}")
    failed = [r.number for r in scheduler.runs if not r.ok]
    if failed:
        progress.info(f"note: scheduled run(s) {failed} failed; the final run succeeded")
    progress.done()


# --------------------------------------------------------------------------------------------
# Step 6: summary


def warehouse_counts(dsn: str) -> dict:
    import psycopg2  # noqa: PLC0415

    queries = {
        "loaded": "SELECT count(*) FROM clickstream_events",
        "loaded_bot": "SELECT count(*) FROM clickstream_events WHERE is_bot",
        "sessions": "SELECT count(*) FROM sessions WHERE NOT is_bot",
        "bot_sessions": "SELECT count(*) FROM sessions WHERE is_bot",
        "purchase_sessions": "SELECT coalesce(sum(sessions_purchase), 0) FROM agg_funnel_daily",
        "funnel_sessions": "SELECT coalesce(sum(sessions), 0) FROM agg_funnel_daily",
        "etl_rejected": "SELECT count(*) FROM etl_rejects",
        "etl_runs": "SELECT count(*) FROM etl_runs",
        "etl_failed_runs": "SELECT count(*) FROM etl_runs WHERE status = 'failed'",
    }
    with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        out = {}
        for key, query in queries.items():
            cur.execute(query)
            out[key] = int(cur.fetchone()[0])
        return out


def dashboard_answers(cfg: DemoConfig, timeout: float = 90) -> bool:
    """Whether Shiny Server answers 200 at the dashboard URL (it may still be restarting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(cfg.dashboard_url, timeout=30) as resp:  # noqa: S310 -- loopback
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(2)
    return False


def step_summary(cfg: DemoConfig, progress: Progress, outcome: TrafficOutcome | None,
                 wh: Warehouse | None, dashboards: bool) -> dict:
    progress.step(6, "summary")
    rec = outcome.record if outcome else None
    summary: dict = {}
    rows: list[tuple[str, str]] = []
    if rec:
        sent, resp = rec["sent"], rec.get("responses", {})
        rows += [
            ("events sent", f"{sent['events']} in {sent['requests']} requests ({sent['invalid_events']} "
                            f"deliberately invalid, {sent['bot_events']} from bots)"),
            ("accepted by ingest", f"{resp.get('accepted', '?')}; "
                                   f"rejected by ingest {resp.get('rejected', '?')}"),
        ]
        summary["record"] = {"events": sent["events"], "accepted": resp.get("accepted"),
                             "rejected": resp.get("rejected")}
    counts = None
    if wh is not None and etl_available():
        try:
            counts = warehouse_counts(wh.summary_dsn)
        except Exception as exc:  # summary only: say why, never fail the whole demo on it
            progress.info(f"warehouse not readable for the summary: {type(exc).__name__}: {exc}")
    if counts:
        summary["warehouse"] = counts
        rows += [
            ("loaded into the DW", f"{counts['loaded']} events ({counts['loaded_bot']} from bots); "
                                   f"rejected by the ETL {counts['etl_rejected']}; "
                                   f"{counts['etl_runs']} ETL run(s), {counts['etl_failed_runs']} failed"),
            ("sessions", f"{counts['sessions']} shopper sessions, {counts['bot_sessions']} bot sessions"
                         + (f" (sent: {rec['sessions']['human']} + {rec['sessions']['bot']})"
                            if rec else "")),
        ]
        if counts["funnel_sessions"]:
            rate = counts["purchase_sessions"] / counts["funnel_sessions"]
            rows.append(("conversion rate", f"{rate:.1%} ({counts['purchase_sessions']} of "
                                            f"{counts['funnel_sessions']} shopper sessions purchased)"))
    elif rec:
        rows.append(("conversion rate (sent)", f"{rec['conversion_rate']:.1%} of "
                                               f"{rec['sessions']['human']} shopper sessions"))
    rows.append(("warehouse", wh.label if wh else "none"))
    if dashboards:
        rows.append(("dashboard", cfg.dashboard_url))
    elif cfg.dwh_dsn:
        rows.append(("dashboard", "not available (DWH_DSN set: the dashboards live on the DW host)"))
    else:
        rows.append(("dashboard", f"NOT ANSWERING at {cfg.dashboard_url}; see `podman exec {DW_CONTAINER} "
                                  "journalctl -u shiny-server` and /var/log/shiny-server* there"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        progress.info(f"{key:<{width}}  {value}")
    if progress.skipped:
        progress.info("skipped: " + "; ".join(progress.skipped))
    return summary


# --------------------------------------------------------------------------------------------
# Commands


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def cmd_up(cfg: DemoConfig) -> int:
    progress = Progress()
    ensure_state_dir(cfg)
    ensure_secrets(cfg)
    print(f"make demo: state in {_rel(cfg.state_dir)}/ (`make demo-down` removes everything it starts)")
    step_templates(cfg, progress)
    use_dw_host = step_hosts(cfg, progress)
    if cfg.dwh_dsn:
        step_migrations_on_dsn(cfg, progress)
    wh = Warehouse.for_demo(cfg, use_dw_host)
    # A scheduler left on by an earlier KEEP_RUNNING=1 run would overlap with this run's own.
    managed(cfg, "scheduler").stop()
    ingest_up = step_ingest(cfg, progress)
    scheduler = None
    if etl_available():
        scheduler = EtlScheduler(cfg.etl_interval, etl_env(cfg, wh), cfg.logs_dir / "etl.log",
                                 on_run=_print_etl_run)
    outcome = None
    if ingest_up:
        outcome = step_traffic(cfg, progress, scheduler)
    else:
        progress.step(4, "traffic")
        progress.skip(4, "no ingest endpoint to send to (see step 3)")
    step_final_etl(cfg, progress, scheduler)
    shiny_ready = use_dw_host and dashboard_answers(cfg)
    step_summary(cfg, progress, outcome, wh, shiny_ready)
    if cfg.keep_running and scheduler is not None:
        pid = managed(cfg, "scheduler").start(
            [sys.executable, "-m", "localplatform.scheduler", "--interval", f"{cfg.etl_interval:g}",
             "--log", str(cfg.logs_dir / "etl.log")], etl_env(cfg, wh), cfg.logs_dir / "scheduler.log")
        print(f"\nKEEP_RUNNING=1: ingest stays at {cfg.ingest_url}, the ETL runs every "
              f"{cfg.etl_interval:g}s (pid {pid}, log {_rel(cfg.logs_dir / 'etl.log')}).")
    else:
        for name in ("ingest", "s3"):
            managed(cfg, name).stop()
        print("\nIngest and the S3 emulator are stopped (KEEP_RUNNING=1 keeps them and the ETL schedule on);"
              " the hosts keep running.")
    elapsed = time.monotonic() - progress.started
    print(f"make demo: finished in {elapsed:.0f}s; `make demo-down` removes it all.")
    return 0


def cmd_down(cfg: DemoConfig) -> int:
    print("make demo-down: removing what the demo started")
    for name in PROCESS_NAMES:
        if managed(cfg, name).stop():
            print(f"  stopped {name}")
    for name in (DW_CONTAINER, OLTP_CONTAINER):
        state = _container_state(name)
        if state is None:
            continue
        if not state[1]:
            print(f"  left {name}: not started by the demo (no label {DEMO_LABEL}=1)")
            continue
        _podman("rm", "--force", "--time", "5", name)
        print(f"  removed container {name}")
    if cfg.state_dir.exists():
        shutil.rmtree(cfg.state_dir)
        print(f"  removed {_rel(cfg.state_dir)}/")
    print("make demo-down: done")
    return 0


def cmd_status(cfg: DemoConfig) -> int:
    for name in (DW_CONTAINER, OLTP_CONTAINER):
        state = _container_state(name)
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
    _print_etl_run(run)
    return 0 if run.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localplatform.demo", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("up", "down", "status", "etl"))
    args = parser.parse_args(argv)
    try:
        cfg = DemoConfig.from_env(os.environ)
        return {"up": cmd_up, "down": cmd_down, "status": cmd_status, "etl": cmd_etl}[args.command](cfg)
    except (DemoError, traffic.TrafficError) as exc:
        print(f"\nmake demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmake demo: interrupted; `make demo-down` removes what was started", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
