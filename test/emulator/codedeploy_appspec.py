"""The AppSpec of an ECS deployment, read as CodeDeploy reads it (codedeploy.py uses this).

CreateDeployment for computePlatform ECS carries the AppSpec in the revision:
`{"revisionType": "AppSpecContent", "appSpecContent": {"content": "<JSON or YAML>", "sha256"}}`
(`"String"` with `string.content` is the older spelling of the same). A revision in S3 is not
modelled (the layer answers 500 saying so).

What CodeDeploy does with a bad AppSpec: CreateDeployment is accepted, and the deployment fails
with `errorInformation` "The deployment failed because the AppSpec file that specifies the
deployment configuration is missing or has an invalid configuration. The input AppSpec file is a
not well-formed yaml. The template cannot be parsed." (aws/aws-cli#6267; "The AppSpec file must
be valid JSON or YAML", awsdocs/aws-codedeploy-user-guide#14). So `read_appspec` never raises: it
returns the parsed document and the failure the deployment will end with (code, message), or
None. Structure (`version`, `Resources[0].TargetService.Type` AWS::ECS::Service,
`Properties.TaskDefinition`, `LoadBalancerInfo.ContainerName`/`ContainerPort`, `Hooks`) follows
https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html
and ...-structure-hooks.html; the messages after the common prefix are the layer's own
(unverified). `NetworkConfiguration.AwsvpcConfiguration` is all or none (Subnets, SecurityGroups,
AssignPublicIp: "All or none of the settings under NetworkConfiguration must be specified", same
page); a partial one fails the deployment like the other AppSpec faults (that it fails the
deployment rather than CreateDeployment: unverified). A container name/port the task definition does not have fails as ECS's CreateTaskSet
refuses it: "The container <name> did not have a container port <port> defined."
(cloudcomponents/cdk-constructs#67, quoting ECS's InvalidParameterException).
"""

import json

import yaml

INVALID_PREFIX = (
    "The deployment failed because the AppSpec file that specifies the deployment configuration is "
    "missing or has an invalid configuration. "
)
NOT_PARSED = "The input AppSpec file is a not well-formed yaml. The template cannot be parsed."
HOOK_EVENTS = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")


def _invalid(detail):
    return ("INVALID_REVISION", INVALID_PREFIX + detail)


def appspec_text(revision):
    """The AppSpec text of a revision, or None when the revision carries none inline."""
    if not isinstance(revision, dict):
        return None
    kind = revision.get("revisionType")
    if kind == "AppSpecContent":
        return (revision.get("appSpecContent") or {}).get("content")
    if kind == "String":
        return (revision.get("string") or {}).get("content")
    return None


def parse(text):
    """JSON or YAML text -> a dict, or None when it is neither (YAML is a superset of JSON)."""
    try:
        doc = json.loads(text)
    except ValueError:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
    return doc if isinstance(doc, dict) else None


def hooks_of(doc):
    """{event: Lambda function} from `Hooks: [{"BeforeInstall": "fn"}, ...]`."""
    hooks = {}
    for item in doc.get("Hooks") or []:
        if isinstance(item, dict):
            for event, function in item.items():
                hooks[event] = function
    return hooks


def read_appspec(text):
    """-> (summary or None, failure (code, message) or None).

    The summary: {"version", "task_definition", "container_name", "container_port", "hooks",
    "platform_version", "network_configuration", "capacity_provider_strategy", "document"}."""
    doc = parse(text) if isinstance(text, str) else None
    if doc is None:
        return None, _invalid(NOT_PARSED)
    if "version" not in doc:
        return None, _invalid("The AppSpec file is missing the required field 'version'.")
    resources = doc.get("Resources")
    if not isinstance(resources, list) or len(resources) != 1 or not isinstance(resources[0], dict):
        return None, _invalid("'Resources' must list exactly one TargetService.")
    target = resources[0].get("TargetService")
    if not isinstance(target, dict) or target.get("Type") != "AWS::ECS::Service":
        return None, _invalid("'Resources[0].TargetService.Type' must be AWS::ECS::Service.")
    props = target.get("Properties") or {}
    lb = props.get("LoadBalancerInfo")
    if not isinstance(props.get("TaskDefinition"), str) or not props["TaskDefinition"]:
        return None, _invalid("'TargetService.Properties.TaskDefinition' is required.")
    if not isinstance(lb, dict) or not lb.get("ContainerName") or lb.get("ContainerPort") in (None, ""):
        return None, _invalid("'TargetService.Properties.LoadBalancerInfo' needs ContainerName and ContainerPort.")
    try:
        port = int(lb["ContainerPort"])
    except (TypeError, ValueError):
        return None, _invalid("'LoadBalancerInfo.ContainerPort' must be a number.")
    partial = _partial_network(props.get("NetworkConfiguration"))
    if partial:
        return None, _invalid(partial)
    hooks = hooks_of(doc)
    unknown = sorted(set(hooks) - set(HOOK_EVENTS))
    if unknown:
        return None, _invalid(f"Unknown lifecycle event hook(s) {', '.join(unknown)} for an ECS deployment.")
    return {
        "version": doc.get("version"),
        "task_definition": props["TaskDefinition"],
        "container_name": lb["ContainerName"],
        "container_port": port,
        "hooks": hooks,
        "platform_version": props.get("PlatformVersion"),
        "network_configuration": props.get("NetworkConfiguration"),
        "capacity_provider_strategy": props.get("CapacityProviderStrategy"),
        "document": doc,
    }, None


AWSVPC_FIELDS = ("Subnets", "SecurityGroups", "AssignPublicIp")


def _partial_network(network):
    """"All or none of the settings under NetworkConfiguration must be specified ... If none is
    specified, CodeDeploy uses the current network Amazon ECS settings" (resources page above).
    -> what is wrong, or None."""
    if network is None:
        return None
    awsvpc = network.get("AwsvpcConfiguration") if isinstance(network, dict) else None
    if not isinstance(awsvpc, dict):
        return "'NetworkConfiguration' needs an AwsvpcConfiguration."
    missing = [f for f in AWSVPC_FIELDS if f not in awsvpc]
    if missing and len(missing) < len(AWSVPC_FIELDS):
        return (f"'NetworkConfiguration.AwsvpcConfiguration' sets some of {', '.join(AWSVPC_FIELDS)} but not "
                f"{', '.join(missing)}: all or none must be specified.")
    return None


def check_against_task_definition(summary, task_definition):
    """ECS's side: the task definition must be registered and have the container and port.
    `task_definition` is its registered body (None: not registered). -> failure or None."""
    if task_definition is None:
        return ("ECS_UPDATE_ERROR",
                f"The ECS service cannot be updated: the task definition {summary['task_definition']} "
                "is not registered.")
    containers = {c.get("name"): c for c in task_definition.get("containerDefinitions") or []}
    container = containers.get(summary["container_name"])
    if container is None:
        return ("ECS_UPDATE_ERROR",
                f"The ECS service cannot be updated: the container {summary['container_name']} does not "
                f"exist in the task definition {summary['task_definition']}.")
    ports = {int(m.get("containerPort")) for m in container.get("portMappings") or [] if m.get("containerPort")}
    if summary["container_port"] not in ports:
        return ("ECS_UPDATE_ERROR",
                f"The container {summary['container_name']} did not have a container port "
                f"{summary['container_port']} defined.")
    return None
