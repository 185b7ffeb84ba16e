"""Build parameters and the platform's facts shared by every stack.

A `BuildParams` names the environment (the prefix that keeps two environments apart in one
account), the region, and per-stack overrides of the CloudFormation parameter defaults. The
module-level constants are facts the stacks, the Ansible inventory and `deploy` agree on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Deployment order: each stack only imports from stacks before it.
STACK_ORDER: tuple[str, ...] = ("network", "data", "hosts", "ingest", "etl", "web", "monitoring")

DEFAULT_ENV = "dev"
DEFAULT_REGION = "ap-southeast-1"
PROJECT_TAG = "clickstream"

# Tags the Ansible aws_ec2 inventory groups hosts by.
ROLE_TAG = "clickstream:role"
ENV_TAG = "clickstream:env"

# The seed's address plan (seed 002): the VPC and its three subnets, in one availability zone.
# roles/postgres_dw admits the ETL subnet (inventories/aws/group_vars/postgres_dw.yml).
VPC_CIDR = "10.0.0.0/16"
PUBLIC_SUBNET_CIDR = "10.0.1.0/24"
ANALYTICS_SUBNET_CIDR = "10.0.2.0/24"
ETL_SUBNET_CIDR = "10.0.3.0/24"
# The warehouse as roles/postgres_dw sets it up: its port (the DW security group, DWH_PORT),
# its database and the ETL's login (DWH_DATABASE, DWH_USER; postgres_dw_writer_user).
DW_PORT = 5432
DW_DATABASE = "clickstream_dw"
DW_WRITER_LOGIN = "etl_writer"
DW_READER_LOGIN = "dashboard_reader"

# Prefixes of the raw bucket: the events ingest writes and the ETL reads, and the hosts' pg_dump
# backups, each host under its own backups/<role>/ (backups_prefix).
RAW_EVENTS_PREFIX = "events/"
#: Where in the raw bucket the ETL's enrichment data lives (a MaxMind-format country database)
RAW_ENRICHMENT_PREFIX = "enrichment/"
BACKUPS_PREFIX = "backups/"

# Login roles whose passwords live in SSM SecureString parameters (created by `deploy`).
DW_LOGIN_ROLES: tuple[str, ...] = (DW_WRITER_LOGIN, DW_READER_LOGIN)
# The shop's database as roles/oltp sets it up (oltp_port, oltp_database): its port (the OLTP
# security group's rule for the ETL, OLTP_PORT) and database (OLTP_DATABASE of Lambda ETL).
OLTP_PORT = 5432
OLTP_DATABASE = "shop"
# The shop's application login on the OLTP host (roles/oltp; inventories/aws reads its password).
OLTP_APP_LOGIN = "shop_app"
# The ETL's login on the shop's database for booked revenue (oltp_analytics_user; OLTP_USER):
# SELECT on orders and order_items only, TLS from the ETL subnet only (oltp_analytics_cidrs).
OLTP_ANALYTICS_LOGIN = "analytics_reader"
OLTP_LOGIN_ROLES: tuple[str, ...] = (OLTP_APP_LOGIN, OLTP_ANALYTICS_LOGIN)

_ENV_RE = re.compile(r"^[a-z][a-z0-9]{1,11}$")
_TOP_LEVEL_KEYS = {"env", "region", "parameters"}


class ParamsError(ValueError):
    """A parameters file or value is wrong; the message says what and where."""


def raw_bucket_prefix(env: str) -> str:
    """The name prefix of the raw clickstream bucket (data stack); the network stack's S3 endpoint
    policy names the bucket by it, the network stack coming first."""
    return f"{env}-clickstream-s3-ingest"


def transfer_bucket_prefix(env: str) -> str:
    """The name prefix of the aws_ssm file-transfer bucket (hosts stack); the data stack's access
    log bucket admits that bucket's logs by this name, the hosts stack coming after it."""
    return f"{env}-clickstream-ssm-xfer"


def backups_prefix(host_role: str) -> str:
    """The raw bucket prefix one host (clickstream:role dw | oltp) writes its pg_dump backups to."""
    return f"{BACKUPS_PREFIX}{host_role}/"


def host_parameter_path(env: str, host_role: str) -> str:
    """The SSM parameter path holding one host's secrets (dw | oltp); the host reads only these."""
    return f"/clickstream/{env}/{host_role}/"


def dw_password_parameter_name(env: str, login_role: str) -> str:
    """SSM parameter holding the password of a warehouse login role."""
    return f"/clickstream/{env}/dw/{login_role}/password"


def oltp_password_parameter_name(env: str, login_role: str = OLTP_APP_LOGIN) -> str:
    """SSM parameter holding the password of an OLTP database login (read by inventories/aws;
    the analytics login's is also OLTP_PASSWORD_PARAM of Lambda ETL)."""
    return f"/clickstream/{env}/oltp/{login_role}/password"


def tls_ca_cert_parameter_name(env: str) -> str:
    """SSM String parameter holding the environment's database CA certificate (PEM): the hosts'
    server certificates are signed by it, and the ETL and the dashboards verify them with it."""
    return f"/clickstream/{env}/tls/ca-cert"


def tls_ca_key_parameter_name(env: str) -> str:
    """SSM SecureString parameter holding that CA's private key (PEM), under the stacks' KMS key:
    read only where certificates are signed (the Ansible controller), never by a host or function."""
    return f"/clickstream/{env}/tls/ca-key"


# The stack holding the customer-managed KMS key of the password SecureStrings: the first stack
# in STACK_ORDER after every role the key policy names (the host roles, the ETL role), so it
# names them by reference; `deploy` creates (or re-keys) the SecureStrings right after it.
SECRETS_KEY_STACK = "etl"


def password_parameters(env: str) -> list[tuple[str, str]]:
    """(SSM parameter name, description) of every database password `deploy` creates if absent."""
    return [
        *(
            (
                dw_password_parameter_name(env, role),
                f"Password of the clickstream warehouse login {role} ({env})",
            )
            for role in DW_LOGIN_ROLES
        ),
        *(
            (
                oltp_password_parameter_name(env, role),
                f"Password of the clickstream shop database login {role} ({env})",
            )
            for role in OLTP_LOGIN_ROLES
        ),
    ]


@dataclass(frozen=True)
class BuildParams:
    env: str = DEFAULT_ENV
    region: str = DEFAULT_REGION
    # {"network": {"TrustedOltpCidr": "203.0.113.10/32"}, ...}: CloudFormation parameter defaults.
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ENV_RE.match(self.env):
            raise ParamsError(
                f"env {self.env!r}: must be 2-12 lowercase letters/digits starting with a letter "
                "(it prefixes bucket, function and stack names)"
            )
        if not re.match(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", self.region):
            raise ParamsError(f"region {self.region!r}: not an AWS region name like ap-southeast-1")
        unknown = set(self.parameters) - set(STACK_ORDER)
        if unknown:
            raise ParamsError(
                f"parameters: unknown stack(s) {sorted(unknown)}; stacks are {list(STACK_ORDER)}"
            )

    def stack_name(self, stack: str) -> str:
        """CloudFormation stack name of one of our stacks in this environment."""
        if stack not in STACK_ORDER:
            raise ParamsError(f"unknown stack {stack!r}")
        return f"{self.env}-clickstream-{stack}"

    def secrets_key_alias(self) -> str:
        """The alias of the password SecureStrings' KMS key, named after the stack holding it
        (`deploy` finds the key by it)."""
        return f"alias/{self.stack_name(SECRETS_KEY_STACK)}/database-secrets"

    def name(self, seed_name: str) -> str:
        """Environment-prefixed resource name, e.g. dev-SBW_Lamda_ETL."""
        return f"{self.env}-{seed_name}"

    @classmethod
    def from_file(cls, path: Path, env: str | None = None) -> BuildParams:
        """Load a JSON parameters file: {"env": ..., "region": ..., "parameters": {stack: {...}}}."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ParamsError(f"{path}: cannot read ({exc.strerror})") from exc
        except json.JSONDecodeError as exc:
            raise ParamsError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ParamsError(f"{path}: top level must be a JSON object")
        unknown = set(data) - _TOP_LEVEL_KEYS
        if unknown:
            raise ParamsError(f"{path}: unknown key(s) {sorted(unknown)}; allowed {sorted(_TOP_LEVEL_KEYS)}")
        parameters = data.get("parameters", {})
        if not isinstance(parameters, dict) or not all(isinstance(v, dict) for v in parameters.values()):
            raise ParamsError(f"{path}: 'parameters' must map stack names to objects")
        for stack, values in parameters.items():
            for key, value in values.items():
                if not isinstance(value, str | int | float | bool):
                    raise ParamsError(f"{path}: parameters.{stack}.{key} must be a string or number")
        return cls(
            env=env or data.get("env", DEFAULT_ENV),
            region=data.get("region", DEFAULT_REGION),
            parameters=parameters,
        )
