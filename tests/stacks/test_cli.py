"""python -m stacks build/deploy, the parameters file, and the deploy-time AWS steps (on moto)."""

from __future__ import annotations

import datetime
import json
import os
import stat
import sys
from pathlib import Path

import boto3
import jinja2
import pytest
import yaml
from cryptography import x509
from moto import mock_aws

from stacks.__main__ import (
    DeployError,
    current_debian_ami,
    dangerous_changes,
    ensure_password_parameters,
    ensure_tls_ca,
    main,
    s3_prefix_list_id,
    secrets_key,
    upload_code,
)
from stacks.hosts import DEBIAN_AMI_OWNER
from stacks.params import (
    OLTP_ANALYTICS_LOGIN,
    STACK_ORDER,
    BuildParams,
    ParamsError,
    oltp_password_parameter_name,
    password_parameters,
)
from stacks.tls_ca import CaError, check_ca, new_ca

REGION = "ap-southeast-1"


def write_params(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_build_writes_every_template_and_the_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["build", "--out", str(tmp_path), "--env", "qa"]) == 0
    order = json.loads((tmp_path / "deploy-order.json").read_text())
    assert [e["stack"] for e in order["stacks"]] == list(STACK_ORDER)
    assert order["stacks"][0] == {
        "stack": "network",
        "stack_name": "qa-clickstream-network",
        "template": "network.template.json",
    }
    for stack in STACK_ORDER:
        template = json.loads((tmp_path / f"{stack}.template.json").read_text())
        assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert (
        "deploy in this order: network, data, hosts, ingest, etl, web, monitoring" in capsys.readouterr().out
    )


def test_params_file_sets_parameter_defaults(tmp_path: Path) -> None:
    path = write_params(
        tmp_path,
        {
            "env": "stage",
            "parameters": {"network": {"TrustedOltpCidr": "203.0.113.0/24"}, "etl": {"EtlMemoryMiB": 1024}},
        },
    )
    out = tmp_path / "out"
    assert main(["build", "--out", str(out), "--params", str(path)]) == 0
    network = json.loads((out / "network.template.json").read_text())
    assert network["Parameters"]["TrustedOltpCidr"]["Default"] == "203.0.113.0/24"
    etl = json.loads((out / "etl.template.json").read_text())
    assert etl["Parameters"]["EtlMemoryMiB"]["Default"] == 1024
    assert etl["Resources"]["EtlFunction"]["Properties"]["FunctionName"] == "stage-SBW_Lamda_ETL"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"envv": "x"}, "unknown key(s) ['envv']"),
        ({"env": "Prod!"}, "env 'Prod!'"),
        ({"region": "singapore"}, "not an AWS region name"),
        ({"parameters": {"dns": {}}}, "unknown stack(s) ['dns']"),
        ({"parameters": {"network": {"NoSuch": "1"}}}, "parameters.network: unknown parameter(s) ['NoSuch']"),
        ({"parameters": {"network": {"TrustedOltpCidr": "everyone"}}}, "parameters.network.TrustedOltpCidr"),
        ({"parameters": {"network": {"TrustedOltpCidr": ["a"]}}}, "must be a string or number"),
        ({"parameters": {"data": {"RawBucketVersioning": "On"}}}, "is not one of ['Enabled', 'Suspended']"),
        (
            {"parameters": {"etl": {"EtlMemoryMiB": 64}}},
            "parameters.etl.EtlMemoryMiB: 64 is outside [128, 10240]",
        ),
        (
            {"parameters": {"etl": {"EtlMemoryMiB": "512"}}},
            "parameters.etl.EtlMemoryMiB: '512' is not a number",
        ),
        ({"parameters": {"etl": {"DwUser": "me"}}}, "parameters.etl: unknown parameter(s) ['DwUser']"),
        ([1, 2], "top level must be a JSON object"),
    ],
)
def test_bad_params_file_is_refused_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture, data: object, message: str
) -> None:
    path = write_params(tmp_path, data)
    assert main(["build", "--out", str(tmp_path / "out"), "--params", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err


def test_unreadable_params_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ParamsError, match="not valid JSON"):
        BuildParams.from_file(tmp_path / "bad.json")
    with pytest.raises(ParamsError, match="cannot read"):
        BuildParams.from_file(tmp_path / "missing.json")


def test_deploy_refuses_missing_code_bucket(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["deploy", "--dry-run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "stack ingest: parameter(s) ['LambdaCodeBucket'] have no default" in err
    # The AMI is pinned: no default, and the message says where to get the current id.
    assert "stack hosts: parameter(s) ['AmiId'] have no default" in err
    assert "`python -m stacks ami` prints the current Debian 12 AMI id" in err


def test_deploy_dry_run_prints_the_commands_in_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_params(
        tmp_path,
        {
            "parameters": {
                **{s: {"LambdaCodeBucket": "my-artifacts"} for s in ("ingest", "etl")},
                "hosts": {"AmiId": "ami-0123456789abcdef0"},
            }
        },
    )
    assert main(["deploy", "--dry-run", "--params", str(path), "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    commands = [
        line for line in out.splitlines() if line.startswith("+ aws cloudformation create-change-set")
    ]
    assert [c.split("--stack-name ")[1].split()[0] for c in commands] == [
        f"dev-clickstream-{s}" for s in STACK_ORDER
    ]
    assert all("--capabilities CAPABILITY_IAM" in c for c in commands)
    # The passwords come right after the stack holding their key, before the stacks after it.
    lines = out.splitlines()
    etl = next(i for i, line in enumerate(lines) if "--stack-name dev-clickstream-etl " in line)
    passwords = next(i for i, line in enumerate(lines) if "would create if absent" in line)
    assert etl < passwords < etl + 2
    assert (
        "would create if absent, with alias/dev-clickstream-etl/database-secrets: "
        "/clickstream/dev/dw/etl_writer/password" in out
    )
    assert "/clickstream/dev/oltp/shop_app/password" in out
    assert "/clickstream/dev/oltp/analytics_reader/password" in out


def secrets_key_in_moto(env: str = "dev") -> dict[str, str]:
    """The key and alias the etl stack creates, made directly in moto's KMS."""
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key(Description="stands in for the etl stack's DatabaseSecretsKey")["KeyMetadata"]
    kms.create_alias(AliasName=BuildParams(env=env).secrets_key_alias(), TargetKeyId=key["KeyId"])
    return key


@mock_aws
def test_database_passwords_created_once_and_never_printed() -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    key = secrets_key_in_moto()
    lines: list[str] = []
    created = ensure_password_parameters(ssm, "dev", key, log=lines.append)
    assert created == [
        "/clickstream/dev/dw/etl_writer/password",
        "/clickstream/dev/dw/dashboard_reader/password",
        "/clickstream/dev/oltp/shop_app/password",
        # the ETL's login on the shop's database (booked revenue, issue 17)
        "/clickstream/dev/oltp/analytics_reader/password",
    ]
    values = {}
    for name in created:
        parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        assert parameter["Type"] == "SecureString"
        assert len(parameter["Value"]) >= 40
        values[name] = parameter["Value"]
        assert not any(parameter["Value"] in line for line in lines)
    assert len(set(values.values())) == 4
    # each under the stacks' key, not the AWS-managed aws/ssm
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Path", "Values": ["/clickstream/dev/"], "Option": "Recursive"}]
    )["Parameters"]
    assert sorted((p["Name"], p["KeyId"]) for p in described) == sorted((n, key["Arn"]) for n in created)
    # A second deploy keeps the passwords the warehouse already uses.
    assert ensure_password_parameters(ssm, "dev", key, log=lines.append) == []
    for name, value in values.items():
        assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value
    assert lines[-1] == "SSM parameter /clickstream/dev/oltp/analytics_reader/password: exists, kept"


@mock_aws
def test_passwords_under_another_key_are_re_encrypted_with_the_stacks_key_value_kept() -> None:
    """A deployment from before the key: its SecureStrings are under aws/ssm; the next deploy moves
    them under the key, and the databases' passwords do not change."""
    ssm = boto3.client("ssm", region_name=REGION)
    old = {}
    for name, _ in password_parameters("dev"):
        old[name] = f"old-password-of-{name.split('/')[-2]}"
        ssm.put_parameter(Name=name, Value=old[name], Type="SecureString")  # the default key
    key = secrets_key_in_moto()
    lines: list[str] = []
    assert ensure_password_parameters(ssm, "dev", key, log=lines.append) == []
    for name, value in old.items():
        [described] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])[
            "Parameters"
        ]
        assert described["KeyId"] == key["Arn"], name
        assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value
        assert not any(value in line for line in lines)
    assert lines[0] == (
        "SSM parameter /clickstream/dev/dw/etl_writer/password: exists, value kept, "
        f"re-encrypted with {key['Arn']}"
    )
    # Once moved, a further deploy leaves them alone.
    lines.clear()
    ensure_password_parameters(ssm, "dev", key, log=lines.append)
    assert all(line.endswith(": exists, kept") for line in lines)


@mock_aws
def test_passwords_wait_for_their_key() -> None:
    with pytest.raises(
        DeployError, match="alias/dev-clickstream-etl/database-secrets not found: deploy the etl"
    ):
        secrets_key(boto3.client("kms", region_name=REGION), BuildParams().secrets_key_alias())


@mock_aws
def test_s3_prefix_list_lookup() -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    expected = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3"]}]
    )["PrefixLists"][0]["PrefixListId"]
    assert s3_prefix_list_id(ec2, REGION) == expected


@mock_aws
def test_upload_code_uses_content_addressed_keys(tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    (tmp_path / "lambda-ingest.zip").write_bytes(b"ingest-zip")
    (tmp_path / "lambda-etl.zip").write_bytes(b"etl-zip")
    overrides = upload_code(s3, "artifacts", tmp_path, log=lambda _: None)
    ingest_key = overrides["ingest"]["IngestCodeKey"]
    assert ingest_key.startswith("lambda/lambda-ingest-") and ingest_key.endswith(".zip")
    assert s3.get_object(Bucket="artifacts", Key=ingest_key)["Body"].read() == b"ingest-zip"
    (tmp_path / "lambda-etl.zip").write_bytes(b"etl-zip-v2")
    assert upload_code(s3, "artifacts", tmp_path, log=lambda _: None)["etl"] != overrides["etl"]


def test_deploy_without_the_aws_cli_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["deploy", "--out", str(tmp_path / "t")]) == 2
    assert "the AWS CLI (`aws`) is not on PATH" in capsys.readouterr().err


FAKE_AWS = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_AWS_RECORD"], "a") as record:
    record.write(json.dumps(args) + "\\n")
command = args[1]
stack = args[args.index("--stack-name") + 1] if "--stack-name" in args else ""
if command == "describe-stacks":
    if stack not in os.environ.get("FAKE_AWS_EXISTING", "").split(","):
        sys.stderr.write(f"An error occurred (ValidationError): Stack with id {stack} does not exist")
        sys.exit(255)
    print(json.dumps({"Stacks": [{"StackName": stack, "StackStatus": "UPDATE_COMPLETE"}]}))
elif command == "create-change-set":
    print(json.dumps({"Id": "arn:aws:cloudformation:cs/1", "StackId": "arn:aws:cloudformation:stack/1"}))
elif command == "describe-change-set":
    changes = json.loads(os.environ.get("FAKE_AWS_CHANGES", "{}")).get(stack, [])
    status = {"Status": "CREATE_COMPLETE"}
    if changes == "none":
        status = {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."}
        changes = []
    print(json.dumps({**status, "Changes": changes}))
"""


def replacement(
    logical_id: str, resource_type: str, replacement: str = "True", action: str = "Modify"
) -> dict:
    return {
        "Type": "Resource",
        "ResourceChange": {
            "Action": action,
            "LogicalResourceId": logical_id,
            "PhysicalResourceId": f"{logical_id.lower()}-1",
            "ResourceType": resource_type,
            "Replacement": replacement,
        },
    }


@pytest.fixture
def fake_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in `aws` on PATH answering the cloudformation calls deploy makes; returns the file
    its calls are recorded in (one JSON argv per line)."""
    record = tmp_path / "calls.jsonl"
    record.touch()
    script = tmp_path / "bin" / "aws"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\n{FAKE_AWS}", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AWS_RECORD", str(record))
    return record


def recorded(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


@mock_aws
def test_deploy_goes_through_a_change_set_per_stack(
    tmp_path: Path, fake_aws: Path, capsys: pytest.CaptureFixture
) -> None:
    """The whole deploy path against moto, with a stand-in `aws` that records its arguments."""
    path = write_params(
        tmp_path, {"parameters": {s: {"LambdaCodeBucket": "code"} for s in ("ingest", "etl")}}
    )
    key = secrets_key_in_moto()  # what the (stand-in) etl stack creates

    assert (
        main(["deploy", "--params", str(path), "--out", str(tmp_path / "t"), "--only", "network", "etl"]) == 0
    )

    calls = recorded(fake_aws)
    assert [c[1] for c in calls] == [
        "describe-stacks",
        "create-change-set",
        "wait",
        "describe-change-set",
        "execute-change-set",
        "wait",
    ] * 2
    assert [c[c.index("--stack-name") + 1] for c in calls[::6]] == [
        "dev-clickstream-network",
        "dev-clickstream-etl",
    ]
    network_create = calls[1]
    assert network_create[network_create.index("--change-set-type") + 1] == "CREATE"
    assert calls[5][2] == "stack-create-complete"
    prefix_list = boto3.client("ec2", region_name=REGION).describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3"]}]
    )["PrefixLists"][0]["PrefixListId"]
    assert (
        network_create[network_create.index("--parameters") + 1]
        == f"ParameterKey=S3PrefixListId,ParameterValue={prefix_list}"
    )
    assert network_create[network_create.index("--template-body") + 1] == (
        f"file://{tmp_path / 't' / 'network.template.json'}"
    )
    ssm = boto3.client("ssm", region_name=REGION)
    for name in (
        "/clickstream/dev/dw/etl_writer/password",
        "/clickstream/dev/oltp/analytics_reader/password",
    ):
        assert ssm.get_parameter(Name=name)["Parameter"]["Type"] == "SecureString"
        [described] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])[
            "Parameters"
        ]
        assert described["KeyId"] == key["Arn"]
    out = capsys.readouterr().out
    # created once the etl stack (which holds their key) is complete
    assert out.index("dev-clickstream-etl: create complete") < out.index("SSM parameter /clickstream/dev/")
    value = ssm.get_parameter(Name="/clickstream/dev/dw/etl_writer/password", WithDecryption=True)[
        "Parameter"
    ]
    assert value["Value"] not in out


DATA_LOSS = [
    replacement("DwInstance", "AWS::EC2::Instance"),
    replacement("OltpDataVolume", "AWS::EC2::Volume", "Conditional"),
    replacement("SsmTransferBucket", "AWS::S3::Bucket", action="Remove"),
    replacement("DwHostRole", "AWS::IAM::Role"),  # not data: replaced without asking
    replacement("DwLaunchTemplate", "AWS::EC2::LaunchTemplate", "False"),
]


@mock_aws
def test_deploy_refuses_a_change_set_that_replaces_data_holders(
    tmp_path: Path, fake_aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("FAKE_AWS_EXISTING", "dev-clickstream-hosts")
    monkeypatch.setenv("FAKE_AWS_CHANGES", json.dumps({"dev-clickstream-hosts": DATA_LOSS}))
    path = write_params(tmp_path, {"parameters": {"hosts": {"AmiId": "ami-0123456789abcdef0"}}})
    argv = ["deploy", "--params", str(path), "--out", str(tmp_path / "t"), "--only", "hosts"]

    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "DwInstance (AWS::EC2::Instance dwinstance-1) would be replaced" in captured.out
    assert "OltpDataVolume (AWS::EC2::Volume oltpdatavolume-1) would be possibly replaced" in captured.out
    assert "SsmTransferBucket (AWS::S3::Bucket ssmtransferbucket-1) would be deleted" in captured.out
    assert "DwHostRole" not in captured.out and "DwLaunchTemplate" not in captured.out
    assert "would replace or delete 3 resource(s)" in captured.err
    assert "--allow-replace" in captured.err
    calls = recorded(fake_aws)
    assert "execute-change-set" not in [c[1] for c in calls]
    create = calls[1]
    assert create[create.index("--change-set-type") + 1] == "UPDATE"

    assert main([*argv, "--allow-replace"]) == 0
    calls = recorded(fake_aws)
    executed = [c for c in calls if c[1] == "execute-change-set"]
    assert len(executed) == 1
    assert calls[-1][:3] == ["cloudformation", "wait", "stack-update-complete"]


@mock_aws
def test_deploy_skips_a_stack_without_changes(
    tmp_path: Path, fake_aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("FAKE_AWS_EXISTING", "dev-clickstream-data")
    monkeypatch.setenv("FAKE_AWS_CHANGES", json.dumps({"dev-clickstream-data": "none"}))
    assert main(["deploy", "--out", str(tmp_path / "t"), "--only", "data"]) == 0
    assert [c[1] for c in recorded(fake_aws)][-1] == "delete-change-set"
    assert "dev-clickstream-data: no changes" in capsys.readouterr().out


def test_dangerous_changes_are_replacements_and_removals_of_data_holders() -> None:
    assert len(dangerous_changes(DATA_LOSS)) == 3
    assert dangerous_changes([replacement("RawBucket", "AWS::S3::Bucket", "False")]) == []
    assert dangerous_changes([replacement("X", "AWS::EC2::Volume", action="Add")]) == []
    # A replaced KMS key would leave the passwords it encrypted to a key scheduled for deletion.
    assert dangerous_changes([replacement("DatabaseSecretsKey", "AWS::KMS::Key")]) == [
        "DatabaseSecretsKey (AWS::KMS::Key databasesecretskey-1) would be replaced"
    ]


DEBIAN_IMAGES = [
    ("debian-12-amd64-20240101-1600", "2024-01-01T16:00:00.000Z"),
    ("debian-12-amd64-20240601-1780", "2024-06-01T17:00:00.000Z"),
    ("debian-12-arm64-20240701-1800", "2024-07-01T18:00:00.000Z"),
    ("debian-11-amd64-20240801-1900", "2024-08-01T19:00:00.000Z"),
]


@pytest.fixture
def debian_amis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """moto's EC2 seeded with Debian-owned images instead of its defaults; name -> image id.

    moto reads MOTO_AMIS_PATH at import, so the loaded list is replaced as well."""
    images = [
        {
            "ami_id": f"ami-0{index:016x}",
            "name": name,
            "description": name,
            "owner_id": DEBIAN_AMI_OWNER,
            "public": True,
            "virtualization_type": "hvm",
            "architecture": "arm64" if "arm64" in name else "x86_64",
            "state": "available",
            "platform": None,
            "image_type": "machine",
            "hypervisor": "xen",
            "root_device_name": "/dev/xvda",
            "root_device_type": "ebs",
            "sriov": "simple",
            "creation_date": created,
        }
        for index, (name, created) in enumerate(DEBIAN_IMAGES, start=1)
    ]
    path = tmp_path / "amis.json"
    path.write_text(json.dumps(images), encoding="utf-8")
    monkeypatch.setenv("MOTO_AMIS_PATH", str(path))
    monkeypatch.setattr("moto.ec2.models.amis.AMIS", images)
    return {image["name"]: image["ami_id"] for image in images}


def test_ami_command_prints_the_newest_debian_12_image(
    debian_amis: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    with mock_aws():
        assert main(["ami", "--region", REGION]) == 0
        assert capsys.readouterr().out.strip() == debian_amis["debian-12-amd64-20240601-1780"]
        ec2 = boto3.client("ec2", region_name=REGION)
        assert current_debian_ami(ec2, "arm64")["ImageId"] == debian_amis["debian-12-arm64-20240701-1800"]
        # Somebody else's image with a matching name is not Debian's.
        ec2.register_image(Name="debian-12-amd64-29990101-0000", RootDeviceName="/dev/xvda")
        assert current_debian_ami(ec2)["Name"] == "debian-12-amd64-20240601-1780"


def test_password_parameters_are_the_ones_the_hosts_read() -> None:
    """`deploy` creates exactly the parameters the roles' defaults name (rendered for an
    environment), which the hosts read themselves; the aws inventory reads no password."""
    top = Path(__file__).resolve().parents[2]
    defaults: dict[str, str] = {}
    for role in ("postgres_dw", "oltp", "shiny_server"):
        path = top / "roles" / role / "defaults" / "main.yml"
        defaults.update(yaml.safe_load(path.read_text(encoding="utf-8")))
    logins = {k: v for k, v in defaults.items() if k.endswith("_user")}
    read = {jinja2.Template(v).render(platform_env="dev", **logins)
            for k, v in defaults.items() if k.endswith("_password_parameter")}
    assert read == {name for name, _ in password_parameters("dev")}
    assert oltp_password_parameter_name("dev", OLTP_ANALYTICS_LOGIN) in read
    inventory = "".join(p.read_text(encoding="utf-8") for p in (top / "inventories" / "aws").rglob("*.yml"))
    assert "ssm_parameter" not in inventory
    # docs/ansible.md's table of the secrets names each of them too
    docs = (top / "docs" / "ansible.md").read_text(encoding="utf-8")
    for name, _ in password_parameters("dev"):
        assert f"`{name.replace('/dev/', '/<env>/', 1)}`" in docs, name



@mock_aws
def test_database_ca_created_once_its_key_under_the_stacks_key_and_never_printed() -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    key = secrets_key_in_moto()
    lines: list[str] = []
    assert ensure_tls_ca(ssm, "dev", key, log=lines.append) is True
    cert = ssm.get_parameter(Name="/clickstream/dev/tls/ca-cert")["Parameter"]
    ca_key = ssm.get_parameter(Name="/clickstream/dev/tls/ca-key", WithDecryption=True)["Parameter"]
    assert (cert["Type"], ca_key["Type"]) == ("String", "SecureString")
    [described] = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": ["/clickstream/dev/tls/ca-key"]}]
    )["Parameters"]
    assert described["KeyId"] == key["Arn"]
    check_ca(cert["Value"], ca_key["Value"])
    parsed = x509.load_pem_x509_certificate(cert["Value"].encode())
    assert parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert not any(ca_key["Value"].splitlines()[1] in line for line in lines)
    # A second deploy keeps it (the hosts' certificates are signed by it).
    assert ensure_tls_ca(ssm, "dev", key, log=lines.append) is False
    assert ssm.get_parameter(Name="/clickstream/dev/tls/ca-cert")["Parameter"]["Value"] == cert["Value"]
    assert lines[-2:] == [
        "SSM parameter /clickstream/dev/tls/ca-cert: exists, kept",
        "SSM parameter /clickstream/dev/tls/ca-key: exists, kept",
    ]


@mock_aws
def test_a_users_own_ca_is_kept_and_its_key_moved_under_the_stacks_key() -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    cert_pem, key_pem = new_ca("dev")
    ssm.put_parameter(Name="/clickstream/dev/tls/ca-cert", Value=cert_pem, Type="String")
    ssm.put_parameter(Name="/clickstream/dev/tls/ca-key", Value=key_pem, Type="SecureString")
    key = secrets_key_in_moto()
    assert ensure_tls_ca(ssm, "dev", key, log=lambda _: None) is False
    assert ssm.get_parameter(Name="/clickstream/dev/tls/ca-cert")["Parameter"]["Value"] == cert_pem
    [described] = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": ["/clickstream/dev/tls/ca-key"]}]
    )["Parameters"]
    assert described["KeyId"] == key["Arn"]
    stored = ssm.get_parameter(Name="/clickstream/dev/tls/ca-key", WithDecryption=True)["Parameter"]
    assert stored["Value"] == key_pem


@pytest.mark.parametrize(
    ("supplied", "message"),
    [
        ("cert only", "/clickstream/dev/tls/ca-cert exists but /clickstream/dev/tls/ca-key does not"),
        ("key only", "/clickstream/dev/tls/ca-key exists but /clickstream/dev/tls/ca-cert does not"),
        ("another key", "the CA key is not the key of the CA certificate"),
        ("not a certificate", "the CA certificate is not a PEM X.509 certificate"),
        ("not a key", "the CA key is not an unencrypted PEM private key"),
    ],
)
@mock_aws
def test_a_broken_ca_stops_the_deploy_naming_what_is_wrong(supplied: str, message: str) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    cert_pem, key_pem = new_ca("dev")
    other_key = new_ca("dev")[1]
    values = {
        "cert only": (cert_pem, None),
        "key only": (None, key_pem),
        "another key": (cert_pem, other_key),
        "not a certificate": ("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", key_pem),
        "not a key": (cert_pem, "secret-looking-but-not-a-key"),
    }[supplied]
    for name, value, kind in zip(("ca-cert", "ca-key"), values, ("String", "SecureString"), strict=True):
        if value is not None:
            ssm.put_parameter(Name=f"/clickstream/dev/tls/{name}", Value=value, Type=kind)
    with pytest.raises(DeployError, match=message) as raised:
        ensure_tls_ca(ssm, "dev", secrets_key_in_moto(), log=lambda _: None)
    assert "secret-looking" not in str(raised.value)
    assert key_pem.splitlines()[1] not in str(raised.value)


def test_a_ca_about_to_expire_is_refused() -> None:
    soon = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3650 - 30)
    with pytest.raises(CaError, match=r"expires on .* less than 90 days from now"):
        check_ca(*new_ca("dev", now=soon))
