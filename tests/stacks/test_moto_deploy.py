"""Deploy network, data, hosts and etl into moto's CloudFormation and inspect what they created.

moto's CloudFormation skips resource types it does not model (listed in MOTO_UNSUPPORTED; each
is asserted on the template in test_templates.py instead), ignores some properties (S3 public
access block, versioning, lifecycle and logging; security-group egress; an instance's launch
template). The hosts stack gets one of moto's image ids as AmiId through the same
parameters-file mechanism a user has; nothing else differs from the templates `build` writes.
"""

from __future__ import annotations

import ast
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.parsing import get_model_map
from moto.kms.models import KmsBackend

from stacks import BUILDERS
from stacks.__main__ import ensure_password_parameters, secrets_key
from stacks.params import BuildParams, password_parameters

pytestmark = [
    pytest.mark.slow,  # one ~10 s deployment shared by the module
    pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning"),
]

REGION = "ap-southeast-1"
DEPLOYED = ("network", "data", "hosts", "etl")
CODE_BUCKET = "clickstream-test-code"
# Resource types moto's CloudFormation does not create; asserted on the templates instead.
MOTO_UNSUPPORTED = {
    "AWS::EC2::SecurityGroupEgress",
    "AWS::S3::BucketPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::DLM::LifecyclePolicy",
}


def _handler_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("functions/etl/handler.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def _kms_key_as_cloudformation_gives_it(create_key: Any) -> Any:
    """moto's CloudFormation passes an AWS::KMS::Key's KeyPolicy (an object) and Tags (Key/Value)
    to its KMS as they are, which expects the API's JSON text and TagKey/TagValue and fails;
    translate them on the way in."""

    def create(self: Any, policy: Any, *args: Any, tags: Any = None, **kwargs: Any) -> Any:
        policy = json.dumps(policy) if isinstance(policy, dict) else policy
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} if "Key" in t else t for t in tags or []]
        return create_key(self, policy, *args, tags=tags, **kwargs)

    return create


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    """The four stacks deployed in order into one moto account; boto3 clients and stack outputs."""
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(KmsBackend, "create_key", _kms_key_as_cloudformation_gives_it(KmsBackend.create_key))
        clients = {
            name: boto3.client(name, region_name=REGION)
            for name in ("cloudformation", "ec2", "s3", "lambda", "events", "iam", "ssm", "sqs", "kms")
        }
        image_id = clients["ec2"].describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        clients["s3"].create_bucket(
            Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        clients["s3"].put_object(Bucket=CODE_BUCKET, Key="lambda/lambda-etl.zip", Body=_handler_zip())

        params = BuildParams(
            parameters={
                "hosts": {"AmiId": image_id},
                "etl": {"LambdaCodeBucket": CODE_BUCKET},
            }
        )
        statuses, outputs, templates = {}, {}, {}
        for stack in DEPLOYED:
            templates[stack] = BUILDERS[stack](params).to_dict()
            name = params.stack_name(stack)
            clients["cloudformation"].create_stack(
                StackName=name, TemplateBody=json.dumps(templates[stack]), Capabilities=["CAPABILITY_IAM"]
            )
            described = clients["cloudformation"].describe_stacks(StackName=name)["Stacks"][0]
            statuses[stack] = described["StackStatus"]
            outputs[stack] = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        # What `deploy` does right after the etl stack: the passwords, under the key it created.
        key = secrets_key(clients["kms"], params.secrets_key_alias())
        ensure_password_parameters(clients["ssm"], params.env, key, log=lambda _: None)
        yield {"clients": clients, "statuses": statuses, "outputs": outputs, "templates": templates}


def test_stacks_reach_create_complete(aws: dict) -> None:
    assert aws["statuses"] == dict.fromkeys(DEPLOYED, "CREATE_COMPLETE")
    exports = {e["Name"] for e in aws["clients"]["cloudformation"].list_exports()["Exports"]}
    assert {
        "dev-clickstream-network-VpcId",
        "dev-clickstream-data-RawBucketName",
        "dev-clickstream-hosts-DwPrivateIp",
        "dev-clickstream-etl-EtlFunctionArn",
    } <= exports


def test_only_the_known_resource_types_are_left_to_template_assertions(aws: dict) -> None:
    types = {r["Type"] for t in aws["templates"].values() for r in t["Resources"].values()}
    assert types - set(get_model_map()) == MOTO_UNSUPPORTED


def test_vpc_subnets_and_routes(aws: dict) -> None:
    ec2, net = aws["clients"]["ec2"], aws["outputs"]["network"]
    vpc_id = net["VpcId"]
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"] == "10.0.0.0/16"
    subnets = {
        s["SubnetId"]: s["CidrBlock"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    }
    assert subnets == {
        net["PublicSubnetId"]: "10.0.1.0/24",
        net["AnalyticsSubnetId"]: "10.0.2.0/24",
        net["EtlSubnetId"]: "10.0.3.0/24",
    }
    # moto does not record CloudFormation's subnet associations (asserted on the template): find the
    # tables by logical id instead.
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in aws["clients"]["cloudformation"].list_stack_resources(StackName="dev-clickstream-network")[
            "StackResourceSummaries"
        ]
    }
    tables = {
        t["RouteTableId"]: t
        for t in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    }
    public_routes = tables[physical["PublicRouteTable"]]["Routes"]
    assert any(
        r.get("DestinationCidrBlock") == "0.0.0.0/0" and r["GatewayId"].startswith("igw-")
        for r in public_routes
    )
    [s3_endpoint] = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "service-name", "Values": [f"com.amazonaws.{REGION}.s3"]}]
    )["VpcEndpoints"]
    for table in ("AnalyticsRouteTable", "EtlRouteTable"):
        routes = tables[physical[table]]["Routes"]
        assert not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in routes)
        assert not any("NatGatewayId" in r for r in routes)
        # local + the S3 gateway endpoint's prefix-list route, nothing else
        assert sorted(r.get("DestinationCidrBlock") or r["GatewayId"] for r in routes) == sorted(
            ["10.0.0.0/16", s3_endpoint["VpcEndpointId"]]
        )
    assert ec2.describe_nat_gateways()["NatGateways"] == []


def test_interface_endpoints_with_private_dns(aws: dict) -> None:
    ec2, net = aws["clients"]["ec2"], aws["outputs"]["network"]
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [net["VpcId"]]}])[
        "VpcEndpoints"
    ]
    interface = {
        e["ServiceName"].rsplit(".", 1)[1]: e for e in endpoints if e["VpcEndpointType"] == "Interface"
    }
    assert set(interface) == {"ssm", "ssmmessages", "ec2messages", "logs"}
    assert all(e["PrivateDnsEnabled"] for e in interface.values())
    # each with its endpoint policy: this account's principals only
    this_account = {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}
    for service, endpoint in interface.items():
        policy = _policy(endpoint["PolicyDocument"])
        for statement in policy["Statement"]:
            assert statement["Condition"] == this_account, service
    [s3_endpoint] = [e for e in endpoints if e["VpcEndpointType"] == "Gateway"]
    s3_policy = {s["Sid"]: s for s in _policy(s3_endpoint["PolicyDocument"])["Statement"]}
    raw = aws["outputs"]["data"]["RawBucketName"]
    transfer = aws["outputs"]["hosts"]["SsmTransferBucketName"]
    assert s3_policy["PlatformBucketsOfThisAccount"]["Resource"] == [
        f"arn:aws:s3:::{raw}",
        f"arn:aws:s3:::{transfer}",
        f"arn:aws:s3:::{raw}/*",
        f"arn:aws:s3:::{transfer}/*",
    ]
    assert f"arn:aws:s3:::amazon-ssm-{REGION}/*" in s3_policy["AwsOwnedAgentBuckets"]["Resource"]


def test_security_groups_as_seeded(aws: dict) -> None:
    ec2, net = aws["clients"]["ec2"], aws["outputs"]["network"]
    groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [net["VpcId"]]}])[
            "SecurityGroups"
        ]
    }
    dw = groups[net["DwSecurityGroupId"]]
    assert dw["GroupName"] == "dev-sg_analytics_ShinyDWH"
    assert groups[net["EtlLambdaSecurityGroupId"]]["GroupName"] == "dev-sg_Lambda_ETL"
    [rule] = dw["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"], rule["IpRanges"]) == (5432, 5432, [])
    assert {p["GroupId"] for p in rule["UserIdGroupPairs"]} == {
        net["EtlLambdaSecurityGroupId"],
        net["ShinySecurityGroupId"],
    }
    for group in groups.values():
        for permission in group["IpPermissions"]:
            assert {"CidrIp": "0.0.0.0/0"} not in permission["IpRanges"], group["GroupName"]
    # No trusted/admin CIDR given: only the ETL's group, on 5432 (booked revenue).
    [oltp_rule] = groups[net["OltpSecurityGroupId"]]["IpPermissions"]
    assert (oltp_rule["IpProtocol"], oltp_rule["FromPort"], oltp_rule["ToPort"]) == ("tcp", 5432, 5432)
    assert (oltp_rule["IpRanges"], oltp_rule.get("Ipv6Ranges", [])) == ([], [])
    assert [p["GroupId"] for p in oltp_rule["UserIdGroupPairs"]] == [net["EtlLambdaSecurityGroupId"]]


def test_instances_tagged_placed_and_profiled(aws: dict) -> None:
    ec2, net, hosts = aws["clients"]["ec2"], aws["outputs"]["network"], aws["outputs"]["hosts"]
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:clickstream:env", "Values": ["dev"]}])
    by_role = {
        {t["Key"]: t["Value"] for t in i["Tags"]}["clickstream:role"]: i
        for r in reservations["Reservations"]
        for i in r["Instances"]
    }
    assert set(by_role) == {"oltp", "dw"}
    dw, oltp = by_role["dw"], by_role["oltp"]
    assert dw["InstanceId"] == hosts["DwInstanceId"]
    assert dw["SubnetId"] == net["AnalyticsSubnetId"]
    assert "PublicIpAddress" not in dw
    assert dw["PrivateIpAddress"] == hosts["DwPrivateIp"]
    assert oltp["SubnetId"] == net["PublicSubnetId"]
    assert oltp["PublicIpAddress"] == hosts["OltpPublicIp"]
    for key, instance in (("Dw", dw), ("Oltp", oltp)):
        assert (
            f"instance-profile/dev-clickstream-hosts-{key}InstanceProfile"
            in instance["IamInstanceProfile"]["Arn"]
        )


def test_launch_templates_require_imdsv2_and_encrypt_root(aws: dict) -> None:
    ec2 = aws["clients"]["ec2"]
    for name in ("dev-SBW_EC2_WebDB", "dev-SBW_EC2_ShinyDWH"):
        [version] = ec2.describe_launch_template_versions(LaunchTemplateName=name)["LaunchTemplateVersions"]
        data = version["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        [root] = data["BlockDeviceMappings"]
        assert root["Ebs"]["Encrypted"] is True
        assert root["Ebs"]["VolumeType"] == "gp3"


def test_data_volumes_attached_to_their_hosts(aws: dict) -> None:
    ec2, hosts = aws["clients"]["ec2"], aws["outputs"]["hosts"]
    for key in ("Oltp", "Dw"):
        [volume] = ec2.describe_volumes(VolumeIds=[hosts[f"{key}DataVolumeId"]])["Volumes"]
        [instance] = ec2.describe_instances(InstanceIds=[hosts[f"{key}InstanceId"]])["Reservations"][0][
            "Instances"
        ]
        # (moto's CloudFormation ignores the volume's Encrypted, VolumeType, AvailabilityZone and
        # tags:
        # asserted on the template)
        assert [(a["InstanceId"], a["Device"]) for a in volume["Attachments"]] == [
            (instance["InstanceId"], hosts["DataVolumeDevice"])
        ]


def test_buckets_exist_encrypted(aws: dict) -> None:
    s3 = aws["clients"]["s3"]
    raw = aws["outputs"]["data"]["RawBucketName"]
    assert raw == f"dev-clickstream-s3-ingest-123456789012-{REGION}"
    for bucket in (raw, aws["outputs"]["data"]["AccessLogBucketName"]):
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # the aws_ssm transfer bucket: SSE-KMS with the hosts stack's own key
    transfer = aws["outputs"]["hosts"]["SsmTransferBucketName"]
    [rule] = s3.get_bucket_encryption(Bucket=transfer)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": aws["outputs"]["hosts"]["SsmTransferKeyArn"],
    }
    key_arn = aws["outputs"]["hosts"]["SsmTransferKeyArn"]
    assert aws["clients"]["kms"].get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True


def test_etl_function_in_the_etl_subnet_with_the_dw_and_oltp_addresses(aws: dict) -> None:
    lam, net, hosts = aws["clients"]["lambda"], aws["outputs"]["network"], aws["outputs"]["hosts"]
    function = lam.get_function(FunctionName="dev-SBW_Lamda_ETL")
    config = function["Configuration"]
    assert config["Handler"] == "functions.etl.handler.handler"
    assert config["Runtime"] == "python3.11"
    assert config["VpcConfig"]["SubnetIds"] == [net["EtlSubnetId"]]
    assert config["VpcConfig"]["SecurityGroupIds"] == [net["EtlLambdaSecurityGroupId"]]
    env = {k: str(v) for k, v in config["Environment"]["Variables"].items()}
    assert env == {
        "DWH_HOST": hosts["DwPrivateIp"],
        "DWH_PORT": "5432",
        "DWH_USER": "etl_writer",
        "DWH_DATABASE": "clickstream_dw",
        "DWH_PASSWORD_PARAM": "/clickstream/dev/dw/etl_writer/password",
        "RAW_BUCKET": aws["outputs"]["data"]["RawBucketName"],
        "PLATFORM_ENV": "dev",
        "GEOIP_COUNTRY_DB": "",  # no country database by default
        # booked revenue: the shop's database on the OLTP host's private IP, the analytics login
        "OLTP_HOST": hosts["OltpPrivateIp"],
        "OLTP_PORT": "5432",
        "OLTP_DATABASE": "shop",
        "OLTP_USER": "analytics_reader",
        "OLTP_PASSWORD_PARAM": "/clickstream/dev/oltp/analytics_reader/password",
    }
    reservations = aws["clients"]["ec2"].describe_instances(InstanceIds=[hosts["OltpInstanceId"]])
    [oltp] = reservations["Reservations"][0]["Instances"]
    assert env["OLTP_HOST"] == oltp["PrivateIpAddress"]
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 1
    assert config["Role"].split("/")[-1].startswith("dev-clickstream-etl-EtlRole")


def test_schedule_rule_targets_the_etl_with_retries_and_dlq(aws: dict) -> None:
    events, sqs = aws["clients"]["events"], aws["clients"]["sqs"]
    rule = events.describe_rule(Name="dev-SBW_ETL_HOURLY_RULE")
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(1 hour)", "ENABLED")
    [target] = events.list_targets_by_rule(Rule="dev-SBW_ETL_HOURLY_RULE")["Targets"]
    assert target["Arn"] == aws["outputs"]["etl"]["EtlFunctionArn"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
    queue_url = sqs.get_queue_url(QueueName=aws["outputs"]["etl"]["EtlDeadLetterQueueName"])["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert target["DeadLetterConfig"]["Arn"] == queue_arn


def test_schedule_permission_is_scoped_to_the_rule(aws: dict) -> None:
    lam, events = aws["clients"]["lambda"], aws["clients"]["events"]
    policy = json.loads(lam.get_policy(FunctionName="dev-SBW_Lamda_ETL")["Policy"])
    rule_arn = events.describe_rule(Name="dev-SBW_ETL_HOURLY_RULE")["Arn"]
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule_arn


def test_iam_roles_as_deployed(aws: dict) -> None:
    iam = aws["clients"]["iam"]
    roles = {r["RoleName"]: r for r in iam.list_roles()["Roles"]}
    [etl_role] = [n for n in roles if n.startswith("dev-clickstream-etl-EtlRole")]
    [policy_name] = set(iam.list_role_policies(RoleName=etl_role)["PolicyNames"]) - {"etl-decrypt-passwords"}
    document = iam.get_role_policy(RoleName=etl_role, PolicyName=policy_name)["PolicyDocument"]
    if isinstance(document, str):  # moto keeps a CloudFormation-created document as Python repr text
        document = ast.literal_eval(document)
    statements = {s["Sid"]: s for s in document["Statement"]}
    raw_arn = f"arn:aws:s3:::{aws['outputs']['data']['RawBucketName']}"
    assert statements["ReadRawEvents"]["Resource"] == f"{raw_arn}/events/*"
    assert statements["ListRawEvents"]["Resource"] == raw_arn
    assert statements["ReadEnrichmentData"]["Resource"] == f"{raw_arn}/enrichment/*"
    assert statements["ReadDwPassword"]["Resource"] == (
        f"arn:aws:ssm:{REGION}:123456789012:parameter/clickstream/dev/dw/etl_writer/password"
    )
    shop_password = statements["ReadOltpAnalyticsPassword"]
    assert (shop_password["Action"], shop_password["Resource"]) == (
        "ssm:GetParameter",
        f"arn:aws:ssm:{REGION}:123456789012:parameter/clickstream/dev/oltp/analytics_reader/password",
    )
    actions = [
        a
        for s in document["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert all("*" not in a for a in actions)
    for key in ("Dw", "Oltp"):
        [host_role] = [n for n in roles if n.startswith(f"dev-clickstream-hosts-{key}HostRole")]
        trust = roles[host_role]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_host_role_policies_as_deployed(aws: dict) -> None:
    iam = aws["clients"]["iam"]
    raw_arn = f"arn:aws:s3:::{aws['outputs']['data']['RawBucketName']}"
    for key, role in (("Dw", "dw"), ("Oltp", "oltp")):
        [host_role] = [
            r["RoleName"] for r in iam.list_roles()["Roles"] if f"-hosts-{key}HostRole" in r["RoleName"]
        ]
        documents = {}
        for name in iam.list_role_policies(RoleName=host_role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=host_role, PolicyName=name)["PolicyDocument"]
            documents[name] = ast.literal_eval(document) if isinstance(document, str) else document
        assert set(documents) == {
            "session-manager-agent",
            "own-parameters",
            "cloudwatch-agent-logs",
            f"{role}-backups-to-raw-bucket",
            f"{role}-decrypt-own-parameters",  # attached by the etl stack, which holds the key
        }
        assert iam.list_attached_role_policies(RoleName=host_role)["AttachedPolicies"] == []
        [logs] = documents["cloudwatch-agent-logs"]["Statement"]
        assert (
            f"arn:aws:logs:{REGION}:123456789012:log-group:/clickstream/dev/postgresql:*" in logs["Resource"]
        )
        [params] = documents["own-parameters"]["Statement"]
        assert params["Resource"] == f"arn:aws:ssm:{REGION}:123456789012:parameter/clickstream/dev/{role}/*"
        [backup] = documents[f"{role}-backups-to-raw-bucket"]["Statement"]
        assert backup["Resource"] == f"{raw_arn}/backups/{role}/*"


def _policy(document: Any) -> dict:
    """A policy document as moto returns it: JSON text, a dict, or (what its CloudFormation was
    handed as an object) the Python repr of one."""
    if not isinstance(document, str):
        return document
    try:
        return json.loads(document)
    except json.JSONDecodeError:
        return ast.literal_eval(document)


def test_passwords_are_encrypted_with_the_etl_stacks_rotated_key(aws: dict) -> None:
    kms, ssm = aws["clients"]["kms"], aws["clients"]["ssm"]
    key_arn = aws["outputs"]["etl"]["DatabaseSecretsKeyArn"]
    metadata = kms.describe_key(KeyId="alias/dev-clickstream-etl/database-secrets")["KeyMetadata"]
    assert metadata["Arn"] == key_arn
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    for name, _ in password_parameters("dev"):
        [described] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])[
            "Parameters"
        ]
        assert (described["Type"], described["KeyId"]) == ("SecureString", key_arn), name
        assert len(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]) >= 40


def test_key_policy_names_the_deployed_roles(aws: dict) -> None:
    iam, kms = aws["clients"]["iam"], aws["clients"]["kms"]
    key_arn = aws["outputs"]["etl"]["DatabaseSecretsKeyArn"]
    policy = _policy(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    principals = {s["Sid"]: s["Principal"]["AWS"] for s in policy["Statement"]}
    role_arns = {r["RoleName"]: r["Arn"] for r in iam.list_roles()["Roles"]}
    [etl_role] = [arn for name, arn in role_arns.items() if name.startswith("dev-clickstream-etl-EtlRole")]
    assert principals["EtlRoleDecryptsItsPasswords"] == etl_role
    for key in ("Oltp", "Dw"):
        assert (
            principals[f"{key}HostRoleDecryptsItsParameters"] == aws["outputs"]["hosts"][f"{key}HostRoleArn"]
        )
    assert principals["AccountAdministersKey"] == "arn:aws:iam::123456789012:root"
    # and each host role's IAM grant of the decrypt names that key
    [dw_role] = [name for name in role_arns if name.startswith("dev-clickstream-hosts-DwHostRole")]
    grant = _policy(
        iam.get_role_policy(RoleName=dw_role, PolicyName="dw-decrypt-own-parameters")["PolicyDocument"]
    )
    [statement] = grant["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("kms:Decrypt", key_arn)
