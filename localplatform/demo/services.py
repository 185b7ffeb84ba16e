"""The local stand-ins for AWS: the S3 emulator (moto server) with the raw bucket, and the ingest
HTTP adapter (localplatform.ingest_http) in front of the real ingest handler.
"""

from __future__ import annotations

import os
import sys

from functions import event_time
from localplatform.demo.config import EMULATOR_CREDENTIALS, REPO, VENV_BIN, DemoConfig, DemoError
from localplatform.demo.processes import managed, port_open, wait_http


def aws_env(cfg: DemoConfig) -> dict[str, str]:
    """The environment the ingest adapter and the ETL get: the raw bucket on the emulator."""
    env = dict(os.environ)
    env.update(EMULATOR_CREDENTIALS)
    env.update(AWS_ENDPOINT_URL=cfg.s3_url, AWS_REGION=cfg.region, AWS_DEFAULT_REGION=cfg.region,
               RAW_BUCKET=cfg.raw_bucket, PYTHONPATH=str(REPO))
    # The traffic of DAYS days is sent now: ingest and the ETL must accept events that old
    # (functions/event_time.py; the default window keeps 7 days).
    behind = max(7 * 86400, int((cfg.days + 1) * 86400))
    env.setdefault(event_time.BEHIND_ENV, str(behind))
    return env


def start_s3(cfg: DemoConfig) -> str:
    """moto in server mode on DEMO_S3_PORT (unless S3_ENDPOINT names one); what is serving S3."""
    if cfg.s3_endpoint:
        return f"S3 emulator: {cfg.s3_endpoint} (S3_ENDPOINT)"
    moto = managed(cfg, "s3")
    log = cfg.logs_dir / "moto.log"
    if not moto.running_pid() and port_open(cfg.s3_port):
        raise DemoError(f"127.0.0.1:{cfg.s3_port} is in use; set DEMO_S3_PORT to a free port")
    pid = moto.start([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(cfg.s3_port)],
                     aws_env(cfg), log)
    wait_http(f"{cfg.s3_url}/moto-api/", 60, moto, log)
    return f"S3 emulator: moto server at {cfg.s3_url} (pid {pid})"


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


def ingest_available() -> bool:
    return (REPO / "localplatform" / "ingest_http.py").exists() and \
        (REPO / "functions" / "ingest" / "handler.py").exists()


def start_ingest(cfg: DemoConfig) -> int:
    """The ingest adapter on 127.0.0.1:DEMO_INGEST_PORT, once it answers; its pid."""
    adapter = managed(cfg, "ingest")
    log = cfg.logs_dir / "ingest.log"
    if not adapter.running_pid() and port_open(cfg.ingest_port):
        raise DemoError(f"127.0.0.1:{cfg.ingest_port} is in use; set DEMO_INGEST_PORT to a free port")
    pid = adapter.start([sys.executable, "-m", "localplatform.ingest_http", "--host", "127.0.0.1",
                         "--port", str(cfg.ingest_port)], aws_env(cfg), log)
    wait_http(cfg.ingest_url, 60, adapter, log)
    return pid
