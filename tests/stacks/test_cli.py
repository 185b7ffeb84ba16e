"""python -m stacks build/deploy, the parameters file, and the deploy-time AWS steps (on moto)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from stacks.__main__ import ensure_password_parameters, main, s3_prefix_list_id, upload_code
from stacks.params import STACK_ORDER, BuildParams, ParamsError, password_parameters

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


def test_deploy_dry_run_prints_the_commands_in_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_params(
        tmp_path, {"parameters": {s: {"LambdaCodeBucket": "my-artifacts"} for s in ("ingest", "etl")}}
    )
    assert main(["deploy", "--dry-run", "--params", str(path), "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    commands = [line for line in out.splitlines() if line.startswith("+ aws cloudformation deploy")]
    assert [c.split("--stack-name ")[1].split()[0] for c in commands] == [
        f"dev-clickstream-{s}" for s in STACK_ORDER
    ]
    assert all("--capabilities CAPABILITY_IAM" in c for c in commands)
    assert "would create if absent: /clickstream/dev/dw/etl_writer/password" in out
    assert "/clickstream/dev/oltp/shop_app/password" in out


@mock_aws
def test_database_passwords_created_once_and_never_printed() -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    lines: list[str] = []
    created = ensure_password_parameters(ssm, "dev", log=lines.append)
    assert created == [
        "/clickstream/dev/dw/etl_writer/password",
        "/clickstream/dev/dw/dashboard_reader/password",
        "/clickstream/dev/oltp/shop_app/password",
    ]
    values = {}
    for name in created:
        parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        assert parameter["Type"] == "SecureString"
        assert len(parameter["Value"]) >= 40
        values[name] = parameter["Value"]
        assert not any(parameter["Value"] in line for line in lines)
    assert len(set(values.values())) == 3
    # A second deploy keeps the passwords the warehouse already uses.
    assert ensure_password_parameters(ssm, "dev", log=lines.append) == []
    for name, value in values.items():
        assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value
    assert lines[-1] == "SSM parameter /clickstream/dev/oltp/shop_app/password: exists, kept"


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


@mock_aws
def test_deploy_runs_aws_cloudformation_deploy_per_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The whole deploy path against moto, with a stand-in `aws` that records its arguments."""
    record = tmp_path / "calls.jsonl"
    fake_aws = tmp_path / "bin" / "aws"
    fake_aws.parent.mkdir()
    fake_aws.write_text(
        "#!/bin/sh\n"
        f'"{sys.executable}" -c \'import json, sys; print(json.dumps(sys.argv[1:]))\' "$@"'
        f' >> "{record}"\n',
        encoding="utf-8",
    )
    fake_aws.chmod(fake_aws.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake_aws.parent}{os.pathsep}{os.environ['PATH']}")
    path = write_params(
        tmp_path, {"parameters": {s: {"LambdaCodeBucket": "code"} for s in ("ingest", "etl")}}
    )

    assert (
        main(["deploy", "--params", str(path), "--out", str(tmp_path / "t"), "--only", "network", "etl"]) == 0
    )

    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [c[c.index("--stack-name") + 1] for c in calls] == [
        "dev-clickstream-network",
        "dev-clickstream-etl",
    ]
    network_call = calls[0]
    prefix_list = boto3.client("ec2", region_name=REGION).describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3"]}]
    )["PrefixLists"][0]["PrefixListId"]
    assert network_call[network_call.index("--parameter-overrides") + 1] == f"S3PrefixListId={prefix_list}"
    ssm = boto3.client("ssm", region_name=REGION)
    assert (
        ssm.get_parameter(Name="/clickstream/dev/dw/etl_writer/password")["Parameter"]["Type"]
        == "SecureString"
    )
    out = capsys.readouterr().out
    value = ssm.get_parameter(Name="/clickstream/dev/dw/etl_writer/password", WithDecryption=True)[
        "Parameter"
    ]
    assert value["Value"] not in out


def test_password_parameters_are_the_ones_the_aws_inventory_reads() -> None:
    group_vars = Path(__file__).resolve().parents[2] / "inventories" / "aws" / "group_vars"
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(group_vars.glob("*.yml")))
    for name, _ in password_parameters("dev"):
        lookup = name.replace("/clickstream/dev/", "'/clickstream/' ~ platform_env ~ '/", 1)
        assert f"{lookup}'" in text, name
