"""Hosts stack: OLTP EC2 (public subnet) and DW + Shiny EC2 (private analytics subnet).

Both come from launch templates (IMDSv2 required, encrypted gp3 root volume), run Debian 12
from a pinned AMI id (parameter `AmiId`), and carry the tags the Ansible aws_ec2 inventory groups by:
``clickstream:role`` (oltp | dw) and ``clickstream:env``. The bucket is the one the Ansible
``aws_ssm`` connection uses for file transfer (flows 13-15).
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import (
    Base64,
    Equals,
    GetAtt,
    If,
    Not,
    Parameter,
    Ref,
    Sub,
    Tag,
    Template,
    dlm,
    ec2,
    iam,
    kms,
    s3,
)

from stacks.buckets import private_bucket, sse_kms, tls_only_policy, unique_bucket_arn, unique_bucket_name
from stacks.data import TRANSFER_ACCESS_LOG_PREFIX
from stacks.iam import (
    SESSION_MANAGER_ACTIONS,
    allow,
    aws_managed_policy,
    deny,
    objects_arn,
    policy_document,
    regional_arn,
    service_role,
)
from stacks.kms import account_principal, customer_managed_key, via_service
from stacks.params import (
    ROLE_TAG,
    BuildParams,
    backups_prefix,
    host_parameter_path,
    transfer_bucket_prefix,
)
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
    switch,
)

STACK = "hosts"

# Log groups the CloudWatch agent writes (roles/agents: agents_log_group_prefix is
# /clickstream/<platform_env>, platform_env being the clickstream:env tag); Host.log_groups says
# which host ships to which.
AGENT_LOG_GROUPS: tuple[str, ...] = ("postgresql", "shiny-server")
# What the agent does with a log group: create it, set its retention (retention_in_days), write.
AGENT_LOG_ACTIONS: tuple[str, ...] = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:PutRetentionPolicy",
)
# What the aws_ssm connection does with the transfer bucket: the controller uploads, lists,
# downloads and deletes objects, and presigns the GET/PUT URLs the host's curl uses (so those
# requests, too, are the operator's). The bucket policy refuses these to anybody else.
TRANSFER_OBJECT_ACTIONS: tuple[str, ...] = (
    "s3:GetObject*",
    "s3:PutObject*",
    "s3:DeleteObject*",
    "s3:ListBucket*",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
    "s3:RestoreObject",
)
# The nightly pg_dump of each host (boto3 upload_file: multipart for large dumps).
BACKUP_ACTIONS: tuple[str, ...] = ("s3:PutObject", "s3:AbortMultipartUpload")

# Debian's cloud team publishes the official Debian AMIs from this account.
DEBIAN_AMI_OWNER = "136693071363"
DEBIAN_12_AMI_NAME = "debian-12-{arch}-*"

# The contract with the roles (roles/postgres_dw, roles/oltp): each host's PostgreSQL data volume
# is attached as this device (on Nitro instance types the kernel names it /dev/nvme<N>n1 and
# /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol<id> names it by volume id); the role formats
# it once as labelled ext4 and mounts it by UUID at /var/lib/postgresql.
DATA_VOLUME_DEVICE = "/dev/sdf"
DATA_VOLUME_MOUNT = "/var/lib/postgresql"
# Tags on each data volume: the roles and the snapshot policy find the volumes by them.
DATA_VOLUME_TAG = "clickstream:data-volume"  # value: the environment (the DLM policy's target)
DATA_DEVICE_TAG = "clickstream:data-device"  # value: DATA_VOLUME_DEVICE (on instance and volume)

# Debian's AMIs lack the SSM agent; the private host has no internet route, so the agent comes
# from the regional S3 bucket AWS publishes it in, through the S3 gateway endpoint.
USER_DATA = """#!/bin/sh
set -eu
if ! systemctl is-active --quiet amazon-ssm-agent; then
  deb=/var/tmp/amazon-ssm-agent.deb
  python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \\
    "https://s3.${AWS::Region}.amazonaws.com/amazon-ssm-${AWS::Region}/latest/debian_${HostArchitecture}\
/amazon-ssm-agent.deb" "$deb"
  dpkg -i "$deb"
  rm -f "$deb"
  systemctl enable --now amazon-ssm-agent
fi
"""


@dataclass(frozen=True)
class Host:
    """One EC2 host: its parameters are named <key>InstanceType, <key>RootVolumeGiB, ..."""

    key: str
    role: str  # the clickstream:role tag the Ansible inventory groups by
    label: str
    seed_name: str
    instance_type: str
    type_description: str
    root_volume_gib: int
    data_volume_gib: int
    subnet: str  # network stack export
    security_groups: tuple[str, ...]  # network stack exports
    log_groups: tuple[str, ...]  # of AGENT_LOG_GROUPS


HOSTS = (
    Host(
        key="Oltp",
        role="oltp",
        label="OLTP",
        seed_name="SBW_EC2_WebDB",
        instance_type="t3.micro",
        type_description="OLTP instance type",
        root_volume_gib=20,
        data_volume_gib=20,
        subnet="PublicSubnetId",
        security_groups=("OltpSecurityGroupId",),
        log_groups=("postgresql",),
    ),
    Host(
        key="Dw",
        role="dw",
        label="DW + Shiny",
        seed_name="SBW_EC2_ShinyDWH",
        instance_type="t3.medium",
        type_description="DW + Shiny instance type (PostgreSQL and R share its memory)",
        root_volume_gib=40,
        data_volume_gib=100,
        subnet="AnalyticsSubnetId",
        security_groups=("DwSecurityGroupId", "ShinySecurityGroupId"),
        log_groups=("postgresql", "shiny-server"),
    ),
)


@dataclass(frozen=True)
class HostContext:
    """What every host shares: the image and where the network comes from."""

    ami: Parameter
    root_device: Parameter
    network: Parameter


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream hosts: OLTP EC2 (public) and DW + Shiny EC2 (private), SSM transfer bucket")
    network = stack_name_parameter(t, params, "network")
    data = stack_name_parameter(t, params, "data")
    backups = switch(
        t,
        "EnableBackups",
        "BackupsEnabled",
        default=True,
        description="Allow each host to write its pg_dump backups to the raw bucket's "
        f"{backups_prefix('<role>')} prefix (its own only)",
    )
    ami, root_device = _image_parameters(t)
    context = HostContext(ami=ami, root_device=root_device, network=network)
    roles = {host.key: _host_role(t, params, host) for host in HOSTS}
    for host in HOSTS:
        _backup_policy(t, host, roles[host.key], data, backups)
    oltp, dw = (_host(t, params, host, context, roles[host.key]) for host in HOSTS)
    oltp_volume, dw_volume = (
        _data_volume(t, params, host, instance) for host, instance in zip(HOSTS, (oltp, dw), strict=True)
    )
    # A stable public address for Amplify's DATABASE_URL (seed: OLTP is public by design).
    oltp_eip = t.add_resource(
        ec2.EIP("OltpElasticIp", Domain="vpc", InstanceId=Ref(oltp), Tags=standard_tags(params, STACK))
    )
    data_log_bucket = import_from(data, "AccessLogBucketName")
    transfer_bucket, transfer_key = _transfer_bucket(
        t, params, [roles[host.key] for host in HOSTS], data_log_bucket
    )
    _snapshot_policy(t, params)

    export(t, "OltpInstanceId", Ref(oltp), "OLTP host instance id")
    export(t, "OltpPublicIp", Ref(oltp_eip), "OLTP host Elastic IP (Amplify DATABASE_URL host)")
    export(t, "OltpPrivateIp", GetAtt(oltp, "PrivateIp"), "OLTP host private IP")
    export(t, "OltpDataVolumeId", Ref(oltp_volume), "OLTP PostgreSQL data volume (snapshot-retained)")
    export(t, "DwInstanceId", Ref(dw), "DW + Shiny host instance id")
    export(t, "DwDataVolumeId", Ref(dw_volume), "DW PostgreSQL data volume (snapshot-retained)")
    export(
        t,
        "DataVolumeDevice",
        DATA_VOLUME_DEVICE,
        f"Device both data volumes are attached as (mounted at {DATA_VOLUME_MOUNT})",
    )
    export(t, "DwPrivateIp", GetAtt(dw, "PrivateIp"), "DW host private IP (DWH_HOST of Lambda ETL)")
    export(t, "SsmTransferBucketName", Ref(transfer_bucket), "Bucket for the Ansible aws_ssm connection")
    export(
        t,
        "SsmTransferKeyArn",
        GetAtt(transfer_key, "Arn"),
        "KMS key of the aws_ssm transfer bucket (SSE-KMS)",
    )
    for host in HOSTS:
        export(t, f"{host.key}HostRoleName", Ref(roles[host.key]), f"IAM role of the {host.label} host")
        export(
            t,
            f"{host.key}HostRoleArn",
            GetAtt(roles[host.key], "Arn"),
            f"IAM role ARN of the {host.label} host",
        )
    return finish(t, params, STACK)


def _host_role(t: Template, params: BuildParams, host: Host) -> iam.Role:
    """The host's own role: Session Manager's agent actions, its own SSM parameters, its own log
    groups. No managed policy: AmazonSSMManagedInstanceCore would let either host read every
    parameter, the other host's passwords included."""
    # The CloudWatch agent only ships logs (no metrics section in its config, so no
    # cloudwatch:PutMetricData), to its own log groups: narrower than CloudWatchAgentServerPolicy.
    agent_log_groups = [
        regional_arn("logs", f"log-group:/clickstream/{params.env}/{name}{suffix}")
        for name in host.log_groups
        for suffix in ("", ":*")
    ]
    path = host_parameter_path(params.env, host.role)
    role = t.add_resource(
        service_role(
            f"{host.key}HostRole",
            service="ec2.amazonaws.com",
            policies={
                "session-manager-agent": [
                    allow(list(SESSION_MANAGER_ACTIONS), "*", sid="SessionManagerAgent")
                ],
                "own-parameters": [
                    allow(
                        ["ssm:GetParameter", "ssm:GetParameters"],
                        regional_arn("ssm", f"parameter{path}*"),
                        sid=f"Read{host.key}Parameters",
                    )
                ],
                "cloudwatch-agent-logs": [
                    allow(list(AGENT_LOG_ACTIONS), agent_log_groups, sid="ShipAgentLogs")
                ],
            },
            tags=standard_tags(params, STACK, **{ROLE_TAG: host.role}),
        )
    )
    checkov_skip(
        role,
        (
            "CKV_AWS_111",
            "ssm:UpdateInstanceInformation and the ssmmessages/ec2messages channel actions are the SSM "
            "agent's documented minimum and take no narrower resource; everything else is scoped.",
        ),
    )
    return role


def _backup_policy(t: Template, host: Host, role: iam.Role, data: Parameter, condition: str) -> None:
    """A separate, conditional policy: it exists only while backups are switched on."""
    t.add_resource(
        iam.PolicyType(
            f"{host.key}BackupPolicy",
            Condition=condition,
            PolicyName=f"{host.role}-backups-to-raw-bucket",
            Roles=[Ref(role)],
            PolicyDocument=policy_document(
                allow(
                    list(BACKUP_ACTIONS),
                    objects_arn(import_from(data, "RawBucketArn"), backups_prefix(host.role)),
                    sid=f"Write{host.key}Backups",
                )
            ),
        )
    )


def _snapshot_policy(t: Template, params: BuildParams) -> None:
    """Daily EBS snapshots of the data volumes (by their DATA_VOLUME_TAG), kept `count` days,
    taken by Data Lifecycle Manager through its own role."""
    count = number_parameter(
        t,
        "SnapshotRetentionCount",
        7,
        "Daily data-volume snapshots kept (Data Lifecycle Manager)",
        minimum=1,
        maximum=1000,
    )
    time = string_parameter(
        t,
        "SnapshotTimeUtc",
        "18:00",
        "Time of day (UTC, hh:mm) the daily data-volume snapshots start",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
    )
    role = t.add_resource(
        service_role(
            "SnapshotPolicyRole",
            service="dlm.amazonaws.com",
            # AWS's policy for DLM's EBS snapshot policies: create, tag and delete snapshots.
            managed=[aws_managed_policy("service-role/AWSDataLifecycleManagerServiceRole")],
            policies={},
            tags=standard_tags(params, STACK),
        )
    )
    t.add_resource(
        dlm.LifecyclePolicy(
            "DataVolumeSnapshotPolicy",
            Description=f"{params.env} clickstream PostgreSQL data volumes daily snapshots",
            State="ENABLED",
            ExecutionRoleArn=GetAtt(role, "Arn"),
            PolicyDetails=dlm.PolicyDetails(
                PolicyType="EBS_SNAPSHOT_MANAGEMENT",
                ResourceTypes=["VOLUME"],
                TargetTags=[Tag(DATA_VOLUME_TAG, params.env)],
                Schedules=[
                    dlm.Schedule(
                        Name="daily",
                        CreateRule=dlm.CreateRule(Interval=24, IntervalUnit="HOURS", Times=[Ref(time)]),
                        RetainRule=dlm.RetainRule(Count=Ref(count)),
                        CopyTags=True,
                    )
                ],
            ),
            Tags=standard_tags(params, STACK),
        )
    )


def _image_parameters(t: Template) -> tuple[Parameter, Parameter]:
    """The AMI (a plain id, no default: bumped on purpose), its architecture and root device name.

    Not an SSM-typed parameter: that would re-resolve to the newest image on every update and
    replace both hosts. `python -m stacks ami` prints the current Debian 12 image id to copy in."""
    ami = t.add_parameter(
        Parameter(
            "AmiId",
            Type="AWS::EC2::Image::Id",
            Description="AMI id of both hosts (Debian 12; `python -m stacks ami` prints the current one). "
            "Changing it replaces the instances (their data volumes survive)",
        )
    )
    string_parameter(  # used by name in USER_DATA
        t,
        "HostArchitecture",
        "amd64",
        "Debian architecture of the AMI (selects the SSM agent package)",
        allowed=["amd64", "arm64"],
    )
    root_device = string_parameter(
        t, "RootDeviceName", "/dev/xvda", "Root device name of the AMI", pattern=r"^/dev/[a-z0-9]+$"
    )
    return ami, root_device


def _host(t: Template, params: BuildParams, host: Host, context: HostContext, role: iam.Role) -> ec2.Instance:
    """The host's parameters, its launch template (IMDSv2, encrypted gp3 root) and the instance."""
    instance_type = string_parameter(t, f"{host.key}InstanceType", host.instance_type, host.type_description)
    disk = number_parameter(
        t,
        f"{host.key}RootVolumeGiB",
        host.root_volume_gib,
        f"{host.label} root volume size (gp3)",
        minimum=8,
        maximum=16384,
    )
    name = params.name(host.seed_name)
    profile = t.add_resource(iam.InstanceProfile(f"{host.key}InstanceProfile", Roles=[Ref(role)]))
    root = ec2.LaunchTemplateBlockDeviceMapping(
        DeviceName=Ref(context.root_device),
        Ebs=ec2.EBSBlockDevice(
            VolumeType="gp3", VolumeSize=Ref(disk), Encrypted=True, DeleteOnTermination=True
        ),
    )
    launch_template = t.add_resource(
        ec2.LaunchTemplate(
            f"{host.key}LaunchTemplate",
            LaunchTemplateName=name,
            LaunchTemplateData=ec2.LaunchTemplateData(
                MetadataOptions=ec2.MetadataOptions(
                    HttpTokens="required", HttpEndpoint="enabled", HttpPutResponseHopLimit=1
                ),
                BlockDeviceMappings=[root],
                UserData=Base64(Sub(USER_DATA)),
                TagSpecifications=[
                    ec2.TagSpecifications(
                        ResourceType="volume",
                        Tags=standard_tags(params, STACK, Name=name, **{ROLE_TAG: host.role}),
                    )
                ],
            ),
        )
    )
    return t.add_resource(
        ec2.Instance(
            f"{host.key}Instance",
            # Disposable by design: PostgreSQL's data lives on the data volume, which survives a
            # replacement (`deploy` still refuses one unless --allow-replace is given).
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            LaunchTemplate=ec2.LaunchTemplateSpecification(
                LaunchTemplateId=Ref(launch_template), Version=GetAtt(launch_template, "LatestVersionNumber")
            ),
            ImageId=Ref(context.ami),
            InstanceType=Ref(instance_type),
            IamInstanceProfile=Ref(profile),
            SubnetId=import_from(context.network, host.subnet),
            SecurityGroupIds=[import_from(context.network, export) for export in host.security_groups],
            Tags=standard_tags(
                params, STACK, Name=name, **{ROLE_TAG: host.role, DATA_DEVICE_TAG: DATA_VOLUME_DEVICE}
            ),
        )
    )


def _data_volume(t: Template, params: BuildParams, host: Host, instance: ec2.Instance) -> ec2.Volume:
    """The host's PostgreSQL data volume in the instance's AZ, attached as DATA_VOLUME_DEVICE.

    A stack delete or a replacement of the volume leaves a final snapshot; replacing the instance
    only detaches it and attaches it to the new one."""
    size = number_parameter(
        t,
        f"{host.key}DataVolumeGiB",
        host.data_volume_gib,
        f"{host.label} PostgreSQL data volume size (gp3; growing it is an in-place change)",
        minimum=1,
        maximum=16384,
    )
    name = f"{params.name(host.seed_name)}-pgdata"
    volume = t.add_resource(
        ec2.Volume(
            f"{host.key}DataVolume",
            DeletionPolicy="Snapshot",
            UpdateReplacePolicy="Snapshot",
            AvailabilityZone=GetAtt(instance, "AvailabilityZone"),
            Size=Ref(size),
            VolumeType="gp3",
            Encrypted=True,
            Tags=standard_tags(
                params,
                STACK,
                Name=name,
                **{ROLE_TAG: host.role, DATA_VOLUME_TAG: params.env, DATA_DEVICE_TAG: DATA_VOLUME_DEVICE},
            ),
        )
    )
    t.add_resource(
        ec2.VolumeAttachment(
            f"{host.key}DataVolumeAttachment",
            InstanceId=Ref(instance),
            VolumeId=Ref(volume),
            Device=DATA_VOLUME_DEVICE,
        )
    )
    return volume


def _transfer_key(t: Template, params: BuildParams, host_roles: list[iam.Role], bucket_arn: Sub) -> kms.Key:
    """The transfer bucket's own KMS key, used only by S3 for that bucket, by the operator (the
    account, as far as IAM allows: the aws_ssm controller, whose presigned URLs the hosts' curl
    uses) and the two host roles (should a host ever use the bucket with its own credentials).

    Its own, not the password key: that one is in the etl stack, after this one, and its policy
    lets principals decrypt through SSM only; this one is for S3 only, and the hosts stack can
    name the bucket and the host roles it serves."""
    through_s3 = {
        "StringEquals": via_service("s3"),
        # With the bucket key the context is the bucket's ARN; per object (without it), the object's.
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, Sub("${Arn}/*", Arn=bucket_arn)]},
    }
    uses = ["kms:Decrypt", "kms:GenerateDataKey"]
    return t.add_resource(
        customer_managed_key(
            "SsmTransferKey",
            description=f"{params.env} clickstream aws_ssm transfer bucket (SSE-KMS)",
            statements=[
                allow(
                    uses,
                    "*",
                    sid="OperatorTransfersThroughS3",
                    principal=account_principal(),
                    condition=through_s3,
                ),
                allow(
                    uses,
                    "*",
                    sid="HostRolesTransferThroughS3",
                    principal={"AWS": [GetAtt(role, "Arn") for role in host_roles]},
                    condition=through_s3,
                ),
            ],
            tags=standard_tags(params, STACK),
        )
    )


def _transfer_bucket(
    t: Template, params: BuildParams, host_roles: list[iam.Role], log_bucket: object
) -> tuple[s3.Bucket, kms.Key]:
    """The bucket the Ansible aws_ssm connection moves files through: SSE-KMS with its own key,
    access logs into the data stack's log bucket, and a policy refusing non-TLS requests and
    anybody but the operator and the two host roles."""
    days = number_parameter(
        t, "TransferObjectExpirationDays", 1, "Days before leftover transfer objects are deleted", minimum=1
    )
    operator = string_parameter(
        t,
        "TransferOperatorArn",
        "",
        "IAM principal ARN (ArnLike pattern) of the operator running Ansible: only it and the host "
        "roles may use the transfer bucket; empty = any principal of this account (IAM still decides)",
        pattern=r"^$|^arn:aws[a-z-]*:iam::\d{12}:[A-Za-z0-9+=,.@_/*-]+$",
    )
    t.add_condition("HasTransferOperator", Not(Equals(Ref(operator), "")))
    prefix = transfer_bucket_prefix(params.env)
    key = _transfer_key(t, params, host_roles, unique_bucket_arn(prefix))
    bucket = private_bucket(
        "SsmTransferBucket",
        unique_bucket_name(prefix),
        expire_days=Ref(days),
        lifecycle_id="expire-transfers",
        tags=standard_tags(params, STACK),
    )
    bucket.BucketEncryption = sse_kms(GetAtt(key, "Arn"))
    bucket.LoggingConfiguration = s3.LoggingConfiguration(
        DestinationBucketName=log_bucket, LogFilePrefix=TRANSFER_ACCESS_LOG_PREFIX
    )
    t.add_resource(bucket)
    checkov_skip(
        bucket,
        (
            "CKV_AWS_21",
            "Transfer objects are temporary and deleted by the connection; versions would keep "
            "copies of module payloads.",
        ),
    )
    allowed = [
        If("HasTransferOperator", Ref(operator), Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:*")),
        *(GetAtt(role, "Arn") for role in host_roles),
    ]
    t.add_resource(
        tls_only_policy(
            "SsmTransferBucketPolicy",
            bucket,
            deny(
                list(TRANSFER_OBJECT_ACTIONS),
                [GetAtt(bucket, "Arn"), Sub("${SsmTransferBucket.Arn}/*")],
                sid="DenyAllButOperatorAndHostRoles",
                condition={"ArnNotLike": {"aws:PrincipalArn": allowed}},
            ),
        )
    )
    return bucket, key
