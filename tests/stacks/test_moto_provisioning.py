"""The network stack deployed into moto with ProvisioningEgress=true: a NAT gateway in the public
subnet and a default route through it in the analytics route table only (the default deployment,
without them, is test_moto_deploy.py's)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from stacks import BUILDERS
from stacks.params import BuildParams

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning")

REGION = "ap-southeast-1"


@mock_aws
def test_provisioning_egress_adds_a_nat_route_to_the_analytics_table_only() -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    ec2 = boto3.client("ec2", region_name=REGION)
    params = BuildParams()
    name = params.stack_name("network")
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(BUILDERS["network"](params).to_dict()),
        # The switch as a user flips it on an existing template: a parameter value, not a rebuild.
        Parameters=[{"ParameterKey": "ProvisioningEgress", "ParameterValue": "true"}],
    )
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    }
    [nat] = ec2.describe_nat_gateways()["NatGateways"]
    assert nat["NatGatewayId"] == physical["ProvisioningNatGateway"]
    assert nat["SubnetId"] == physical["PublicSubnet"]
    tables = {
        t["RouteTableId"]: t["Routes"]
        for t in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [physical["Vpc"]]}])[
            "RouteTables"
        ]
    }

    def default_routes(table: str) -> list[dict]:
        return [r for r in tables[physical[table]] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]

    [analytics_default] = default_routes("AnalyticsRouteTable")
    assert analytics_default["NatGatewayId"] == nat["NatGatewayId"]
    assert default_routes("EtlRouteTable") == []
    [public_default] = default_routes("PublicRouteTable")
    assert public_default["GatewayId"].startswith("igw-")
