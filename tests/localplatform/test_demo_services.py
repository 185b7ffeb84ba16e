"""The demo's AWS stand-in (localplatform.demo.services, localplatform.moto_server): one moto on
the loopback and on the hosts' gateway, one state, with the hosts' passwords as SecureStrings
under the names the stacks give them, where the roles' defaults look for them."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from localplatform.demo import services
from localplatform.demo.config import HOST_SECRETS, PLATFORM_ENV, DemoConfig, DemoError
from localplatform.demo.processes import managed
from localplatform.demo.state import ensure_secrets, ensure_state_dir, read_secret
from stacks.params import password_parameters
from tests.support.net import free_port

# Another loopback address stands in for the podman bridge's gateway (the kernel answers on all of 127/8).
GATEWAY = "127.0.0.2"


@pytest.fixture
def cfg(tmp_path: Path) -> DemoConfig:
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path / "state"), "DEMO_S3_PORT": str(free_port())})
    ensure_state_dir(cfg)
    ensure_secrets(cfg)
    return cfg


def ssm_at(url: str):
    return boto3.client("ssm", endpoint_url=url, region_name="ap-southeast-1",
                        aws_access_key_id="demo", aws_secret_access_key="demo")


@pytest.mark.slow
def test_the_hosts_read_the_demo_s_passwords_at_their_gateway(cfg: DemoConfig):
    try:
        url = services.put_host_secrets(cfg, GATEWAY)
        assert url == f"http://{GATEWAY}:{cfg.s3_port}"
        ssm = ssm_at(url)  # what a host reaches
        for secret, (host_role, login) in HOST_SECRETS.items():
            found = ssm.get_parameter(Name=services.parameter_name(host_role, login), WithDecryption=True)
            assert found["Parameter"]["Type"] == "SecureString"
            assert found["Parameter"]["Value"] == read_secret(cfg.secrets_dir / secret)
        # The names are the ones `deploy` creates in an environment (and the roles' defaults read).
        stacks_names = {name for name, _ in password_parameters(PLATFORM_ENV)}
        assert {services.parameter_name(*v) for v in HOST_SECRETS.values()} == stacks_names
        # One state: the raw bucket made on the loopback (step 3) is there for the hosts' address too.
        pid = services.start_moto(cfg)
        assert managed(cfg, "s3").running_pid() == pid, "step 3 reuses the moto step 2 started"
        s3 = boto3.client("s3", endpoint_url=cfg.s3_url, region_name=cfg.region,
                          aws_access_key_id="demo", aws_secret_access_key="demo")
        services.ensure_bucket(cfg)
        assert cfg.raw_bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        # Idempotent: a second run puts the same values again.
        assert services.put_host_secrets(cfg, GATEWAY) == url
        assert managed(cfg, "s3").running_pid() == pid
    finally:
        managed(cfg, "s3").stop()


@pytest.mark.slow
def test_a_moto_started_without_the_gateway_is_restarted_with_it(cfg: DemoConfig):
    try:
        first = services.start_moto(cfg)
        with pytest.raises(Exception):  # noqa: B017 -- nothing listens on the gateway yet
            ssm_at(f"http://{GATEWAY}:{cfg.s3_port}").describe_parameters()
        services.put_host_secrets(cfg, GATEWAY)
        assert managed(cfg, "s3").running_pid() not in (None, first)
        assert ssm_at(f"http://{GATEWAY}:{cfg.s3_port}").describe_parameters()["Parameters"]
    finally:
        managed(cfg, "s3").stop()


def test_a_port_in_use_is_named(cfg: DemoConfig, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(services, "port_open", lambda port: True)
    with pytest.raises(DemoError, match=f"127.0.0.1:{cfg.s3_port} is in use; set DEMO_S3_PORT"):
        services.start_moto(cfg, GATEWAY)
