"""IAM policy builders: documents, statements, roles and the ARNs they name.

The stacks compose these instead of writing policy dicts. Plain dicts, not awacs objects: a
single action or resource stays a string in the template, and cfn-lint (rule W3037, run by
tests/stacks/test_lint.py) already refuses an action name the service does not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from troposphere import AWSHelperFn, GetAtt, Sub, Tags, iam

POLICY_VERSION = "2012-10-17"

# Actions without resource-level permissions: "*" is the only valid Resource.
ENI_DESCRIBE_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
)

# What the SSM agent needs for Session Manager and Run Command (AWS's documented minimum instead
# of AmazonSSMManagedInstanceCore, which also grants ssm:GetParameter(s) on every parameter).
# None of these has resource-level permissions that fit: "*" is their Resource.
SESSION_MANAGER_ACTIONS: tuple[str, ...] = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
)

Actions = str | Sequence[str]
Resources = str | AWSHelperFn | Sequence[str | AWSHelperFn]


def _one_or_list(value: Any) -> Any:
    return value if isinstance(value, str | AWSHelperFn) else list(value)


def policy_document(*statements: dict) -> dict:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def service_principal(service: str) -> dict:
    return {"Service": service}


def allow(
    actions: Actions,
    resources: Resources,
    *,
    sid: str | None = None,
    principal: str | dict | None = None,
    condition: dict | None = None,
) -> dict:
    """An Allow statement; a single action or resource stays a single value."""
    statement: dict[str, Any] = {"Effect": "Allow"}
    if sid is not None:
        statement["Sid"] = sid
    if principal is not None:
        statement["Principal"] = principal
    statement["Action"] = _one_or_list(actions)
    statement["Resource"] = _one_or_list(resources)
    if condition is not None:
        statement["Condition"] = condition
    return statement


def deny(
    actions: Actions, resources: Resources, *, sid: str, principal: str | dict = "*", condition: dict
) -> dict:
    """A Deny statement (in a resource policy: it binds every principal, the owner's too)."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": principal,
        "Action": _one_or_list(actions),
        "Resource": _one_or_list(resources),
        "Condition": condition,
    }


def assume_role_policy(service: str, *, condition: dict | None = None) -> dict:
    """The trust policy letting one AWS service assume the role."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": service_principal(service),
        "Action": "sts:AssumeRole",
    }
    if condition is not None:
        statement["Condition"] = condition
    return policy_document(statement)


def service_role(
    title: str,
    *,
    service: str,
    policies: Mapping[str, Sequence[dict]],
    tags: Tags,
    managed: Sequence[AWSHelperFn] = (),
    trust_condition: dict | None = None,
    **extra: Any,
) -> iam.Role:
    """A role assumed by `service`, with one inline policy per name; `extra` holds the rest
    (a Condition, say)."""
    if managed:
        extra["ManagedPolicyArns"] = list(managed)
    return iam.Role(
        title,
        AssumeRolePolicyDocument=assume_role_policy(service, condition=trust_condition),
        Policies=[
            iam.Policy(PolicyName=name, PolicyDocument=policy_document(*statements))
            for name, statements in policies.items()
        ],
        Tags=tags,
        **extra,
    )


# --- ARNs ----------------------------------------------------------------------------------------


def regional_arn(service: str, resource: str, **variables: Any) -> Sub:
    """arn:<partition>:<service>:<region>:<account>:<resource> in this stack's account and region;
    `resource` may name ${...} variables, given as keywords."""
    return Sub(
        f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}", **variables
    )


def aws_managed_policy(name: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{name}")


def objects_arn(bucket_arn: Any, prefix: str) -> Sub:
    """The ARN of every object under `prefix` (e.g. "events/") of a bucket given by its ARN."""
    return Sub(f"${{BucketArn}}/{prefix}*", BucketArn=bucket_arn)


# --- statements more than one stack needs --------------------------------------------------------


def tls_only_statement(bucket: Any) -> dict:
    """Bucket policy statement refusing any request to the bucket or its objects without TLS."""
    return deny(
        "s3:*",
        [GetAtt(bucket, "Arn"), Sub(f"${{{bucket.title}.Arn}}/*")],
        sid="DenyInsecureTransport",
        condition={"Bool": {"aws:SecureTransport": "false"}},
    )


def lambda_vpc_statements(subnet: Any, security_group: Any) -> list[dict]:
    """What a function in a VPC needs for its network interfaces: create them only in its own
    subnet and security group; delete and re-address any (Lambda's documented requirement: their
    ids are not known in advance); describe the VPC (no resource-level permissions)."""
    return [
        allow(
            "ec2:CreateNetworkInterface",
            [
                regional_arn("ec2", "subnet/${Subnet}", Subnet=subnet),
                regional_arn("ec2", "security-group/${Sg}", Sg=security_group),
                regional_arn("ec2", "network-interface/*"),
            ],
            sid="CreateEniInEtlSubnet",
        ),
        allow(
            ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
            regional_arn("ec2", "*/*"),
            sid="ManageLambdaEnis",
        ),
        allow(list(ENI_DESCRIBE_ACTIONS), "*", sid="DescribeVpcNetworking"),
    ]
