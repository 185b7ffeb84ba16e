"""Security-group rules: one TCP port to or from one peer, inline or as a resource of its own.

The peer is a keyword of CloudFormation's rule: ``CidrIp=``, ``SourceSecurityGroupId=``,
``DestinationSecurityGroupId=`` or ``DestinationPrefixListId=``.
"""

from __future__ import annotations

from typing import Any

from troposphere import Ref, ec2

# Egress rule that matches nothing: replaces CloudFormation's default allow-all.
NO_EGRESS = ec2.SecurityGroupRule(
    IpProtocol="-1", CidrIp="127.0.0.1/32", Description="no egress (replaces the default allow-all rule)"
)


def tcp_rule(port: int, description: str, **peer: Any) -> ec2.SecurityGroupRule:
    """An inline rule of a security group."""
    return ec2.SecurityGroupRule(
        IpProtocol="tcp", FromPort=port, ToPort=port, Description=description, **peer
    )


def tcp_ingress(
    title: str,
    group: ec2.SecurityGroup,
    port: int,
    description: str,
    *,
    condition: str | None = None,
    **peer: Any,
) -> ec2.SecurityGroupIngress:
    """An ingress rule as its own resource: for a rule with a Condition, or one whose peer group
    refers back to this group (inline, the two groups would depend on each other)."""
    if condition is not None:
        peer["Condition"] = condition
    return ec2.SecurityGroupIngress(
        title,
        GroupId=Ref(group),
        IpProtocol="tcp",
        FromPort=port,
        ToPort=port,
        Description=description,
        **peer,
    )


def tcp_egress(
    title: str,
    group: ec2.SecurityGroup,
    port: int,
    description: str,
    *,
    condition: str | None = None,
    **peer: Any,
) -> ec2.SecurityGroupEgress:
    """An egress rule as its own resource (see tcp_ingress)."""
    if condition is not None:
        peer["Condition"] = condition
    return ec2.SecurityGroupEgress(
        title,
        GroupId=Ref(group),
        IpProtocol="tcp",
        FromPort=port,
        ToPort=port,
        Description=description,
        **peer,
    )
