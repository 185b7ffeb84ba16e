"""ETL stack: Lambda ETL in the private ETL subnet, started hourly by EventBridge (flows 9-11).

It reads new objects from the raw bucket through the S3 gateway endpoint, fetches the DW password
from an SSM SecureString parameter through the SSM interface endpoint, and loads the warehouse on
the DW host's private IP. Failed schedule deliveries and failed asynchronous invocations land in
one SQS dead-letter queue; alarms watch errors, duration and that queue.
"""

from __future__ import annotations

from troposphere import (
    Equals,
    GetAtt,
    If,
    Not,
    NoValue,
    Parameter,
    Ref,
    Sub,
    Template,
    awslambda,
    cloudwatch,
    events,
    sqs,
)

from stacks.iam import allow, lambda_vpc_statements, policy_document, regional_arn, service_principal
from stacks.lambdas import (
    COMMON_LAMBDA_SKIPS,
    lambda_function,
    lambda_parameters,
    lambda_role,
    log_group,
)
from stacks.params import BuildParams, dw_password_parameter_name
from stacks.template import (
    checkov_skip,
    export,
    finish,
    import_from,
    new_template,
    stack_name_parameter,
    standard_tags,
)

STACK = "etl"
HANDLER = "functions.etl.handler.handler"


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream ETL: hourly EventBridge rule -> Lambda ETL (VPC) -> PostgreSQL warehouse")
    network = stack_name_parameter(t, params, "network")
    data = stack_name_parameter(t, params, "data")
    hosts = stack_name_parameter(t, params, "hosts")
    fn = lambda_parameters(
        t,
        prefix="Etl",
        function_name=params.name("SBW_Lamda_ETL"),
        zip_name="lambda-etl.zip",
        memory=512,
        timeout=300,
    )
    rule_name = t.add_parameter(
        Parameter(
            "ScheduleRuleName",
            Type="String",
            Default=params.name("SBW_ETL_HOURLY_RULE"),
            AllowedPattern=r"^[.\-_A-Za-z0-9]{1,64}$",
            Description="EventBridge rule name",
        )
    )
    schedule = t.add_parameter(
        Parameter(
            "ScheduleExpression",
            Type="String",
            Default="rate(1 hour)",
            AllowedPattern=r"^(rate|cron)\(.+\)$",
            Description="How often the ETL runs",
        )
    )
    dw_host = t.add_parameter(
        Parameter(
            "DwHost",
            Type="String",
            Default="",
            Description="DWH_HOST; empty = the DW host's private IP exported by the hosts stack",
        )
    )
    dw_port = t.add_parameter(
        Parameter("DwPort", Type="Number", Default=5432, MinValue=1, MaxValue=65535, Description="DWH_PORT")
    )
    dw_user = t.add_parameter(
        Parameter(
            "DwUser",
            Type="String",
            Default="etl_writer",
            AllowedPattern=r"^[a-z_][a-z0-9_]{0,62}$",
            Description="DWH_USER (a member of clickstream_writer)",
        )
    )
    dw_database = t.add_parameter(
        Parameter(
            "DwDatabase",
            Type="String",
            Default="clickstream_dw",
            AllowedPattern=r"^[a-z_][a-z0-9_]{0,62}$",
            Description="DWH_DATABASE",
        )
    )
    dw_password_param = t.add_parameter(
        Parameter(
            "DwPasswordParameterName",
            Type="String",
            Default=dw_password_parameter_name(params.env, "etl_writer"),
            AllowedPattern=r"^/[A-Za-z0-9_./-]{1,1010}$",
            Description="SSM SecureString parameter holding DWH_USER's password (DWH_PASSWORD_PARAM)",
        )
    )
    retries = t.add_parameter(
        Parameter(
            "ScheduleRetryAttempts",
            Type="Number",
            Default=2,
            MinValue=0,
            MaxValue=185,
            Description="EventBridge delivery retries before the event goes to the DLQ",
        )
    )
    max_age = t.add_parameter(
        Parameter(
            "MaxEventAgeSeconds",
            Type="Number",
            Default=3600,
            MinValue=60,
            MaxValue=21600,
            Description="Drop an hourly trigger older than this (the next run covers its window)",
        )
    )
    async_retries = t.add_parameter(
        Parameter(
            "InvocationRetryAttempts",
            Type="Number",
            Default=2,
            MinValue=0,
            MaxValue=2,
            Description="Lambda retries of a failed run before it goes to the DLQ",
        )
    )
    duration_alarm_ms = t.add_parameter(
        Parameter(
            "DurationAlarmThresholdMs",
            Type="Number",
            Default=240000,
            MinValue=1000,
            Description="Alarm when a run's maximum duration exceeds this (keep below the timeout)",
        )
    )
    alarm_topic = t.add_parameter(
        Parameter(
            "AlarmTopicArn",
            Type="String",
            Default="",
            AllowedPattern=r"^$|^arn:aws[a-z-]*:sns:.+$",
            Description="SNS topic notified by the alarms; empty = alarms only change state",
        )
    )
    t.add_condition("DwHostFromHostsStack", Equals(Ref(dw_host), ""))
    t.add_condition("HasAlarmTopic", Not(Equals(Ref(alarm_topic), "")))

    raw_bucket_arn = import_from(data, "RawBucketArn")
    etl_subnet = import_from(network, "EtlSubnetId")
    etl_sg = import_from(network, "EtlLambdaSecurityGroupId")

    dlq = t.add_resource(
        sqs.Queue(
            "EtlDeadLetterQueue",
            QueueName=Sub("${EtlFunctionName}-dlq"),
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

    group = log_group(t, "EtlLogGroup", fn)
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
                    condition={"StringLike": {"s3:prefix": ["events/", "events/*"]}},
                ),
                allow(
                    "s3:GetObject",
                    Sub("${RawBucketArn}/events/*", RawBucketArn=raw_bucket_arn),
                    sid="ReadRawEvents",
                ),
                allow(
                    "ssm:GetParameter",
                    regional_arn("ssm", "parameter${DwPasswordParameterName}"),
                    sid="ReadDwPassword",
                ),
                allow("sqs:SendMessage", GetAtt(dlq, "Arn"), sid="DeadLetterFailedInvocations"),
                *lambda_vpc_statements(etl_subnet, etl_sg),
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
            "DWH_HOST": If("DwHostFromHostsStack", import_from(hosts, "DwPrivateIp"), Ref(dw_host)),
            "DWH_PORT": Ref(dw_port),
            "DWH_USER": Ref(dw_user),
            "DWH_DATABASE": Ref(dw_database),
            "DWH_PASSWORD_PARAM": Ref(dw_password_param),
            "RAW_BUCKET": import_from(data, "RawBucketName"),
        },
        tags=standard_tags(params, STACK),
        ReservedConcurrentExecutions=1,  # one run at a time: runs must not overlap on the same window
        VpcConfig=awslambda.VPCConfig(SubnetIds=[etl_subnet], SecurityGroupIds=[etl_sg]),
        DeadLetterConfig=awslambda.DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn")),
    )
    checkov_skip(function, *COMMON_LAMBDA_SKIPS)
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
            Name=Ref(rule_name),
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

    alarm_actions = If("HasAlarmTopic", [Ref(alarm_topic)], NoValue)

    def alarm(
        title: str,
        description: str,
        *,
        namespace: str,
        metric: str,
        dims: list,
        stat: str,
        threshold: object,
        period: int = 3600,
    ) -> None:
        t.add_resource(
            cloudwatch.Alarm(
                title,
                AlarmDescription=description,
                Namespace=namespace,
                MetricName=metric,
                Dimensions=dims,
                Statistic=stat,
                Period=period,
                EvaluationPeriods=1,
                Threshold=threshold,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                TreatMissingData="notBreaching",
                AlarmActions=alarm_actions,
            )
        )

    fn_dims = [cloudwatch.MetricDimension(Name="FunctionName", Value=Ref(function))]
    alarm(
        "EtlErrorsAlarm",
        "Lambda ETL reported errors in the last hour",
        namespace="AWS/Lambda",
        metric="Errors",
        dims=fn_dims,
        stat="Sum",
        threshold=1,
    )
    alarm(
        "EtlDurationAlarm",
        "Lambda ETL ran close to its timeout",
        namespace="AWS/Lambda",
        metric="Duration",
        dims=fn_dims,
        stat="Maximum",
        threshold=Ref(duration_alarm_ms),
    )
    alarm(
        "EtlDeadLetterAlarm",
        "ETL triggers or invocations landed in the dead-letter queue",
        namespace="AWS/SQS",
        metric="ApproximateNumberOfMessagesVisible",
        dims=[cloudwatch.MetricDimension(Name="QueueName", Value=GetAtt(dlq, "QueueName"))],
        stat="Maximum",
        threshold=1,
        period=300,
    )

    export(t, "EtlFunctionName", Ref(function), "Lambda ETL function name")
    export(t, "EtlFunctionArn", GetAtt(function, "Arn"), "Lambda ETL function ARN")
    export(t, "EtlScheduleRuleName", Ref(rule), "EventBridge rule starting the ETL")
    export(t, "EtlDeadLetterQueueName", GetAtt(dlq, "QueueName"), "ETL dead-letter queue")
    return finish(t, params, STACK)
