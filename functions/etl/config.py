"""ETL settings from the environment, and the warehouse password (read once per cold start)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULTS = {
    "DWH_PORT": "5432",
    "DWH_DATABASE": "clickstream_dw",
    "AWS_REGION": "ap-southeast-1",
    "ETL_LOOKBACK_HOURS": "3",
    "ETL_MAX_WORKERS": "8",
    "ETL_BATCH_MAX_FILES": "500",
    "ETL_BATCH_MAX_BYTES": str(256 * 1024 * 1024),
    "ETL_LANES": "2",
    "DWH_CONNECT_TIMEOUT": "10",
}


class ConfigError(ValueError):
    """The environment is missing or has a wrong setting; the message names it."""


@dataclass(frozen=True)
class Settings:
    dwh_host: str
    dwh_port: int
    dwh_user: str
    dwh_database: str
    raw_bucket: str
    aws_region: str
    aws_endpoint_url: str | None = None
    dwh_password_param: str | None = None
    lookback_hours: int = 3
    max_workers: int = 8
    batch_max_files: int = 500
    batch_max_bytes: int = 256 * 1024 * 1024
    lanes: int = 2              # warehouse connections loading batches side by side (runner._Pipeline)
    connect_timeout: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return (env.get(name) or DEFAULTS.get(name, "")).strip()

        missing = [n for n in ("DWH_HOST", "DWH_USER", "RAW_BUCKET") if not get(n)]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")

        def integer(name: str, low: int, high: int) -> int:
            text = get(name)
            try:
                value = int(text)
            except ValueError:
                raise ConfigError(f"{name}={text!r}: not an integer") from None
            if not low <= value <= high:
                raise ConfigError(f"{name}={value}: must be between {low} and {high}")
            return value

        return cls(
            dwh_host=get("DWH_HOST"),
            dwh_port=integer("DWH_PORT", 1, 65535),
            dwh_user=get("DWH_USER"),
            dwh_database=get("DWH_DATABASE"),
            raw_bucket=get("RAW_BUCKET"),
            aws_region=get("AWS_REGION"),
            aws_endpoint_url=get("AWS_ENDPOINT_URL") or None,
            dwh_password_param=get("DWH_PASSWORD_PARAM") or None,
            lookback_hours=integer("ETL_LOOKBACK_HOURS", 0, 24 * 31),
            max_workers=integer("ETL_MAX_WORKERS", 1, 64),
            batch_max_files=integer("ETL_BATCH_MAX_FILES", 1, 100_000),
            batch_max_bytes=integer("ETL_BATCH_MAX_BYTES", 1024, 16 * 1024**3),
            lanes=integer("ETL_LANES", 1, 2),
            connect_timeout=integer("DWH_CONNECT_TIMEOUT", 1, 300),
        )


_password_cache: dict[str, str] = {}


def dwh_password(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """DWH_PASSWORD, else the SSM SecureString named by DWH_PASSWORD_PARAM (fetched once per process).

    None when neither is set: libpq then uses PGPASSWORD or ~/.pgpass, as for local runs.
    """
    env = os.environ if env is None else env
    if env.get("DWH_PASSWORD"):
        return env["DWH_PASSWORD"]
    name = settings.dwh_password_param
    if not name:
        return None
    if name not in _password_cache:
        import boto3  # noqa: PLC0415 - only when the parameter store is used

        ssm = boto3.client("ssm", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        try:
            response = ssm.get_parameter(Name=name, WithDecryption=True)
        except Exception as exc:
            raise ConfigError(f"DWH_PASSWORD_PARAM={name}: cannot read the parameter: {exc}") from exc
        _password_cache[name] = response["Parameter"]["Value"]
    return _password_cache[name]
