"""The demo's options, read from the environment, and the fixed names it uses.

Every option is an environment variable (or a make variable: `make demo SHOPPERS=500`); a bad
value is a DemoError naming the variable. docs/demo.md lists them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
#: Containers the demo creates carry this label (value 1); `down` removes only those.
DEMO_LABEL = "io.clickstream.demo"
#: The local hosts; inventories/local names them too.
DW_CONTAINER = "clickstream-dw"
OLTP_CONTAINER = "clickstream-oltp"
DW_DATABASE = "clickstream_dw"
#: The warehouse logins roles/postgres_dw creates: the ETL's, and the dashboards' (read-only).
ETL_LOGIN = "etl_writer"
READER_LOGIN = "dashboard_reader"
#: The shop's database and logins roles/oltp creates: the app's (the checkout writes the orders)
#: and the analytics one (the ETL reads orders and order_items for booked revenue).
OLTP_DATABASE = "shop"
SHOP_APP_LOGIN = "shop_app"
OLTP_ANALYTICS_LOGIN = "analytics_reader"
#: The local hosts' platform_env (inventories/local): their SSM parameters are /clickstream/local/...
PLATFORM_ENV = "local"
#: Files under <state>/secrets/, each a login's password: (host role, login). The demo puts each in
#: its Parameter Store stand-in under the name the stacks give it, where the hosts read it.
HOST_SECRETS = {
    "dw_etl_writer": ("dw", ETL_LOGIN),
    "dw_dashboard_reader": ("dw", READER_LOGIN),
    "oltp_shop_app": ("oltp", SHOP_APP_LOGIN),
    "oltp_analytics_reader": ("oltp", OLTP_ANALYTICS_LOGIN),
}
SECRET_FILES = tuple(HOST_SECRETS)
#: moto accepts any credentials; these placeholders only keep botocore from looking for real ones.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"}
#: podman's settings for machines like this one (runc, cgroupfs); an exported CONTAINERS_CONF wins.
CONTAINERS_CONF = REPO / "ci" / "containers.conf"


class DemoError(Exception):
    """A step cannot go on; the message says what is wrong and what to do."""


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


def _bool_env(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise DemoError(f"{name}={raw!r} is not 1 or 0")


def _hour_env(env: Mapping[str, str], name: str) -> datetime | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise DemoError(f"{name}={raw!r} is not an RFC 3339 time") from None
    if value.tzinfo is None or value.minute or value.second or value.microsecond:
        raise DemoError(f"{name}={raw!r} must be a whole hour with a UTC offset, e.g. 2026-03-01T00:00Z")
    if value > datetime.now(UTC):
        raise DemoError(f"{name}={raw!r} is in the future")
    return value.astimezone(UTC)


def _port_env(env: Mapping[str, str], name: str, default: int) -> int:
    port = _int_env(env, name, default)
    if port > 65535:
        raise DemoError(f"{name}={port} is not a TCP port")
    return port


@dataclass(frozen=True)
class DemoConfig:
    state_dir: Path
    shoppers: int = 1600
    days: float = 4
    seed: int = 7
    keep_running: bool = False
    dwh_dsn: str | None = None
    etl_interval: float = 15
    s3_endpoint: str | None = None
    dw_port: int = 15432
    oltp_port: int = 15433
    shiny_port: int = 13838
    s3_port: int = 15000
    ingest_port: int = 18080
    shop_port: int = 18081
    walk_sessions: int = 5
    outage: bool = True        # an hour with a tenth of the traffic (traffic.outage_hour)
    late_batch: bool = True    # a few sessions of an earlier day, sent after an ETL run has loaded it
    window_end: datetime | None = None  # the traffic window's end; None: the current UTC hour (state.py)
    raw_bucket: str = "clickstream-s3-ingest"
    region: str = "ap-southeast-1"
    image: str = "localhost/debian-systemd:bookworm"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DemoConfig:
        state = Path(env.get("DEMO_STATE_DIR") or REPO / ".demo")
        days = _float_env(env, "DAYS", cls.days)
        if days > 30:
            raise DemoError(f"DAYS={days:g}: at most 30 days of traffic")
        dsn = env.get("DWH_DSN", "").strip() or None
        if dsn:
            parse_dsn(dsn)  # fail early on a malformed DSN
        endpoint = env.get("S3_ENDPOINT", "").strip() or None
        if endpoint and not endpoint.startswith(("http://", "https://")):
            raise DemoError(f"S3_ENDPOINT={endpoint!r} must be an http(s) URL")
        return cls(
            state_dir=state.resolve(),
            shoppers=_int_env(env, "SHOPPERS", cls.shoppers),
            days=days,
            seed=_int_env(env, "SEED", cls.seed, minimum=0),
            keep_running=env.get("KEEP_RUNNING", "").strip().lower() in {"1", "true", "yes", "on"},
            dwh_dsn=dsn,
            etl_interval=_float_env(env, "ETL_INTERVAL", cls.etl_interval),
            s3_endpoint=endpoint,
            dw_port=_port_env(env, "DEMO_DW_PORT", cls.dw_port),
            oltp_port=_port_env(env, "DEMO_OLTP_PORT", cls.oltp_port),
            shiny_port=_port_env(env, "DEMO_SHINY_PORT", cls.shiny_port),
            s3_port=_port_env(env, "DEMO_S3_PORT", cls.s3_port),
            ingest_port=_port_env(env, "DEMO_INGEST_PORT", cls.ingest_port),
            shop_port=_port_env(env, "DEMO_SHOP_PORT", cls.shop_port),
            walk_sessions=_int_env(env, "WALK_SESSIONS", cls.walk_sessions, minimum=0),
            outage=_bool_env(env, "OUTAGE", cls.outage),
            late_batch=_bool_env(env, "LATE_BATCH", cls.late_batch),
            window_end=_hour_env(env, "WINDOW_END"),
            raw_bucket=env.get("RAW_BUCKET") or cls.raw_bucket,
            region=env.get("AWS_REGION") or cls.region,
            image=env.get("DEMO_IMAGE") or cls.image,
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
    def shop_url(self) -> str:
        return f"http://127.0.0.1:{self.shop_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.shiny_port}/"

    @property
    def record_path(self) -> Path:
        return self.state_dir / "traffic.json"

    @property
    def walk_record_path(self) -> Path:
        return self.state_dir / "walk.json"


def parse_dsn(dsn: str) -> dict[str, str]:
    """The parts of a libpq DSN; a DemoError that does not quote it when it is malformed."""
    from psycopg2.extensions import parse_dsn as libpq_parse  # noqa: PLC0415 -- only when a DSN is used

    try:
        return libpq_parse(dsn)
    except Exception as exc:
        # psycopg2's message may quote the DSN, password included: say only what is wrong.
        raise DemoError("DWH_DSN is not a valid libpq connection string or URI") from exc


def tool_env() -> dict[str, str]:
    """The environment for the tools the demo runs (podman, ansible, cfn-lint, moto): the venv's
    bin first on PATH, and podman's settings for this kind of machine unless CONTAINERS_CONF is set."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CONTAINERS_CONF"] = env.get("CONTAINERS_CONF") or str(CONTAINERS_CONF)
    return env
