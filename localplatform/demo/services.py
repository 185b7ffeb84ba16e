"""The local stand-ins for AWS: moto in server mode, holding the raw bucket (S3) and the hosts'
passwords (Parameter Store), and the ingest HTTP adapter (localplatform.ingest_http) in front of
the real ingest handler.
"""

from __future__ import annotations

import os
import sys

from functions import event_time
from localplatform.demo.config import (
    EMULATOR_CREDENTIALS,
    HOST_SECRETS,
    PLATFORM_ENV,
    REPO,
    DemoConfig,
    DemoError,
)
from localplatform.demo.processes import managed, port_open, wait_http
from localplatform.demo.progress import Progress
from localplatform.demo.state import read_secret
from stacks.params import dw_password_parameter_name, oltp_password_parameter_name


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


def moto_command(cfg: DemoConfig, hosts_gateway: str | None) -> list[str]:
    """moto in server mode on 127.0.0.1:DEMO_S3_PORT and, for the podman hosts, on their bridge's
    gateway (the address the containers reach the machine at; nothing outside the machine does)."""
    hosts = ["127.0.0.1"] + ([hosts_gateway] if hosts_gateway else [])
    return [sys.executable, "-m", "localplatform.moto_server", "--port", str(cfg.s3_port),
            *(arg for host in hosts for arg in ("--host", host))]


def start_moto(cfg: DemoConfig, hosts_gateway: str | None = None) -> int:
    """Start moto (or keep the one running); with `hosts_gateway`, it must listen there too. Its pid."""
    moto = managed(cfg, "s3")
    log = cfg.logs_dir / "moto.log"
    cmd = moto_command(cfg, hosts_gateway)
    running = moto.running_pid()
    if running and hosts_gateway and (moto.read() or {}).get("cmd") != cmd:
        # Started before the hosts' network was known (or for another one): again, for both.
        Progress.info(f"moto (pid {running}) does not listen on {hosts_gateway}: restarting it")
        moto.stop()
        running = None
    if not running and port_open(cfg.s3_port):
        raise DemoError(f"127.0.0.1:{cfg.s3_port} is in use; set DEMO_S3_PORT to a free port")
    pid = moto.start(cmd, aws_env(cfg), log)
    wait_http(f"http://127.0.0.1:{cfg.s3_port}/moto-api/", 60, moto, log)
    return pid


def ssm_url(cfg: DemoConfig, hosts_gateway: str) -> str:
    """Where the hosts reach the Parameter Store stand-in."""
    return f"http://{hosts_gateway}:{cfg.s3_port}"


def parameter_name(host_role: str, login: str) -> str:
    """The SSM parameter of a login's password, named as the stacks name it (platform_env local)."""
    name = dw_password_parameter_name if host_role == "dw" else oltp_password_parameter_name
    return name(PLATFORM_ENV, login)


def put_host_secrets(cfg: DemoConfig, hosts_gateway: str) -> str:
    """moto on the hosts' gateway too, each generated password of .demo/secrets/ in it as a
    SecureString (the hosts read their own there, as on AWS); the stand-in's URL for the hosts."""
    import boto3  # noqa: PLC0415

    start_moto(cfg, hosts_gateway)
    ssm = boto3.client("ssm", endpoint_url=f"http://127.0.0.1:{cfg.s3_port}", region_name=cfg.region,
                       aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    for secret, (host_role, login) in HOST_SECRETS.items():
        ssm.put_parameter(Name=parameter_name(host_role, login), Value=read_secret(cfg.secrets_dir / secret),
                          Type="SecureString", Overwrite=True,
                          Description=f"Password of the demo's {login} login ({host_role} host)")
    return ssm_url(cfg, hosts_gateway)


def start_s3(cfg: DemoConfig) -> str:
    """The raw bucket's S3: S3_ENDPOINT when set, else our moto on DEMO_S3_PORT (the one step 2
    started for the hosts' passwords, or a new one); what is serving S3."""
    if cfg.s3_endpoint:
        return f"S3 emulator: {cfg.s3_endpoint} (S3_ENDPOINT)"
    pid = start_moto(cfg)
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
