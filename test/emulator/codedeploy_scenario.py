"""An ECS service deployed blue/green by CodeDeploy, built with boto3 against the emulator, as
the ECS console would leave a user's account (names AppECS-<cluster>-<service> and
DgpECS-<cluster>-<service>).

    from emulator.codedeploy_scenario import codedeploy_fixture

    scn = codedeploy_fixture(emulator, cluster="prod", service="web")
    scn.env()                          # AWS_* variables for the pipe
    cd = scn.client("codedeploy")      # boto3 client signed with the scenario's keys
    td2 = scn.register_revision(image_tag="2")
    scn.next_deployment(outcome="fail", fail_at="AfterAllowTestTraffic")   # the scenario control
    did = scn.create_deployment(td2)   # CreateDeployment with an AppSpec naming td2
    scn.wait(did)                      # poll GetDeployment until a final status

The blue and green target groups are moto's (ELBv2 CreateTargetGroup, no load balancer behind
them); the listener ARN is a fake. Credentials, account and region as in ecs_scenario.py.
"""

import json
import uuid
from dataclasses import dataclass, field

from .ecs_scenario import ACCOUNT, EcsScenario, register_task_definition_raw, task_definition_body
from .scenario import REGION, client_for

CODEDEPLOY_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "codedeploy.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
FINAL = ("Succeeded", "Failed", "Stopped")


@dataclass
class CodeDeployScenario(EcsScenario):
    service: str = "web"
    application: str = ""
    deployment_group: str = ""
    container_name: str = "app"
    container_port: int = 8080
    target_groups: list = field(default_factory=list)  # [blue ARN, green ARN]
    service_role_arn: str = ""

    def appspec(self, task_definition_arn, hooks=None, fmt="json", **properties):
        """The AppSpec the pipe would send: version, the service, the task definition, the
        load balancer's container and port; `hooks` {event: function}; more Properties."""
        props = {"TaskDefinition": task_definition_arn,
                 "LoadBalancerInfo": {"ContainerName": self.container_name, "ContainerPort": self.container_port},
                 **properties}
        doc = {"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": props}}]}
        if hooks:
            doc["Hooks"] = [{event: function} for event, function in hooks.items()]
        if fmt == "yaml":
            import yaml

            return yaml.safe_dump(doc, sort_keys=False)
        return json.dumps(doc)

    def create_deployment(self, task_definition_arn=None, content=None, **kwargs):
        """CreateDeployment into the scenario's group; -> deployment id."""
        content = content if content is not None else self.appspec(task_definition_arn)
        revision = {"revisionType": "AppSpecContent", "appSpecContent": {"content": content}}
        return self.client("codedeploy").create_deployment(
            applicationName=self.application, deploymentGroupName=self.deployment_group, revision=revision,
            **kwargs)["deploymentId"]

    def next_deployment(self, **script):
        """How the next deployment into this group goes (POST /_layer/codedeploy/deployment)."""
        script.setdefault("application", self.application)
        script.setdefault("deployment_group", self.deployment_group)
        return self.emulator.codedeploy_deployment(**script)

    def wait(self, deployment_id, max_polls=200):
        """Poll GetDeployment until the deployment is final (or waits Ready); -> deploymentInfo."""
        cd = self.client("codedeploy")
        for _ in range(max_polls):
            info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            if info["status"] in FINAL + ("Ready",):
                return info
        raise AssertionError(f"deployment {deployment_id} still {info['status']} after {max_polls} polls")

    def target(self, deployment_id):
        target_id = f"{self.cluster}:{self.service}"
        return self.client("codedeploy").get_deployment_target(
            deploymentId=deployment_id, targetId=target_id)["deploymentTarget"]["ecsTarget"]

    def describe_service(self):
        return self.client("ecs").describe_services(cluster=self.cluster, services=[self.service])["services"][0]


def codedeploy_fixture(emulator, cluster="prod", service="web", application=None, deployment_group=None,
                       family="web", containers=("app",), desired=2, auto_rollback_events=("DEPLOYMENT_FAILURE",),
                       deployment_config="CodeDeployDefault.ECSAllAtOnce", ready_action="CONTINUE_DEPLOYMENT",
                       termination_wait_minutes=5, account=ACCOUNT):
    """A cluster, a Fargate task definition (revision 1; container `app` on 8080), a service with
    deploymentController CODE_DEPLOY behind the blue target group, the CodeDeploy service role,
    the application (computePlatform ECS) and the deployment group (blue/green with traffic
    control, the target group pair, `auto_rollback_events` (empty: off), the service)."""
    suffix = uuid.uuid4().hex[:8]
    creds = emulator.create_user(account, f"cd-deployer-{suffix}")
    ec2, ecs, cd = (client_for(emulator, name, creds) for name in ("ec2", "ecs", "codedeploy"))
    application = application or f"AppECS-{cluster}-{service}"
    deployment_group = deployment_group or f"DgpECS-{cluster}-{service}"

    vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
               ["Subnet"]["SubnetId"] for i, az in enumerate("ab", start=1)]
    sg = ec2.create_security_group(GroupName=f"{cluster}-tasks-{suffix}", Description="tasks",
                                   VpcId=vpc_id)["GroupId"]
    cluster_arn = ecs.create_cluster(clusterName=cluster)["cluster"]["clusterArn"]
    body = task_definition_body(family, containers)
    td_arn = register_task_definition_raw(ecs, body)["taskDefinition"]["taskDefinitionArn"]
    blue_tg, green_tg = f"{service}-blue"[:32], f"{service}-green"[:32]
    elbv2 = client_for(emulator, "elbv2", creds)
    tgs = [elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=vpc_id, TargetType="ip")
           ["TargetGroups"][0]["TargetGroupArn"] for name in (blue_tg, green_tg)]
    port = body["containerDefinitions"][0]["portMappings"][0]["containerPort"]
    network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED"}}
    service_arn = ecs.create_service(
        cluster=cluster, serviceName=service, taskDefinition=td_arn, desiredCount=desired, launchType="FARGATE",
        networkConfiguration=network, deploymentController={"type": "CODE_DEPLOY"},
        loadBalancers=[{"targetGroupArn": tgs[0], "containerName": containers[0], "containerPort": port}],
    )["service"]["serviceArn"]

    role_arn = emulator.create_role(account, f"ecsCodeDeployRole-{suffix}", CODEDEPLOY_TRUST_POLICY)
    cd.create_application(applicationName=application, computePlatform="ECS")
    listener = f"arn:aws:elasticloadbalancing:{REGION}:{account}:listener/app/{service}/{suffix}/{suffix}"
    cd.create_deployment_group(
        applicationName=application, deploymentGroupName=deployment_group, serviceRoleArn=role_arn,
        **({"deploymentConfigName": deployment_config} if deployment_config else {}),
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        blueGreenDeploymentConfiguration={
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE", "terminationWaitTimeInMinutes": termination_wait_minutes},
            "deploymentReadyOption": {"actionOnTimeout": ready_action, "waitTimeInMinutes": 0},
        },
        loadBalancerInfo={"targetGroupPairInfoList": [{
            "targetGroups": [{"name": blue_tg}, {"name": green_tg}],
            "prodTrafficRoute": {"listenerArns": [listener]},
        }]},
        autoRollbackConfiguration={"enabled": bool(auto_rollback_events), "events": list(auto_rollback_events)},
        ecsServices=[{"serviceName": service, "clusterName": cluster}],
    )
    return CodeDeployScenario(
        emulator=emulator, account=account, region=REGION, credentials=creds, cluster=cluster,
        cluster_arn=cluster_arn, services=[service], service_arns={service: service_arn}, family=family,
        task_definition_arn=td_arn, task_definition_body=body, subnets=subnets, security_groups=[sg],
        vpc_id=vpc_id, desired=desired, controller="CODE_DEPLOY", service=service, application=application,
        deployment_group=deployment_group, container_name=containers[0], container_port=port,
        target_groups=tgs, service_role_arn=role_arn,
    )
