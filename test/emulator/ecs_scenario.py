"""A Fargate ECS scenario built with boto3 against the emulator, as a user's account would
look before the pipe's ecs-deploy runs.

    from emulator.ecs_scenario import ecs_fixture

    scn = ecs_fixture(emulator, cluster="prod", services=("web", "worker"), desired=2)
    scn.env()                    # AWS_* variables for the pipe (the scenario's IAM user keys)
    ecs = scn.client("ecs")      # boto3 client signed with the same keys
    scn.task_definition_arn      # arn:aws:ecs:us-east-1:111111111111:task-definition/web:1

Credentials: an IAM user (`ecs-deployer-<random>`) with an access key, created in account
111111111111 through the emulator's `/_layer/iam/user`; moto puts every call signed with
that key in that account. Region us-east-1.
"""

import copy
import json
import uuid
from dataclasses import dataclass, field

from .scenario import REGION, AccountScenario, client_for

ACCOUNT = "111111111111"
# The unknown field registered with every fixture task definition: ECS (and the pipe) must
# carry fields it does not know.
UNKNOWN_FIELD = "someFutureField"
UNKNOWN_VALUE = {"x": 1}


def register_task_definition_raw(ecs, body):
    """RegisterTaskDefinition with exactly `body` on the wire (botocore would refuse fields
    it does not know): the JSON is swapped in before signing, as the pipe does."""
    raw = json.dumps(body).encode()

    def swap(request, **_):
        request.data = raw

    event = "before-sign.ecs.RegisterTaskDefinition"
    ecs.meta.events.register(event, swap)
    try:
        return ecs.register_task_definition(family=body["family"], containerDefinitions=[])
    finally:
        ecs.meta.events.unregister(event, swap)


def task_definition_body(family="web", containers=("app",), image_tag="1", execution_role_arn=None):
    """A Fargate task definition as a user would write it, with an unknown field."""
    body = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {
                "name": name,
                "image": f"repo/{name}:{image_tag}",
                "essential": i == 0,
                "environment": [
                    {"name": "APP_ENV", "value": "production"},
                    {"name": "DB_PASSWORD", "value": f"s3cret-{name}"},
                ],
                "portMappings": [{"containerPort": 8080 + i, "protocol": "tcp"}] if i == 0 else [],
            }
            for i, name in enumerate(containers)
        ],
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 21},
        UNKNOWN_FIELD: copy.deepcopy(UNKNOWN_VALUE),
        "tags": [{"key": "team", "value": "platform"}],
    }
    if execution_role_arn:
        body["executionRoleArn"] = execution_role_arn
    return body


@dataclass
class EcsScenario(AccountScenario):
    cluster: str
    cluster_arn: str
    services: list
    service_arns: dict  # name -> ARN
    family: str
    task_definition_arn: str
    task_definition_body: dict  # as registered (unknown field included)
    subnets: list
    security_groups: list
    vpc_id: str
    desired: int
    controller: str
    extra: dict = field(default_factory=dict)

    def network_configuration(self):
        return {
            "awsvpcConfiguration": {
                "subnets": list(self.subnets),
                "securityGroups": list(self.security_groups),
                "assignPublicIp": "DISABLED",
            }
        }

    def register_revision(self, **changes):
        """Register another revision of the family (e.g. image_tag="2"); returns its ARN."""
        body = task_definition_body(
            self.family,
            [c["name"] for c in self.task_definition_body["containerDefinitions"]],
            image_tag=changes.pop("image_tag", "2"),
        )
        body.update(changes)
        return register_task_definition_raw(self.client("ecs"), body)["taskDefinition"]["taskDefinitionArn"]


def ecs_fixture(
    emulator,
    cluster="prod",
    services=("web",),
    family="web",
    containers=("app",),
    desired=2,
    controller="ECS",
    account=ACCOUNT,
):
    """Create a cluster, a Fargate task definition (revision 1, with an unknown field) and
    the services (FARGATE, awsvpc, circuit breaker with rollback, `controller`)."""
    creds = emulator.create_user(account, f"ecs-deployer-{uuid.uuid4().hex[:8]}")
    ec2 = client_for(emulator, "ec2", creds)
    ecs = client_for(emulator, "ecs", creds)

    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab", start=1)
    ]
    sg = ec2.create_security_group(
        GroupName=f"{cluster}-tasks-{uuid.uuid4().hex[:6]}", Description="tasks", VpcId=vpc_id
    )["GroupId"]

    cluster_arn = ecs.create_cluster(clusterName=cluster)["cluster"]["clusterArn"]
    body = task_definition_body(family, containers)
    td_arn = register_task_definition_raw(ecs, body)["taskDefinition"]["taskDefinitionArn"]

    network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED"}}
    service_arns = {}
    for name in services:
        kwargs = dict(
            cluster=cluster,
            serviceName=name,
            taskDefinition=td_arn,
            desiredCount=desired,
            launchType="FARGATE",
            networkConfiguration=network,
            deploymentController={"type": controller},
        )
        if controller == "ECS":
            kwargs["deploymentConfiguration"] = {
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            }
        service_arns[name] = ecs.create_service(**kwargs)["service"]["serviceArn"]

    return EcsScenario(
        emulator=emulator,
        account=account,
        region=REGION,
        credentials=creds,
        cluster=cluster,
        cluster_arn=cluster_arn,
        services=list(services),
        service_arns=service_arns,
        family=family,
        task_definition_arn=td_arn,
        task_definition_body=body,
        subnets=subnets,
        security_groups=[sg],
        vpc_id=vpc_id,
        desired=desired,
        controller=controller,
    )
