"""S3 building blocks: the bucket settings every bucket of the platform shares, a bucket for
short-lived objects, bucket names unique per account and region, and the TLS-only bucket policy."""

from __future__ import annotations

from troposphere import Ref, Sub, Tags, s3

from stacks.iam import policy_document, tls_only_statement

# Lifecycle rule part that cleans up parts of uploads nobody completed.
ABORT_INCOMPLETE_UPLOADS = s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1)


def unique_bucket_name(prefix: str) -> Sub:
    """<prefix>-<account id>-<region>: bucket names are global, so the account and region go in."""
    return Sub(f"{prefix}-${{AWS::AccountId}}-${{AWS::Region}}")


def unique_bucket_arn(prefix: str) -> Sub:
    """The ARN of the bucket unique_bucket_name(prefix) names: for a policy that cannot refer to
    the bucket itself (it would depend on the bucket, which depends on it)."""
    return Sub(f"arn:${{AWS::Partition}}:s3:::{prefix}-${{AWS::AccountId}}-${{AWS::Region}}")


def public_access_block() -> s3.PublicAccessBlockConfiguration:
    return s3.PublicAccessBlockConfiguration(
        BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
    )


def sse_kms(key_arn: object) -> s3.BucketEncryption:
    """Default encryption with a customer-managed KMS key; the bucket key keeps KMS calls (and the
    encryption context, which is then the bucket's ARN) per bucket rather than per object."""
    return s3.BucketEncryption(
        ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                    SSEAlgorithm="aws:kms", KMSMasterKeyID=key_arn
                ),
                BucketKeyEnabled=True,
            )
        ]
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
                    AbortIncompleteMultipartUpload=ABORT_INCOMPLETE_UPLOADS,
                )
            ]
        ),
        Tags=tags,
    )


def tls_only_policy(title: str, bucket: s3.Bucket, *statements: dict) -> s3.BucketPolicy:
    """The bucket's policy: refuse requests without TLS, then `statements`."""
    return s3.BucketPolicy(
        title, Bucket=Ref(bucket), PolicyDocument=policy_document(tls_only_statement(bucket), *statements)
    )
