"""ETL stack: Lambda ETL in the private ETL subnet, started hourly by EventBridge (flows 9-11).

It reads new objects from the raw bucket through the S3 gateway endpoint, fetches the DW password
from an SSM SecureString parameter through the SSM interface endpoint, and loads the warehouse on
the DW host's private IP; for booked revenue it reads the shop's orders on the OLTP host's private
IP as the analytics login (its password another SecureString). Failed schedule deliveries and
failed asynchronous invocations land in one SQS dead-letter queue; alarms watch errors, duration
and that queue.

It also holds the customer-managed KMS key of the database password SecureStrings (the ETL's and
the hosts'): the first stack after every role its key policy names (params.SECRETS_KEY_STACK).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from troposphere import (
    Equals,
    GetAtt,
    If,
    ImportValue,
    Join,
    NoValue,
    Parameter,
    Ref,
    Template,
    awslambda,
    cloudwatch,
    events,
    iam,
    kms,
    sqs,
)

from stacks.hosts import HOSTS
from stacks.iam import (
    allow,
    lambda_vpc_statements,
    objects_arn,
    policy_document,
    regional_arn,
    service_principal,
)
from stacks.kms import account_principal, customer_managed_key, via_service
from stacks.lambdas import (
    COMMON_LAMBDA_SKIPS,
    LambdaParameters,
    lambda_function,
    lambda_parameters,
    lambda_role,
    log_group,
)
from stacks.params import (
    DW_DATABASE,
    DW_PORT,
    DW_WRITER_LOGIN,
    OLTP_ANALYTICS_LOGIN,
    OLTP_DATABASE,
    OLTP_PORT,
    RAW_ENRICHMENT_PREFIX,
    RAW_EVENTS_PREFIX,
    BuildParams,
    dw_password_parameter_name,
    host_parameter_path,
    oltp_password_parameter_name,
    password_parameters,
    tls_ca_key_parameter_name,
)
from stacks.template import (
    checkov_skip,
    export,
    finish,
    import_from,
    new_template,
    number_parameter,
    optional_parameter,
    stack_name_parameter,
    standard_tags,
    string_parameter,
)

STACK = "etl"
HANDLER = "functions.etl.handler.handler"
FUNCTION_SEED_NAME = "SBW_Lamda_ETL"


@dataclass(frozen=True)
class Imports:
    """What the ETL takes from the earlier stacks."""

    etl_subnet: ImportValue
    etl_security_group: ImportValue
    raw_bucket_arn: ImportValue
    raw_bucket_name: ImportValue
    dw_private_ip: ImportValue
    oltp_private_ip: ImportValue


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream ETL: hourly EventBridge rule -> Lambda ETL (VPC) -> PostgreSQL warehouse")
    network, data, hosts = (stack_name_parameter(t, params, s) for s in ("network", "data", "hosts"))
    imports = Imports(
        etl_subnet=import_from(network, "EtlSubnetId"),
        etl_security_group=import_from(network, "EtlLambdaSecurityGroupId"),
        raw_bucket_arn=import_from(data, "RawBucketArn"),
        raw_bucket_name=import_from(data, "RawBucketName"),
        dw_private_ip=import_from(hosts, "DwPrivateIp"),
        oltp_private_ip=import_from(hosts, "OltpPrivateIp"),
    )
    fn = lambda_parameters(
        t,
        prefix="Etl",
        function_name=params.name(FUNCTION_SEED_NAME),
        zip_name="lambda-etl.zip",
        memory=512,
        timeout=300,
    )
    dlq = _dead_letter_queue(t, params)
    function, role = _function(t, params, fn, dlq, imports)
    rule = _schedule(t, params, function, dlq)
    _alarms(t, function, dlq)
    key = _database_secrets_key(t, params, role, hosts)
    export(t, "EtlFunctionName", Ref(function), "Lambda ETL function name")
    export(t, "EtlFunctionArn", GetAtt(function, "Arn"), "Lambda ETL function ARN")
    export(t, "EtlScheduleRuleName", Ref(rule), "EventBridge rule starting the ETL")
    export(t, "EtlDeadLetterQueueName", GetAtt(dlq, "QueueName"), "ETL dead-letter queue")
    export(
        t,
        "DatabaseSecretsKeyArn",
        GetAtt(key, "Arn"),
        "KMS key of the database password SecureStrings (deploy creates them with it)",
    )
    return finish(t, params, STACK)


def _dead_letter_queue(t: Template, params: BuildParams) -> sqs.Queue:
    """Where failed schedule deliveries and failed asynchronous invocations land."""
    dlq = t.add_resource(
        sqs.Queue(
            "EtlDeadLetterQueue",
            QueueName=f"{params.name(FUNCTION_SEED_NAME)}-dlq",
            MessageRetentionPeriod=1209600,
            SqsManagedSseEnabled=True,
            DeletionPolicy="Delete",  # holds only trigger envelopes
            UpdateReplacePolicy="Delete",
            Tags=standard_tags(params, STACK),
        )
    )
    checkov_skip(
        dlq,
        (
            "CKV_AWS_27",
            "Encrypted with SQS-managed SSE: EventBridge cannot deliver to a queue "
            "under the AWS-managed SQS KMS key, and a customer key per queue "
            "is not worth its cost for trigger envelopes.",
        ),
    )
    return dlq


def _warehouse_environment(t: Template, imports: Imports, password_parameter: str) -> dict:
    """The DWH_* variables: where the warehouse is and which login the ETL uses."""
    dw_host = string_parameter(
        t, "DwHost", "", "DWH_HOST; empty = the DW host's private IP exported by the hosts stack"
    )
    t.add_condition("DwHostFromHostsStack", Equals(Ref(dw_host), ""))
    return {
        "DWH_HOST": If("DwHostFromHostsStack", imports.dw_private_ip, Ref(dw_host)),
        "DWH_PORT": str(DW_PORT),
        "DWH_USER": DW_WRITER_LOGIN,
        "DWH_DATABASE": DW_DATABASE,
        "DWH_PASSWORD_PARAM": password_parameter,
    }


def _shop_environment(imports: Imports, password_parameter: str) -> dict:
    """The OLTP_* variables of booked revenue (functions/etl/orders.py): the shop's database on
    the OLTP host's private IP (inside the VPC), as the analytics login. No OLTP_SSLROOTCERT, so
    sslmode=require: the hosts' certificates are not from a private CA the ETL could verify yet."""
    return {
        "OLTP_HOST": imports.oltp_private_ip,
        "OLTP_PORT": str(OLTP_PORT),
        "OLTP_DATABASE": OLTP_DATABASE,
        "OLTP_USER": OLTP_ANALYTICS_LOGIN,
        "OLTP_PASSWORD_PARAM": password_parameter,
    }


def _country_database_environment(t: Template, imports: Imports) -> dict:
    """GEOIP_COUNTRY_DB: a country database the operator put under enrichment/ in the raw bucket
    (functions/enrichment/geo.py fetches it once per cold start); empty: no geography."""
    key = string_parameter(
        t, "CountryDatabaseKey", "",
        f"GEOIP_COUNTRY_DB: key of a MaxMind-format country database in the raw bucket, under "
        f"{RAW_ENRICHMENT_PREFIX} (empty: sessions have no country)",
        pattern=rf"^({RAW_ENRICHMENT_PREFIX}[A-Za-z0-9._/-]+\.mmdb)?$",
    )
    t.add_condition("NoCountryDatabase", Equals(Ref(key), ""))
    location = Join("", ["s3://", imports.raw_bucket_name, "/", Ref(key)])
    return {"GEOIP_COUNTRY_DB": If("NoCountryDatabase", "", location)}


def _function(
    t: Template, params: BuildParams, fn: LambdaParameters, dlq: sqs.Queue, imports: Imports
) -> tuple[awslambda.Function, iam.Role]:
    """The function in the ETL subnet, its log group and its role: list and read the raw
    events, read its two password parameters (the warehouse's, the shop's), dead-letter failed
    runs, manage its network interfaces."""
    group = log_group(t, "EtlLogGroup", fn)
    raw_bucket_arn = imports.raw_bucket_arn
    password_parameter = dw_password_parameter_name(params.env, DW_WRITER_LOGIN)
    shop_password_parameter = oltp_password_parameter_name(params.env, OLTP_ANALYTICS_LOGIN)
    role = t.add_resource(
        lambda_role(
            "EtlRole",
            group,
            policy_name="etl-read-raw-load-dw",
            statements=[
                allow(
                    "s3:ListBucket",
                    raw_bucket_arn,
                    sid="ListRawEvents",
                    condition={"StringLike": {"s3:prefix": [RAW_EVENTS_PREFIX, f"{RAW_EVENTS_PREFIX}*"]}},
                ),
                allow(
                    "s3:GetObject",
                    objects_arn(raw_bucket_arn, RAW_EVENTS_PREFIX),
                    sid="ReadRawEvents",
                ),
                allow(
                    "s3:GetObject",
                    objects_arn(raw_bucket_arn, RAW_ENRICHMENT_PREFIX),
                    sid="ReadEnrichmentData",
                ),
                allow(
                    "ssm:GetParameter",
                    regional_arn("ssm", f"parameter{password_parameter}"),
                    sid="ReadDwPassword",
                ),
                allow(
                    "ssm:GetParameter",
                    regional_arn("ssm", f"parameter{shop_password_parameter}"),
                    sid="ReadOltpAnalyticsPassword",
                ),
                allow("sqs:SendMessage", GetAtt(dlq, "Arn"), sid="DeadLetterFailedInvocations"),
                *lambda_vpc_statements(imports.etl_subnet, imports.etl_security_group),
            ],
            tags=standard_tags(params, STACK),
        )
    )
    function = lambda_function(
        t,
        "EtlFunction",
        fn,
        group=group,
        role=role,
        description="Loads new raw clickstream objects into the PostgreSQL warehouse",
        handler=HANDLER,
        environment={
            **_warehouse_environment(t, imports, password_parameter),
            **_shop_environment(imports, shop_password_parameter),
            **_country_database_environment(t, imports),
            "RAW_BUCKET": imports.raw_bucket_name,
            # the Environment dimension of the run's metrics (functions/etl/metrics.py)
            "PLATFORM_ENV": params.env,
        },
        tags=standard_tags(params, STACK),
        ReservedConcurrentExecutions=1,  # one run at a time: runs must not overlap on the same window
        VpcConfig=awslambda.VPCConfig(
            SubnetIds=[imports.etl_subnet], SecurityGroupIds=[imports.etl_security_group]
        ),
        DeadLetterConfig=awslambda.DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn")),
    )
    checkov_skip(function, *COMMON_LAMBDA_SKIPS)
    return function, role


def _etl_password_arns(params: BuildParams) -> list:
    """The ARNs of the two password parameters the ETL reads (its GetParameter grants)."""
    return [
        regional_arn("ssm", f"parameter{name}")
        for name in (
            dw_password_parameter_name(params.env, DW_WRITER_LOGIN),
            oltp_password_parameter_name(params.env, OLTP_ANALYTICS_LOGIN),
        )
    ]


def _through_ssm(parameter_arns: list, *, exact: bool) -> dict:
    """The conditions of a use of the key: asked by Parameter Store in this region for this
    account, for these parameters (exact ARNs, or path patterns ending in *). Parameter Store
    encrypts each SecureString under the encryption context PARAMETER_ARN = the parameter's ARN."""
    context = {"kms:EncryptionContext:PARAMETER_ARN": parameter_arns}
    if exact:
        return {"StringEquals": {**via_service("ssm"), **context}}
    return {"StringEquals": via_service("ssm"), "StringLike": context}


def _database_secrets_key(t: Template, params: BuildParams, etl_role: iam.Role, hosts: Parameter) -> kms.Key:
    """The customer-managed key of the password SecureStrings, its alias, and who may use it.

    The key policy names each reader and what it may decrypt, through Parameter Store only: the
    ETL role its two passwords, each host role the parameters under its own path. The operator
    (the account, as far as its IAM allows) may encrypt and decrypt the four passwords through
    Parameter Store: `deploy` creates them, the aws inventory reads them. Each reader's IAM grant
    of the same decrypt is a policy of its own: inline in the ETL role it would make the role and
    the key policy refer to each other."""
    etl_arns = _etl_password_arns(params)
    all_arns = [regional_arn("ssm", f"parameter{name}") for name, _ in password_parameters(params.env)]
    host_grants = [
        (
            host,
            import_from(hosts, f"{host.key}HostRoleArn"),
            [regional_arn("ssm", f"parameter{host_parameter_path(params.env, host.role)}*")],
        )
        for host in HOSTS
    ]
    key = t.add_resource(
        customer_managed_key(
            "DatabaseSecretsKey",
            description=f"{params.env} clickstream database password SecureStrings (SSM Parameter Store)",
            statements=[
                allow(
                    ["kms:Encrypt", "kms:Decrypt"],
                    "*",
                    sid="OperatorManagesPasswordsThroughSsm",
                    principal=account_principal(),
                    condition=_through_ssm(all_arns, exact=True),
                ),
                # `deploy` creates the database CA's key (stacks/tls_ca.py) as a SecureString under
                # this key; the playbook's controller reads it to sign the hosts' certificates.
                allow(
                    ["kms:Encrypt", "kms:Decrypt"],
                    "*",
                    sid="OperatorManagesDatabaseCaKeyThroughSsm",
                    principal=account_principal(),
                    condition=_through_ssm(
                        [regional_arn("ssm", f"parameter{tls_ca_key_parameter_name(params.env)}")], exact=True
                    ),
                ),
                allow(
                    "kms:Decrypt",
                    "*",
                    sid="EtlRoleDecryptsItsPasswords",
                    principal={"AWS": GetAtt(etl_role, "Arn")},
                    condition=_through_ssm(etl_arns, exact=True),
                ),
                *(
                    allow(
                        "kms:Decrypt",
                        "*",
                        sid=f"{host.key}HostRoleDecryptsItsParameters",
                        principal={"AWS": role_arn},
                        condition=_through_ssm(path_arns, exact=False),
                    )
                    for host, role_arn, path_arns in host_grants
                ),
            ],
            tags=standard_tags(params, STACK),
        )
    )
    t.add_resource(
        kms.Alias("DatabaseSecretsKeyAlias", AliasName=params.secrets_key_alias(), TargetKeyId=Ref(key))
    )
    t.add_resource(
        iam.PolicyType(
            "EtlPasswordsKeyPolicy",
            PolicyName="etl-decrypt-passwords",
            Roles=[Ref(etl_role)],
            PolicyDocument=policy_document(
                allow(
                    "kms:Decrypt",
                    GetAtt(key, "Arn"),
                    sid="DecryptEtlPasswords",
                    condition=_through_ssm(etl_arns, exact=True),
                )
            ),
        )
    )
    for host, _, path_arns in host_grants:
        t.add_resource(
            iam.PolicyType(
                f"{host.key}HostParametersKeyPolicy",
                PolicyName=f"{host.role}-decrypt-own-parameters",
                Roles=[import_from(hosts, f"{host.key}HostRoleName")],
                PolicyDocument=policy_document(
                    allow(
                        "kms:Decrypt",
                        GetAtt(key, "Arn"),
                        sid=f"Decrypt{host.key}Parameters",
                        condition=_through_ssm(path_arns, exact=False),
                    )
                ),
            )
        )
    return key


def _schedule(t: Template, params: BuildParams, function: awslambda.Function, dlq: sqs.Queue) -> events.Rule:
    """The hourly rule starting the function, and the retries of both hops (EventBridge's
    delivery, Lambda's asynchronous invocation), each ending in the dead-letter queue."""
    schedule = string_parameter(
        t, "ScheduleExpression", "rate(1 hour)", "How often the ETL runs", pattern=r"^(rate|cron)\(.+\)$"
    )
    retries = number_parameter(
        t,
        "ScheduleRetryAttempts",
        2,
        "EventBridge delivery retries before the event goes to the DLQ",
        minimum=0,
        maximum=185,
    )
    max_age = number_parameter(
        t,
        "MaxEventAgeSeconds",
        3600,
        "Drop an hourly trigger older than this (the next run covers its window)",
        minimum=60,
        maximum=21600,
    )
    async_retries = number_parameter(
        t,
        "InvocationRetryAttempts",
        2,
        "Lambda retries of a failed run before it goes to the DLQ",
        minimum=0,
        maximum=2,
    )
    t.add_resource(
        awslambda.EventInvokeConfig(
            "EtlInvokeConfig",
            FunctionName=Ref(function),
            Qualifier="$LATEST",
            MaximumEventAgeInSeconds=Ref(max_age),
            MaximumRetryAttempts=Ref(async_retries),
        )
    )
    rule = t.add_resource(
        events.Rule(
            "EtlScheduleRule",
            Name=params.name("SBW_ETL_HOURLY_RULE"),
            Description="Starts Lambda ETL (batch window: the objects that arrived since the last run)",
            ScheduleExpression=Ref(schedule),
            State="ENABLED",
            Targets=[
                events.Target(
                    Id="SBW_Lamda_ETL",
                    Arn=GetAtt(function, "Arn"),
                    RetryPolicy=events.RetryPolicy(
                        MaximumRetryAttempts=Ref(retries), MaximumEventAgeInSeconds=Ref(max_age)
                    ),
                    DeadLetterConfig=events.DeadLetterConfig(Arn=GetAtt(dlq, "Arn")),
                )
            ],
        )
    )
    _rule_may_invoke(t, rule, function, dlq)
    return rule


def _rule_may_invoke(t: Template, rule: events.Rule, function: awslambda.Function, dlq: sqs.Queue) -> None:
    """The rule, and only the rule, may start the function and dead-letter into the queue."""
    t.add_resource(
        awslambda.Permission(
            "ScheduleInvokePermission",
            FunctionName=GetAtt(function, "Arn"),
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=GetAtt(rule, "Arn"),
        )
    )
    t.add_resource(
        sqs.QueuePolicy(
            "EtlDeadLetterQueuePolicy",
            Queues=[Ref(dlq)],
            PolicyDocument=policy_document(
                allow(
                    "sqs:SendMessage",
                    GetAtt(dlq, "Arn"),
                    sid="ScheduleRuleDeadLetters",
                    principal=service_principal("events.amazonaws.com"),
                    condition={"ArnEquals": {"aws:SourceArn": GetAtt(rule, "Arn")}},
                )
            ),
        )
    )


def _alarms(t: Template, function: awslambda.Function, dlq: sqs.Queue) -> None:
    """Errors, a run close to its timeout, and anything in the dead-letter queue."""
    topic = optional_parameter(
        t,
        "AlarmTopicArn",
        "HasAlarmTopic",
        "SNS topic notified by the alarms; empty = alarms only change state",
        pattern=r"^$|^arn:aws[a-z-]*:sns:.+$",
    )
    duration_ms = number_parameter(
        t,
        "DurationAlarmThresholdMs",
        240000,
        "Alarm when a run's maximum duration exceeds this (keep below the timeout)",
        minimum=1000,
    )
    alarm = partial(_alarm, t, actions=If("HasAlarmTopic", [Ref(topic)], NoValue))
    of_function = [cloudwatch.MetricDimension(Name="FunctionName", Value=Ref(function))]
    alarm(
        "EtlErrorsAlarm",
        "Lambda ETL reported errors in the last hour",
        metric=("AWS/Lambda", "Errors", "Sum"),
        dimensions=of_function,
        threshold=1,
    )
    alarm(
        "EtlDurationAlarm",
        "Lambda ETL ran close to its timeout",
        metric=("AWS/Lambda", "Duration", "Maximum"),
        dimensions=of_function,
        threshold=Ref(duration_ms),
    )
    alarm(
        "EtlDeadLetterAlarm",
        "ETL triggers or invocations landed in the dead-letter queue",
        metric=("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum"),
        dimensions=[cloudwatch.MetricDimension(Name="QueueName", Value=GetAtt(dlq, "QueueName"))],
        threshold=1,
        period=300,
    )


def _alarm(
    t: Template,
    title: str,
    description: str,
    *,
    actions: If,
    metric: tuple[str, str, str],
    dimensions: list[cloudwatch.MetricDimension],
    threshold: object,
    period: int = 3600,
) -> None:
    """Alarm when one period's statistic of (namespace, metric) reaches the threshold; missing
    data is not a breach."""
    namespace, name, statistic = metric
    t.add_resource(
        cloudwatch.Alarm(
            title,
            AlarmDescription=description,
            Namespace=namespace,
            MetricName=name,
            Dimensions=dimensions,
            Statistic=statistic,
            Period=period,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=actions,
        )
    )
