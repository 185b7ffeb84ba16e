"""The inventories: inventories/aws against moto's EC2 (server mode), inventories/local as written.

`ansible-inventory` runs as a subprocess, exactly as a user runs it; the amazon.aws.aws_ec2 plugin
is pointed at the moto server through AWS_URL / AWS_ENDPOINT_URL with dummy credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.support.moto import running_moto

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = str(Path(sys.executable).with_name("ansible-inventory"))
REGION = "ap-southeast-1"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with running_moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def aws_env(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("ansible-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_", "EC2_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # dummy credentials for moto
        AWS_DEFAULT_REGION=REGION,
        AWS_URL=moto_endpoint,
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        HOME=str(home),
    )
    return env


def tags(**kv: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in kv.items()]


@pytest.fixture(scope="module")
def instances(moto_endpoint: str, aws_env: dict[str, str]) -> dict[str, str]:
    """Instances tagged as the hosts stack tags them, plus some the inventory must ignore."""
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    image = ec2.describe_images()["Images"][0]["ImageId"]

    def launch(instance_tags: list[dict[str, str]]) -> str:
        spec = {"ResourceType": "instance", "Tags": instance_tags}
        reply = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[spec])
        return reply["Instances"][0]["InstanceId"]

    stack = {"project": "clickstream", "clickstream:stack": "hosts", "clickstream:env": "dev"}
    ids = {
        "oltp": launch(tags(Name="SBW_EC2_WebDB", **stack, **{"clickstream:role": "oltp"})),
        "dw": launch(tags(Name="SBW_EC2_ShinyDWH", **stack, **{"clickstream:role": "dw"})),
        "unrelated": launch(tags(Name="someone-elses-host")),
        "stopped_dw": launch(tags(Name="old-dw", **{"clickstream:role": "dw", "clickstream:env": "dev"})),
    }
    ec2.stop_instances(InstanceIds=[ids["stopped_dw"]])
    for host in ("oltp", "dw"):       # each host's data volume, attached as the hosts stack does
        zone = ec2.describe_instances(InstanceIds=[ids[host]])["Reservations"][0]["Instances"][0][
            "Placement"]["AvailabilityZone"]
        volume = ec2.create_volume(AvailabilityZone=zone, Size=20, VolumeType="gp3")["VolumeId"]
        ec2.attach_volume(InstanceId=ids[host], VolumeId=volume, Device="/dev/sdf")
        ids[f"{host}_volume"] = volume
    return ids


def plain(value: object) -> object:
    """JSON from ansible-inventory with its {"__ansible_unsafe": v} markers replaced by v."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def ansible_inventory(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ANSIBLE_INVENTORY, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_aws_inventory_groups_hosts_by_the_hosts_stack_tags(
    aws_env: dict[str, str], instances: dict[str, str]
) -> None:
    done = ansible_inventory(aws_env, "-i", "inventories/aws", "--list")
    assert done.returncode == 0, done.stderr
    inventory = plain(json.loads(done.stdout))
    hostvars = inventory["_meta"]["hostvars"]

    def members(group: str) -> set[str]:
        return set(inventory.get(group, {}).get("hosts", []))

    assert set(hostvars) == {"SBW_EC2_WebDB", "SBW_EC2_ShinyDWH"}
    assert members("oltp") == {"SBW_EC2_WebDB"}
    assert members("postgres_dw") == {"SBW_EC2_ShinyDWH"}
    assert members("shiny_server") == {"SBW_EC2_ShinyDWH"}
    assert members("agents") == {"SBW_EC2_WebDB", "SBW_EC2_ShinyDWH"}
    assert members("env_dev") == {"SBW_EC2_WebDB", "SBW_EC2_ShinyDWH"}

    oltp, dw = hostvars["SBW_EC2_WebDB"], hostvars["SBW_EC2_ShinyDWH"]
    assert oltp["ansible_host"] == instances["oltp"]
    assert dw["ansible_host"] == instances["dw"]
    for host in (oltp, dw):
        assert host["ansible_aws_ssm_region"] == REGION
        assert host["platform_env"] == "dev"


@pytest.mark.slow
def test_aws_inventory_graph_and_connection_vars(aws_env: dict[str, str], instances: dict[str, str]) -> None:
    graph = ansible_inventory(aws_env, "-i", "inventories/aws", "--graph")
    assert graph.returncode == 0, graph.stderr
    lines = [line.strip(" |-") for line in graph.stdout.splitlines()]
    # Each group header is followed by its hosts.
    for group, expected in {
        "@oltp:": ["SBW_EC2_WebDB"],
        "@postgres_dw:": ["SBW_EC2_ShinyDWH"],
        "@shiny_server:": ["SBW_EC2_ShinyDWH"],
    }.items():
        at = lines.index(group)
        assert lines[at + 1 : at + 1 + len(expected)] == expected
    assert "someone-elses-host" not in graph.stdout
    assert "old-dw" not in graph.stdout

    env = {**aws_env, "CLICKSTREAM_SSM_BUCKET": "dev-clickstream-ssm-xfer-123456789012-ap-southeast-1"}
    host = ansible_inventory(env, "-i", "inventories/aws", "--host", "SBW_EC2_ShinyDWH")
    assert host.returncode == 0, host.stderr
    dw = plain(json.loads(host.stdout))
    assert dw["ansible_connection"] == "amazon.aws.aws_ssm"
    assert dw["ansible_become"] is True
    assert dw["ansible_host"] == instances["dw"]


AWS_VARS_ENV = {"CLICKSTREAM_SSM_BUCKET": "dev-clickstream-ssm-xfer-123456789012-ap-southeast-1",
                "CLICKSTREAM_RAW_BUCKET": "dev-clickstream-s3-ingest-123456789012-ap-southeast-1"}


def show(host: str, variable: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A host's variable as a play would see it (rendered), without contacting the host."""
    adhoc = str(Path(ANSIBLE_INVENTORY).with_name("ansible"))
    return subprocess.run([adhoc, "-i", "inventories/aws", host, "-m", "ansible.builtin.debug",
                           "-a", f"var={variable}"], cwd=REPO, env=environ, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.usefixtures("instances")
def test_aws_hosts_back_up_to_their_own_prefix_of_the_raw_bucket(aws_env: dict[str, str]) -> None:
    """Backups are on (the roles' default) and need the raw bucket: from CLICKSTREAM_RAW_BUCKET,
    else a clear error; each host has its own prefix, the only one its instance role may write."""
    env = {**aws_env, **AWS_VARS_ENV}
    for host, prefix_var, prefix in (("SBW_EC2_ShinyDWH", "postgres_dw_backup_prefix", "backups/dw/"),
                                     ("SBW_EC2_WebDB", "oltp_backup_prefix", "backups/oltp/")):
        bucket_var = prefix_var.replace("_prefix", "_bucket")
        done = show(host, bucket_var, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{bucket_var}: dev-clickstream-s3-ingest-123456789012-ap-southeast-1\n" in done.stdout
        done = show(host, prefix_var, env)
        assert f"{prefix_var}: {prefix}\n" in done.stdout, done.stdout
        unset = show(host, bucket_var, {k: v for k, v in env.items() if k != "CLICKSTREAM_RAW_BUCKET"})
        assert "Set CLICKSTREAM_RAW_BUCKET to the data stack output" in unset.stdout + unset.stderr


@pytest.mark.slow
def test_aws_hosts_find_their_data_volume_by_its_volume_id(aws_env: dict[str, str],
                                                          instances: dict[str, str]) -> None:
    """The volume attached as /dev/sdf, by the link udev makes for an EBS NVMe device."""
    for host, key in (("SBW_EC2_WebDB", "oltp"), ("SBW_EC2_ShinyDWH", "dw")):
        done = show(host, "postgresql_data_device", {**aws_env, **AWS_VARS_ENV})
        assert done.returncode == 0, done.stdout + done.stderr
        serial = instances[f"{key}_volume"].replace("-", "")      # vol-0abc... -> vol0abc...
        link = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{serial}"
        assert f"postgresql_data_device: {link}\n" in done.stdout, done.stdout


def test_local_inventory_matches_the_contract() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    done = ansible_inventory(env, "-i", "inventories/local", "--list")
    assert done.returncode == 0, done.stderr
    inventory = plain(json.loads(done.stdout))
    hostvars = inventory["_meta"]["hostvars"]
    assert set(inventory["oltp"]["hosts"]) == {"oltp"}
    assert set(inventory["postgres_dw"]["hosts"]) == {"dw"}
    assert set(inventory["shiny_server"]["hosts"]) == {"dw"}
    assert set(inventory["agents"]["hosts"]) == {"oltp", "dw"}
    assert hostvars["oltp"]["ansible_host"] == "clickstream-oltp"
    assert hostvars["dw"]["ansible_host"] == "clickstream-dw"
    for host in hostvars.values():
        assert host["ansible_connection"] == "containers.podman.podman"
        assert host["agents_enabled"] is False
    # no S3 for the demo's hosts: their backups are off explicitly (on is the roles' default);
    # no data volume either
    for host in hostvars.values():
        assert "postgresql_data_device" not in host
    assert hostvars["dw"]["postgres_dw_backup_enabled"] is False
    assert hostvars["oltp"]["oltp_backup_enabled"] is False


@pytest.mark.parametrize("inventory", ["inventories/local", "inventories/aws"])
def test_site_playbook_parses_with_each_inventory(inventory: str, aws_env: dict[str, str]) -> None:
    """site.yml, every role it names and the inventory's group_vars load (no hosts contacted)."""
    done = subprocess.run(
        [
            str(Path(ANSIBLE_INVENTORY).with_name("ansible-playbook")),
            "--syntax-check",
            "-i",
            inventory,
            "playbooks/site.yml",
        ],
        cwd=REPO,
        env={**aws_env, "ANSIBLE_ROLES_PATH": str(REPO / "roles")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
