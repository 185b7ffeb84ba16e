"""Ingest stack: HTTP API `POST /clickstream` -> Lambda Ingest (outside the VPC) -> raw bucket.

Flows (4-5) of the seeds: the browser posts events, Lambda Ingest validates, enriches and writes
events/YYYY/MM/DD/HH/events-<uuid>.json into the raw bucket.
"""

from __future__ import annotations

from troposphere import GetAtt, Parameter, Ref, Sub, Template, apigatewayv2, awslambda, logs

from stacks.iam import allow, objects_arn
from stacks.lambdas import (
    COMMON_LAMBDA_SKIPS,
    LOG_RETENTION_DAYS,
    LambdaParameters,
    lambda_function,
    lambda_parameters,
    lambda_role,
    log_group,
)
from stacks.params import RAW_EVENTS_PREFIX, BuildParams
from stacks.template import (
    checkov_skip,
    export,
    finish,
    import_from,
    new_template,
    number_parameter,
    stack_name_parameter,
    standard_tags,
    string_parameter,
    tag_map,
)

STACK = "ingest"
HANDLER = "functions.ingest.handler.handler"
FUNCTION_SEED_NAME = "SBW_Lamda_Ingest"
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
        function_name=params.name(FUNCTION_SEED_NAME),
        zip_name="lambda-ingest.zip",
        memory=256,
        timeout=10,
    )
    function = _function(t, params, fn, data)
    api, route = _http_api(t, params, function)
    _stage(t, params, api, route)
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


def _function(t: Template, params: BuildParams, fn: LambdaParameters, data: Parameter) -> awslambda.Function:
    """The function outside the VPC, its log group and its role: put objects under events/ only."""
    group = log_group(t, "IngestLogGroup", fn)
    role = t.add_resource(
        lambda_role(
            "IngestRole",
            group,
            policy_name="ingest-write-raw-events",
            statements=[
                allow(
                    "s3:PutObject",
                    objects_arn(import_from(data, "RawBucketArn"), RAW_EVENTS_PREFIX),
                    sid="PutRawEventsOnly",
                )
            ],
            tags=standard_tags(params, STACK),
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
    return function


def _http_api(
    t: Template, params: BuildParams, function: awslambda.Function
) -> tuple[apigatewayv2.Api, apigatewayv2.Route]:
    """The HTTP API with its CORS rules, and the one route proxied to the function."""
    origins = string_parameter(
        t,
        "CorsAllowedOrigins",
        "http://localhost:3000",
        "Origins allowed to POST events (the Amplify app's domain); comma-separated",
        cfn_type="CommaDelimitedList",
    )
    api = t.add_resource(
        apigatewayv2.Api(
            "HttpApi",
            Name=f"{params.name(FUNCTION_SEED_NAME)}-api",
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
            Tags=tag_map(params),
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
    return api, route


def _stage(t: Template, params: BuildParams, api: apigatewayv2.Api, route: apigatewayv2.Route) -> None:
    """The $default stage: throttling, and JSON access logs in their own log group."""
    burst = number_parameter(t, "ThrottlingBurstLimit", 200, "Stage burst limit", minimum=1)
    rate = number_parameter(
        t, "ThrottlingRateLimit", 100, "Stage steady-state requests per second", minimum=1
    )
    retention = number_parameter(
        t, "AccessLogRetentionDays", 30, "Retention of the API access log group", allowed=LOG_RETENTION_DAYS
    )
    access_logs = t.add_resource(
        logs.LogGroup(
            "ApiAccessLogGroup",
            LogGroupName=Sub("/aws/apigateway/${HttpApi}/access"),
            RetentionInDays=Ref(retention),
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
            Tags=tag_map(params),
        )
    )
