"""Data stack: the raw clickstream bucket (seed: clickstream-s3-ingest) and its access-log bucket.

Flow (5): Lambda Ingest writes events/YYYY/MM/DD/HH/events-<uuid>.json; flow (10): Lambda ETL reads them.
"""

from __future__ import annotations

from troposphere import Equals, GetAtt, If, NoValue, Ref, Sub, Template, s3

from stacks.buckets import (
    ABORT_INCOMPLETE_UPLOADS,
    bucket_owner_enforced,
    private_bucket,
    public_access_block,
    sse_s3,
    tls_only_policy,
    unique_bucket_arn,
    unique_bucket_name,
)
from stacks.iam import allow, service_principal
from stacks.params import (
    BACKUPS_PREFIX,
    RAW_EVENTS_PREFIX,
    BuildParams,
    raw_bucket_prefix,
    transfer_bucket_prefix,
)
from stacks.template import (
    checkov_skip,
    export,
    finish,
    new_template,
    number_parameter,
    standard_tags,
    string_parameter,
)

STACK = "data"

BUCKET_PREFIX_PATTERN = r"^[a-z0-9][a-z0-9-]{2,29}$"
# The prefixes the raw bucket and the hosts stack's aws_ssm transfer bucket write their server
# access logs under, in the log bucket.
ACCESS_LOG_PREFIX = "raw-bucket/"
TRANSFER_ACCESS_LOG_PREFIX = "ssm-transfer-bucket/"


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream data: raw event bucket (encrypted, private, TLS-only) and its access logs")
    log_bucket = _access_log_bucket(t, params)
    raw_bucket = _raw_bucket(t, params, log_bucket)
    t.add_resource(tls_only_policy("RawBucketPolicy", raw_bucket))
    t.add_resource(
        tls_only_policy(
            "AccessLogBucketPolicy",
            log_bucket,
            _access_logs_from("S3ServerAccessLogsFromRawBucket", ACCESS_LOG_PREFIX,
                              GetAtt(raw_bucket, "Arn")),
            # The transfer bucket is in the hosts stack, deployed after this one: named, not referenced.
            _access_logs_from("S3ServerAccessLogsFromSsmTransferBucket", TRANSFER_ACCESS_LOG_PREFIX,
                              unique_bucket_arn(transfer_bucket_prefix(params.env))),
        )
    )
    export(t, "RawBucketName", Ref(raw_bucket), "Raw clickstream bucket (RAW_BUCKET)")
    export(t, "RawBucketArn", GetAtt(raw_bucket, "Arn"), "Raw clickstream bucket ARN")
    export(
        t, "AccessLogBucketName", Ref(log_bucket), "S3 server access log bucket (raw and transfer buckets)"
    )
    return finish(t, params, STACK)


def _access_log_bucket(t: Template, params: BuildParams) -> s3.Bucket:
    days = number_parameter(t, "AccessLogRetentionDays", 90, "Days S3 server access logs are kept", minimum=1)
    # Server access logging requires SSE-S3 (not SSE-KMS) on the target bucket: private_bucket's default.
    bucket = t.add_resource(
        private_bucket(
            "AccessLogBucket",
            unique_bucket_name(f"{raw_bucket_prefix(params.env)}-logs"),
            expire_days=Ref(days),
            lifecycle_id="expire-access-logs",
            tags=standard_tags(params, STACK),
        )
    )
    checkov_skip(
        bucket,
        ("CKV_AWS_18", "This is the access-log target; logging it would log the log writes."),
        ("CKV_AWS_21", "Access logs are append-only and expire; versions would only double storage."),
    )
    return bucket


def _raw_bucket(t: Template, params: BuildParams, log_bucket: s3.Bucket) -> s3.Bucket:
    versioning = string_parameter(
        t,
        "RawBucketVersioning",
        "Enabled",
        "Versioning of the raw bucket (protects raw events against overwrite/delete)",
        allowed=["Enabled", "Suspended"],
    )
    return t.add_resource(
        s3.Bucket(
            "RawBucket",
            DeletionPolicy="Retain",  # raw events are the source of truth for re-loading the DW
            UpdateReplacePolicy="Retain",
            BucketName=unique_bucket_name(raw_bucket_prefix(params.env)),
            BucketEncryption=sse_s3(),
            PublicAccessBlockConfiguration=public_access_block(),
            OwnershipControls=bucket_owner_enforced(),
            VersioningConfiguration=s3.VersioningConfiguration(Status=Ref(versioning)),
            LoggingConfiguration=s3.LoggingConfiguration(
                DestinationBucketName=Ref(log_bucket), LogFilePrefix=ACCESS_LOG_PREFIX
            ),
            LifecycleConfiguration=s3.LifecycleConfiguration(Rules=_raw_lifecycle(t)),
            Tags=standard_tags(params, STACK),
        )
    )


def _raw_lifecycle(t: Template) -> list[s3.LifecycleRule]:
    """Raw events expire, move to STANDARD_IA unless that is switched off (0 days), and their old
    versions expire; the hosts' nightly dumps under backups/ expire after their own retention (and
    then their versions); abandoned multipart uploads (a dump's upload cut short, too) are cleaned
    up anywhere in the bucket."""
    retention_days = number_parameter(
        t,
        "RawObjectRetentionDays",
        365,
        "Days raw event objects are kept (they are already loaded into the DW)",
        minimum=1,
    )
    ia_days = number_parameter(
        t,
        "RawObjectInfrequentAccessDays",
        30,
        "Days before raw objects move to STANDARD_IA (0 = never)",
        minimum=0,
    )
    noncurrent_days = number_parameter(
        t, "NoncurrentVersionRetentionDays", 30, "Days old object versions are kept", minimum=1
    )
    backup_days = number_parameter(
        t,
        "BackupRetentionDays",
        35,
        f"Days the hosts' nightly pg_dump backups under {BACKUPS_PREFIX} are kept (one a night each)",
        minimum=1,
    )
    t.add_condition("NeverTransitionToIa", Equals(Ref(ia_days), 0))
    to_ia = s3.LifecycleRuleTransition(StorageClass="STANDARD_IA", TransitionInDays=Ref(ia_days))
    return [
        s3.LifecycleRule(
            Id="raw-events",
            Status="Enabled",
            Prefix=RAW_EVENTS_PREFIX,
            ExpirationInDays=Ref(retention_days),
            Transitions=If("NeverTransitionToIa", NoValue, [to_ia]),
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=Ref(noncurrent_days)),
        ),
        # A dump the rule expires becomes a noncurrent version while versioning is on, kept
        # NoncurrentVersionRetentionDays more (so a dump deleted by mistake can be brought back).
        s3.LifecycleRule(
            Id="backups",
            Status="Enabled",
            Prefix=BACKUPS_PREFIX,
            ExpirationInDays=Ref(backup_days),
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=Ref(noncurrent_days)),
        ),
        s3.LifecycleRule(
            Id="abort-incomplete-uploads",
            Status="Enabled",
            AbortIncompleteMultipartUpload=ABORT_INCOMPLETE_UPLOADS,
        ),
    ]


def _access_logs_from(sid: str, prefix: str, source_bucket_arn) -> dict:
    """S3 server access logging may write under `prefix` of the log bucket for that source bucket
    of this account only."""
    return allow(
        "s3:PutObject",
        Sub(f"${{AccessLogBucket.Arn}}/{prefix}*"),
        sid=sid,
        principal=service_principal("logging.s3.amazonaws.com"),
        condition={
            "ArnLike": {"aws:SourceArn": source_bucket_arn},
            "StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")},
        },
    )
