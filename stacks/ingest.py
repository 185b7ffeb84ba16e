"""Ingest stack: HTTP API `POST /clickstream` -> Lambda Ingest (outside the VPC) -> raw bucket.

Flows (4-5) of the seeds: the browser posts events, Lambda Ingest validates, enriches and writes
events/YYYY/MM/DD/HH/events-<uuid>.json into the raw bucket.
"""

from __future__ import annotations

from troposphere import GetAtt, Parameter, Ref, Sub, Template, apigatewayv2, awslambda, iam, logs

from stacks.lambdas import (
    COMMON_LAMBDA_SKIPS,
    LAMBDA_ASSUME_ROLE,
    LOG_RETENTION_DAYS,
    lambda_function,
    lambda_parameters,
    log_group,
    log_write_statement,
)
from stacks.params import (
    BuildParams,
    checkov_skip,
    export,
    finish,
    import_from,
    new_template,
    stack_name_parameter,
    standard_tags,
)

STACK = "ingest"
HANDLER = "functions.ingest.handler.handler"
# ANY, not POST: the function itself answers other methods with the contract's 405 (a POST-only
# route would make API Gateway answer 404). Preflight OPTIONS is answered by the CORS configuration.
ROUTE_KEY = "ANY /clickstream"

ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTime","routeKey":"$context.routeKey","status":"$context.status",'
    '"protocol":"$context.protocol","responseLength":"$context.responseLength",'
    '"integrationStatus":"$context.integrationStatus","integrationError":"$context.integrationErrorMessage",'
    '"latency":"$context.responseLatency"}'
)


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream ingest: HTTP API POST /clickstream -> Lambda Ingest -> raw S3 bucket")
    data = stack_name_parameter(t, params, "data")
    fn = lambda_parameters(
        t,
        prefix="Ingest",
        function_name=params.name("SBW_Lamda_Ingest"),
        zip_name="lambda-ingest.zip",
        memory=256,
        timeout=10,
    )
    origins = t.add_parameter(
        Parameter(
            "CorsAllowedOrigins",
            Type="CommaDelimitedList",
            Default="http://localhost:3000",
            Description="Origins allowed to POST events (the Amplify app's domain); comma-separated",
        )
    )
    burst = t.add_parameter(
        Parameter(
            "ThrottlingBurstLimit", Type="Number", Default=200, MinValue=1, Description="Stage burst limit"
        )
    )
    rate = t.add_parameter(
        Parameter(
            "ThrottlingRateLimit",
            Type="Number",
            Default=100,
            MinValue=1,
            Description="Stage steady-state requests per second",
        )
    )
    access_log_retention = t.add_parameter(
        Parameter(
            "AccessLogRetentionDays",
            Type="Number",
            Default=30,
            AllowedValues=LOG_RETENTION_DAYS,
            Description="Retention of the API access log group",
        )
    )

    raw_bucket_arn = import_from(data, "RawBucketArn")
    group = log_group(t, "IngestLogGroup", fn)
    role = t.add_resource(
        iam.Role(
            "IngestRole",
            AssumeRolePolicyDocument=LAMBDA_ASSUME_ROLE,
            Policies=[
                iam.Policy(
                    PolicyName="ingest-write-raw-events",
                    PolicyDocument={
                        "Version": "2012-10-17",
                        "Statement": [
                            log_write_statement(group),
                            {
                                "Sid": "PutRawEventsOnly",
                                "Effect": "Allow",
                                "Action": "s3:PutObject",
                                "Resource": Sub("${RawBucketArn}/events/*", RawBucketArn=raw_bucket_arn),
                            },
                        ],
                    },
                )
            ],
            Tags=standard_tags(params, STACK),
        )
    )
    function = lambda_function(
        t,
        "IngestFunction",
        fn,
        group=group,
        role=role,
        description="Validates and enriches clickstream events, writes them to the raw bucket",
        handler=HANDLER,
        environment={"RAW_BUCKET": import_from(data, "RawBucketName")},
        tags=standard_tags(params, STACK),
    )
    checkov_skip(
        function,
        *COMMON_LAMBDA_SKIPS,
        (
            "CKV_AWS_115",
            "Throughput is capped by the API stage throttling; reserving concurrency would take "
            "it from the account's unreserved pool.",
        ),
        (
            "CKV_AWS_116",
            "Invoked synchronously by API Gateway (the client sees errors); a DLQ applies only "
            "to asynchronous invocations.",
        ),
        (
            "CKV_AWS_117",
            "Outside the VPC by design (seed): it only writes to S3 and needs no private resources.",
        ),
    )

    api = t.add_resource(
        apigatewayv2.Api(
            "HttpApi",
            Name=Sub("${IngestFunctionName}-api"),
            ProtocolType="HTTP",
            Description="Clickstream ingest endpoint",
            CorsConfiguration=apigatewayv2.Cors(
                AllowOrigins=Ref(origins),
                AllowMethods=["POST", "OPTIONS"],
                # content-encoding: browsers may send gzip bodies (the contract accepts them).
                AllowHeaders=["content-type", "content-encoding"],
                # The browser tracker waits as long as a 503's Retry-After says; cross-origin it
                # can read that header only if it is exposed.
                ExposeHeaders=["retry-after"],
                MaxAge=3600,
            ),
            Tags={"project": "clickstream", "clickstream:env": params.env},
        )
    )
    t.add_resource(
        apigatewayv2.Integration(
            "IngestIntegration",
            ApiId=Ref(api),
            IntegrationType="AWS_PROXY",
            IntegrationUri=GetAtt(function, "Arn"),
            PayloadFormatVersion="2.0",
            TimeoutInMillis=10000,
        )
    )
    route = t.add_resource(
        apigatewayv2.Route(
            "ClickstreamRoute",
            ApiId=Ref(api),
            RouteKey=ROUTE_KEY,
            AuthorizationType="NONE",
            Target=Sub("integrations/${IngestIntegration}"),
        )
    )
    access_logs = t.add_resource(
        logs.LogGroup(
            "ApiAccessLogGroup",
            LogGroupName=Sub("/aws/apigateway/${HttpApi}/access"),
            RetentionInDays=Ref(access_log_retention),
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
        )
    )
    checkov_skip(
        access_logs,
        (
            "CKV_AWS_158",
            "Access logs hold request metadata only; CloudWatch encrypts them at rest with its own keys.",
        ),
    )
    t.add_resource(
        apigatewayv2.Stage(
            "DefaultStage",
            DependsOn=[route.title],
            ApiId=Ref(api),
            StageName="$default",
            AutoDeploy=True,
            DefaultRouteSettings=apigatewayv2.RouteSettings(
                ThrottlingBurstLimit=Ref(burst), ThrottlingRateLimit=Ref(rate), DetailedMetricsEnabled=False
            ),
            AccessLogSettings=apigatewayv2.AccessLogSettings(
                DestinationArn=GetAtt(access_logs, "Arn"), Format=ACCESS_LOG_FORMAT
            ),
            Tags={"project": "clickstream", "clickstream:env": params.env},
        )
    )
    t.add_resource(
        awslambda.Permission(
            "ApiInvokePermission",
            FunctionName=GetAtt(function, "Arn"),
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=Sub(
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/*/clickstream"
            ),
        )
    )

    export(t, "ApiId", Ref(api), "HTTP API id")
    export(t, "ApiEndpoint", Sub("${HttpApi.ApiEndpoint}/clickstream"), "URL the frontend posts events to")
    export(t, "IngestFunctionName", Ref(function), "Lambda Ingest function name")
    export(t, "IngestFunctionArn", GetAtt(function, "Arn"), "Lambda Ingest function ARN")
    return finish(t, params, STACK)
