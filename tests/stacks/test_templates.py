"""Assertions on the generated template dicts: network isolation, least privilege, encryption."""

from __future__ import annotations

import json
import re
from ipaddress import ip_network
from pathlib import Path

import pytest
import yaml

from functions.etl.config import Settings
from stacks import BUILDERS
from stacks.hosts import AGENT_LOG_GROUPS
from stacks.iam import ENI_DESCRIBE_ACTIONS, SESSION_MANAGER_ACTIONS
from stacks.params import (
    BACKUPS_PREFIX,
    DW_DATABASE,
    DW_LOGIN_ROLES,
    DW_PORT,
    DW_WRITER_LOGIN,
    ENV_TAG,
    ETL_SUBNET_CIDR,
    OLTP_ANALYTICS_LOGIN,
    OLTP_APP_LOGIN,
    OLTP_DATABASE,
    OLTP_LOGIN_ROLES,
    OLTP_PORT,
    ROLE_TAG,
    STACK_ORDER,
    VPC_CIDR,
    BuildParams,
    backups_prefix,
    password_parameters,
)
from tests.stacks.support import props, resources_of, walk

REPO = Path(__file__).resolve().parents[2]


def all_resources(templates: dict[str, dict]):
    for stack, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            yield stack, logical_id, resource


def default_of(template: dict, parameter: str):
    return template["Parameters"][parameter].get("Default")


def tags_of(resource: dict) -> dict:
    return {t["Key"]: t["Value"] for t in resource["Properties"].get("Tags", [])}


# --- network -------------------------------------------------------------------------------------


def test_subnets_follow_seed_002(templates: dict[str, dict]) -> None:
    net = templates["network"]
    assert props(net, "Vpc")["CidrBlock"] == "10.0.0.0/16"
    assert {k: s["Properties"]["CidrBlock"] for k, s in resources_of(net, "AWS::EC2::Subnet").items()} == {
        "PublicSubnet": "10.0.1.0/24",
        "AnalyticsSubnet": "10.0.2.0/24",
        "EtlSubnet": "10.0.3.0/24",
    }
    # No subnet hands out public IPs: the OLTP host's address is an explicit Elastic IP.
    assert all(
        s["Properties"]["MapPublicIpOnLaunch"] is False
        for s in resources_of(net, "AWS::EC2::Subnet").values()
    )


# Resources that exist only with ProvisioningEgress=true (off by default).
PROVISIONING_EGRESS = {
    "ProvisioningNatEip",
    "ProvisioningNatGateway",
    "AnalyticsProvisioningRoute",
    "DwProvisioningHttpEgress",
    "DwProvisioningHttpsEgress",
}


def deployed_by_default(template: dict) -> dict[str, dict]:
    """The resources CloudFormation creates with the parameter defaults (conditions evaluated)."""
    off_by_default = (
        {"ProvisioningEgressEnabled"} if default_of(template, "ProvisioningEgress") == "false" else set()
    )
    return {k: r for k, r in template["Resources"].items() if r.get("Condition") not in off_by_default}


def test_no_nat_gateway_anywhere(templates: dict[str, dict]) -> None:
    assert default_of(templates["network"], "ProvisioningEgress") == "false"
    for stack, template in templates.items():
        resources = deployed_by_default(template) if stack == "network" else template["Resources"]
        for logical_id, resource in resources.items():
            assert resource["Type"] not in (
                "AWS::EC2::NatGateway",
                "AWS::EC2::TransitGateway",
                "AWS::EC2::EIP",
            ) or (stack, logical_id) == ("hosts", "OltpElasticIp"), (stack, logical_id)
            if resource["Type"] == "AWS::EC2::Route":
                assert "NatGatewayId" not in resource["Properties"], (stack, logical_id)
            if resource["Type"] == "AWS::EC2::SecurityGroupEgress":
                assert "CidrIp" not in resource["Properties"], (stack, logical_id)


def test_provisioning_egress_routes_only_the_analytics_subnet(templates: dict[str, dict]) -> None:
    net = templates["network"]
    assert net["Conditions"]["ProvisioningEgressEnabled"] == {
        "Fn::Equals": [{"Ref": "ProvisioningEgress"}, "true"]
    }
    conditional = {
        k for k, r in net["Resources"].items() if r.get("Condition") == "ProvisioningEgressEnabled"
    }
    assert conditional == PROVISIONING_EGRESS
    nat = props(net, "ProvisioningNatGateway")
    assert nat["SubnetId"] == {"Ref": "PublicSubnet"}
    assert nat["AllocationId"] == {"Fn::GetAtt": ["ProvisioningNatEip", "AllocationId"]}
    route = props(net, "AnalyticsProvisioningRoute")
    assert (route["RouteTableId"], route["DestinationCidrBlock"], route["NatGatewayId"]) == (
        {"Ref": "AnalyticsRouteTable"},
        "0.0.0.0/0",
        {"Ref": "ProvisioningNatGateway"},
    )
    # With the switch on, the ETL route table still has no default route.
    nat_routes = [
        r["Properties"]["RouteTableId"]
        for r in resources_of(net, "AWS::EC2::Route").values()
        if "NatGatewayId" in r["Properties"]
    ]
    assert nat_routes == [{"Ref": "AnalyticsRouteTable"}]
    for title, port in (("DwProvisioningHttpEgress", 80), ("DwProvisioningHttpsEgress", 443)):
        egress = props(net, title)
        assert (egress["GroupId"], egress["FromPort"], egress["ToPort"]) == (
            {"Ref": "DwSecurityGroup"},
            port,
            port,
        )
    on = BUILDERS["network"](BuildParams(parameters={"network": {"ProvisioningEgress": True}})).to_dict()
    assert default_of(on, "ProvisioningEgress") == "true"
    assert set(on["Resources"]) - set(deployed_by_default(on)) == set()


def test_only_the_public_route_table_has_a_default_route(templates: dict[str, dict]) -> None:
    net = templates["network"]
    routes = {k: r for k, r in deployed_by_default(net).items() if r["Type"] == "AWS::EC2::Route"}
    assert {
        k: (r["Properties"]["RouteTableId"], r["Properties"]["DestinationCidrBlock"])
        for k, r in routes.items()
    } == {
        "PublicDefaultRoute": ({"Ref": "PublicRouteTable"}, "0.0.0.0/0"),
    }
    assert props(net, "PublicDefaultRoute")["GatewayId"] == {"Ref": "InternetGateway"}
    associations = {
        a["Properties"]["SubnetId"]["Ref"]: a["Properties"]["RouteTableId"]["Ref"]
        for a in resources_of(net, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    assert associations == {
        "PublicSubnet": "PublicRouteTable",
        "AnalyticsSubnet": "AnalyticsRouteTable",
        "EtlSubnet": "EtlRouteTable",
    }


def test_the_dw_admits_the_etl_subnet_of_the_network_stack() -> None:
    # The subnet plan is a fact, not a deploy-time choice: the DW's pg_hba admits the ETL subnet.
    group_vars = REPO / "inventories" / "aws" / "group_vars" / "postgres_dw.yml"
    inventory = yaml.safe_load(group_vars.read_text(encoding="utf-8"))
    assert inventory["postgres_dw_etl_cidrs"] == [ETL_SUBNET_CIDR]


def test_the_oltp_admits_the_analytics_login_from_the_etl_subnets_only(templates: dict[str, dict]) -> None:
    # The subnets Lambda ETL runs in (its VpcConfig) are exactly the ETL subnet of the plan ...
    subnets = props(templates["etl"], "EtlFunction")["VpcConfig"]["SubnetIds"]
    assert subnets == [{"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-EtlSubnetId"}}]
    net = templates["network"]
    assert net["Outputs"]["EtlSubnetId"]["Value"] == {"Ref": "EtlSubnet"}
    assert props(net, "EtlSubnet")["CidrBlock"] == ETL_SUBNET_CIDR
    # ... and the shop's pg_hba admits the analytics login from those, and from nowhere else.
    group_vars = REPO / "inventories" / "aws" / "group_vars" / "oltp.yml"
    inventory = yaml.safe_load(group_vars.read_text(encoding="utf-8"))
    assert inventory["oltp_analytics_cidrs"] == [ETL_SUBNET_CIDR]


def test_endpoints_keep_private_traffic_inside_the_vpc(templates: dict[str, dict]) -> None:
    net = templates["network"]
    endpoints = resources_of(net, "AWS::EC2::VPCEndpoint")
    gateway = props(net, "S3GatewayEndpoint")
    assert gateway["VpcEndpointType"] == "Gateway"
    assert gateway["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}
    assert gateway["RouteTableIds"] == [{"Ref": "AnalyticsRouteTable"}, {"Ref": "EtlRouteTable"}]
    interface = {
        e["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]: e["Properties"]
        for e in endpoints.values()
        if e["Properties"]["VpcEndpointType"] == "Interface"
    }
    assert set(interface) == {"ssm", "ssmmessages", "ec2messages", "logs"}
    for p in interface.values():
        assert p["PrivateDnsEnabled"] is True
        assert p["SubnetIds"] == [{"Ref": "AnalyticsSubnet"}]
        assert p["SecurityGroupIds"] == [{"Ref": "EndpointSecurityGroup"}]
    assert props(net, "Vpc")["EnableDnsHostnames"] is True


def test_logs_endpoint_is_on_by_default_and_can_be_switched_off(templates: dict[str, dict]) -> None:
    net = templates["network"]
    assert net["Resources"]["LogsEndpoint"]["Condition"] == "LogsEndpointEnabled"
    assert net["Conditions"]["LogsEndpointEnabled"] == {"Fn::Equals": [{"Ref": "EnableLogsEndpoint"}, "true"]}
    assert default_of(net, "EnableLogsEndpoint") == "true"
    off = BUILDERS["network"](BuildParams(parameters={"network": {"EnableLogsEndpoint": False}})).to_dict()
    assert default_of(off, "EnableLogsEndpoint") == "false"
    # The DW host reaches the endpoints' group on 443 already (Session Manager).
    dw_egress = props(net, "DwSecurityGroup")["SecurityGroupEgress"]
    assert {"Ref": "EndpointSecurityGroup"} in [r.get("DestinationSecurityGroupId") for r in dw_egress]


def _endpoint_statements(net: dict, logical_id: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in props(net, logical_id)["PolicyDocument"]["Statement"]}


def _s3_actions_of_roles(templates: dict[str, dict]) -> set[str]:
    """Every S3 action an IAM policy of a role in the private subnets allows (the ETL, the hosts)."""
    return {
        action
        for stack, logical_id, statement in _iam_statements(templates)
        if stack in ("etl", "hosts") and logical_id != "SnapshotPolicyRole"
        for action in _actions(statement)
        if action.startswith("s3:")
    }


def test_s3_gateway_endpoint_reaches_the_platforms_buckets_and_the_agents_buckets_only(
    templates: dict[str, dict],
) -> None:
    net = templates["network"]
    statements = _endpoint_statements(net, "S3GatewayEndpoint")
    assert set(statements) == {"PlatformBucketsOfThisAccount", "AwsOwnedAgentBuckets"}
    platform = statements["PlatformBucketsOfThisAccount"]
    # the raw and transfer buckets, by the names their stacks (deployed later) give them
    names = [
        props(templates["data"], "RawBucket")["BucketName"]["Fn::Sub"],
        props(templates["hosts"], "SsmTransferBucket")["BucketName"]["Fn::Sub"],
    ]
    arns = [{"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{name}"} for name in names]
    assert platform["Resource"] == [*arns, *({"Fn::Sub": ["${Arn}/*", {"Arn": arn}]} for arn in arns)]
    assert platform["Condition"] == {"StringEquals": {"aws:ResourceAccount": {"Ref": "AWS::AccountId"}}}
    # what the roles in the private subnets do with S3 passes; the hosts' curl gets and puts
    # transfer objects with the operator's presigned URLs
    assert _s3_actions_of_roles(templates) <= set(platform["Action"])
    assert set(platform["Action"]) == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:AbortMultipartUpload",
    }
    # The AWS-owned buckets: read only, those SSM Agent's documentation lists for Linux, the one
    # the user data installs the agent from and the CloudWatch agent's (roles/agents).
    agents = statements["AwsOwnedAgentBuckets"]
    assert agents["Action"] == "s3:GetObject"
    buckets = {
        r["Fn::Sub"].removeprefix("arn:${AWS::Partition}:s3:::").removesuffix("/*")
        for r in agents["Resource"]
    }
    assert buckets == {
        "amazon-ssm-${AWS::Region}",
        "amazon-ssm-packages-${AWS::Region}",
        "${AWS::Region}-birdwatcher-prod",
        "aws-ssm-distributor-file-${AWS::Region}",
        "aws-ssm-document-attachments-${AWS::Region}",
        "aws-ssm-${AWS::Region}",
        "patch-baseline-snapshot-${AWS::Region}",
        "amazoncloudwatch-agent-${AWS::Region}",
    }
    user_data = props(templates["hosts"], "DwLaunchTemplate")["LaunchTemplateData"]["UserData"]
    assert "amazonaws.com/amazon-ssm-${AWS::Region}/" in user_data["Fn::Base64"]["Fn::Sub"]
    agents_defaults = (REPO / "roles" / "agents" / "defaults" / "main.yml").read_text(encoding="utf-8")
    assert "https://amazoncloudwatch-agent-{{ agents_region }}.s3." in agents_defaults
    for statement in statements.values():
        assert statement["Effect"] == "Allow" and "*" not in _actions(statement)
        assert "*" not in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )


def test_interface_endpoints_admit_this_accounts_principals_for_the_platforms_actions(
    templates: dict[str, dict],
) -> None:
    net = templates["network"]
    this_account = {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}
    policies = {}
    for logical_id, endpoint in resources_of(net, "AWS::EC2::VPCEndpoint").items():
        if endpoint["Properties"]["VpcEndpointType"] != "Interface":
            continue
        service = endpoint["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]
        policies[service] = _endpoint_statements(net, logical_id)
        for statement in policies[service].values():
            assert statement["Principal"] == "*" and statement["Condition"] == this_account, logical_id
            assert all(a.startswith(f"{service}:") and "*" not in a for a in _actions(statement)), logical_id
    assert set(policies) == {"ssm", "ssmmessages", "ec2messages", "logs"}
    # The SSM agent's channels: every Session Manager action the host roles have passes.
    for service in ("ssmmessages", "ec2messages"):
        [channels] = policies[service].values()
        assert sorted(channels["Action"]) == sorted(
            a for a in SESSION_MANAGER_ACTIONS if a.startswith(f"{service}:")
        )
    # Parameter Store: the agent registering its instance, and this environment's parameters.
    ssm = policies["ssm"]
    assert ssm["SsmAgentRegistersItsInstance"]["Action"] == "ssm:UpdateInstanceInformation"
    reads = ssm["ReadThisEnvironmentsParameters"]
    assert reads["Action"] == ["ssm:GetParameter", "ssm:GetParameters"]
    assert reads["Resource"]["Fn::Sub"].endswith(":parameter/clickstream/dev/*")
    for name, _ in password_parameters("dev"):
        assert name.startswith("/clickstream/dev/")
    # CloudWatch Logs: the agent's actions, on this environment's log groups.
    [logs] = policies["logs"].values()
    assert sorted(logs["Action"]) == sorted(
        _host_policies(templates["hosts"], "Dw")["cloudwatch-agent-logs"][0]["Action"]
    )
    assert logs["Resource"]["Fn::Sub"].endswith(":log-group:/clickstream/dev/*")


def _ingress_rules(template: dict, group: str) -> list[dict]:
    inline = list(props(template, group).get("SecurityGroupIngress", []))
    separate = [
        r["Properties"] | {"Condition": r.get("Condition")}
        for r in resources_of(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Ref": group}
    ]
    return inline + separate


def test_dw_accepts_postgres_only_from_etl_and_shiny(templates: dict[str, dict]) -> None:
    rules = _ingress_rules(templates["network"], "DwSecurityGroup")
    assert sorted(
        (r["IpProtocol"], r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"]["Ref"]) for r in rules
    ) == [
        ("tcp", 5432, 5432, "EtlLambdaSecurityGroup"),
        ("tcp", 5432, 5432, "ShinySecurityGroup"),
    ]
    assert all("CidrIp" not in r and "CidrIpv6" not in r for r in rules)


def test_oltp_accepts_the_etl_group_on_5432_and_cidrs_only_when_given(templates: dict[str, dict]) -> None:
    net = templates["network"]
    rules = _ingress_rules(net, "OltpSecurityGroup")
    from_groups = [r for r in rules if "SourceSecurityGroupId" in r]
    # Booked revenue: the ETL reaches the shop's PostgreSQL inside the VPC, from its group only.
    assert [
        (r["IpProtocol"], r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"]) for r in from_groups
    ] == [("tcp", OLTP_PORT, OLTP_PORT, {"Ref": "EtlLambdaSecurityGroup"})]
    assert all("CidrIp" not in r and "CidrIpv6" not in r for r in from_groups)
    # Everything else on the OLTP group is an opening to a CIDR parameter, absent by default.
    others = [r for r in rules if r not in from_groups]
    assert sorted((r["FromPort"], r["CidrIp"]["Ref"], r["Condition"]) for r in others) == [
        (22, "AdminSshCidr", "HasAdminSshCidr"),
        (5432, "TrustedOltpCidr", "HasTrustedOltpCidr"),
    ]
    # The ETL subnet still has no internet route: the OLTP host is reached by its private IP.
    etl_routes = [
        r
        for r in resources_of(net, "AWS::EC2::Route").values()
        if r["Properties"]["RouteTableId"] == {"Ref": "EtlRouteTable"}
    ]
    assert etl_routes == []


def test_no_open_ingress_by_default(templates: dict[str, dict]) -> None:
    net = templates["network"]
    conditions = net["Conditions"]
    for stack, _logical_id, resource in all_resources(templates):
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            for rule in resource["Properties"].get("SecurityGroupIngress", []):
                assert rule.get("CidrIp") not in ("0.0.0.0/0",) and rule.get("CidrIpv6") != "::/0"
                if "CidrIp" in rule:  # only the VPC's own subnets
                    assert ip_network(rule["CidrIp"]).subnet_of(ip_network(VPC_CIDR)), rule
        if resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            cidr_param = resource["Properties"]["CidrIp"]["Ref"]
            # Each CIDR-based opening exists only when its parameter is set, and it is empty by default.
            assert default_of(templates[stack], cidr_param) == ""
            assert conditions[resource["Condition"]] == {
                "Fn::Not": [{"Fn::Equals": [{"Ref": cidr_param}, ""]}]
            }
    # The Shiny and ETL groups have no inline ingress at all.
    assert "SecurityGroupIngress" not in props(net, "ShinySecurityGroup")
    assert "SecurityGroupIngress" not in props(net, "EtlLambdaSecurityGroup")


def test_etl_egress_is_s3_endpoints_dw_and_oltp(templates: dict[str, dict]) -> None:
    net = templates["network"]
    inline = props(net, "EtlLambdaSecurityGroup")["SecurityGroupEgress"]
    assert sorted(
        json.dumps({k: v for k, v in r.items() if k != "Description"}, sort_keys=True) for r in inline
    ) == sorted(
        json.dumps(r, sort_keys=True)
        for r in [
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "DestinationPrefixListId": {"Ref": "S3PrefixListId"},
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "DestinationSecurityGroupId": {"Ref": "EndpointSecurityGroup"},
            },
        ]
    )
    separate = {
        logical_id: (
            r["Properties"]["FromPort"],
            r["Properties"]["ToPort"],
            r["Properties"].get("DestinationSecurityGroupId"),
            r.get("Condition"),
        )
        for logical_id, r in resources_of(net, "AWS::EC2::SecurityGroupEgress").items()
        if r["Properties"]["GroupId"] == {"Ref": "EtlLambdaSecurityGroup"}
    }
    assert separate == {
        "EtlToDwEgress": (5432, 5432, {"Ref": "DwSecurityGroup"}, None),
        # booked revenue: the shop's PostgreSQL, by the OLTP host's private IP
        "EtlToOltpEgress": (5432, 5432, {"Ref": "OltpSecurityGroup"}, None),
    }


# --- hosts ---------------------------------------------------------------------------------------


def test_hosts_use_launch_templates_with_imdsv2_and_encrypted_gp3(templates: dict[str, dict]) -> None:
    hosts = templates["hosts"]
    lts = resources_of(hosts, "AWS::EC2::LaunchTemplate")
    assert set(lts) == {"OltpLaunchTemplate", "DwLaunchTemplate"}
    for lt in lts.values():
        data = lt["Properties"]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        [root] = data["BlockDeviceMappings"]
        assert root["Ebs"]["Encrypted"] is True
        assert root["Ebs"]["VolumeType"] == "gp3"
    for logical_id, instance in resources_of(hosts, "AWS::EC2::Instance").items():
        lt_ref = instance["Properties"]["LaunchTemplate"]
        assert lt_ref["LaunchTemplateId"]["Ref"] in lts, logical_id
        assert lt_ref["Version"] == {"Fn::GetAtt": [lt_ref["LaunchTemplateId"]["Ref"], "LatestVersionNumber"]}
        assert instance["Properties"]["ImageId"] == {"Ref": "AmiId"}


def test_the_ami_is_pinned_and_nothing_resolves_to_latest(templates: dict[str, dict]) -> None:
    # An SSM-typed parameter (or a resolve:ssm reference) would pick the newest image on a
    # parameter-less update, and replace both hosts.
    ami = templates["hosts"]["Parameters"]["AmiId"]
    assert ami["Type"] == "AWS::EC2::Image::Id"
    assert "Default" not in ami
    for stack, template in templates.items():
        text = json.dumps(template)
        assert "resolve:ssm" not in text and "/aws/service/" not in text, stack
        assert not any("SSM::Parameter" in p["Type"] for p in template.get("Parameters", {}).values()), stack


def test_each_host_keeps_its_data_on_an_encrypted_snapshot_retained_volume(
    templates: dict[str, dict],
) -> None:
    hosts = templates["hosts"]
    volumes = resources_of(hosts, "AWS::EC2::Volume")
    assert set(volumes) == {"OltpDataVolume", "DwDataVolume"}
    attachments = {
        a["Properties"]["VolumeId"]["Ref"]: a["Properties"]
        for a in resources_of(hosts, "AWS::EC2::VolumeAttachment").values()
    }
    for key in ("Oltp", "Dw"):
        volume = volumes[f"{key}DataVolume"]
        assert (volume["DeletionPolicy"], volume["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
        p = volume["Properties"]
        assert (p["Encrypted"], p["VolumeType"], p["Size"]) == (True, "gp3", {"Ref": f"{key}DataVolumeGiB"})
        # In the instance's own AZ, attached to it as the device the roles mount.
        assert p["AvailabilityZone"] == {"Fn::GetAtt": [f"{key}Instance", "AvailabilityZone"]}
        attachment = attachments[f"{key}DataVolume"]
        assert attachment["InstanceId"] == {"Ref": f"{key}Instance"}
        assert attachment["Device"] == "/dev/sdf"
        tags = tags_of(volume)
        assert tags["clickstream:data-volume"] == "dev"
        assert tags["clickstream:data-device"] == "/dev/sdf"
        assert tags_of(hosts["Resources"][f"{key}Instance"])["clickstream:data-device"] == "/dev/sdf"
        # The instance is disposable; what it holds is on the volume.
        assert hosts["Resources"][f"{key}Instance"]["DeletionPolicy"] == "Delete"
    assert tags_of(volumes["OltpDataVolume"])[ROLE_TAG] == "oltp"
    assert hosts["Outputs"]["DataVolumeDevice"]["Value"] == "/dev/sdf"
    assert {"OltpDataVolumeId", "DwDataVolumeId"} <= set(hosts["Outputs"])


def test_hosts_are_tagged_for_the_ansible_inventory(templates: dict[str, dict]) -> None:
    hosts = templates["hosts"]
    oltp, dw = tags_of(hosts["Resources"]["OltpInstance"]), tags_of(hosts["Resources"]["DwInstance"])
    assert (oltp[ROLE_TAG], dw[ROLE_TAG]) == ("oltp", "dw")
    assert oltp[ENV_TAG] == dw[ENV_TAG] == "dev"
    prod = BUILDERS["hosts"](BuildParams(env="prod")).to_dict()["Resources"]
    assert {tags_of(prod[h])[ENV_TAG] for h in ("OltpInstance", "DwInstance")} == {"prod"}
    assert (oltp["Name"], dw["Name"]) == ("dev-SBW_EC2_WebDB", "dev-SBW_EC2_ShinyDWH")


def test_dw_host_is_private_and_oltp_has_an_elastic_ip(templates: dict[str, dict]) -> None:
    hosts = templates["hosts"]
    dw = props(hosts, "DwInstance")
    assert dw["SubnetId"] == {"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-AnalyticsSubnetId"}}
    assert "NetworkInterfaces" not in dw  # no AssociatePublicIpAddress anywhere
    eips = resources_of(hosts, "AWS::EC2::EIP")
    assert [e["Properties"]["InstanceId"] for e in eips.values()] == [{"Ref": "OltpInstance"}]
    outputs = hosts["Outputs"]
    for key in ("OltpInstanceId", "DwInstanceId", "DwPrivateIp", "SsmTransferBucketName"):
        assert outputs[key]["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{key}"}


def test_user_data_installs_the_ssm_agent_from_the_regional_bucket(templates: dict[str, dict]) -> None:
    data = props(templates["hosts"], "DwLaunchTemplate")["LaunchTemplateData"]["UserData"]
    script = data["Fn::Base64"]["Fn::Sub"]
    assert (
        "https://s3.${AWS::Region}.amazonaws.com/amazon-ssm-${AWS::Region}/latest/debian_${HostArchitecture}"
        "/amazon-ssm-agent.deb" in script
    )
    assert "systemctl enable --now amazon-ssm-agent" in script


# --- storage -------------------------------------------------------------------------------------


def test_every_bucket_is_private_encrypted_and_tls_only(templates: dict[str, dict]) -> None:
    buckets = [(s, k, r) for s, k, r in all_resources(templates) if r["Type"] == "AWS::S3::Bucket"]
    assert len(buckets) == 3
    for stack, logical_id, bucket in buckets:
        p = bucket["Properties"]
        assert p["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        rule = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        if logical_id == "SsmTransferBucket":  # SSE-KMS with its own key (below)
            assert rule["ServerSideEncryptionByDefault"] == {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": {"Fn::GetAtt": ["SsmTransferKey", "Arn"]},
            }
        else:  # the access-log target must be SSE-S3; the raw bucket is read by the ETL
            assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert p["LifecycleConfiguration"]["Rules"], logical_id
        policies = [
            r["Properties"]
            for r in resources_of(templates[stack], "AWS::S3::BucketPolicy").values()
            if r["Properties"]["Bucket"] == {"Ref": logical_id}
        ]
        [policy] = policies
        deny = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_raw_bucket_versioning_lifecycle_logging(templates: dict[str, dict]) -> None:
    data = templates["data"]
    raw = props(data, "RawBucket")
    assert raw["BucketName"] == {"Fn::Sub": "dev-clickstream-s3-ingest-${AWS::AccountId}-${AWS::Region}"}
    assert raw["VersioningConfiguration"] == {"Status": {"Ref": "RawBucketVersioning"}}
    assert raw["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    [events_rule] = [r for r in raw["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "events/"]
    assert events_rule["ExpirationInDays"] == {"Ref": "RawObjectRetentionDays"}
    assert data["Resources"]["RawBucket"]["DeletionPolicy"] == "Retain"


def test_backups_expire_after_their_retention_and_uploads_are_aborted(templates: dict[str, dict]) -> None:
    """The hosts' nightly dumps (backups/<role>/, one a night each) expire after BackupRetentionDays,
    then their noncurrent versions (the bucket is versioned); no rule of another prefix reaches
    them, and an upload cut short is aborted like any in the bucket."""
    data = templates["data"]
    rules = props(data, "RawBucket")["LifecycleConfiguration"]["Rules"]
    [backups] = [r for r in rules if r.get("Prefix") == BACKUPS_PREFIX]
    assert backups == {
        "Id": "backups",
        "Status": "Enabled",
        "Prefix": "backups/",
        "ExpirationInDays": {"Ref": "BackupRetentionDays"},
        "NoncurrentVersionExpiration": {"NoncurrentDays": {"Ref": "NoncurrentVersionRetentionDays"}},
    }
    assert data["Parameters"]["BackupRetentionDays"]["Default"] == 35
    assert data["Parameters"]["BackupRetentionDays"]["MinValue"] == 1
    # every prefix rule is events/'s or backups/'s: neither expires the other's objects
    assert sorted(r["Prefix"] for r in rules if "Prefix" in r) == ["backups/", "events/"]
    bucket_wide = [r for r in rules if "Prefix" not in r and "Filter" not in r]
    assert [r["AbortIncompleteMultipartUpload"] for r in bucket_wide] == [{"DaysAfterInitiation": 1}]
    # the prefix the hosts write their dumps to is under it (stacks/hosts.py, the backup policies)
    assert all(backups_prefix(role).startswith(backups["Prefix"]) for role in ("dw", "oltp"))


def test_transfer_bucket_is_unversioned_and_expiring(templates: dict[str, dict]) -> None:
    bucket = props(templates["hosts"], "SsmTransferBucket")
    assert "VersioningConfiguration" not in bucket
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {
        "Ref": "TransferObjectExpirationDays"
    }


def test_transfer_bucket_is_sse_kms_and_logs_to_the_access_log_bucket(templates: dict[str, dict]) -> None:
    hosts, data = templates["hosts"], templates["data"]
    bucket = props(hosts, "SsmTransferBucket")
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["BucketKeyEnabled"] is True
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Fn::ImportValue": {"Fn::Sub": "${DataStackName}-AccessLogBucketName"}},
        "LogFilePrefix": "ssm-transfer-bucket/",
    }
    assert data["Outputs"]["AccessLogBucketName"]["Value"] == {"Ref": "AccessLogBucket"}
    # The log bucket admits S3's log delivery for that prefix, from the transfer bucket only
    # (named: the hosts stack comes after the data stack).
    [log_policy] = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources_of(data, "AWS::S3::BucketPolicy").values()
        if r["Properties"]["Bucket"] == {"Ref": "AccessLogBucket"}
    ]
    by_sid = {s["Sid"]: s for s in log_policy}
    delivery = by_sid["S3ServerAccessLogsFromSsmTransferBucket"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Resource"] == {"Fn::Sub": "${AccessLogBucket.Arn}/ssm-transfer-bucket/*"}
    assert delivery["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::" + bucket["BucketName"]["Fn::Sub"]
    }
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # and the log bucket itself stays SSE-S3 (log delivery cannot write to an SSE-KMS target)
    log_rule = props(data, "AccessLogBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert log_rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_transfer_bucket_refuses_all_but_the_operator_and_the_host_roles(templates: dict[str, dict]) -> None:
    hosts = templates["hosts"]
    [policy] = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources_of(hosts, "AWS::S3::BucketPolicy").values()
        if r["Properties"]["Bucket"] == {"Ref": "SsmTransferBucket"}
    ]
    tls, others = policy
    assert (tls["Sid"], tls["Condition"]) == (
        "DenyInsecureTransport",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    assert others["Sid"] == "DenyAllButOperatorAndHostRoles"
    assert (others["Effect"], others["Principal"]) == ("Deny", "*")
    assert others["Resource"] == [
        {"Fn::GetAtt": ["SsmTransferBucket", "Arn"]},
        {"Fn::Sub": "${SsmTransferBucket.Arn}/*"},
    ]
    # what the aws_ssm connection does: get, put, list and delete objects
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"):
        assert any(re.fullmatch(a.replace("*", ".*"), action) for a in others["Action"]), action
    # not the bucket's own configuration: the deploying principal must keep managing it
    assert not any(a.startswith(("s3:PutBucket", "s3:DeleteBucket")) or a == "s3:*" for a in others["Action"])
    assert others["Condition"] == {
        "ArnNotLike": {
            "aws:PrincipalArn": [
                {
                    "Fn::If": [
                        "HasTransferOperator",
                        {"Ref": "TransferOperatorArn"},
                        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:*"},
                    ]
                },
                {"Fn::GetAtt": ["OltpHostRole", "Arn"]},
                {"Fn::GetAtt": ["DwHostRole", "Arn"]},
            ]
        }
    }
    assert default_of(hosts, "TransferOperatorArn") == ""
    assert hosts["Conditions"]["HasTransferOperator"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "TransferOperatorArn"}, ""]}]
    }
    pattern = re.compile(hosts["Parameters"]["TransferOperatorArn"]["AllowedPattern"])
    assert pattern.fullmatch("arn:aws:iam::123456789012:role/aws-reserved/*/AWSReservedSSO_Admin_*")
    assert not pattern.fullmatch("*") and not pattern.fullmatch("arn:aws:s3:::bucket")
    # No statement grants anything: the operator's access comes from its IAM, the hosts' curl uses
    # the operator's presigned URLs.
    assert [s["Effect"] for s in policy] == ["Deny", "Deny"]


def test_transfer_key_is_for_s3_and_that_bucket_only(templates: dict[str, dict]) -> None:
    hosts = templates["hosts"]
    key = hosts["Resources"]["SsmTransferKey"]
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert hosts["Outputs"]["SsmTransferKeyArn"]["Value"] == {"Fn::GetAtt": ["SsmTransferKey", "Arn"]}
    statements = {s["Sid"]: s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    assert set(statements) == {
        "AccountAdministersKey",
        "OperatorTransfersThroughS3",
        "HostRolesTransferThroughS3",
    }
    bucket_arn = {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::" + props(hosts, "SsmTransferBucket")["BucketName"]["Fn::Sub"]
    }
    for sid, principal in (
        ("OperatorTransfersThroughS3", ACCOUNT_ROOT),
        (
            "HostRolesTransferThroughS3",
            {"AWS": [{"Fn::GetAtt": ["OltpHostRole", "Arn"]}, {"Fn::GetAtt": ["DwHostRole", "Arn"]}]},
        ),
    ):
        statement = statements[sid]
        assert statement["Principal"] == principal
        assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Condition"] == {
            "StringEquals": {
                "kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"},
                "kms:CallerAccount": {"Ref": "AWS::AccountId"},
            },
            "StringLike": {
                "kms:EncryptionContext:aws:s3:arn": [
                    bucket_arn,
                    {"Fn::Sub": ["${Arn}/*", {"Arn": bucket_arn}]},
                ]
            },
        }
    admin = statements["AccountAdministersKey"]["Action"]
    assert "kms:Decrypt" not in admin and "kms:GenerateDataKey" not in admin


# --- IAM -----------------------------------------------------------------------------------------


def _iam_statements(templates: dict[str, dict]):
    for stack, logical_id, resource in all_resources(templates):
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield stack, logical_id, statement
        elif resource["Type"] == "AWS::IAM::Policy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                yield stack, logical_id, statement


def test_iam_has_no_wildcard_actions_and_scoped_resources(templates: dict[str, dict]) -> None:
    statements = list(_iam_statements(templates))
    assert len(statements) >= 10
    for stack, logical_id, statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert "*" not in action, f"{stack}.{logical_id}: wildcard action {action}"
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if "*" in resources:
            # Only for actions without resource-level permissions.
            assert sorted(actions) in (sorted(ENI_DESCRIBE_ACTIONS), sorted(SESSION_MANAGER_ACTIONS)), (
                f"{stack}.{logical_id}: Resource * for {actions}"
            )


DLM_POLICY = "AWSDataLifecycleManagerServiceRole"


def test_the_only_managed_policy_is_dlms_service_role(templates: dict[str, dict]) -> None:
    managed = [
        (s, k, arn)
        for s, k, r in all_resources(templates)
        if r["Type"] == "AWS::IAM::Role"
        for arn in r["Properties"].get("ManagedPolicyArns", [])
    ]
    # No AmazonSSMManagedInstanceCore: it grants ssm:GetParameter(s) on every parameter.
    assert managed == [
        (
            "hosts",
            "SnapshotPolicyRole",
            {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/service-role/{DLM_POLICY}"},
        )
    ]
    trust = props(templates["hosts"], "SnapshotPolicyRole")["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "dlm.amazonaws.com"}]


def test_daily_snapshots_of_the_data_volumes(templates: dict[str, dict]) -> None:
    hosts = templates["hosts"]
    policy = props(hosts, "DataVolumeSnapshotPolicy")
    assert policy["State"] == "ENABLED"
    assert policy["ExecutionRoleArn"] == {"Fn::GetAtt": ["SnapshotPolicyRole", "Arn"]}
    details = policy["PolicyDetails"]
    assert (details["PolicyType"], details["ResourceTypes"]) == ("EBS_SNAPSHOT_MANAGEMENT", ["VOLUME"])
    # It targets exactly the data volumes (their tag), of this environment only.
    assert details["TargetTags"] == [{"Key": "clickstream:data-volume", "Value": "dev"}]
    tagged = [
        k
        for k, r in hosts["Resources"].items()
        if {"Key": "clickstream:data-volume", "Value": "dev"} in r.get("Properties", {}).get("Tags", [])
    ]
    assert sorted(tagged) == ["DwDataVolume", "OltpDataVolume"]
    [schedule] = details["Schedules"]
    assert schedule["CreateRule"] == {
        "Interval": 24,
        "IntervalUnit": "HOURS",
        "Times": [{"Ref": "SnapshotTimeUtc"}],
    }
    assert schedule["RetainRule"] == {"Count": {"Ref": "SnapshotRetentionCount"}}
    assert default_of(hosts, "SnapshotRetentionCount") == 7


def _host_policies(hosts: dict, key: str) -> dict[str, list[dict]]:
    return {
        p["PolicyName"]: p["PolicyDocument"]["Statement"] for p in props(hosts, f"{key}HostRole")["Policies"]
    }


def test_each_host_has_its_own_role_with_session_manager_actions_only(templates: dict[str, dict]) -> None:
    hosts = templates["hosts"]
    profiles = {
        k: p["Properties"]["Roles"] for k, p in resources_of(hosts, "AWS::IAM::InstanceProfile").items()
    }
    assert profiles == {
        "OltpInstanceProfile": [{"Ref": "OltpHostRole"}],
        "DwInstanceProfile": [{"Ref": "DwHostRole"}],
    }
    for key in ("Oltp", "Dw"):
        assert props(hosts, f"{key}Instance")["IamInstanceProfile"] == {"Ref": f"{key}InstanceProfile"}
        assert "ManagedPolicyArns" not in props(hosts, f"{key}HostRole")
        [agent] = _host_policies(hosts, key)["session-manager-agent"]
        assert agent["Resource"] == "*"
        assert sorted(agent["Action"]) == sorted(SESSION_MANAGER_ACTIONS)
        assert {a.split(":")[0] for a in agent["Action"]} == {"ssm", "ssmmessages", "ec2messages"}
        assert [a for a in agent["Action"] if a.startswith("ssm:")] == ["ssm:UpdateInstanceInformation"]


def test_each_host_reads_only_its_own_parameters(templates: dict[str, dict]) -> None:
    hosts = templates["hosts"]
    for key, path in (("Oltp", "/clickstream/dev/oltp/"), ("Dw", "/clickstream/dev/dw/")):
        policies = _host_policies(hosts, key)
        [read] = policies["own-parameters"]
        assert sorted(read["Action"]) == ["ssm:GetParameter", "ssm:GetParameters"]
        assert read["Resource"]["Fn::Sub"].endswith(f":parameter{path}*")
        ssm_reads = [
            s
            for statements in policies.values()
            for s in statements
            if any(str(a).startswith("ssm:Get") for a in s["Action"])
        ]
        assert ssm_reads == [read]
    # Every password parameter is under the path of the one host that needs it.
    for name, _ in password_parameters("dev"):
        assert name.startswith(("/clickstream/dev/dw/", "/clickstream/dev/oltp/")), name


def test_host_roles_ship_only_their_agents_log_groups(templates: dict[str, dict]) -> None:
    roles_agents = REPO / "roles" / "agents"
    defaults = (roles_agents / "defaults" / "main.yml").read_text(encoding="utf-8")
    agent_config = (roles_agents / "templates" / "amazon-cloudwatch-agent.yml.j2").read_text(encoding="utf-8")
    assert 'agents_log_group_prefix: "/clickstream/{{ platform_env' in defaults
    assert set(re.findall(r"agents_log_group_prefix ~ '/([a-z-]+)'", agent_config)) == set(AGENT_LOG_GROUPS)
    # The agent sends no metrics, so the role gets no cloudwatch:PutMetricData.
    assert not re.search(r"^metrics:", agent_config, re.MULTILINE)

    prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/clickstream/dev/"
    for key, groups in (("Oltp", ["postgresql"]), ("Dw", ["postgresql", "shiny-server"])):
        [statement] = _host_policies(templates["hosts"], key)["cloudwatch-agent-logs"]
        assert sorted(statement["Action"]) == [
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:DescribeLogStreams",
            "logs:PutLogEvents",
            "logs:PutRetentionPolicy",
        ]
        assert sorted(r["Fn::Sub"] for r in statement["Resource"]) == sorted(
            f"{prefix}{group}{suffix}" for group in groups for suffix in ("", ":*")
        )
    all_actions = [a for _, _, st in _iam_statements(templates) for a in st["Action"]]
    assert "cloudwatch:PutMetricData" not in all_actions


def test_backup_policies_are_on_by_default_each_host_its_own_prefix(templates: dict[str, dict]) -> None:
    hosts = templates["hosts"]
    assert default_of(hosts, "EnableBackups") == "true"
    assert hosts["Conditions"]["BackupsEnabled"] == {"Fn::Equals": [{"Ref": "EnableBackups"}, "true"]}
    for key, role in (("Oltp", "oltp"), ("Dw", "dw")):
        policy = hosts["Resources"][f"{key}BackupPolicy"]
        assert policy["Type"] == "AWS::IAM::Policy"
        assert policy["Condition"] == "BackupsEnabled"
        assert policy["Properties"]["Roles"] == [{"Ref": f"{key}HostRole"}]
        [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
        assert statement["Resource"] == {
            "Fn::Sub": [f"${{BucketArn}}/backups/{role}/*", {"BucketArn": RAW_BUCKET_ARN}]
        }


RAW_BUCKET_ARN = {"Fn::ImportValue": {"Fn::Sub": "${DataStackName}-RawBucketArn"}}


def test_ingest_role_may_only_put_events(templates: dict[str, dict]) -> None:
    [policy] = props(templates["ingest"], "IngestRole")["Policies"]
    s3_statements = [s for s in policy["PolicyDocument"]["Statement"] if str(s["Action"]).startswith("s3:")]
    assert s3_statements == [
        {
            "Sid": "PutRawEventsOnly",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": {"Fn::Sub": ["${BucketArn}/events/*", {"BucketArn": RAW_BUCKET_ARN}]},
        }
    ]


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_etl_role_reads_raw_events_and_its_password_parameters(templates: dict[str, dict]) -> None:
    [policy] = props(templates["etl"], "EtlRole")["Policies"]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert by_sid["ReadRawEvents"]["Action"] == "s3:GetObject"
    assert by_sid["ReadRawEvents"]["Resource"] == {
        "Fn::Sub": ["${BucketArn}/events/*", {"BucketArn": RAW_BUCKET_ARN}]
    }
    assert by_sid["ListRawEvents"]["Condition"] == {"StringLike": {"s3:prefix": ["events/", "events/*"]}}
    assert by_sid["ReadDwPassword"]["Action"] == "ssm:GetParameter"
    assert by_sid["ReadDwPassword"]["Resource"]["Fn::Sub"].endswith(
        ":parameter/clickstream/dev/dw/etl_writer/password"
    )
    # The parameter the ETL reads is the one `deploy` creates for its login.
    assert "/clickstream/dev/dw/etl_writer/password" in dict(password_parameters("dev"))
    # Booked revenue: the shop's analytics login's password, that one parameter alone.
    assert by_sid["ReadOltpAnalyticsPassword"] == {
        "Sid": "ReadOltpAnalyticsPassword",
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": {
            "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
            ":parameter/clickstream/dev/oltp/analytics_reader/password"
        },
    }
    assert "/clickstream/dev/oltp/analytics_reader/password" in dict(password_parameters("dev"))
    # No other SSM or KMS grant in the role itself: its kms:Decrypt of the passwords' key is a
    # policy of its own (test_every_password_reader_may_decrypt_with_the_secrets_key_only).
    reads = sorted(
        sid
        for sid, statement in by_sid.items()
        if any(str(a).startswith(("ssm:", "kms:")) for a in _actions(statement))
    )
    assert reads == ["ReadDwPassword", "ReadOltpAnalyticsPassword"]
    # and the country database, only under enrichment/ of the raw bucket
    assert by_sid["ReadEnrichmentData"]["Resource"] == {
        "Fn::Sub": ["${BucketArn}/enrichment/*", {"BucketArn": RAW_BUCKET_ARN}]
    }


def _key_statements(templates: dict[str, dict]) -> dict[str, dict]:
    key = props(templates["etl"], "DatabaseSecretsKey")
    return {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}


def _ssm_read_resources(statements: list[dict]) -> list:
    return [
        resource
        for statement in statements
        if any(str(a).startswith("ssm:GetParameter") for a in _actions(statement))
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
    ]


SSM_VIA = {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}
ACCOUNT_ROOT = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}


def test_database_secrets_key_is_rotated_retained_and_named_after_its_stack(
    templates: dict[str, dict],
) -> None:
    etl = templates["etl"]
    key = etl["Resources"]["DatabaseSecretsKey"]
    assert key["Type"] == "AWS::KMS::Key"
    # A deleted or replaced key would take every password it encrypted with it.
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"]["KeySpec"] == "SYMMETRIC_DEFAULT"
    alias = props(etl, "DatabaseSecretsKeyAlias")
    assert alias == {
        "AliasName": "alias/dev-clickstream-etl/database-secrets",
        "TargetKeyId": {"Ref": "DatabaseSecretsKey"},
    }
    assert alias["AliasName"] == BuildParams().secrets_key_alias()
    assert etl["Outputs"]["DatabaseSecretsKeyArn"]["Value"] == {"Fn::GetAtt": ["DatabaseSecretsKey", "Arn"]}
    prod = BUILDERS["etl"](BuildParams(env="prod")).to_dict()
    assert (
        props(prod, "DatabaseSecretsKeyAlias")["AliasName"] == "alias/prod-clickstream-etl/database-secrets"
    )


def test_database_secrets_key_policy_names_each_reader_through_ssm_only(templates: dict[str, dict]) -> None:
    statements = _key_statements(templates)
    assert set(statements) == {
        "AccountAdministersKey",
        "OperatorManagesPasswordsThroughSsm",
        "OperatorManagesDatabaseCaKeyThroughSsm",
        "EtlRoleDecryptsItsPasswords",
        "OltpHostRoleDecryptsItsParameters",
        "DwHostRoleDecryptsItsParameters",
    }
    # The account (the operator) administers the key but uses it only through Parameter Store.
    admin = statements["AccountAdministersKey"]
    assert admin["Principal"] == ACCOUNT_ROOT
    assert "kms:PutKeyPolicy" in admin["Action"]
    assert not [a for a in admin["Action"] if a in ("kms:*", "kms:Decrypt", "kms:Encrypt") or "Generate" in a]
    parameter_arns = [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{name}"}
        for name, _ in password_parameters("dev")
    ]
    operator = statements["OperatorManagesPasswordsThroughSsm"]
    assert operator["Principal"] == ACCOUNT_ROOT
    assert operator["Action"] == ["kms:Encrypt", "kms:Decrypt"]
    assert operator["Condition"] == {
        "StringEquals": {
            "kms:ViaService": SSM_VIA,
            "kms:CallerAccount": {"Ref": "AWS::AccountId"},
            "kms:EncryptionContext:PARAMETER_ARN": parameter_arns,
        }
    }
    # The database CA's key (deploy creates it, the playbook's controller signs with it): the
    # operator only, that one parameter only.
    ca_key = statements["OperatorManagesDatabaseCaKeyThroughSsm"]
    assert (ca_key["Principal"], ca_key["Action"]) == (ACCOUNT_ROOT, ["kms:Encrypt", "kms:Decrypt"])
    assert ca_key["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                    "/clickstream/dev/tls/ca-key"}
    ]
    # The ETL role: decrypt, through SSM, exactly the two parameters its role may read.
    etl_reader = statements["EtlRoleDecryptsItsPasswords"]
    assert etl_reader["Principal"] == {"AWS": {"Fn::GetAtt": ["EtlRole", "Arn"]}}
    assert etl_reader["Action"] == "kms:Decrypt"
    [etl_policy] = props(templates["etl"], "EtlRole")["Policies"]
    etl_reads = _ssm_read_resources(etl_policy["PolicyDocument"]["Statement"])
    assert etl_reader["Condition"]["StringEquals"]["kms:ViaService"] == SSM_VIA
    assert etl_reader["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"] == etl_reads
    # Each host role: decrypt, through SSM, the parameters under its own path only.
    for key, role in (("Oltp", "oltp"), ("Dw", "dw")):
        host_reader = statements[f"{key}HostRoleDecryptsItsParameters"]
        assert host_reader["Principal"] == {
            "AWS": {"Fn::ImportValue": {"Fn::Sub": f"${{HostsStackName}}-{key}HostRoleArn"}}
        }
        assert host_reader["Action"] == "kms:Decrypt"
        assert host_reader["Condition"]["StringEquals"]["kms:ViaService"] == SSM_VIA
        [own] = host_reader["Condition"]["StringLike"]["kms:EncryptionContext:PARAMETER_ARN"]
        assert own["Fn::Sub"].endswith(f":parameter/clickstream/dev/{role}/*")
        assert [own] == _ssm_read_resources(_host_policies(templates["hosts"], key)["own-parameters"])
        assert templates["hosts"]["Outputs"][f"{key}HostRoleArn"]["Value"] == {
            "Fn::GetAtt": [f"{key}HostRole", "Arn"]
        }
    for statement in statements.values():
        assert statement["Effect"] == "Allow" and statement["Principal"] != "*"


def test_every_password_reader_may_decrypt_with_the_secrets_key_only(templates: dict[str, dict]) -> None:
    etl = templates["etl"]
    key_arn = {"Fn::GetAtt": ["DatabaseSecretsKey", "Arn"]}
    # Every KMS grant in any IAM policy is a decrypt of that key, through SSM.
    kms_grants = [
        (stack, logical_id, statement)
        for stack, logical_id, statement in _iam_statements(templates)
        if any(str(a).startswith("kms:") for a in _actions(statement))
    ]
    assert sorted(logical_id for _, logical_id, _ in kms_grants) == [
        "DwHostParametersKeyPolicy",
        "EtlPasswordsKeyPolicy",
        "OltpHostParametersKeyPolicy",
    ]
    for stack, _, statement in kms_grants:
        assert stack == "etl"
        assert (statement["Action"], statement["Resource"]) == ("kms:Decrypt", key_arn)
        assert statement["Condition"]["StringEquals"]["kms:ViaService"] == SSM_VIA
    # ... each attached to a role that reads those parameters, for the parameters it reads.
    [etl_policy] = props(etl, "EtlRole")["Policies"]
    grant = props(etl, "EtlPasswordsKeyPolicy")
    assert grant["Roles"] == [{"Ref": "EtlRole"}]
    [statement] = grant["PolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"][
        "kms:EncryptionContext:PARAMETER_ARN"
    ] == _ssm_read_resources(etl_policy["PolicyDocument"]["Statement"])
    for key in ("Oltp", "Dw"):
        grant = props(etl, f"{key}HostParametersKeyPolicy")
        assert grant["Roles"] == [{"Fn::ImportValue": {"Fn::Sub": f"${{HostsStackName}}-{key}HostRoleName"}}]
        assert templates["hosts"]["Outputs"][f"{key}HostRoleName"]["Value"] == {"Ref": f"{key}HostRole"}
        [statement] = grant["PolicyDocument"]["Statement"]
        assert statement["Condition"]["StringLike"][
            "kms:EncryptionContext:PARAMETER_ARN"
        ] == _ssm_read_resources(_host_policies(templates["hosts"], key)["own-parameters"])


def test_etl_country_database_is_an_optional_key_under_enrichment(templates: dict[str, dict]) -> None:
    template = templates["etl"]
    parameter = template["Parameters"]["CountryDatabaseKey"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("enrichment/GeoLite2-Country.mmdb")
    assert not pattern.fullmatch("events/x.mmdb") and not pattern.fullmatch("enrichment/../x.txt")
    env = props(template, "EtlFunction")["Environment"]["Variables"]["GEOIP_COUNTRY_DB"]
    assert env["Fn::If"][0] == "NoCountryDatabase" and env["Fn::If"][1] == ""
    assert template["Conditions"]["NoCountryDatabase"] == {"Fn::Equals": [{"Ref": "CountryDatabaseKey"}, ""]}


# --- Lambdas, API, schedule ----------------------------------------------------------------------


def test_ingest_function_and_http_api(templates: dict[str, dict]) -> None:
    ingest = templates["ingest"]
    fn = props(ingest, "IngestFunction")
    assert fn["Handler"] == "functions.ingest.handler.handler"
    assert fn["Environment"]["Variables"] == {
        "RAW_BUCKET": {"Fn::ImportValue": {"Fn::Sub": "${DataStackName}-RawBucketName"}}
    }
    assert "VpcConfig" not in fn
    assert fn["Code"] == {"S3Bucket": {"Ref": "LambdaCodeBucket"}, "S3Key": {"Ref": "IngestCodeKey"}}
    api = props(ingest, "HttpApi")
    assert api["ProtocolType"] == "HTTP"
    assert api["CorsConfiguration"]["AllowOrigins"] == {"Ref": "CorsAllowedOrigins"}
    # gzip bodies from fetch() need content-encoding allowed in the preflight
    assert set(api["CorsConfiguration"]["AllowHeaders"]) >= {"content-type", "content-encoding"}
    # the browser tracker honours a 503's Retry-After, which it reads only when exposed
    assert api["CorsConfiguration"]["ExposeHeaders"] == ["retry-after"]
    assert props(ingest, "ClickstreamRoute")["RouteKey"] == "ANY /clickstream"
    integration = props(ingest, "IngestIntegration")
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == ("AWS_PROXY", "2.0")
    stage = props(ingest, "DefaultStage")
    assert stage["StageName"] == "$default"
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    permission = props(ingest, "ApiInvokePermission")
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${HttpApi}/*/*/clickstream")
    assert props(ingest, "IngestLogGroup")["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_etl_function_environment_and_placement(templates: dict[str, dict]) -> None:
    etl = templates["etl"]
    fn = props(etl, "EtlFunction")
    assert fn["Handler"] == "functions.etl.handler.handler"
    env = fn["Environment"]["Variables"]
    assert set(env) == {
        "DWH_HOST",
        "DWH_PORT",
        "DWH_USER",
        "DWH_DATABASE",
        "DWH_PASSWORD_PARAM",
        "RAW_BUCKET",
        "PLATFORM_ENV",
        "GEOIP_COUNTRY_DB",
        "OLTP_HOST",
        "OLTP_PORT",
        "OLTP_DATABASE",
        "OLTP_USER",
        "OLTP_PASSWORD_PARAM",
    }
    assert "AWS_REGION" not in env and "DWH_PASSWORD" not in env  # reserved / secret
    # Booked revenue: the shop's database on the OLTP host's private IP (hosts stack export),
    # as the analytics login; no OLTP_PASSWORD and no OLTP_SSLROOTCERT (sslmode=require).
    assert env["OLTP_HOST"] == {"Fn::ImportValue": {"Fn::Sub": "${HostsStackName}-OltpPrivateIp"}}
    assert (env["OLTP_PORT"], env["OLTP_DATABASE"], env["OLTP_USER"], env["OLTP_PASSWORD_PARAM"]) == (
        "5432",
        "shop",
        "analytics_reader",
        "/clickstream/dev/oltp/analytics_reader/password",
    )
    assert "OLTP_PASSWORD" not in env and "OLTP_SSLROOTCERT" not in env
    assert env["DWH_HOST"] == {
        "Fn::If": [
            "DwHostFromHostsStack",
            {"Fn::ImportValue": {"Fn::Sub": "${HostsStackName}-DwPrivateIp"}},
            {"Ref": "DwHost"},
        ]
    }
    assert (env["DWH_PORT"], env["DWH_USER"], env["DWH_DATABASE"], env["DWH_PASSWORD_PARAM"]) == (
        "5432",
        "etl_writer",
        "clickstream_dw",
        "/clickstream/dev/dw/etl_writer/password",
    )
    assert fn["ReservedConcurrentExecutions"] == 1
    assert fn["VpcConfig"] == {
        "SubnetIds": [{"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-EtlSubnetId"}}],
        "SecurityGroupIds": [
            {"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-EtlLambdaSecurityGroupId"}}
        ],
    }
    assert fn["FunctionName"] == "dev-SBW_Lamda_ETL"
    assert props(etl, "EtlLogGroup")["LogGroupName"] == "/aws/lambda/dev-SBW_Lamda_ETL"


def test_etl_connects_as_roles_postgres_dw_sets_the_warehouse_up() -> None:
    defaults = yaml.safe_load((REPO / "roles" / "postgres_dw" / "defaults" / "main.yml").read_text("utf-8"))
    assert (defaults["postgres_dw_port"], defaults["postgres_dw_database"]) == (DW_PORT, DW_DATABASE)
    assert (defaults["postgres_dw_writer_user"], defaults["postgres_dw_reader_user"]) == DW_LOGIN_ROLES
    assert DW_LOGIN_ROLES[0] == DW_WRITER_LOGIN


def test_etl_reads_the_shop_as_roles_oltp_sets_it_up() -> None:
    defaults = yaml.safe_load((REPO / "roles" / "oltp" / "defaults" / "main.yml").read_text("utf-8"))
    assert (defaults["oltp_port"], defaults["oltp_database"]) == (OLTP_PORT, OLTP_DATABASE)
    assert (defaults["oltp_app_user"], defaults["oltp_analytics_user"]) == (
        OLTP_APP_LOGIN,
        OLTP_ANALYTICS_LOGIN,
    )
    assert OLTP_LOGIN_ROLES == (OLTP_APP_LOGIN, OLTP_ANALYTICS_LOGIN)
    # the ETL's own defaults (functions/etl/config.py) name the same database and login
    settings = Settings.from_env({"DWH_HOST": "h", "DWH_USER": "u", "RAW_BUCKET": "b"})
    assert (settings.oltp_port, settings.oltp_database, settings.oltp_user) == (
        OLTP_PORT,
        OLTP_DATABASE,
        OLTP_ANALYTICS_LOGIN,
    )


def test_etl_schedule_retries_dead_letters_and_alarms(templates: dict[str, dict]) -> None:
    etl = templates["etl"]
    rule = props(etl, "EtlScheduleRule")
    assert rule["Name"] == "dev-SBW_ETL_HOURLY_RULE"
    assert default_of(etl, "ScheduleExpression") == "rate(1 hour)"
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["EtlFunction", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == {"Ref": "ScheduleRetryAttempts"}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["EtlDeadLetterQueue", "Arn"]}
    permission = props(etl, "ScheduleInvokePermission")
    assert (permission["Principal"], permission["SourceArn"]) == (
        "events.amazonaws.com",
        {"Fn::GetAtt": ["EtlScheduleRule", "Arn"]},
    )
    queue_policy = props(etl, "EtlDeadLetterQueuePolicy")["PolicyDocument"]["Statement"][0]
    assert queue_policy["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["EtlScheduleRule", "Arn"]}}
    }
    metrics = {a["Properties"]["MetricName"] for a in resources_of(etl, "AWS::CloudWatch::Alarm").values()}
    assert metrics == {"Errors", "Duration", "ApproximateNumberOfMessagesVisible"}


# --- web and monitoring (not in moto: asserted here) ---------------------------------------------


def test_cognito_pool_and_public_client(templates: dict[str, dict]) -> None:
    web = templates["web"]
    pool = props(web, "UserPool")
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    client = props(web, "UserPoolClient")
    assert client["GenerateSecret"] is False
    assert "ALLOW_USER_PASSWORD_AUTH" not in client["ExplicitAuthFlows"]


def test_amplify_token_comes_from_secrets_manager(templates: dict[str, dict]) -> None:
    web = templates["web"]
    app = props(web, "AmplifyApp")
    token = app["AccessToken"]["Fn::If"][1]["Fn::Sub"]
    assert token == "{{resolve:secretsmanager:${RepositoryTokenSecretName}:SecretString:token}}"
    assert not any("token" in k.lower() and "Secret" not in k for k in web["Parameters"])
    assert props(web, "AmplifyBranch")["AppId"] == {"Fn::GetAtt": ["AmplifyApp", "AppId"]}
    env = {v["Name"]: v["Value"] for v in app["EnvironmentVariables"]}
    assert env["NEXT_PUBLIC_CLICKSTREAM_ENDPOINT"] == {
        "Fn::ImportValue": {"Fn::Sub": "${IngestStackName}-ApiEndpoint"}
    }


def test_monitoring_flow_logs_are_optional_and_dashboard_is_valid_json(templates: dict[str, dict]) -> None:
    mon = templates["monitoring"]
    assert default_of(mon, "EnableFlowLogs") == "false"
    for logical_id in ("FlowLogGroup", "FlowLogRole", "VpcFlowLog"):
        assert mon["Resources"][logical_id]["Condition"] == "FlowLogsEnabled"
    body, variables = props(mon, "PipelineDashboard")["DashboardBody"]["Fn::Sub"]
    placeholders = set(re.findall(r"\$\{([A-Za-z:]+)\}", body)) - {"AWS::Region"}
    assert placeholders == set(variables)
    widgets = json.loads(body)["widgets"]
    assert len(widgets) == 6


def test_freshness_alarms_watch_the_metrics_the_etl_publishes(templates: dict[str, dict]) -> None:
    from functions.etl import metrics  # noqa: PLC0415

    alarms = resources_of(templates["monitoring"], "AWS::CloudWatch::Alarm")
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert set(by_metric) == {"NewestLoadedHourAgeSeconds", "SecondsSinceLastSuccess", "OpenAnomalies"}
    assert set(by_metric) <= set(metrics.METRICS)
    etl_env = next(iter(resources_of(templates["etl"], "AWS::Lambda::Function").values()))
    env_name = etl_env["Properties"]["Environment"]["Variables"]["PLATFORM_ENV"]
    for metric, alarm in by_metric.items():
        assert alarm["Namespace"] == metrics.NAMESPACE
        assert alarm["Dimensions"] == [{"Name": metrics.DIMENSION, "Value": env_name}]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        # A stopped ETL publishes nothing: for the freshness alarms silence is an alarm.
        assert alarm["TreatMissingData"] == ("notBreaching" if metric == "OpenAnomalies" else "breaching")
    assert by_metric["SecondsSinceLastSuccess"]["Threshold"] == {"Ref": "LastSuccessAlarmSeconds"}
    assert default_of(templates["monitoring"], "NewestHourAlarmSeconds") == 3 * 3600


# --- cross-stack wiring and naming ---------------------------------------------------------------


def test_every_import_names_an_export_of_an_earlier_stack(templates: dict[str, dict]) -> None:
    exports = {stack: set(t.get("Outputs", {})) for stack, t in templates.items()}
    imports = 0
    for position, stack in enumerate(STACK_ORDER):
        for node in walk(templates[stack]):
            if isinstance(node, dict) and "Fn::ImportValue" in node:
                match = re.fullmatch(r"\$\{(\w+)StackName\}-(\w+)", node["Fn::ImportValue"]["Fn::Sub"])
                assert match, node
                source, key = match.group(1).lower(), match.group(2)
                assert key in exports[source], f"{stack} imports {source}-{key}, which is not exported"
                assert STACK_ORDER.index(source) < position, f"{stack} imports from later stack {source}"
                imports += 1
    assert imports >= 20


# Resource properties that name the resource (a reference in one of them names another one).
NAME_PROPERTIES = {
    "AliasName",
    "BucketName",
    "ClientName",
    "DashboardName",
    "FunctionName",
    "GroupName",
    "LaunchTemplateName",
    "LogGroupName",
    "Name",
    "QueueName",
    "UserPoolName",
}


def physical_names(templates: dict[str, dict]) -> dict[tuple[str, ...], object]:
    """Every name a resource is created under, its Name tag, and the imported stacks' names."""
    names: dict[tuple[str, ...], object] = {}
    for stack, logical_id, resource in all_resources(templates):
        properties = resource.get("Properties", {})
        for key in NAME_PROPERTIES & set(properties):
            value = properties[key]
            if not (isinstance(value, dict) and {"Ref", "Fn::GetAtt", "Fn::ImportValue"} & set(value)):
                names[stack, logical_id, key] = value
        tags = properties.get("Tags")
        if isinstance(tags, list) and "Name" in tags_of(resource):  # (some types take a plain map)
            names[stack, logical_id, "Tags.Name"] = tags_of(resource)["Name"]
    for stack, template in templates.items():
        for parameter, value in template["Parameters"].items():
            if parameter.endswith("StackName"):
                names[stack, parameter] = value["Default"]
    return names


def per_deployment(name: object) -> bool:
    """A name holding the stack's name or another resource's id differs between deployments."""
    text = json.dumps(name)
    return "${AWS::StackName}" in text or re.search(r"\$\{(?!AWS::)[A-Za-z]+\}", text) is not None


def test_two_environments_do_not_clash() -> None:
    dev, prod = (
        physical_names({s: BUILDERS[s](BuildParams(env=env)).to_dict() for s in STACK_ORDER})
        for env in ("dev", "prod")
    )
    assert dev.keys() == prod.keys()
    assert len(dev) >= 40
    same = {k: v for k, v in dev.items() if v == prod[k] and not per_deployment(v)}
    assert same == {}
    assert prod["etl", "EtlFunction", "FunctionName"] == "prod-SBW_Lamda_ETL"
    assert prod["etl", "NetworkStackName"] == "prod-clickstream-network"
    assert prod["network", "DwSecurityGroup", "GroupName"] == "prod-sg_analytics_ShinyDWH"
    assert prod["hosts", "DwInstance", "Tags.Name"] == "prod-SBW_EC2_ShinyDWH"


def test_docs_name_every_parameter_of_every_stack(templates: dict[str, dict]) -> None:
    text = (REPO / "docs" / "stacks.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| ((?:`\w+`(?:, )?)+) \|$", text, re.MULTILINE))
    documented = {stack: set(re.findall(r"`(\w+)`", cell)) for stack, cell in rows.items()}
    assert documented == {stack: set(t.get("Parameters", {})) for stack, t in templates.items()}


def test_builders_follow_the_deployment_order() -> None:
    assert tuple(BUILDERS) == STACK_ORDER


@pytest.mark.parametrize("stack", STACK_ORDER)
def test_outputs_are_exported_under_the_stack_name(templates: dict[str, dict], stack: str) -> None:
    for key, output in templates[stack].get("Outputs", {}).items():
        assert output["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{key}"}
