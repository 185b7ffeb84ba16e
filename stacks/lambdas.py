"""Pieces shared by the two Lambda stacks (ingest, etl): code location, runtime, log group, role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from troposphere import AWSHelperFn, GetAtt, Parameter, Ref, Tags, Template, awslambda, iam, logs

from stacks.iam import allow, service_role
from stacks.template import checkov_skip, number_parameter, string_parameter

LOG_RETENTION_DAYS = [
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
]

COMMON_LAMBDA_SKIPS = (
    (
        "CKV_AWS_173",
        "Environment holds names only (bucket, host, SSM parameter name), no secrets; the "
        "default AWS-managed key encrypts it at rest.",
    ),
)


@dataclass(frozen=True)
class LambdaParameters:
    """A function's name (fixed) and its deploy-time parameters."""

    name: str
    code_bucket: Parameter
    code_key: Parameter
    runtime: Parameter
    architecture: Parameter
    memory: Parameter
    timeout: Parameter
    log_retention: Parameter


def lambda_parameters(
    t: Template, *, prefix: str, function_name: str, zip_name: str, memory: int, timeout: int
) -> LambdaParameters:
    """Parameters of one function: <prefix>CodeKey, <prefix>MemoryMiB, ..."""
    return LambdaParameters(
        name=function_name,
        code_bucket=t.add_parameter(  # no default: the parameters file must name it
            Parameter(
                "LambdaCodeBucket",
                Type="String",
                AllowedPattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                Description="Bucket holding the zips built by `make package` (no default: yours)",
            )
        ),
        code_key=t.add_parameter(
            Parameter(
                f"{prefix}CodeKey",
                Type="String",
                Default=f"lambda/{zip_name}",
                MinLength=1,
                Description=f"Key of {zip_name} in LambdaCodeBucket",
            )
        ),
        runtime=string_parameter(
            t,
            "LambdaRuntime",
            "python3.11",
            "Python runtime; must match the interpreter the zip's wheels were built for",
            allowed=["python3.11", "python3.12", "python3.13"],
        ),
        architecture=string_parameter(
            t,
            "LambdaArchitecture",
            "x86_64",
            "Must match `make package ARCH=...`",
            allowed=["x86_64", "arm64"],
        ),
        memory=number_parameter(t, f"{prefix}MemoryMiB", memory, "Memory size", minimum=128, maximum=10240),
        timeout=number_parameter(t, f"{prefix}TimeoutSeconds", timeout, "Timeout", minimum=1, maximum=900),
        log_retention=number_parameter(
            t,
            "LogRetentionDays",
            30,
            "Retention of the function's CloudWatch log group",
            allowed=LOG_RETENTION_DAYS,
        ),
    )


def log_group(t: Template, title: str, p: LambdaParameters) -> logs.LogGroup:
    """The function's log group, created before the function so retention applies from the start."""
    group = logs.LogGroup(
        title,
        LogGroupName=f"/aws/lambda/{p.name}",
        RetentionInDays=Ref(p.log_retention),
        DeletionPolicy="Delete",  # bounded by retention; a retained group would block a redeploy's name
        UpdateReplacePolicy="Delete",
    )
    checkov_skip(
        group,
        (
            "CKV_AWS_158",
            "Logs hold request metadata, no secrets; CloudWatch encrypts them "
            "at rest with its own keys, avoiding a KMS key policy per group.",
        ),
    )
    return t.add_resource(group)


def lambda_role(
    title: str, group: logs.LogGroup, *, policy_name: str, statements: Sequence[dict], tags: Tags
) -> iam.Role:
    """The function's role: write to its own log group, and `statements`."""
    write_own_logs = allow(
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        GetAtt(group, "Arn"),  # log-group:<name>:* covers its streams
        sid="WriteOwnLogs",
    )
    return service_role(
        title,
        service="lambda.amazonaws.com",
        policies={policy_name: [write_own_logs, *statements]},
        tags=tags,
    )


def lambda_function(
    t: Template,
    title: str,
    p: LambdaParameters,
    *,
    group: logs.LogGroup,
    role: iam.Role,
    description: str,
    handler: str,
    environment: dict[str, str | AWSHelperFn],
    tags: Tags,
    **extra: object,
) -> awslambda.Function:
    """The function from its parameters, writing to its own log group (created first) with pass-through
    tracing; `extra` holds what only one function sets (VPC, reserved concurrency, DLQ)."""
    return t.add_resource(
        awslambda.Function(
            title,
            DependsOn=[group.title],
            FunctionName=p.name,
            Description=description,
            Handler=handler,
            Runtime=Ref(p.runtime),
            Architectures=[Ref(p.architecture)],
            Code=awslambda.Code(S3Bucket=Ref(p.code_bucket), S3Key=Ref(p.code_key)),
            MemorySize=Ref(p.memory),
            Timeout=Ref(p.timeout),
            Role=GetAtt(role, "Arn"),
            **extra,
            Environment=awslambda.Environment(Variables=environment),
            TracingConfig=awslambda.TracingConfig(Mode="PassThrough"),
            Tags=tags,
        )
    )
