"""ETL settings from the environment, and the warehouse password (read once per cold start)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields

#: libpq's TCP keepalives on each of the ETL's connections (the warehouse's and the shop's): a
#: server that vanished without closing (a host replaced, a dropped NAT or ENI entry) fails the
#: session after about idle + interval x count = 1 minute of silence instead of the kernel's two
#: hours. The servers probe the ETL the same way (roles/postgresql: tcp_keepalives_*).
TCP_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


class ConfigError(ValueError):
    """The environment is missing or has a wrong setting; the message names it."""


def _setting(env: str, default=MISSING, *, between: tuple[int, int] | None = None):
    """A setting read from ``env`` (blank or unset: ``default``; none: required); an integer
    setting gives the bounds it must lie ``between`` (both included)."""
    return field(default=default, metadata={"env": env, "between": between})


@dataclass(frozen=True)
class Settings:
    dwh_host: str = _setting("DWH_HOST")
    dwh_user: str = _setting("DWH_USER")
    raw_bucket: str = _setting("RAW_BUCKET")
    dwh_port: int = _setting("DWH_PORT", 5432, between=(1, 65535))
    dwh_database: str = _setting("DWH_DATABASE", "clickstream_dw")
    aws_region: str = _setting("AWS_REGION", "ap-southeast-1")
    aws_endpoint_url: str | None = _setting("AWS_ENDPOINT_URL", None)          # emulators only
    dwh_password_param: str | None = _setting("DWH_PASSWORD_PARAM", None)
    #: at least 1: the last loaded hour may still be getting objects (ingest writes into the hour
    #: it receives in), and with 0 a run would list only the hours after it and miss them
    lookback_hours: int = _setting("ETL_LOOKBACK_HOURS", 3, between=(1, 24 * 31))
    max_workers: int = _setting("ETL_MAX_WORKERS", 8, between=(1, 64))
    batch_max_files: int = _setting("ETL_BATCH_MAX_FILES", 500, between=(1, 100_000))
    batch_max_bytes: int = _setting("ETL_BATCH_MAX_BYTES", 256 * 1024 * 1024, between=(1024, 16 * 1024**3))
    #: warehouse connections loading batches side by side (pipeline.load_plan)
    lanes: int = _setting("ETL_LANES", 2, between=(1, 2))
    connect_timeout: int = _setting("DWH_CONNECT_TIMEOUT", 10, between=(1, 300))
    #: a MaxMind-format country database (a path, or s3://bucket/key fetched once per process);
    #: none: sessions have no country and the dashboards say geography is not configured
    geoip_country_db: str | None = _setting("GEOIP_COUNTRY_DB", None)
    #: the shop's database, for booked revenue (functions/etl/orders.py); no host: the step is skipped
    oltp_host: str | None = _setting("OLTP_HOST", None)
    oltp_port: int = _setting("OLTP_PORT", 5432, between=(1, 65535))
    oltp_database: str = _setting("OLTP_DATABASE", "shop")
    oltp_user: str = _setting("OLTP_USER", "analytics_reader")
    oltp_password_param: str | None = _setting("OLTP_PASSWORD_PARAM", None)
    #: the CA of the shop database's certificate: with it sslmode=verify-full, else require
    oltp_sslrootcert: str | None = _setting("OLTP_SSLROOTCERT", None)
    #: orders updated this long before the newest one already loaded are pulled again
    oltp_overlap_seconds: int = _setting("OLTP_OVERLAP_SECONDS", 600, between=(0, 7 * 86400))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = fields(cls)
        missing = [f.metadata["env"] for f in settings if f.default is MISSING and not _text(env, f)]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        values: dict[str, object] = {}
        for f in settings:
            text = _text(env, f)
            if f.metadata["between"]:
                values[f.name] = _integer(f.metadata["env"], text or str(f.default), *f.metadata["between"])
            elif text:
                values[f.name] = text
        return cls(**values)


def _text(env: Mapping[str, str], setting) -> str:
    return (env.get(setting.metadata["env"]) or "").strip()


def _integer(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: not an integer") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value}: must be between {low} and {high}")
    return value


_password_cache: dict[str, str] = {}


def dwh_password(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """DWH_PASSWORD, else the SSM SecureString named by DWH_PASSWORD_PARAM (fetched once per process).

    None when neither is set: libpq then uses PGPASSWORD or ~/.pgpass, as for local runs.
    """
    return _password(settings, "DWH_PASSWORD", "DWH_PASSWORD_PARAM", settings.dwh_password_param, env)


def oltp_password(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """OLTP_PASSWORD (local runs), else the SecureString named by OLTP_PASSWORD_PARAM (once per process)."""
    return _password(settings, "OLTP_PASSWORD", "OLTP_PASSWORD_PARAM", settings.oltp_password_param, env)


def _password(settings: Settings, variable: str, param_variable: str, name: str | None,
              env: Mapping[str, str] | None) -> str | None:
    env = os.environ if env is None else env
    if env.get(variable):
        return env[variable]
    if not name:
        return None
    if name not in _password_cache:
        import boto3  # noqa: PLC0415 - only when the parameter store is used

        ssm = boto3.client("ssm", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        try:
            response = ssm.get_parameter(Name=name, WithDecryption=True)
        except Exception as exc:
            raise ConfigError(f"{param_variable}={name}: cannot read the parameter: {exc}") from exc
        _password_cache[name] = response["Parameter"]["Value"]
    return _password_cache[name]
