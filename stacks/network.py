"""Network stack: VPC, the seed's three subnets, route tables, VPC endpoints, security groups.

No NAT gateway by default: the private subnets have local routes only, reach S3 through the
gateway endpoint and Systems Manager and CloudWatch Logs through interface endpoints (flows 9-15
of the seeds). `ProvisioningEgress=true` adds a temporary NAT route for the analytics subnet
while Ansible installs packages on the DW host.
"""

from __future__ import annotations

from troposphere import (
    Equals,
    GetAtt,
    GetAZs,
    If,
    Not,
    Parameter,
    Ref,
    Select,
    Sub,
    Tags,
    Template,
    ec2,
)

from stacks.params import BuildParams
from stacks.template import export, finish, new_template, standard_tags

STACK = "network"

CIDR_PATTERN = r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$"
OPTIONAL_CIDR_PATTERN = r"^$|^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$"

# The S3 managed prefix list of ap-southeast-1 (`aws ec2 describe-managed-prefix-lists`);
# `python -m stacks deploy` looks up the right one for the target region.
S3_PREFIX_LIST_AP_SOUTHEAST_1 = "pl-6fa54006"

# Security-group egress rule that matches nothing: replaces CloudFormation's default allow-all.
NO_EGRESS = ec2.SecurityGroupRule(
    IpProtocol="-1", CidrIp="127.0.0.1/32", Description="no egress (replaces the default allow-all rule)"
)


def _cidr_parameter(template: Template, name: str, default: str, description: str) -> Parameter:
    return template.add_parameter(
        Parameter(name, Type="String", Default=default, AllowedPattern=CIDR_PATTERN, Description=description)
    )


def _add_switches(t: Template) -> None:
    """On/off parameters and their conditions: the logs endpoint and provisioning egress."""
    logs_endpoint_param = t.add_parameter(
        Parameter(
            "EnableLogsEndpoint",
            Type="String",
            Default="true",
            AllowedValues=["true", "false"],
            Description="CloudWatch Logs interface endpoint in the analytics subnet, so the CloudWatch "
            "agent on the private DW host can ship logs; false = no endpoint (no log shipping from it)",
        )
    )
    provisioning_egress = t.add_parameter(
        Parameter(
            "ProvisioningEgress",
            Type="String",
            Default="false",
            AllowedValues=["true", "false"],
            Description="Temporary internet egress for the private DW host while Ansible installs "
            "packages: a NAT gateway in the public subnet and a default route in the analytics route "
            "table only. Deploy with true, run the playbook, redeploy with false (it costs per hour)",
        )
    )
    t.add_condition("LogsEndpointEnabled", Equals(Ref(logs_endpoint_param), "true"))
    t.add_condition("ProvisioningEgressEnabled", Equals(Ref(provisioning_egress), "true"))


def build(params: BuildParams) -> Template:
    t = new_template("Clickstream network: VPC, public/analytics/ETL subnets, endpoints, security groups")

    def named(name: str) -> Tags:
        return standard_tags(params, STACK, Name=params.name(name))

    vpc_cidr = _cidr_parameter(t, "VpcCidr", "10.0.0.0/16", "VPC CIDR block")
    public_cidr = _cidr_parameter(t, "PublicSubnetCidr", "10.0.1.0/24", "Public subnet (OLTP host)")
    analytics_cidr = _cidr_parameter(
        t, "AnalyticsSubnetCidr", "10.0.2.0/24", "Private analytics subnet (DW + Shiny host, SSM endpoints)"
    )
    etl_cidr = _cidr_parameter(t, "EtlSubnetCidr", "10.0.3.0/24", "Private ETL subnet (Lambda ETL)")
    az_param = t.add_parameter(
        Parameter(
            "AvailabilityZone",
            Type="String",
            Default="",
            AllowedPattern=r"^$|^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$",
            Description="Availability zone of all three subnets; empty = the region's first (seed: 1a)",
        )
    )
    trusted_oltp_cidr = t.add_parameter(
        Parameter(
            "TrustedOltpCidr",
            Type="String",
            Default="",
            AllowedPattern=OPTIONAL_CIDR_PATTERN,
            Description="CIDR allowed to reach the OLTP PostgreSQL on 5432 (Amplify / trusted IPs); "
            "empty = no inbound 5432",
        )
    )
    admin_cidr = t.add_parameter(
        Parameter(
            "AdminSshCidr",
            Type="String",
            Default="",
            AllowedPattern=OPTIONAL_CIDR_PATTERN,
            Description="CIDR allowed to SSH to the OLTP host on 22; empty = no SSH (use Session Manager)",
        )
    )
    shiny_admin_cidr = t.add_parameter(
        Parameter(
            "ShinyAdminCidr",
            Type="String",
            Default="",
            AllowedPattern=OPTIONAL_CIDR_PATTERN,
            Description="Admin/VPN CIDR allowed to reach Shiny on 3838; empty = none "
            "(Shiny is reached by Session Manager port forwarding)",
        )
    )
    s3_prefix_list = t.add_parameter(
        Parameter(
            "S3PrefixListId",
            Type="String",
            Default=S3_PREFIX_LIST_AP_SOUTHEAST_1,
            AllowedPattern=r"^pl-[0-9a-f]{8,17}$",
            Description="Managed prefix list of S3 in this region (egress rules to the S3 gateway endpoint)",
        )
    )
    _add_switches(t)
    sg_names = {
        title: t.add_parameter(
            Parameter(
                title,
                Type="String",
                Default=params.name(seed),
                AllowedPattern=r"^[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}$",
                Description=f"Security group name (seed: {seed})",
            )
        )
        for title, seed in (
            ("EndpointSecurityGroupName", "sg_vpc_endpoints"),
            ("OltpSecurityGroupName", "sg_public_WebDB"),
            ("EtlLambdaSecurityGroupName", "sg_Lambda_ETL"),
            ("ShinySecurityGroupName", "sg_analytics_Shiny"),
            ("DwSecurityGroupName", "sg_analytics_ShinyDWH"),
        )
    }
    t.add_condition("HasTrustedOltpCidr", Not(Equals(Ref(trusted_oltp_cidr), "")))
    t.add_condition("HasAdminSshCidr", Not(Equals(Ref(admin_cidr), "")))
    t.add_condition("HasShinyAdminCidr", Not(Equals(Ref(shiny_admin_cidr), "")))

    t.add_condition("HasAvailabilityZone", Not(Equals(Ref(az_param), "")))
    az = If("HasAvailabilityZone", Ref(az_param), Select(0, GetAZs("")))

    vpc = t.add_resource(
        ec2.VPC(
            "Vpc",
            CidrBlock=Ref(vpc_cidr),
            EnableDnsSupport=True,
            EnableDnsHostnames=True,  # required by the interface endpoints' private DNS
            Tags=named("SBW_Project-vpc"),
        )
    )
    igw = t.add_resource(ec2.InternetGateway("InternetGateway", Tags=named("SBW_Project-igw")))
    igw_attachment = t.add_resource(
        ec2.VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw))
    )

    def subnet(title: str, cidr: Parameter, seed_name: str) -> ec2.Subnet:
        return t.add_resource(
            ec2.Subnet(
                title,
                VpcId=Ref(vpc),
                CidrBlock=Ref(cidr),
                AvailabilityZone=az,
                MapPublicIpOnLaunch=False,  # the OLTP host gets an Elastic IP instead
                Tags=named(seed_name),
            )
        )

    public_subnet = subnet("PublicSubnet", public_cidr, "SBW_Project-subnet-public1")
    analytics_subnet = subnet("AnalyticsSubnet", analytics_cidr, "SBW_Project-subnet-private1-analytics")
    etl_subnet = subnet("EtlSubnet", etl_cidr, "SBW_Project-subnet-private2-etl")

    public_rt = t.add_resource(
        ec2.RouteTable("PublicRouteTable", VpcId=Ref(vpc), Tags=named("SBW_Project-rtb-public"))
    )
    # The only default route in the VPC.
    t.add_resource(
        ec2.Route(
            "PublicDefaultRoute",
            DependsOn=igw_attachment.title,
            RouteTableId=Ref(public_rt),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=Ref(igw),
        )
    )
    analytics_rt = t.add_resource(
        ec2.RouteTable(
            "AnalyticsRouteTable", VpcId=Ref(vpc), Tags=named("SBW_Project-rtb-private1-analytics")
        )
    )
    etl_rt = t.add_resource(
        ec2.RouteTable("EtlRouteTable", VpcId=Ref(vpc), Tags=named("SBW_Project-rtb-private2-etl"))
    )
    for title, sn, rt in (
        ("PublicSubnetRouteTableAssociation", public_subnet, public_rt),
        ("AnalyticsSubnetRouteTableAssociation", analytics_subnet, analytics_rt),
        ("EtlSubnetRouteTableAssociation", etl_subnet, etl_rt),
    ):
        t.add_resource(ec2.SubnetRouteTableAssociation(title, SubnetId=Ref(sn), RouteTableId=Ref(rt)))

    # --- security groups -------------------------------------------------------------------
    endpoint_sg = t.add_resource(
        ec2.SecurityGroup(
            "EndpointSecurityGroup",
            GroupName=Ref(sg_names["EndpointSecurityGroupName"]),
            GroupDescription="Interface VPC endpoints (SSM): HTTPS from the private subnets",
            VpcId=Ref(vpc),
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    CidrIp=Ref(analytics_cidr),
                    Description="HTTPS from the analytics subnet (SSM agent)",
                ),
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    CidrIp=Ref(etl_cidr),
                    Description="HTTPS from the ETL subnet (ssm:GetParameter)",
                ),
            ],
            SecurityGroupEgress=[NO_EGRESS],
            Tags=named("sg_vpc_endpoints"),
        )
    )
    oltp_sg = t.add_resource(
        ec2.SecurityGroup(
            "OltpSecurityGroup",
            GroupName=Ref(sg_names["OltpSecurityGroupName"]),
            GroupDescription="OLTP PostgreSQL host: 5432 from trusted CIDR, 22 from admin CIDR if given",
            VpcId=Ref(vpc),
            # Default egress (all): the public host installs updates from the internet (seed).
            Tags=named("sg_public_WebDB"),
        )
    )
    etl_sg = t.add_resource(
        ec2.SecurityGroup(
            "EtlLambdaSecurityGroup",
            GroupName=Ref(sg_names["EtlLambdaSecurityGroupName"]),
            GroupDescription="Lambda ETL: no inbound; out to S3 endpoint, SSM endpoints and the DW on 5432",
            VpcId=Ref(vpc),
            SecurityGroupEgress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    DestinationPrefixListId=Ref(s3_prefix_list),
                    Description="HTTPS to S3 through the gateway endpoint",
                ),
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    DestinationSecurityGroupId=Ref(endpoint_sg),
                    Description="HTTPS to the SSM interface endpoint (DW password)",
                ),
            ],
            Tags=named("sg_Lambda_ETL"),
        )
    )
    shiny_sg = t.add_resource(
        ec2.SecurityGroup(
            "ShinySecurityGroup",
            GroupName=Ref(sg_names["ShinySecurityGroupName"]),
            GroupDescription="R Shiny on 3838: no inbound by default (Session Manager port forwarding)",
            VpcId=Ref(vpc),
            SecurityGroupEgress=[NO_EGRESS],
            Tags=named("sg_analytics_Shiny"),
        )
    )
    dw_sg = t.add_resource(
        ec2.SecurityGroup(
            "DwSecurityGroup",
            GroupName=Ref(sg_names["DwSecurityGroupName"]),
            GroupDescription="DW PostgreSQL: 5432 from the ETL Lambda and Shiny groups only",
            VpcId=Ref(vpc),
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=5432,
                    ToPort=5432,
                    SourceSecurityGroupId=Ref(etl_sg),
                    Description="PostgreSQL from Lambda ETL",
                ),
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=5432,
                    ToPort=5432,
                    SourceSecurityGroupId=Ref(shiny_sg),
                    Description="PostgreSQL from R Shiny",
                ),
            ],
            SecurityGroupEgress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    DestinationSecurityGroupId=Ref(endpoint_sg),
                    Description="HTTPS to the SSM interface endpoints (Session Manager)",
                ),
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    DestinationPrefixListId=Ref(s3_prefix_list),
                    Description="HTTPS to S3 (SSM agent package, Ansible file transfer bucket)",
                ),
            ],
            Tags=named("sg_analytics_ShinyDWH"),
        )
    )
    # Optional openings: separate resources so each exists only when its CIDR is given.
    for title, condition, sg, port, cidr, description in (
        (
            "OltpPostgresIngress",
            "HasTrustedOltpCidr",
            oltp_sg,
            5432,
            trusted_oltp_cidr,
            "PostgreSQL from Amplify / trusted IPs (Prisma)",
        ),
        ("OltpSshIngress", "HasAdminSshCidr", oltp_sg, 22, admin_cidr, "SSH from the admin CIDR"),
        (
            "ShinyAdminIngress",
            "HasShinyAdminCidr",
            shiny_sg,
            3838,
            shiny_admin_cidr,
            "Shiny from the admin/VPN CIDR",
        ),
    ):
        t.add_resource(
            ec2.SecurityGroupIngress(
                title,
                Condition=condition,
                GroupId=Ref(sg),
                IpProtocol="tcp",
                FromPort=port,
                ToPort=port,
                CidrIp=Ref(cidr),
                Description=description,
            )
        )
    # Separate rules: inline ones would make the DW and ETL/Shiny groups depend on each other.
    t.add_resource(
        ec2.SecurityGroupEgress(
            "EtlToDwEgress",
            GroupId=Ref(etl_sg),
            IpProtocol="tcp",
            FromPort=5432,
            ToPort=5432,
            DestinationSecurityGroupId=Ref(dw_sg),
            Description="PostgreSQL to the DW",
        )
    )
    t.add_resource(
        ec2.SecurityGroupEgress(
            "ShinyToDwEgress",
            GroupId=Ref(shiny_sg),
            IpProtocol="tcp",
            FromPort=5432,
            ToPort=5432,
            DestinationSecurityGroupId=Ref(dw_sg),
            Description="PostgreSQL to the DW by private IP",
        )
    )

    _add_endpoints(t, vpc, analytics_subnet, [analytics_rt, etl_rt], endpoint_sg)
    _add_provisioning_egress(
        t,
        params,
        igw_attachment=igw_attachment,
        public_subnet=public_subnet,
        analytics_rt=analytics_rt,
        dw_sg=dw_sg,
    )

    # --- exports -----------------------------------------------------------------------------
    export(t, "VpcId", Ref(vpc), "VPC id")
    export(t, "VpcCidr", GetAtt(vpc, "CidrBlock"), "VPC CIDR block")
    export(t, "PublicSubnetId", Ref(public_subnet), "Public subnet (OLTP)")
    export(t, "AnalyticsSubnetId", Ref(analytics_subnet), "Private analytics subnet (DW + Shiny)")
    export(t, "EtlSubnetId", Ref(etl_subnet), "Private ETL subnet (Lambda ETL)")
    export(t, "OltpSecurityGroupId", Ref(oltp_sg), "OLTP host security group")
    export(t, "DwSecurityGroupId", Ref(dw_sg), "DW host security group (sg_analytics_ShinyDWH)")
    export(t, "ShinySecurityGroupId", Ref(shiny_sg), "Shiny security group")
    export(t, "EtlLambdaSecurityGroupId", Ref(etl_sg), "Lambda ETL security group (sg_Lambda_ETL)")
    export(t, "EndpointSecurityGroupId", Ref(endpoint_sg), "Interface endpoints' security group")
    return finish(t, params, STACK)


def _add_endpoints(
    t: Template,
    vpc: ec2.VPC,
    analytics_subnet: ec2.Subnet,
    private_route_tables: list[ec2.RouteTable],
    endpoint_sg: ec2.SecurityGroup,
) -> None:
    """S3 gateway endpoint on the private route tables; interface endpoints in the analytics subnet."""
    t.add_resource(
        ec2.VPCEndpoint(
            "S3GatewayEndpoint",
            VpcId=Ref(vpc),
            ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
            VpcEndpointType="Gateway",
            RouteTableIds=[Ref(rt) for rt in private_route_tables],
        )
    )
    for title, service, condition in (
        ("SsmEndpoint", "ssm", None),
        ("SsmMessagesEndpoint", "ssmmessages", None),
        ("Ec2MessagesEndpoint", "ec2messages", None),
        # The CloudWatch agent ships PostgreSQL and Shiny logs (roles/agents).
        ("LogsEndpoint", "logs", "LogsEndpointEnabled"),
    ):
        endpoint = ec2.VPCEndpoint(
            title,
            VpcId=Ref(vpc),
            ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
            VpcEndpointType="Interface",
            PrivateDnsEnabled=True,
            SubnetIds=[Ref(analytics_subnet)],
            SecurityGroupIds=[Ref(endpoint_sg)],
        )
        if condition:
            endpoint.Condition = condition
        t.add_resource(endpoint)


def _add_provisioning_egress(
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
    condition = "ProvisioningEgressEnabled"
    eip = t.add_resource(
        ec2.EIP(
            "ProvisioningNatEip",
            Condition=condition,
            DependsOn=igw_attachment.title,
            Domain="vpc",
            Tags=standard_tags(params, STACK, Name=params.name("SBW_Project-provisioning-nat")),
        )
    )
    nat = t.add_resource(
        ec2.NatGateway(
            "ProvisioningNatGateway",
            Condition=condition,
            AllocationId=GetAtt(eip, "AllocationId"),
            SubnetId=Ref(public_subnet),
            Tags=standard_tags(params, STACK, Name=params.name("SBW_Project-provisioning-nat")),
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
            ec2.SecurityGroupEgress(
                title,
                Condition=condition,
                GroupId=Ref(dw_sg),
                IpProtocol="tcp",
                FromPort=port,
                ToPort=port,
                CidrIp="0.0.0.0/0",
                Description=f"Package downloads on {port} while provisioning (ProvisioningEgress)",
            )
        )
