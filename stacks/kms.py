"""Customer-managed KMS keys: the key every one of them is (symmetric, rotated yearly, kept when
its stack lets go of it), the administration statement of its key policy, and the conditions
that confine a use of the key to one AWS service and one encryption context.

A key policy that names a role of the same account is enough for that role (no IAM grant is
needed), so each use statement carries its own conditions; the IAM statements that also allow
the use repeat them, because the administration statement delegates to IAM for the account.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from troposphere import Ref, Sub, Tags, kms

from stacks.iam import allow, policy_document

# What the account's administrators (the operator) may do with the key: manage it, never use
# it. The use statements say who may encrypt or decrypt, and through which service.
KEY_ADMIN_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)


def account_principal() -> dict:
    """This account as a key-policy principal: its IAM principals, as far as IAM allows them."""
    return {"AWS": Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")}


def via_service(service: str) -> dict:
    """StringEquals conditions: the request comes from `service` in this region, for this account."""
    return {
        "kms:ViaService": Sub(f"{service}.${{AWS::Region}}.amazonaws.com"),
        "kms:CallerAccount": Ref("AWS::AccountId"),
    }


def administer_key_statement() -> dict:
    """The account administers the key (and CloudFormation, acting for it, can create and update
    it: KMS refuses a key policy that would lock its creator out of kms:PutKeyPolicy)."""
    return allow(list(KEY_ADMIN_ACTIONS), "*", sid="AccountAdministersKey", principal=account_principal())


def customer_managed_key(
    title: str, *, description: str, statements: Sequence[dict], tags: Tags, **extra: Any
) -> kms.Key:
    """A symmetric key, rotated yearly, whose policy is the administration statement and
    `statements`. Retained on stack deletion or replacement: whatever it encrypted would be lost
    with it."""
    return kms.Key(
        title,
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
        Description=description,
        Enabled=True,
        EnableKeyRotation=True,
        KeySpec="SYMMETRIC_DEFAULT",
        KeyUsage="ENCRYPT_DECRYPT",
        PendingWindowInDays=30,
        KeyPolicy=policy_document(administer_key_statement(), *statements),
        Tags=tags,
        **extra,
    )
