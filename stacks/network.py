"""Network stack: VPC, the seed's three subnets, route tables, VPC endpoints, security groups.

No NAT gateway by default: the private subnets have local routes only, reach S3 through the
gateway endpoint and Systems Manager and CloudWatch Logs through interface endpoints (flows 9-15
of the seeds). `ProvisioningEgress=true` adds a temporary NAT route for the analytics subnet
while Ansible installs packages on the DW host.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from troposphere import GetAtt, GetAZs, If, Ref, Select, Sub, Tags, Template, ec2

from stacks.buckets import unique_bucket_arn
from stacks.iam import SESSION_MANAGER_ACTIONS, allow, policy_document, regional_arn
from stacks.net import NO_EGRESS, tcp_egress, tcp_ingress, tcp_rule
from stacks.params import (
    ANALYTICS_SUBNET_CIDR,
    DW_PORT,
    ETL_SUBNET_CIDR,
    OLTP_PORT,
    PUBLIC_SUBNET_CIDR,
    VPC_CIDR,
    BuildParams,
    raw_bucket_prefix,
    transfer_bucket_prefix,
)
from stacks.template import (
    export,
    finish,
    new_template,
    optional_parameter,
    standard_tags,
    string_parameter,
    switch,
)

STACK = "network"

OPTIONAL_CIDR_PATTERN = r"^$|^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$"

# The S3 managed prefix list of ap-southeast-1 (`aws ec2 describe-managed-prefix-lists`);
# `python -m stacks deploy` looks up the right one for the target region.
S3_PREFIX_LIST_AP_SOUTHEAST_1 = "pl-6fa54006"

# What the private subnets do with the platform's buckets through the S3 gateway endpoint: the
# ETL lists and reads the raw bucket, the hosts write their pg_dumps into it (multipart), and
# the hosts' curl gets and puts transfer objects (presigned by the aws_ssm controller).
PLATFORM_BUCKET_ACTIONS: tuple[str, ...] = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:AbortMultipartUpload",
)
# The AWS-owned buckets the agents on the (Debian, Linux) hosts read through that endpoint:
# SSM Agent's documented list ("SSM Agent communications with AWS managed S3 buckets", without
# the Windows- and macOS-only ones; amazon-ssm-<region> is also where the user data installs the
# agent from) and the CloudWatch agent's package (roles/agents).
AWS_AGENT_BUCKETS: tuple[str, ...] = (
    "amazon-ssm-${AWS::Region}",
    "amazon-ssm-packages-${AWS::Region}",
    "${AWS::Region}-birdwatcher-prod",
    "aws-ssm-distributor-file-${AWS::Region}",
    "aws-ssm-document-attachments-${AWS::Region}",
    "aws-ssm-${AWS::Region}",
    "patch-baseline-snapshot-${AWS::Region}",
    "amazoncloudwatch-agent-${AWS::Region}",
)
# What goes through each interface endpoint, by whom: the hosts' SSM agents (Session Manager),
# the hosts and the ETL reading their parameters, the CloudWatch agent shipping logs.
LOGS_ENDPOINT_ACTIONS: tuple[str, ...] = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:PutRetentionPolicy",
)


@dataclass(frozen=True)
class Subnet:
    """One subnet of the seed's plan, with its own route table."""

    key: str
    cidr: str
    seed_name: str
    route_table_seed_name: str

    @property
    def title(self) -> str:
        return f"{self.key}Subnet"


SUBNETS = (
    Subnet("Public", PUBLIC_SUBNET_CIDR, "SBW_Project-subnet-public1", "SBW_Project-rtb-public"),
    Subnet(
        "Analytics",
        ANALYTICS_SUBNET_CIDR,
        "SBW_Project-subnet-private1-analytics",
        "SBW_Project-rtb-private1-analytics",
    ),
    Subnet("Etl", ETL_SUBNET_CIDR, "SBW_Project-subnet-private2-etl", "SBW_Project-rtb-private2-etl"),
)


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream network: VPC, public/analytics/ETL subnets, endpoints, security groups")
    vpc, igw, igw_attachment = _vpc(t, params)
    subnets, route_tables = _subnets(t, params, vpc)
    _public_default_route(t, route_tables["Public"], igw, igw_attachment)
    groups = _security_groups(t, params, vpc)
    _openings(t, groups)
    _endpoints(
        t,
        params,
        vpc=vpc,
        analytics_subnet=subnets["Analytics"],
        private_route_tables=[route_tables["Analytics"], route_tables["Etl"]],
        endpoint_sg=groups["Endpoint"],
    )
    _provisioning_egress(
        t,
        params,
        igw_attachment=igw_attachment,
        public_subnet=subnets["Public"],
        analytics_rt=route_tables["Analytics"],
        dw_sg=groups["Dw"],
    )
    _exports(t, vpc, subnets, groups)
    return finish(t, params, STACK)


def _named(params: BuildParams, seed_name: str) -> Tags:
    return standard_tags(params, STACK, Name=params.name(seed_name))


def _vpc(t: Template, params: BuildParams) -> tuple[ec2.VPC, ec2.InternetGateway, ec2.VPCGatewayAttachment]:
    vpc = t.add_resource(
        ec2.VPC(
            "Vpc",
            CidrBlock=VPC_CIDR,
            EnableDnsSupport=True,
            EnableDnsHostnames=True,  # required by the interface endpoints' private DNS
            Tags=_named(params, "SBW_Project-vpc"),
        )
    )
    igw = t.add_resource(ec2.InternetGateway("InternetGateway", Tags=_named(params, "SBW_Project-igw")))
    attachment = t.add_resource(
        ec2.VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw))
    )
    return vpc, igw, attachment


def _subnets(
    t: Template, params: BuildParams, vpc: ec2.VPC
) -> tuple[dict[str, ec2.Subnet], dict[str, ec2.RouteTable]]:
    """The three subnets in one availability zone, each associated with its own route table."""
    az_param = optional_parameter(
        t,
        "AvailabilityZone",
        "HasAvailabilityZone",
        "Availability zone of all three subnets; empty = the region's first (seed: 1a)",
        pattern=r"^$|^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$",
    )
    az = If("HasAvailabilityZone", Ref(az_param), Select(0, GetAZs("")))
    subnets, route_tables = {}, {}
    for plan in SUBNETS:
        subnets[plan.key] = t.add_resource(
            ec2.Subnet(
                plan.title,
                VpcId=Ref(vpc),
                CidrBlock=plan.cidr,
                AvailabilityZone=az,
                MapPublicIpOnLaunch=False,  # the OLTP host gets an Elastic IP instead
                Tags=_named(params, plan.seed_name),
            )
        )
        route_tables[plan.key] = t.add_resource(
            ec2.RouteTable(
                f"{plan.key}RouteTable", VpcId=Ref(vpc), Tags=_named(params, plan.route_table_seed_name)
            )
        )
        t.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"{plan.title}RouteTableAssociation",
                SubnetId=Ref(subnets[plan.key]),
                RouteTableId=Ref(route_tables[plan.key]),
            )
        )
    return subnets, route_tables


def _public_default_route(
    t: Template, public_rt: ec2.RouteTable, igw: ec2.InternetGateway, attachment: ec2.VPCGatewayAttachment
) -> None:
    """The only default route in the VPC."""
    t.add_resource(
        ec2.Route(
            "PublicDefaultRoute",
            DependsOn=attachment.title,
            RouteTableId=Ref(public_rt),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=Ref(igw),
        )
    )


def _group(
    t: Template, params: BuildParams, vpc: ec2.VPC, key: str, seed: str, *, description: str, **rules: list
) -> ec2.SecurityGroup:
    """Security group <key>SecurityGroup named after its seed; `rules` are its inline rules
    (without SecurityGroupEgress it keeps CloudFormation's default allow-all egress)."""
    return t.add_resource(
        ec2.SecurityGroup(
            f"{key}SecurityGroup",
            GroupName=params.name(seed),
            GroupDescription=description,
            VpcId=Ref(vpc),
            Tags=_named(params, seed),
            **rules,
        )
    )


def _security_groups(t: Template, params: BuildParams, vpc: ec2.VPC) -> dict[str, ec2.SecurityGroup]:
    """The five groups of the seeds, keyed Endpoint, Oltp, EtlLambda, Shiny, Dw."""
    s3 = Ref(
        string_parameter(
            t,
            "S3PrefixListId",
            S3_PREFIX_LIST_AP_SOUTHEAST_1,
            "Managed prefix list of S3 in this region (egress rules to the S3 gateway endpoint)",
            pattern=r"^pl-[0-9a-f]{8,17}$",
        )
    )

    group = partial(_group, t, params, vpc)
    endpoint = group(
        "Endpoint",
        "sg_vpc_endpoints",
        description="Interface VPC endpoints (SSM): HTTPS from the private subnets",
        SecurityGroupIngress=[
            tcp_rule(443, "HTTPS from the analytics subnet (SSM agent)", CidrIp=ANALYTICS_SUBNET_CIDR),
            tcp_rule(443, "HTTPS from the ETL subnet (ssm:GetParameter)", CidrIp=ETL_SUBNET_CIDR),
        ],
        SecurityGroupEgress=[NO_EGRESS],
    )
    # (A group's GroupDescription cannot change in place: with its fixed GroupName, a new
    # description would make CloudFormation replace the group under the same name and fail.)
    etl = group(
        "EtlLambda",
        "sg_Lambda_ETL",
        description="Lambda ETL: no inbound; out to S3 endpoint, SSM endpoints and the DW on 5432",
        SecurityGroupEgress=[
            tcp_rule(443, "HTTPS to S3 through the gateway endpoint", DestinationPrefixListId=s3),
            tcp_rule(
                443,
                "HTTPS to the SSM interface endpoint (DW password)",
                DestinationSecurityGroupId=Ref(endpoint),
            ),
        ],
    )
    # Default egress (all): the public host installs updates from the internet (seed). Inside the
    # VPC it admits the ETL (booked revenue: the analytics login, TLS, pg_hba from the ETL subnet).
    oltp = group(
        "Oltp",
        "sg_public_WebDB",
        description="OLTP PostgreSQL host: 5432 from trusted CIDR, 22 from admin CIDR if given",
        SecurityGroupIngress=[
            tcp_rule(
                OLTP_PORT,
                "PostgreSQL from Lambda ETL (booked revenue, analytics login)",
                SourceSecurityGroupId=Ref(etl),
            ),
        ],
    )
    shiny = group(
        "Shiny",
        "sg_analytics_Shiny",
        description="R Shiny on 3838: no inbound by default (Session Manager port forwarding)",
        SecurityGroupEgress=[NO_EGRESS],
    )
    dw = group(
        "Dw",
        "sg_analytics_ShinyDWH",
        description="DW PostgreSQL: 5432 from the ETL Lambda and Shiny groups only",
        SecurityGroupIngress=[
            tcp_rule(DW_PORT, "PostgreSQL from Lambda ETL", SourceSecurityGroupId=Ref(etl)),
            tcp_rule(DW_PORT, "PostgreSQL from R Shiny", SourceSecurityGroupId=Ref(shiny)),
        ],
        SecurityGroupEgress=[
            tcp_rule(
                443,
                "HTTPS to the SSM interface endpoints (Session Manager)",
                DestinationSecurityGroupId=Ref(endpoint),
            ),
            tcp_rule(
                443,
                "HTTPS to S3 (SSM agent package, Ansible file transfer bucket)",
                DestinationPrefixListId=s3,
            ),
        ],
    )
    # Separate rules: inline ones would make the DW and ETL/Shiny groups depend on each other.
    to_dw = {"DestinationSecurityGroupId": Ref(dw)}
    t.add_resource(tcp_egress("EtlToDwEgress", etl, DW_PORT, "PostgreSQL to the DW", **to_dw))
    t.add_resource(
        tcp_egress(
            "EtlToOltpEgress",
            etl,
            OLTP_PORT,
            "PostgreSQL to the OLTP host's private IP (booked revenue)",
            DestinationSecurityGroupId=Ref(oltp),
        )
    )
    t.add_resource(
        tcp_egress("ShinyToDwEgress", shiny, DW_PORT, "PostgreSQL to the DW by private IP", **to_dw)
    )
    return {"Endpoint": endpoint, "Oltp": oltp, "EtlLambda": etl, "Shiny": shiny, "Dw": dw}


@dataclass(frozen=True)
class Opening:
    """A port opened to a CIDR outside the VPC: a rule resource that exists only when the CIDR
    parameter (empty by default) is set."""

    title: str
    parameter: str
    condition: str
    group: str
    port: int
    description: str
    parameter_description: str


OPENINGS = (
    Opening(
        title="OltpPostgresIngress",
        parameter="TrustedOltpCidr",
        condition="HasTrustedOltpCidr",
        group="Oltp",
        port=5432,
        description="PostgreSQL from Amplify / trusted IPs (Prisma)",
        parameter_description="CIDR allowed to reach the OLTP PostgreSQL on 5432 (Amplify / trusted IPs); "
        "empty = no inbound 5432",
    ),
    Opening(
        title="OltpSshIngress",
        parameter="AdminSshCidr",
        condition="HasAdminSshCidr",
        group="Oltp",
        port=22,
        description="SSH from the admin CIDR",
        parameter_description="CIDR allowed to SSH to the OLTP host on 22; "
        "empty = no SSH (use Session Manager)",
    ),
    Opening(
        title="ShinyAdminIngress",
        parameter="ShinyAdminCidr",
        condition="HasShinyAdminCidr",
        group="Shiny",
        port=3838,
        description="Shiny from the admin/VPN CIDR",
        parameter_description="Admin/VPN CIDR allowed to reach Shiny on 3838; empty = none "
        "(Shiny is reached by Session Manager port forwarding)",
    ),
)


def _openings(t: Template, groups: dict[str, ec2.SecurityGroup]) -> None:
    for o in OPENINGS:
        cidr = optional_parameter(
            t, o.parameter, o.condition, o.parameter_description, pattern=OPTIONAL_CIDR_PATTERN
        )
        t.add_resource(
            tcp_ingress(
                o.title, groups[o.group], o.port, o.description, condition=o.condition, CidrIp=Ref(cidr)
            )
        )


def _s3_endpoint_policy(params: BuildParams) -> dict:
    """The S3 gateway endpoint: the platform's two buckets in this account (named: the network
    stack comes before the stacks that create them), for what the private subnets do with them,
    and reading the AWS-owned buckets the agents need. Nothing else in S3 is reachable from the
    private subnets."""
    buckets = [
        unique_bucket_arn(prefix(params.env)) for prefix in (raw_bucket_prefix, transfer_bucket_prefix)
    ]
    return policy_document(
        allow(
            list(PLATFORM_BUCKET_ACTIONS),
            [*buckets, *(Sub("${Arn}/*", Arn=arn) for arn in buckets)],
            sid="PlatformBucketsOfThisAccount",
            principal="*",
            # The names hold this account's id, but a bucket name is anybody's to take first.
            condition={"StringEquals": {"aws:ResourceAccount": Ref("AWS::AccountId")}},
        ),
        allow(
            "s3:GetObject",
            [Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}/*") for bucket in AWS_AGENT_BUCKETS],
            sid="AwsOwnedAgentBuckets",
            principal="*",
        ),
    )


def _interface_endpoint_policy(params: BuildParams, service: str) -> dict:
    """An interface endpoint: this account's principals only, for what the platform does
    through it (the same actions their roles allow)."""
    this_account = {"StringEquals": {"aws:PrincipalAccount": Ref("AWS::AccountId")}}
    own = partial(allow, principal="*", condition=this_account)
    if service == "ssm":
        statements = [
            own("ssm:UpdateInstanceInformation", "*", sid="SsmAgentRegistersItsInstance"),
            own(
                ["ssm:GetParameter", "ssm:GetParameters"],
                regional_arn("ssm", f"parameter/clickstream/{params.env}/*"),
                sid="ReadThisEnvironmentsParameters",
            ),
        ]
    elif service == "logs":
        groups = regional_arn("logs", f"log-group:/clickstream/{params.env}/*")
        statements = [own(list(LOGS_ENDPOINT_ACTIONS), groups, sid="ShipAgentLogsOfThisEnvironment")]
    else:  # ssmmessages, ec2messages: the agent's channels, which have no narrower resource
        actions = [a for a in SESSION_MANAGER_ACTIONS if a.startswith(f"{service}:")]
        statements = [own(actions, "*", sid="SessionManagerChannels")]
    return policy_document(*statements)


def _endpoints(
    t: Template,
    params: BuildParams,
    *,
    vpc: ec2.VPC,
    analytics_subnet: ec2.Subnet,
    private_route_tables: list[ec2.RouteTable],
    endpoint_sg: ec2.SecurityGroup,
) -> None:
    """S3 gateway endpoint on the private route tables; interface endpoints in the analytics subnet."""
    logs_condition = switch(
        t,
        "EnableLogsEndpoint",
        "LogsEndpointEnabled",
        default=True,
        description="CloudWatch Logs interface endpoint in the analytics subnet, so the CloudWatch "
        "agent on the private DW host can ship logs; false = no endpoint (no log shipping from it)",
    )
    t.add_resource(
        ec2.VPCEndpoint(
            "S3GatewayEndpoint",
            VpcId=Ref(vpc),
            ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
            VpcEndpointType="Gateway",
            RouteTableIds=[Ref(rt) for rt in private_route_tables],
            PolicyDocument=_s3_endpoint_policy(params),
        )
    )
    for title, service, condition in (
        ("SsmEndpoint", "ssm", None),
        ("SsmMessagesEndpoint", "ssmmessages", None),
        ("Ec2MessagesEndpoint", "ec2messages", None),
        # The CloudWatch agent ships PostgreSQL and Shiny logs (roles/agents).
        ("LogsEndpoint", "logs", logs_condition),
    ):
        endpoint = ec2.VPCEndpoint(
            title,
            VpcId=Ref(vpc),
            ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
            VpcEndpointType="Interface",
            PrivateDnsEnabled=True,
            SubnetIds=[Ref(analytics_subnet)],
            SecurityGroupIds=[Ref(endpoint_sg)],
            PolicyDocument=_interface_endpoint_policy(params, service),
        )
        if condition:
            endpoint.Condition = condition
        t.add_resource(endpoint)


def _provisioning_egress(
    t: Template,
    params: BuildParams,
    *,
    igw_attachment: ec2.VPCGatewayAttachment,
    public_subnet: ec2.Subnet,
    analytics_rt: ec2.RouteTable,
    dw_sg: ec2.SecurityGroup,
) -> None:
    """Opt-in (ProvisioningEgress) NAT route for the analytics subnet, so apt on the DW host can
    reach Debian's mirrors during provisioning. The ETL subnet never gets it."""
    condition = switch(
        t,
        "ProvisioningEgress",
        "ProvisioningEgressEnabled",
        default=False,
        description="Temporary internet egress for the private DW host while Ansible installs "
        "packages: a NAT gateway in the public subnet and a default route in the analytics route "
        "table only. Deploy with true, run the playbook, redeploy with false (it costs per hour)",
    )
    eip = t.add_resource(
        ec2.EIP(
            "ProvisioningNatEip",
            Condition=condition,
            DependsOn=igw_attachment.title,
            Domain="vpc",
            Tags=_named(params, "SBW_Project-provisioning-nat"),
        )
    )
    nat = t.add_resource(
        ec2.NatGateway(
            "ProvisioningNatGateway",
            Condition=condition,
            AllocationId=GetAtt(eip, "AllocationId"),
            SubnetId=Ref(public_subnet),
            Tags=_named(params, "SBW_Project-provisioning-nat"),
        )
    )
    t.add_resource(
        ec2.Route(
            "AnalyticsProvisioningRoute",
            Condition=condition,
            RouteTableId=Ref(analytics_rt),
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=Ref(nat),
        )
    )
    # The DW group's egress otherwise stops at the endpoints: apt speaks HTTP and HTTPS.
    for title, port in (("DwProvisioningHttpEgress", 80), ("DwProvisioningHttpsEgress", 443)):
        t.add_resource(
            tcp_egress(
                title,
                dw_sg,
                port,
                f"Package downloads on {port} while provisioning (ProvisioningEgress)",
                condition=condition,
                CidrIp="0.0.0.0/0",
            )
        )


def _exports(
    t: Template, vpc: ec2.VPC, subnets: dict[str, ec2.Subnet], groups: dict[str, ec2.SecurityGroup]
) -> None:
    export(t, "VpcId", Ref(vpc), "VPC id")
    export(t, "VpcCidr", GetAtt(vpc, "CidrBlock"), "VPC CIDR block")
    export(t, "PublicSubnetId", Ref(subnets["Public"]), "Public subnet (OLTP)")
    export(t, "AnalyticsSubnetId", Ref(subnets["Analytics"]), "Private analytics subnet (DW + Shiny)")
    export(t, "EtlSubnetId", Ref(subnets["Etl"]), "Private ETL subnet (Lambda ETL)")
    export(t, "OltpSecurityGroupId", Ref(groups["Oltp"]), "OLTP host security group")
    export(t, "DwSecurityGroupId", Ref(groups["Dw"]), "DW host security group (sg_analytics_ShinyDWH)")
    export(t, "ShinySecurityGroupId", Ref(groups["Shiny"]), "Shiny security group")
    export(
        t, "EtlLambdaSecurityGroupId", Ref(groups["EtlLambda"]), "Lambda ETL security group (sg_Lambda_ETL)"
    )
    export(t, "EndpointSecurityGroupId", Ref(groups["Endpoint"]), "Interface endpoints' security group")
