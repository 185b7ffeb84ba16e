"""python -m stacks build|deploy|ami: write the CloudFormation templates, deploy them in order, or
print the current Debian 12 AMI id.

    python -m stacks build --out DIR [--env NAME] [--params FILE]
    python -m stacks deploy [--env NAME] [--params FILE] [--out DIR] [--only STACK ...]
                            [--upload-code] [--dry-run] [--allow-replace]
    python -m stacks ami [--region REGION] [--arch amd64|arm64]

`deploy` needs AWS credentials and the AWS CLI. Each stack goes through a change set (create,
wait, describe); a change set that would replace or delete an instance, a data volume or a bucket
is not executed unless --allow-replace is given, and each such resource is printed. Right after
the stack holding their KMS key (params.SECRETS_KEY_STACK) it creates the database login
passwords (warehouse and shop) as SSM SecureString parameters under that key (a random password,
only when the parameter is absent; the value is never printed), and re-encrypts under that key
any that exist under another one, their values unchanged; and the environment's database CA
(stacks/tls_ca.py), its certificate as an SSM String and its key as a SecureString under the same
key, only when neither is there (a user may put their own CA there first; docs/stacks.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3

from stacks import BUILDERS
from stacks.hosts import DEBIAN_12_AMI_NAME, DEBIAN_AMI_OWNER
from stacks.params import (
    DEFAULT_REGION,
    SECRETS_KEY_STACK,
    STACK_ORDER,
    BuildParams,
    ParamsError,
    password_parameters,
    tls_ca_cert_parameter_name,
    tls_ca_key_parameter_name,
)
from stacks.tls_ca import CaError, check_ca, new_ca

ORDER_FILE = "deploy-order.json"
# Resources a stack update must not replace or delete without --allow-replace: they hold data
# (a KMS key's replacement would leave what it encrypted to a key on its way to deletion).
PROTECTED_TYPES = frozenset({"AWS::EC2::Instance", "AWS::EC2::Volume", "AWS::S3::Bucket", "AWS::KMS::Key"})
# describe-change-set's StatusReason of a change set with nothing to do.
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
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


def secrets_key(kms: Any, alias: str) -> dict[str, str]:
    """The KeyMetadata (KeyId, Arn, ...) of the password SecureStrings' key, found by its alias."""
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]
    except kms.exceptions.NotFoundException as exc:
        raise DeployError(
            f"KMS key {alias} not found: deploy the {SECRETS_KEY_STACK} stack, which creates it, "
            "before the password parameters"
        ) from exc


def ensure_password_parameters(ssm: Any, env: str, key: dict[str, str], *, log=print) -> list[str]:
    """Create each database login's SecureString parameter under `key` (KeyMetadata) if absent;
    return the names created.

    CloudFormation cannot create SecureStrings, so this runs after the stack holding their key.
    An existing parameter keeps its value (the database already uses it); one under another key
    (the AWS-managed aws/ssm of earlier deployments, say) is re-encrypted under `key`. No value is
    ever printed.
    """
    created = []
    for name, description in password_parameters(env):
        try:
            ssm.put_parameter(
                Name=name,
                Description=description,
                Value=secrets.token_urlsafe(32),
                Type="SecureString",
                KeyId=key["Arn"],
                Overwrite=False,
                Tags=_parameter_tags(env),
            )
        except ssm.exceptions.ParameterAlreadyExists:
            _rekey_if_needed(ssm, name, key, log=log)
            continue
        created.append(name)
        log(f"SSM parameter {name}: created with a generated password")
    return created


def _parameter_tags(env: str) -> list[dict[str, str]]:
    """The tags of every SSM parameter `deploy` creates (the passwords, the database CA)."""
    return [{"Key": "project", "Value": "clickstream"}, {"Key": "clickstream:env", "Value": env}]


def _rekey_if_needed(ssm: Any, name: str, key: dict[str, str], *, log) -> None:
    """Re-encrypt an existing SecureString under `key` unless it already is; its value stays."""
    [described] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    if described.get("KeyId") in (key["Arn"], key["KeyId"]):
        log(f"SSM parameter {name}: exists, kept")
        return
    value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", KeyId=key["Arn"], Overwrite=True)
    log(f"SSM parameter {name}: exists, value kept, re-encrypted with {key['Arn']}")


def ensure_tls_ca(ssm: Any, env: str, key: dict[str, str], *, log=print) -> bool:
    """Create the environment's database CA when neither of its parameters exists (the key a
    SecureString under `key`, the certificate a String); check a CA that exists (the deploy's or
    the user's own) and re-encrypt its key under `key` if it is under another. Return whether it
    was created. The key's value is never printed."""
    cert_name, key_name = tls_ca_cert_parameter_name(env), tls_ca_key_parameter_name(env)
    cert_pem = _parameter_value(ssm, cert_name)
    key_pem = _parameter_value(ssm, key_name)
    if cert_pem is None and key_pem is None:
        cert_pem, key_pem = new_ca(env)
        # The key first: a deploy stopped in between leaves a key without a certificate, which the
        # next one names (below) rather than a certificate nothing can sign with.
        ssm.put_parameter(Name=key_name, Description=f"Private key of the clickstream database CA ({env})",
                          Value=key_pem, Type="SecureString", KeyId=key["Arn"], Overwrite=False,
                          Tags=_parameter_tags(env))
        ssm.put_parameter(Name=cert_name, Description=f"Certificate of the clickstream database CA ({env})",
                          Value=cert_pem, Type="String", Overwrite=False, Tags=_parameter_tags(env))
        log(f"SSM parameters {cert_name}, {key_name}: created a new CA (EC P-256)")
        return True
    if cert_pem is None or key_pem is None:
        present, missing = (key_name, cert_name) if cert_pem is None else (cert_name, key_name)
        raise DeployError(
            f"SSM parameter {present} exists but {missing} does not: a CA needs both, its certificate "
            f"(a String) and its key (a SecureString); put the missing one, or delete {present} to "
            "have a new CA made (docs/stacks.md, \"The database CA\")"
        )
    try:
        check_ca(cert_pem, key_pem)
    except CaError as exc:
        raise DeployError(f"SSM parameters {cert_name}, {key_name}: {exc}") from None
    [described] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [cert_name]}])[
        "Parameters"
    ]
    if described["Type"] != "String":
        raise DeployError(
            f"SSM parameter {cert_name} is a {described['Type']}: the CA certificate must be a String "
            "(the ETL function reads it without the KMS key)"
        )
    log(f"SSM parameter {cert_name}: exists, kept")
    _rekey_if_needed(ssm, key_name, key, log=log)
    return False


def _parameter_value(ssm: Any, name: str) -> str | None:
    """A parameter's value (decrypted), or None if there is no such parameter."""
    try:
        return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


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


def change_set_command(
    params: BuildParams, stack: str, template: Path, overrides: dict[str, str], *, change_set: str, kind: str
) -> list[str]:
    """`aws cloudformation create-change-set` for one stack; parameters not given keep the
    template's defaults (which the parameters file sets)."""
    command = [
        "aws",
        "cloudformation",
        "create-change-set",
        "--region",
        params.region,
        "--stack-name",
        params.stack_name(stack),
        "--change-set-name",
        change_set,
        "--change-set-type",
        kind,
        "--template-body",
        f"file://{template}",
        "--capabilities",
        "CAPABILITY_IAM",
    ]
    if overrides:
        command += [
            "--parameters",
            *(f"ParameterKey={k},ParameterValue={v}" for k, v in sorted(overrides.items())),
        ]
    return command


def dangerous_changes(changes: Sequence[dict[str, Any]]) -> list[str]:
    """One line per protected resource the change set would replace or remove."""
    lines = []
    for change in changes:
        rc = change.get("ResourceChange", {})
        if rc.get("ResourceType") not in PROTECTED_TYPES:
            continue
        action, replacement = rc.get("Action"), rc.get("Replacement")
        if action == "Remove":
            what = "deleted"
        elif action == "Modify" and replacement in ("True", "Conditional"):
            what = "replaced" if replacement == "True" else "possibly replaced (Conditional)"
        else:
            continue
        physical = rc.get("PhysicalResourceId", "")
        lines.append(f"{rc.get('LogicalResourceId')} ({rc['ResourceType']} {physical}) would be {what}")
    return lines


class CloudFormationCli:
    """The AWS CLI's cloudformation commands for one region, their JSON answers parsed."""

    def __init__(self, region: str) -> None:
        self.region = region

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        region = [] if "--region" in args else ["--region", self.region]
        command = ["aws", "cloudformation", *args, *region]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise DeployError(
                f"`{' '.join(command[:3])}` exited {result.returncode}: {result.stderr.strip()}"
            )
        return result

    def json(self, *args: str) -> dict[str, Any]:
        out = self.run(*args, "--output", "json").stdout
        return json.loads(out) if out.strip() else {}

    def stack_status(self, stack_name: str) -> str | None:
        """The stack's status, or None when there is no such stack."""
        result = self.run("describe-stacks", "--stack-name", stack_name, "--output", "json", check=False)
        if result.returncode != 0:
            if "does not exist" in result.stderr:
                return None
            raise DeployError(
                f"describe-stacks {stack_name} exited {result.returncode}: {result.stderr.strip()}"
            )
        return json.loads(result.stdout)["Stacks"][0]["StackStatus"]

    def describe_change_set(self, stack_name: str, change_set: str) -> tuple[dict[str, Any], list[dict]]:
        """The change set's description and all its changes (following NextToken)."""
        args = ["describe-change-set", "--stack-name", stack_name, "--change-set-name", change_set]
        described = self.json(*args)
        changes = list(described.get("Changes", []))
        while described.get("NextToken"):
            described = self.json(*args, "--next-token", described["NextToken"])
            changes += described.get("Changes", [])
        return described, changes


def deploy_stack(
    cli: CloudFormationCli,
    command: list[str],
    stack_name: str,
    change_set: str,
    *,
    kind: str,
    allow_replace: bool,
) -> None:
    """Create the change set, wait for it, refuse protected replacements, execute, wait."""
    cli.run(*command[2:])
    waited = cli.run(
        "wait",
        "change-set-create-complete",
        "--stack-name",
        stack_name,
        "--change-set-name",
        change_set,
        check=False,
    )
    described, changes = cli.describe_change_set(stack_name, change_set)
    if waited.returncode != 0 or described.get("Status") == "FAILED":
        reason = str(described.get("StatusReason", ""))
        if any(text in reason for text in NO_CHANGES):
            cli.run("delete-change-set", "--stack-name", stack_name, "--change-set-name", change_set)
            print(f"{stack_name}: no changes")
            return
        raise DeployError(f"{stack_name}: change set {change_set} failed: {reason or waited.stderr.strip()}")
    dangerous = dangerous_changes(changes)
    for line in dangerous:
        print(f"{stack_name}: {line}")
    if dangerous and not allow_replace:
        raise DeployError(
            f"{stack_name}: change set {change_set} would replace or delete {len(dangerous)} resource(s) "
            "holding data (listed above); not executed. Review it, then deploy with --allow-replace to "
            f"go ahead, or delete it: aws cloudformation delete-change-set --stack-name {stack_name} "
            f"--change-set-name {change_set}"
        )
    cli.run("execute-change-set", "--stack-name", stack_name, "--change-set-name", change_set)
    cli.run("wait", f"stack-{kind.lower()}-complete", "--stack-name", stack_name)
    print(f"{stack_name}: {kind.lower()} complete")


def aws_clients(params: BuildParams) -> dict[str, Any]:
    if shutil.which("aws") is None:
        raise DeployError("the AWS CLI (`aws`) is not on PATH; install it or use --dry-run")
    session = boto3.session.Session(region_name=params.region)
    return {name: session.client(name) for name in ("ssm", "ec2", "s3", "kms")}


def code_bucket(params: BuildParams) -> str:
    for stack in LAMBDA_ZIPS:
        bucket = params.parameters.get(stack, {}).get("LambdaCodeBucket")
        if bucket:
            return str(bucket)
    raise DeployError("--upload-code needs LambdaCodeBucket in the parameters file (ingest/etl)")


def check_complete(templates: dict[str, dict[str, Any]], overrides: dict[str, dict[str, str]]) -> None:
    problems = []
    for stack, template in templates.items():
        missing = [p for p in missing_parameters(template) if p not in overrides[stack]]
        if missing:
            hint = (
                " (`python -m stacks ami` prints the current Debian 12 AMI id)" if "AmiId" in missing else ""
            )
            problems.append(
                f"stack {stack}: parameter(s) {missing} have no default; set them under "
                f'"parameters": {{"{stack}": {{...}}}} in the --params file{hint}'
            )
    if problems:
        raise DeployError("; ".join(problems))


def deploy(
    params: BuildParams,
    out: Path,
    only: Sequence[str],
    *,
    upload: bool,
    dry_run: bool,
    zip_dir: Path,
    allow_replace: bool = False,
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

    cli = CloudFormationCli(params.region)
    change_set = f"clickstream-{int(time.time())}"
    for stack in stacks:
        stack_name = params.stack_name(stack)
        status = None if dry_run else cli.stack_status(stack_name)
        kind = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
        template = out / f"{stack}.template.json"
        command = change_set_command(
            params, stack, template, overrides[stack], change_set=change_set, kind=kind
        )
        print("+ " + " ".join(command), flush=True)
        if not dry_run:
            deploy_stack(cli, command, stack_name, change_set, kind=kind, allow_replace=allow_replace)
        if stack == SECRETS_KEY_STACK:
            # The SecureStrings need their key, which this stack has just created or kept.
            if clients:
                key = secrets_key(clients["kms"], params.secrets_key_alias())
                ensure_password_parameters(clients["ssm"], params.env, key)
                ensure_tls_ca(clients["ssm"], params.env, key)
            else:
                names = ", ".join(name for name, _ in password_parameters(params.env))
                print(f"(dry run) would create if absent, with {params.secrets_key_alias()}: {names}")
                ca = f"{tls_ca_cert_parameter_name(params.env)}, {tls_ca_key_parameter_name(params.env)}"
                print(f"(dry run) would create the database CA if absent: {ca}")


def current_debian_ami(ec2: Any, arch: str = "amd64") -> dict[str, str]:
    """The newest Debian 12 image Debian publishes for `arch`: its id, name and creation date."""
    images = ec2.describe_images(
        Owners=[DEBIAN_AMI_OWNER],
        Filters=[
            {"Name": "name", "Values": [DEBIAN_12_AMI_NAME.format(arch=arch)]},
            {"Name": "state", "Values": ["available"]},
        ],
    )["Images"]
    if not images:
        raise DeployError(f"no Debian 12 {arch} image from owner {DEBIAN_AMI_OWNER} in this region")
    newest = max(images, key=lambda image: image["CreationDate"])
    return {k: newest[k] for k in ("ImageId", "Name", "CreationDate")}


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
    deploy_parser.add_argument(
        "--allow-replace",
        action="store_true",
        help="execute change sets that replace or delete an instance, a data volume or a bucket",
    )
    ami = sub.add_parser("ami", help="print the current Debian 12 AMI id (for hosts.AmiId)")
    ami.add_argument("--region", default=DEFAULT_REGION)
    ami.add_argument("--arch", choices=["amd64", "arm64"], default="amd64")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "ami":
            ec2 = boto3.session.Session(region_name=args.region).client("ec2")
            image = current_debian_ami(ec2, args.arch)
            print(image["ImageId"])
            print(
                f"{image['Name']} ({image['CreationDate']}); set it as parameters.hosts.AmiId",
                file=sys.stderr,
            )
            return 0
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
                params,
                out,
                args.only,
                upload=args.upload_code,
                dry_run=args.dry_run,
                zip_dir=args.zip_dir,
                allow_replace=args.allow_replace,
            )
    except (ParamsError, DeployError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
