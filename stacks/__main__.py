"""python -m stacks build|deploy: write the CloudFormation templates, or deploy them in order.

    python -m stacks build --out DIR [--env NAME] [--params FILE]
    python -m stacks deploy [--env NAME] [--params FILE] [--out DIR] [--only STACK ...]
                            [--upload-code] [--dry-run]

`deploy` needs AWS credentials and the AWS CLI; it wraps `aws cloudformation deploy`. Before the
first stack it creates the database login passwords (warehouse and shop) as SSM SecureString
parameters (a random password, only when the parameter is absent; the value is never printed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3

from stacks import BUILDERS
from stacks.params import (
    STACK_ORDER,
    BuildParams,
    ParamsError,
    password_parameters,
)

ORDER_FILE = "deploy-order.json"
LAMBDA_ZIPS = {"ingest": ("IngestCodeKey", "lambda-ingest.zip"), "etl": ("EtlCodeKey", "lambda-etl.zip")}


class DeployError(RuntimeError):
    """Deployment cannot go on; the message says why."""


def build(params: BuildParams, out: Path) -> list[dict[str, str]]:
    """Write <stack>.template.json for every stack and deploy-order.json; return the order."""
    out.mkdir(parents=True, exist_ok=True)
    order = []
    for stack in STACK_ORDER:
        template = BUILDERS[stack](params)
        path = out / f"{stack}.template.json"
        path.write_text(template.to_json(indent=1) + "\n", encoding="utf-8")
        order.append({"stack": stack, "stack_name": params.stack_name(stack), "template": path.name})
    (out / ORDER_FILE).write_text(
        json.dumps({"env": params.env, "region": params.region, "stacks": order}, indent=1) + "\n",
        encoding="utf-8",
    )
    return order


def missing_parameters(template: dict[str, Any]) -> list[str]:
    """Parameters without a default: they must come from the parameters file."""
    return sorted(k for k, v in template.get("Parameters", {}).items() if "Default" not in v)


def ensure_password_parameters(ssm: Any, env: str, *, log=print) -> list[str]:
    """Create each database login's SecureString parameter if absent; return the names created.

    CloudFormation cannot create SecureStrings, so this runs before the stacks; an existing
    parameter is kept (the database already uses it) and no value is ever printed.
    """
    created = []
    for name, description in password_parameters(env):
        try:
            ssm.put_parameter(
                Name=name,
                Description=description,
                Value=secrets.token_urlsafe(32),
                Type="SecureString",
                Overwrite=False,
                Tags=[{"Key": "project", "Value": "clickstream"}, {"Key": "clickstream:env", "Value": env}],
            )
        except ssm.exceptions.ParameterAlreadyExists:
            log(f"SSM parameter {name}: exists, kept")
            continue
        created.append(name)
        log(f"SSM parameter {name}: created with a generated password")
    return created


def s3_prefix_list_id(ec2: Any, region: str) -> str:
    name = f"com.amazonaws.{region}.s3"
    lists = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [name]}])
    ids = [p["PrefixListId"] for p in lists.get("PrefixLists", [])]
    if len(ids) != 1:
        raise DeployError(f"expected one managed prefix list named {name}, found {ids}")
    return ids[0]


def upload_code(s3: Any, bucket: str, zip_dir: Path, *, log=print) -> dict[str, dict[str, str]]:
    """Upload the Lambda zips under content-addressed keys; return the CodeKey overrides per stack."""
    overrides: dict[str, dict[str, str]] = {}
    for stack, (param, zip_name) in LAMBDA_ZIPS.items():
        path = zip_dir / zip_name
        if not path.is_file():
            raise DeployError(f"{path} not found: run `make package` first")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        key = f"lambda/{path.stem}-{digest}.zip"
        s3.upload_file(str(path), bucket, key)
        log(f"uploaded {path} to s3://{bucket}/{key}")
        overrides[stack] = {param: key}
    return overrides


def deploy_command(params: BuildParams, stack: str, template: Path, overrides: dict[str, str]) -> list[str]:
    command = [
        "aws",
        "cloudformation",
        "deploy",
        "--region",
        params.region,
        "--stack-name",
        params.stack_name(stack),
        "--template-file",
        str(template),
        "--capabilities",
        "CAPABILITY_IAM",
        "--no-fail-on-empty-changeset",
    ]
    if overrides:
        command += ["--parameter-overrides", *(f"{k}={v}" for k, v in sorted(overrides.items()))]
    return command


def aws_clients(params: BuildParams) -> dict[str, Any]:
    if shutil.which("aws") is None:
        raise DeployError("the AWS CLI (`aws`) is not on PATH; install it or use --dry-run")
    session = boto3.session.Session(region_name=params.region)
    return {name: session.client(name) for name in ("ssm", "ec2", "s3")}


def code_bucket(params: BuildParams) -> str:
    for stack in LAMBDA_ZIPS:
        bucket = params.parameters.get(stack, {}).get("LambdaCodeBucket")
        if bucket:
            return str(bucket)
    raise DeployError("--upload-code needs LambdaCodeBucket in the parameters file (ingest/etl)")


def check_complete(templates: dict[str, dict[str, Any]], overrides: dict[str, dict[str, str]]) -> None:
    for stack, template in templates.items():
        missing = [p for p in missing_parameters(template) if p not in overrides[stack]]
        if missing:
            raise DeployError(
                f"stack {stack}: parameter(s) {missing} have no default; set them under "
                f'"parameters": {{"{stack}": {{...}}}} in the --params file'
            )


def deploy(
    params: BuildParams, out: Path, only: Sequence[str], *, upload: bool, dry_run: bool, zip_dir: Path
) -> None:
    build(params, out)
    stacks = [s for s in STACK_ORDER if not only or s in only]
    templates = {s: json.loads((out / f"{s}.template.json").read_text(encoding="utf-8")) for s in stacks}
    overrides: dict[str, dict[str, str]] = {s: {} for s in stacks}
    clients = {} if dry_run else aws_clients(params)

    if clients and "network" in stacks and "S3PrefixListId" not in params.parameters.get("network", {}):
        overrides["network"]["S3PrefixListId"] = s3_prefix_list_id(clients["ec2"], params.region)
    if upload:
        bucket = code_bucket(params)
        if clients:
            for stack, values in upload_code(clients["s3"], bucket, zip_dir).items():
                overrides.get(stack, {}).update(values)
        else:
            print(f"(dry run) would upload the Lambda zips from {zip_dir} to s3://{bucket}/lambda/")
    check_complete(templates, overrides)

    if {"hosts", "etl"} & set(stacks):
        if clients:
            ensure_password_parameters(clients["ssm"], params.env)
        else:
            names = ", ".join(name for name, _ in password_parameters(params.env))
            print(f"(dry run) would create if absent: {names}")

    for stack in stacks:
        command = deploy_command(params, stack, out / f"{stack}.template.json", overrides[stack])
        print("+ " + " ".join(command), flush=True)
        if not dry_run:
            result = subprocess.run(command, check=False)
            if result.returncode != 0:
                raise DeployError(f"stack {stack}: aws cloudformation deploy exited {result.returncode}")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stacks", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "deploy"):
        p = sub.add_parser(name)
        p.add_argument("--env", help="environment name (prefix of names; overrides the params file)")
        p.add_argument("--params", type=Path, help="JSON parameters file")
        p.add_argument(
            "--out",
            type=Path,
            required=name == "build",
            help="template directory" + ("" if name == "build" else " (default build/stacks/ENV)"),
        )
    deploy_parser = sub.choices["deploy"]
    deploy_parser.add_argument(
        "--only", nargs="+", choices=STACK_ORDER, default=[], help="deploy just these stacks (still in order)"
    )
    deploy_parser.add_argument(
        "--upload-code",
        action="store_true",
        help="upload build/lambda-*.zip to LambdaCodeBucket under content-hash keys",
    )
    deploy_parser.add_argument("--zip-dir", type=Path, default=Path("build"), help="where the zips are")
    deploy_parser.add_argument(
        "--dry-run", action="store_true", help="print the commands; create nothing, call no AWS API"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.params:
            params = BuildParams.from_file(args.params, env=args.env)
        else:
            params = BuildParams(**({"env": args.env} if args.env else {}))
        if args.command == "build":
            order = build(params, args.out)
            for entry in order:
                print(f"{args.out / entry['template']}  ->  stack {entry['stack_name']}")
            print(f"{args.out / ORDER_FILE}: deploy in this order: {', '.join(e['stack'] for e in order)}")
        else:
            out = args.out or Path("build") / "stacks" / params.env
            deploy(
                params, out, args.only, upload=args.upload_code, dry_run=args.dry_run, zip_dir=args.zip_dir
            )
    except (ParamsError, DeployError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
