"""Monitoring stack: optional VPC flow logs and a CloudWatch dashboard for ingest and ETL."""

from __future__ import annotations

import json

from troposphere import GetAtt, Parameter, Ref, Sub, Template, cloudwatch, ec2, logs

from stacks.iam import allow, service_role
from stacks.lambdas import LOG_RETENTION_DAYS
from stacks.params import BuildParams
from stacks.template import (
    finish,
    import_from,
    new_template,
    number_parameter,
    stack_name_parameter,
    standard_tags,
    string_parameter,
    switch,
)

STACK = "monitoring"


def _metric_widget(title: str, metrics: list, x: int, y: int, stat: str = "Sum") -> dict:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "stat": stat,
            "period": 300,
            "view": "timeSeries",
            "metrics": metrics,
        },
    }


def dashboard_body() -> str:
    """Dashboard JSON with ${...} placeholders that Fn::Sub fills from the imports."""
    api = ["AWS/ApiGateway"]
    lam = ["AWS/Lambda"]
    widgets = [
        _metric_widget(
            "Ingest API requests and errors",
            [
                [*api, "Count", "ApiId", "${ApiId}"],
                [*api, "4xx", "ApiId", "${ApiId}"],
                [*api, "5xx", "ApiId", "${ApiId}"],
            ],
            0,
            0,
        ),
        _metric_widget("Ingest API latency (p99)", [[*api, "Latency", "ApiId", "${ApiId}"]], 12, 0, "p99"),
        _metric_widget(
            "Lambda Ingest",
            [
                [*lam, "Invocations", "FunctionName", "${IngestFunction}"],
                [*lam, "Errors", "FunctionName", "${IngestFunction}"],
                [*lam, "Throttles", "FunctionName", "${IngestFunction}"],
            ],
            0,
            6,
        ),
        _metric_widget(
            "Lambda ETL runs and errors",
            [
                [*lam, "Invocations", "FunctionName", "${EtlFunction}"],
                [*lam, "Errors", "FunctionName", "${EtlFunction}"],
            ],
            12,
            6,
        ),
        _metric_widget(
            "Lambda ETL duration (max, ms)",
            [[*lam, "Duration", "FunctionName", "${EtlFunction}"]],
            0,
            12,
            "Maximum",
        ),
        _metric_widget(
            "ETL dead-letter queue depth",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${EtlDlq}"],
            ],
            12,
            12,
            "Maximum",
        ),
    ]
    return json.dumps({"widgets": widgets}, separators=(",", ":"))


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream monitoring: optional VPC flow logs, ingest/ETL CloudWatch dashboard")
    network = stack_name_parameter(t, params, "network")
    ingest = stack_name_parameter(t, params, "ingest")
    etl = stack_name_parameter(t, params, "etl")
    _flow_logs(t, params, network)
    t.add_resource(
        cloudwatch.Dashboard(
            "PipelineDashboard",
            DashboardName=params.name("clickstream-pipeline"),
            DashboardBody=Sub(
                dashboard_body(),
                {
                    "ApiId": import_from(ingest, "ApiId"),
                    "IngestFunction": import_from(ingest, "IngestFunctionName"),
                    "EtlFunction": import_from(etl, "EtlFunctionName"),
                    "EtlDlq": import_from(etl, "EtlDeadLetterQueueName"),
                },
            ),
        )
    )
    _freshness_alarms(t, params)
    return finish(t, params, STACK)


#: The ETL's own metrics (functions/etl/metrics.py, embedded metric format in its log).
ETL_METRICS_NAMESPACE = "Clickstream/ETL"


def _freshness_alarms(t: Template, params: BuildParams) -> None:
    """Alarms on the ETL's freshness: the newest loaded hour too old, no successful run for too
    long (no data at all counts: a function that stopped running publishes nothing), open
    data-quality anomalies."""
    newest = number_parameter(t, "NewestHourAlarmSeconds", 3 * 3600,
                              "Alarm when the newest loaded raw hour ended longer ago than this",
                              minimum=3600)
    success = number_parameter(t, "LastSuccessAlarmSeconds", 2 * 3600,
                               "Alarm when no ETL run succeeded for longer than this", minimum=3600)
    for title, metric, threshold, missing, what in (
        ("NewestLoadedHourAlarm", "NewestLoadedHourAgeSeconds", Ref(newest), "breaching",
         "the newest loaded hour of raw events is too old"),
        ("LastSuccessAlarm", "SecondsSinceLastSuccess", Ref(success), "breaching",
         "no ETL run succeeded for too long"),
        ("OpenAnomaliesAlarm", "OpenAnomalies", 0, "notBreaching",
         "the data-quality check flagged hours (dashboard.anomalies)"),
    ):
        t.add_resource(cloudwatch.Alarm(
            title,
            AlarmName=params.name(f"clickstream-etl-{metric}"),
            AlarmDescription=f"Clickstream ETL: {what}",
            Namespace=ETL_METRICS_NAMESPACE,
            MetricName=metric,
            Dimensions=[cloudwatch.MetricDimension(Name="Environment", Value=params.env)],
            Statistic="Maximum",
            Period=3600,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData=missing,
        ))


def _flow_logs(t: Template, params: BuildParams, network: Parameter) -> None:
    """Opt-in (EnableFlowLogs) VPC flow log into its own log group, through its own role."""
    condition = switch(
        t,
        "EnableFlowLogs",
        "FlowLogsEnabled",
        default=False,
        description="Record VPC flow logs (REJECT only by default) into CloudWatch Logs",
    )
    traffic = string_parameter(
        t,
        "FlowLogTrafficType",
        "REJECT",
        "Which traffic the flow log records",
        allowed=["ACCEPT", "REJECT", "ALL"],
    )
    retention = number_parameter(
        t, "FlowLogRetentionDays", 14, "Retention of the flow log group", allowed=LOG_RETENTION_DAYS
    )
    group = t.add_resource(
        logs.LogGroup(
            "FlowLogGroup",
            Condition=condition,
            LogGroupName=Sub("/clickstream/${AWS::StackName}/vpc-flow-logs"),
            RetentionInDays=Ref(retention),
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
        )
    )
    role = t.add_resource(
        service_role(
            "FlowLogRole",
            Condition=condition,
            service="vpc-flow-logs.amazonaws.com",
            trust_condition={"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}},
            policies={
                "write-flow-log-group": [
                    allow(
                        ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        GetAtt(group, "Arn"),
                    )
                ]
            },
            tags=standard_tags(params, STACK),
        )
    )
    t.add_resource(
        ec2.FlowLog(
            "VpcFlowLog",
            Condition=condition,
            ResourceId=import_from(network, "VpcId"),
            ResourceType="VPC",
            TrafficType=Ref(traffic),
            LogDestinationType="cloud-watch-logs",
            LogGroupName=Ref(group),
            DeliverLogsPermissionArn=GetAtt(role, "Arn"),
            Tags=standard_tags(params, STACK),
        )
    )
