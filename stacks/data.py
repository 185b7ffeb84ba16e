"""Data stack: the raw clickstream bucket (seed: clickstream-s3-ingest) and its access-log bucket.

Flow (5): Lambda Ingest writes events/YYYY/MM/DD/HH/events-<uuid>.json; flow (10): Lambda ETL reads them.
"""

from __future__ import annotations

from troposphere import (
    Equals,
    GetAtt,
    If,
    NoValue,
    Parameter,
    Ref,
    Sub,
    Tags,
    Template,
    s3,
)

from stacks.iam import allow, policy_document, service_principal, tls_only_statement
from stacks.params import BuildParams
from stacks.template import checkov_skip, export, finish, new_template, standard_tags

STACK = "data"

BUCKET_PREFIX_PATTERN = r"^[a-z0-9][a-z0-9-]{2,29}$"


def public_access_block() -> s3.PublicAccessBlockConfiguration:
    return s3.PublicAccessBlockConfiguration(
        BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
    )


def sse_s3() -> s3.BucketEncryption:
    return s3.BucketEncryption(
        ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"),
                BucketKeyEnabled=True,
            )
        ]
    )


def bucket_owner_enforced() -> s3.OwnershipControls:
    """ACLs disabled: the bucket owner owns every object, access is by policy only."""
    return s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")])


def private_bucket(title: str, name: Sub, *, expire_days: Ref, lifecycle_id: str, tags: Tags) -> s3.Bucket:
    """An SSE-S3 encrypted, non-public, owner-enforced bucket whose objects (and abandoned multipart
    uploads) expire: for short-lived data that needs no versions."""
    return s3.Bucket(
        title,
        BucketName=name,
        BucketEncryption=sse_s3(),
        PublicAccessBlockConfiguration=public_access_block(),
        OwnershipControls=bucket_owner_enforced(),
        LifecycleConfiguration=s3.LifecycleConfiguration(
            Rules=[
                s3.LifecycleRule(
                    Id=lifecycle_id,
                    Status="Enabled",
                    ExpirationInDays=expire_days,
                    AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
                )
            ]
        ),
        Tags=tags,
    )


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream data: raw event bucket (encrypted, private, TLS-only) and its access logs")
    tags = standard_tags(params, STACK)

    t.add_parameter(  # used by name in the bucket names' Sub
        Parameter(
            "RawBucketNamePrefix",
            Type="String",
            Default=f"{params.env}-clickstream-s3-ingest",
            AllowedPattern=BUCKET_PREFIX_PATTERN,
            Description="Raw bucket name prefix; the account id and region are appended for uniqueness",
        )
    )
    versioning = t.add_parameter(
        Parameter(
            "RawBucketVersioning",
            Type="String",
            Default="Enabled",
            AllowedValues=["Enabled", "Suspended"],
            Description="Versioning of the raw bucket (protects raw events against overwrite/delete)",
        )
    )
    retention_days = t.add_parameter(
        Parameter(
            "RawObjectRetentionDays",
            Type="Number",
            Default=365,
            MinValue=1,
            Description="Days raw event objects are kept (they are already loaded into the DW)",
        )
    )
    ia_days = t.add_parameter(
        Parameter(
            "RawObjectInfrequentAccessDays",
            Type="Number",
            Default=30,
            MinValue=0,
            Description="Days before raw objects move to STANDARD_IA (0 = never)",
        )
    )
    noncurrent_days = t.add_parameter(
        Parameter(
            "NoncurrentVersionRetentionDays",
            Type="Number",
            Default=30,
            MinValue=1,
            Description="Days old object versions are kept",
        )
    )
    log_days = t.add_parameter(
        Parameter(
            "AccessLogRetentionDays",
            Type="Number",
            Default=90,
            MinValue=1,
            Description="Days S3 server access logs are kept",
        )
    )
    t.add_condition("NeverTransitionToIa", Equals(Ref(ia_days), 0))

    # Server access logging requires SSE-S3 (not SSE-KMS) on the target bucket: private_bucket's default.
    log_bucket = t.add_resource(
        private_bucket(
            "AccessLogBucket",
            Sub("${RawBucketNamePrefix}-logs-${AWS::AccountId}-${AWS::Region}"),
            expire_days=Ref(log_days),
            lifecycle_id="expire-access-logs",
            tags=tags,
        )
    )
    checkov_skip(
        log_bucket,
        ("CKV_AWS_18", "This is the access-log target; logging it would log the log writes."),
        ("CKV_AWS_21", "Access logs are append-only and expire; versions would only double storage."),
    )

    raw_bucket = t.add_resource(
        s3.Bucket(
            "RawBucket",
            DeletionPolicy="Retain",  # raw events are the source of truth for re-loading the DW
            UpdateReplacePolicy="Retain",
            BucketName=Sub("${RawBucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"),
            BucketEncryption=sse_s3(),
            PublicAccessBlockConfiguration=public_access_block(),
            OwnershipControls=bucket_owner_enforced(),
            VersioningConfiguration=s3.VersioningConfiguration(Status=Ref(versioning)),
            LoggingConfiguration=s3.LoggingConfiguration(
                DestinationBucketName=Ref(log_bucket), LogFilePrefix="raw-bucket/"
            ),
            LifecycleConfiguration=s3.LifecycleConfiguration(
                Rules=[
                    s3.LifecycleRule(
                        Id="raw-events",
                        Status="Enabled",
                        Prefix="events/",
                        ExpirationInDays=Ref(retention_days),
                        Transitions=If(
                            "NeverTransitionToIa",
                            NoValue,
                            [
                                s3.LifecycleRuleTransition(
                                    StorageClass="STANDARD_IA", TransitionInDays=Ref(ia_days)
                                )
                            ],
                        ),
                        NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                            NoncurrentDays=Ref(noncurrent_days)
                        ),
                    ),
                    s3.LifecycleRule(
                        Id="abort-incomplete-uploads",
                        Status="Enabled",
                        AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                            DaysAfterInitiation=1
                        ),
                    ),
                ]
            ),
            Tags=tags,
        )
    )
    t.add_resource(
        s3.BucketPolicy(
            "RawBucketPolicy",
            Bucket=Ref(raw_bucket),
            PolicyDocument=policy_document(tls_only_statement(raw_bucket)),
        )
    )
    t.add_resource(
        s3.BucketPolicy(
            "AccessLogBucketPolicy",
            Bucket=Ref(log_bucket),
            PolicyDocument=policy_document(
                tls_only_statement(log_bucket),
                allow(
                    "s3:PutObject",
                    Sub("${AccessLogBucket.Arn}/raw-bucket/*"),
                    sid="S3ServerAccessLogsFromRawBucket",
                    principal=service_principal("logging.s3.amazonaws.com"),
                    condition={
                        "ArnLike": {"aws:SourceArn": GetAtt(raw_bucket, "Arn")},
                        "StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")},
                    },
                ),
            ),
        )
    )

    export(t, "RawBucketName", Ref(raw_bucket), "Raw clickstream bucket (RAW_BUCKET)")
    export(t, "RawBucketArn", GetAtt(raw_bucket, "Arn"), "Raw clickstream bucket ARN")
    export(t, "AccessLogBucketName", Ref(log_bucket), "S3 server access log bucket")
    return finish(t, params, STACK)
