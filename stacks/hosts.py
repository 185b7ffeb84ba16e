"""Hosts stack: OLTP EC2 (public subnet) and DW + Shiny EC2 (private analytics subnet).

Both come from launch templates (IMDSv2 required, encrypted gp3 root volume), run Debian 12
from AWS's public SSM parameter, and carry the tags the Ansible aws_ec2 inventory groups by:
``clickstream:role`` (oltp | dw) and ``clickstream:env``. The bucket is the one the Ansible
``aws_ssm`` connection uses for file transfer (flows 13-15).
"""

from __future__ import annotations

from troposphere import (
    Base64,
    Equals,
    GetAtt,
    Join,
    Parameter,
    Ref,
    Sub,
    Template,
    ec2,
    iam,
    s3,
)

from stacks.data import private_bucket
from stacks.iam import (
    allow,
    aws_managed_policy,
    policy_document,
    regional_arn,
    service_role,
    tls_only_statement,
)
from stacks.params import ENV_TAG, ROLE_TAG, BuildParams
from stacks.template import (
    checkov_skip,
    export,
    finish,
    import_from,
    new_template,
    stack_name_parameter,
    standard_tags,
)

STACK = "hosts"

# Log groups the CloudWatch agent writes (roles/agents: agents_log_group_prefix is
# /clickstream/<platform_env>, platform_env being the clickstream:env tag).
AGENT_LOG_GROUPS: tuple[str, ...] = ("postgresql", "shiny-server")
# What the agent does with a log group: create it, set its retention (retention_in_days), write.
AGENT_LOG_ACTIONS: tuple[str, ...] = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:PutRetentionPolicy",
)
# The postgres_dw role's nightly pg_dump (boto3 upload_file: multipart for large dumps).
BACKUP_ACTIONS: tuple[str, ...] = ("s3:PutObject", "s3:AbortMultipartUpload")

DEBIAN_12_AMI_PARAMETER = "/aws/service/debian/release/12/latest/amd64"

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


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream hosts: OLTP EC2 (public) and DW + Shiny EC2 (private), SSM transfer bucket")
    network = stack_name_parameter(t, params, "network")

    data = stack_name_parameter(t, params, "data")
    backups = t.add_parameter(
        Parameter(
            "EnableDwBackups",
            Type="String",
            Default="false",
            AllowedValues=["true", "false"],
            Description="Allow the hosts to write pg_dump backups to the raw bucket's backups/ prefix "
            "(postgres_dw_backup_enabled)",
        )
    )
    t.add_condition("DwBackupsEnabled", Equals(Ref(backups), "true"))
    ami = t.add_parameter(
        Parameter(
            "AmiParameter",
            Type="AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
            Default=DEBIAN_12_AMI_PARAMETER,
            Description="SSM parameter holding the AMI id (Debian 12; arm64 path for Graviton types)",
        )
    )
    t.add_parameter(  # used by name in USER_DATA
        Parameter(
            "HostArchitecture",
            Type="String",
            Default="amd64",
            AllowedValues=["amd64", "arm64"],
            Description="Debian architecture of the AMI (selects the SSM agent package)",
        )
    )
    oltp_type = t.add_parameter(
        Parameter("OltpInstanceType", Type="String", Default="t3.micro", Description="OLTP instance type")
    )
    dw_type = t.add_parameter(
        Parameter(
            "DwInstanceType",
            Type="String",
            Default="t3.medium",
            Description="DW + Shiny instance type (PostgreSQL and R share its memory)",
        )
    )
    oltp_disk = t.add_parameter(
        Parameter(
            "OltpRootVolumeGiB",
            Type="Number",
            Default=20,
            MinValue=8,
            MaxValue=16384,
            Description="OLTP root volume size (gp3)",
        )
    )
    dw_disk = t.add_parameter(
        Parameter(
            "DwRootVolumeGiB",
            Type="Number",
            Default=40,
            MinValue=8,
            MaxValue=16384,
            Description="DW + Shiny root volume size (gp3)",
        )
    )
    root_device = t.add_parameter(
        Parameter(
            "RootDeviceName",
            Type="String",
            Default="/dev/xvda",
            AllowedPattern=r"^/dev/[a-z0-9]+$",
            Description="Root device name of the AMI",
        )
    )
    oltp_name = t.add_parameter(
        Parameter(
            "OltpInstanceName",
            Type="String",
            Default=params.name("SBW_EC2_WebDB"),
            Description="Name tag of the OLTP host",
        )
    )
    dw_name = t.add_parameter(
        Parameter(
            "DwInstanceName",
            Type="String",
            Default=params.name("SBW_EC2_ShinyDWH"),
            Description="Name tag of the DW + Shiny host",
        )
    )
    env_tag = t.add_parameter(
        Parameter(
            "EnvironmentTag",
            Type="String",
            Default=params.env,
            AllowedPattern=r"^[a-z][a-z0-9]{1,11}$",
            Description=f"Value of the {ENV_TAG} tag the Ansible inventory filters on",
        )
    )
    t.add_parameter(  # used by name in the bucket name's Sub
        Parameter(
            "TransferBucketNamePrefix",
            Type="String",
            Default=f"{params.env}-clickstream-ssm-xfer",
            AllowedPattern=r"^[a-z0-9][a-z0-9-]{2,29}$",
            Description="Ansible aws_ssm transfer bucket prefix; account id and region are appended",
        )
    )
    transfer_days = t.add_parameter(
        Parameter(
            "TransferObjectExpirationDays",
            Type="Number",
            Default=1,
            MinValue=1,
            Description="Days before leftover transfer objects are deleted",
        )
    )

    host_role = t.add_resource(
        service_role(
            "HostRole",
            service="ec2.amazonaws.com",
            # Session Manager's own managed policy: what the agent needs and nothing of ours.
            managed=[aws_managed_policy("AmazonSSMManagedInstanceCore")],
            # The CloudWatch agent only ships logs (no metrics section in its config, so no
            # cloudwatch:PutMetricData), to its own log groups: narrower than CloudWatchAgentServerPolicy.
            policies={
                "cloudwatch-agent-logs": [
                    allow(
                        list(AGENT_LOG_ACTIONS),
                        [
                            regional_arn(
                                "logs", f"log-group:/clickstream/${{EnvironmentTag}}/{group}{suffix}"
                            )
                            for group in AGENT_LOG_GROUPS
                            for suffix in ("", ":*")
                        ],
                        sid="ShipAgentLogs",
                    )
                ]
            },
            tags=standard_tags(params, STACK),
        )
    )
    # Separate, conditional policy: it exists only while backups are switched on.
    t.add_resource(
        iam.PolicyType(
            "DwBackupPolicy",
            Condition="DwBackupsEnabled",
            PolicyName="dw-backups-to-raw-bucket",
            Roles=[Ref(host_role)],
            PolicyDocument=policy_document(
                allow(
                    list(BACKUP_ACTIONS),
                    Join("", [import_from(data, "RawBucketArn"), "/backups/*"]),
                    sid="WriteDwBackups",
                )
            ),
        )
    )
    profile = t.add_resource(iam.InstanceProfile("HostInstanceProfile", Roles=[Ref(host_role)]))

    def launch_template(title: str, name: Parameter, disk: Parameter, role: str) -> ec2.LaunchTemplate:
        lt = ec2.LaunchTemplate(
            title,
            LaunchTemplateName=Ref(name),
            LaunchTemplateData=ec2.LaunchTemplateData(
                MetadataOptions=ec2.MetadataOptions(
                    HttpTokens="required", HttpEndpoint="enabled", HttpPutResponseHopLimit=1
                ),
                BlockDeviceMappings=[
                    ec2.LaunchTemplateBlockDeviceMapping(
                        DeviceName=Ref(root_device),
                        Ebs=ec2.EBSBlockDevice(
                            VolumeType="gp3", VolumeSize=Ref(disk), Encrypted=True, DeleteOnTermination=True
                        ),
                    )
                ],
                UserData=Base64(Sub(USER_DATA)),
                TagSpecifications=[
                    ec2.TagSpecifications(
                        ResourceType="volume",
                        Tags=standard_tags(params, STACK, Name=Ref(name), **{ROLE_TAG: role}),
                    )
                ],
            ),
        )
        return t.add_resource(lt)

    def instance(
        title: str,
        lt: ec2.LaunchTemplate,
        *,
        name: Parameter,
        itype: Parameter,
        role: str,
        subnet_key: str,
        sg_keys: list[str],
    ) -> ec2.Instance:
        return t.add_resource(
            ec2.Instance(
                title,
                LaunchTemplate=ec2.LaunchTemplateSpecification(
                    LaunchTemplateId=Ref(lt), Version=GetAtt(lt, "LatestVersionNumber")
                ),
                ImageId=Ref(ami),
                InstanceType=Ref(itype),
                IamInstanceProfile=Ref(profile),
                SubnetId=import_from(network, subnet_key),
                SecurityGroupIds=[import_from(network, k) for k in sg_keys],
                Tags=standard_tags(params, STACK, Name=Ref(name), **{ROLE_TAG: role, ENV_TAG: Ref(env_tag)}),
            )
        )

    oltp_lt = launch_template("OltpLaunchTemplate", oltp_name, oltp_disk, "oltp")
    oltp = instance(
        "OltpInstance",
        oltp_lt,
        name=oltp_name,
        itype=oltp_type,
        role="oltp",
        subnet_key="PublicSubnetId",
        sg_keys=["OltpSecurityGroupId"],
    )
    dw_lt = launch_template("DwLaunchTemplate", dw_name, dw_disk, "dw")
    dw = instance(
        "DwInstance",
        dw_lt,
        name=dw_name,
        itype=dw_type,
        role="dw",
        subnet_key="AnalyticsSubnetId",
        sg_keys=["DwSecurityGroupId", "ShinySecurityGroupId"],
    )

    # A stable public address for Amplify's DATABASE_URL (seed: OLTP is public by design).
    oltp_eip = t.add_resource(
        ec2.EIP("OltpElasticIp", Domain="vpc", InstanceId=Ref(oltp), Tags=standard_tags(params, STACK))
    )

    transfer_bucket = t.add_resource(
        private_bucket(
            "SsmTransferBucket",
            Sub("${TransferBucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"),
            expire_days=Ref(transfer_days),
            lifecycle_id="expire-transfers",
            tags=standard_tags(params, STACK),
        )
    )
    checkov_skip(
        transfer_bucket,
        (
            "CKV_AWS_18",
            "Transient Ansible file transfers that expire within a day; sessions are audited "
            "by Session Manager and CloudTrail.",
        ),
        (
            "CKV_AWS_21",
            "Transfer objects are temporary and deleted by the connection; versions would keep "
            "copies of module payloads.",
        ),
    )
    t.add_resource(
        s3.BucketPolicy(
            "SsmTransferBucketPolicy",
            Bucket=Ref(transfer_bucket),
            PolicyDocument=policy_document(tls_only_statement(transfer_bucket)),
        )
    )

    export(t, "OltpInstanceId", Ref(oltp), "OLTP host instance id")
    export(t, "OltpPublicIp", Ref(oltp_eip), "OLTP host Elastic IP (Amplify DATABASE_URL host)")
    export(t, "OltpPrivateIp", GetAtt(oltp, "PrivateIp"), "OLTP host private IP")
    export(t, "DwInstanceId", Ref(dw), "DW + Shiny host instance id")
    export(t, "DwPrivateIp", GetAtt(dw, "PrivateIp"), "DW host private IP (DWH_HOST of Lambda ETL)")
    export(t, "SsmTransferBucketName", Ref(transfer_bucket), "Bucket for the Ansible aws_ssm connection")
    export(t, "HostRoleName", Ref(host_role), "IAM role of both hosts")
    return finish(t, params, STACK)
