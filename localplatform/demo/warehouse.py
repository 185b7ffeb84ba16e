"""How the ETL and the summary reach the warehouse (the DW container or DWH_DSN), and the
summary's figures, read through the dashboard.* functions (figures.sql).

On the DW host the summary reads as the dashboards' login, from inside the host (`podman exec
psql`): that login may connect from the DW host only (pg_hba), as on AWS, and only it may call
dashboard.*. With DWH_DSN it reads as the DSN's user, who ran the migrations.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path

from localplatform.demo import shop
from localplatform.demo.config import (
    DW_CONTAINER,
    DW_DATABASE,
    ETL_LOGIN,
    READER_LOGIN,
    REPO,
    DemoConfig,
    DemoError,
    parse_dsn,
)
from localplatform.demo.containers import podman
from localplatform.demo.services import aws_env
from localplatform.demo.state import read_secret

FIGURES_SQL = resources.files(__package__).joinpath("figures.sql").read_text(encoding="utf-8")
WALK_SQL = resources.files(__package__).joinpath("walk.sql").read_text(encoding="utf-8")
QUALITY_SQL = resources.files(__package__).joinpath("quality.sql").read_text(encoding="utf-8")
#: A psql variable as a quoted literal; with DWH_DSN the same query runs through psycopg2's parameters.
_PSQL_VARIABLE = re.compile(r":'(\w+)'")


@dataclass(frozen=True)
class Warehouse:
    """How the ETL (writer) and the summary (reader) reach the warehouse."""

    etl: dict[str, str]               # DWH_* for the ETL
    label: str
    dsn: str | None = None            # DWH_DSN: the summary reads there
    reader_secret: Path | None = None  # the DW host: the summary reads there with this password

    @classmethod
    def for_demo(cls, cfg: DemoConfig, use_dw_host: bool) -> Warehouse:
        if use_dw_host:
            etl = {"DWH_HOST": "127.0.0.1", "DWH_PORT": str(cfg.dw_port), "DWH_USER": ETL_LOGIN,
                   "DWH_PASSWORD": read_secret(cfg.secrets_dir / "dw_etl_writer"),
                   "DWH_DATABASE": DW_DATABASE}
            return cls(etl, f"DW container {DW_CONTAINER} at 127.0.0.1:{cfg.dw_port}",
                       reader_secret=cfg.secrets_dir / "dw_dashboard_reader")
        assert cfg.dwh_dsn
        params = parse_dsn(cfg.dwh_dsn)
        etl = {"DWH_HOST": params.get("host", "127.0.0.1"), "DWH_PORT": params.get("port", "5432"),
               "DWH_USER": params.get("user", ""), "DWH_PASSWORD": params.get("password", ""),
               "DWH_DATABASE": params.get("dbname", DW_DATABASE)}
        return cls(etl, f"DWH_DSN ({etl['DWH_HOST']}:{etl['DWH_PORT']}/{etl['DWH_DATABASE']})",
                   dsn=cfg.dwh_dsn)

    def figures(self) -> dict[str, int | float]:
        """Events loaded (and from bots), shopper sessions, purchasing sessions, ETL rejects, runs
        and failed runs, booked orders and revenue beside tracked revenue, as the dashboards count
        them (revenues as floats, counts as ints)."""
        return {key: float(value) if key.endswith("_revenue") else int(value)
                for key, value in json.loads(self._read(FIGURES_SQL)).items()}

    def walk_figures(self, window_end: datetime, days: list[date], order_ids: list[str]) -> dict[str, int]:
        """What the warehouse holds of the shop walk, which happened after the traffic window:
        the events of the hours from `window_end` on and the sessions that started on the walk's
        `days` (dashboard.activity_hourly, activity_daily: the caller takes the generator's own
        sessions of those days off), and how many of its orders have a tracked purchase
        (dashboard.tracked_purchases)."""
        if window_end.tzinfo is None:
            raise ValueError("window_end must carry a time zone")
        params = {"from": min(days).isoformat(), "to": max(days).isoformat(),
                  "window_end": window_end.isoformat(),
                  "order_ids": "{" + ",".join(str(uuid.UUID(i)) for i in order_ids) + "}"}
        return {k: int(v) for k, v in json.loads(self._read(WALK_SQL, params)).items()}

    def quality(self, late_day: date | None, late_run: int | None) -> dict:
        """The open anomalies (dashboard.anomalies, every day with data), the late batch's
        restatements (dashboard.restatements of `late_day` by run `late_run`) and the number of
        restated figures in all."""
        params = {"late_day": (late_day or date(1970, 1, 1)).isoformat(),
                  "late_run": "" if late_run is None else str(int(late_run))}
        return json.loads(self._read(QUALITY_SQL, params))

    def _read(self, query: str, params: dict[str, str] | None = None) -> str:
        """The single value `query` returns; its parameters are psql variables (:'name')."""
        params = params or {}
        if self.dsn:
            import psycopg2  # noqa: PLC0415 -- psycopg2 only when the warehouse is read from here

            with contextlib.closing(psycopg2.connect(self.dsn)) as conn, conn.cursor() as cur:
                cur.execute(_PSQL_VARIABLE.sub(r"%(\1)s", query), params or None)
                return cur.fetchone()[0]
        assert self.reader_secret is not None
        # `-e PGPASSWORD` without a value: podman passes on its own variable, so the password
        # is never on a command line.
        variables = [arg for name, value in params.items() for arg in ("-v", f"{name}={value}")]
        proc = podman("exec", "-i", "-e", "PGPASSWORD", DW_CONTAINER,
                      "psql", "-h", "127.0.0.1", "-U", READER_LOGIN, "-d", DW_DATABASE,
                      "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *variables, "-f", "-",
                      stdin_text=query, env={"PGPASSWORD": read_secret(self.reader_secret)},
                      check=False, timeout=60)
        if proc.returncode != 0:
            raise DemoError(f"psql on {DW_CONTAINER} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout.strip()


def etl_available() -> bool:
    return (REPO / "functions" / "etl" / "__main__.py").exists()


def etl_env(cfg: DemoConfig, wh: Warehouse) -> dict[str, str]:
    """The environment the ETL runs with, as the Lambda gets it: the raw bucket, DWH_*, and the
    shop's OLTP_* when its host runs (without them the ETL skips booked revenue and says so)."""
    env = aws_env(cfg)
    env.update(wh.etl)
    if shop.available():
        env.update(shop.etl_env(cfg))
    return env
