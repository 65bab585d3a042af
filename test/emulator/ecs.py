"""ECS as the pipe's ecs-deploy action meets it: task definitions that round-trip, rollouts
that progress over time, one-off tasks that stop with exit codes.

moto registers task definitions (dropping fields it does not know), keeps services and runs
tasks, but its deployments never progress, it has no events and nothing ever fails. This
module adds, per (account, region, cluster, service):

- **Task definitions round-trip.** The exact JSON body of every RegisterTaskDefinition is
  kept (keyed by the ARN moto gave it); RegisterTaskDefinition and DescribeTaskDefinition
  answer every registered field, unknown ones included, plus ECS's read-only fields
  (requiresAttributes, registeredAt, registeredBy...).
- **Scripted rollouts.** `POST /_layer/ecs/rollout` scripts the next UpdateService of a
  service that changes its task definition or forces a deployment. From then on the layer
  owns the service's deployments, taskDefinition, events and counts; each DescribeServices
  call that includes the service is one poll and advances the script one step
  (complete / fail with a circuit-breaker rollback / superseded / stuck). The state of every
  step is also written into moto's Service model, so moto's other answers agree.
- **Rollouts on the clock.** A script with `"timed": {"running_s": R, "complete_s": C}` (a
  ROLLING `complete` rollout) moves with time instead of polls, as ECS's own does: the new tasks
  start over the first R seconds after UpdateService (runningCount rises, pendingCount falls), then
  the old tasks are drained and stopped until C, when the new deployment is COMPLETED and the old
  one is gone (the events carry those moments). That is ECS's rolling update: new tasks up to
  maximumPercent first, old ones stopped once the new are healthy, after the load balancer's
  deregistration delay (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html;
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay).
  Every read (DescribeServices, DescribeServiceDeployments) catches up with the clock; the
  moment ECS completed it and the first DescribeServices that showed it are kept
  (`GET /_layer/ecs/rollouts`: `completed_at`, `first_seen_at`), which is how the benchmark
  measures a poller's detection delay.
- **Scripted one-off tasks.** `POST /_layer/ecs/run-task` scripts the next RunTask:
  PROVISIONING/RUNNING for `polls` DescribeTasks calls, then STOPPED with the containers'
  exit codes and reasons (or RunTask `failures` only).
- **Stopped tasks of a failed rollout**, synthesized for ListTasks(serviceName,
  desiredStatus=STOPPED) and DescribeTasks.

moto quirks patched here: see README.md, "ECS scenarios".
"""

import copy
import json
import random
import threading
import time
import uuid
from datetime import datetime, timezone

from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ecs.exceptions import TaskDefinitionNotFoundException
from moto.ecs.models import EC2ContainerServiceBackend, ecs_backends
from moto.iam.models import get_account_id_from

from . import backends, ecs_task_definitions
from .dispatch import after, control, judge, on_reset
from .ecs_service_deployments import ServiceDeployment, SettledDeployment
from .protocol import aws_error

OUTCOMES = ("complete", "fail", "superseded", "stuck", "fail_no_rollback", "hook_fail", "alarm")
DEFAULT_REGION = "us-east-1"
STUCK_EVENT_EVERY = 5  # polls between "unable to consistently start tasks" events


# ====================================================================== moto patches


def _describe_task_definition(self, task_definition_str):
    """`family` alone means the latest ACTIVE revision, as in ECS (moto takes the latest
    revision whatever its status). Used by DescribeTaskDefinition, RunTask, CreateService
    and UpdateService alike."""
    name = task_definition_str.split("/")[-1]
    if ":" not in name:
        revisions = self.task_definitions.get(name) or {}
        active = [rev for rev, td in revisions.items() if td.status == "ACTIVE"]
        if not active:
            raise TaskDefinitionNotFoundException()
        return revisions[max(active)]
    return _moto_describe_task_definition(self, task_definition_str)


def _task_resource_requirements(task_definition):
    """moto adds up container `memory` and 500s (None + int) when a container has neither
    memory nor memoryReservation, which Fargate allows (task-level memory)."""

    class _View:
        container_definitions = [
            c
            if any(c.get(k) is not None for k in ("memory", "memoryReservation", "Memory", "MemoryReservation"))
            else {**c, "memory": 0}
            for c in task_definition.container_definitions
        ]

    for c in _View.container_definitions:
        if c.get("cpu") is None:
            c["cpu"] = 0
    return _moto_resource_requirements(_View)


# moto's awsvpc tasks read the ENI's private_dns_name, which moto only sets in VPCs with DNS
# hostnames enabled (an AttributeError, i.e. a 500, for RunTask in any other VPC).
if not hasattr(NetworkInterface, "private_dns_name"):
    NetworkInterface.private_dns_name = None

_moto_describe_task_definition = EC2ContainerServiceBackend.describe_task_definition
_moto_resource_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements
EC2ContainerServiceBackend.describe_task_definition = _describe_task_definition
EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(_task_resource_requirements)


# ====================================================================== state


class EcsState:
    def __init__(self):
        self.lock = threading.RLock()
        self.task_definitions = {}  # ARN -> {"body", "registeredAt", "registeredBy"}
        self.rollout_scripts = []  # pending scripts, in the order they were posted
        self.rollouts = {}  # ServiceKey -> Rollout (the layer owns that service)
        self.run_task_scripts = []  # pending, the next RunTask takes the first
        self.run_tasks = {}  # task ARN -> scripted one-off task
        self.service_extras = {}  # ServiceKey -> {"deploymentConfiguration": ...}
        self.system_tags = {}  # task definition ARN -> tags AWS itself put there ("aws:...")
        self.finished_service_deployments = []  # of rollouts replaced since (still describable)
        # ServiceKey -> the ARN a service's currentServiceDeployment names while no rollout owns
        # it (its creation's, or the last rollout's once the layer let go of the service).
        self.settled_current = {}


def state(layer):
    st = getattr(layer, "ecs_state", None)
    if st is None:
        st = layer.ecs_state = EcsState()
    return st


@on_reset
def _reset(layer):
    layer.ecs_state = EcsState()


# ====================================================================== helpers


def now():
    return time.time()


def new_deployment_id():
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


def new_task_id():
    return uuid.uuid4().hex


def to_datetime(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc)


def to_epoch(value):
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def without_nones(doc):
    return {k: v for k, v in doc.items() if v is not None}


def name_of(name_or_arn):
    """`web`, `arn:...:service/web` or `arn:...:service/prod/web` -> `web`."""
    return (name_or_arn or "").split("/")[-1]


def parse_arn(arn):
    """(region, account) of an ARN."""
    parts = arn.split(":")
    return parts[3], parts[4]


def request_account(req):
    return get_account_id_from(req.access_key_id or "")


def backend(account, region):
    return ecs_backends[account][region]


def caller_arn(layer, req, account):
    info = layer.issued_key(req.access_key_id) if req.access_key_id else None
    if info and info.get("arn"):
        return info["arn"]
    user, _ = backends.find_user_by_access_key(req.access_key_id) if req.access_key_id else (None, None)
    if user is not None:
        return user.arn
    return f"arn:aws:iam::{account}:root"


def json_body(resp):
    return json.loads(resp.body or b"{}")


def rewritten(resp, doc):
    resp.body = json.dumps(doc).encode()
    return resp


def invalid_parameter(message):
    return aws_error("ecs", 400, "InvalidParameterException", message)


def _control_error(status, message):
    from .layer import ControlError  # layer imports this module: import at call time

    return ControlError(status, message)


# ====================================================================== task definitions

READ_ONLY_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)


def requires_attributes(body):
    """A plausible requiresAttributes for a registered body (ECS derives it the same way)."""
    attrs = [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}]
    containers = body.get("containerDefinitions") or []
    if body.get("networkMode") == "awsvpc":
        attrs.append({"name": "ecs.capability.task-eni"})
    if body.get("taskRoleArn"):
        attrs.append({"name": "com.amazonaws.ecs.capability.task-iam-role"})
    if body.get("executionRoleArn"):
        attrs.append({"name": "ecs.capability.execution-role-ecr-pull"})
    if any((c.get("logConfiguration") or {}).get("logDriver") == "awslogs" for c in containers):
        attrs.append({"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"})
        attrs.append({"name": "ecs.capability.execution-role-awslogs"})
    if any(c.get("secrets") for c in containers):
        attrs.append({"name": "ecs.capability.secrets.asm.environment-variables"})
    return attrs


def full_task_definition(st, moto_doc):
    """The task definition as ECS describes it: moto's document (with ECS's defaults, e.g.
    container `cpu: 0`, `volumes: []`) overlaid with every field that was registered, then
    ECS's read-only fields."""
    arn = moto_doc.get("taskDefinitionArn")
    with st.lock:
        stored = st.task_definitions.get(arn)
    if stored is None:
        return moto_doc
    body = stored["body"]
    doc = {k: v for k, v in moto_doc.items() if k not in READ_ONLY_FIELDS}
    for key, value in body.items():
        if key == "tags" or key in READ_ONLY_FIELDS:
            continue  # tags are answered beside the definition; read-only fields are ECS's
        if key == "containerDefinitions" and isinstance(value, list):
            moto_containers = moto_doc.get("containerDefinitions") or []
            merged = []
            for i, container in enumerate(value):
                base = moto_containers[i] if i < len(moto_containers) and isinstance(container, dict) else {}
                merged.append({**base, **container} if isinstance(container, dict) else container)
            doc[key] = merged
        else:
            doc[key] = copy.deepcopy(value)
    doc["taskDefinitionArn"] = arn
    doc["revision"] = moto_doc.get("revision")
    doc["status"] = moto_doc.get("status", "ACTIVE")
    doc["requiresAttributes"] = requires_attributes(body)
    doc["compatibilities"] = moto_doc.get("compatibilities") or ["EC2"]
    doc["registeredAt"] = stored["registeredAt"]
    doc["registeredBy"] = stored["registeredBy"]
    if doc["status"] == "INACTIVE":
        doc["deregisteredAt"] = stored.get("deregisteredAt") or now()
    return doc


def remember_task_definition(st, arn, body, registered_by):
    with st.lock:
        st.task_definitions[arn] = {
            "body": copy.deepcopy(body),
            "registeredAt": now(),
            "registeredBy": registered_by,
        }


def reserved_tags(tags):
    """Tags whose key or value starts with "aws:" (any case): reserved for AWS's own use."""
    return [
        t for t in tags or []
        if isinstance(t, dict)
        and any(str(t.get(f, "")).lower().startswith("aws:") for f in ("key", "value"))
    ]


@judge("ecs", "RegisterTaskDefinition")
def _judge_register(layer, req):
    """ECS refuses tags with the reserved "aws:" prefix (CloudFormation puts them on the
    revisions it registers, so they come back from DescribeTaskDefinition; moto accepts them).
    Before that, the body is read as ECS reads it (`ecs_task_definitions`): `tags` of another
    shape is refused, nulls are members not set."""
    refused = ecs_task_definitions.judge_body(req)
    if refused is not None:
        return refused
    reserved = reserved_tags(ecs_task_definitions.registered_body(req).get("tags"))
    if reserved:
        keys = ", ".join(t.get("key", "") for t in reserved)
        return aws_error(
            "ecs", 400, "ClientException",
            f"Tag keys and values with the prefix 'aws:' are reserved for AWS use and cannot be set: {keys}",
        )
    return None


@after("ecs", "RegisterTaskDefinition")
def _after_register(layer, req, resp):
    st = state(layer)
    doc = json_body(resp)
    moto_doc = doc.get("taskDefinition") or {}
    arn = moto_doc.get("taskDefinitionArn")
    if not arn:
        return resp
    region, account = parse_arn(arn)
    body = ecs_task_definitions.registered_body(req)
    remember_task_definition(st, arn, body, caller_arn(layer, req, account))
    doc["taskDefinition"] = full_task_definition(st, moto_doc)
    if body.get("tags"):
        doc["tags"] = copy.deepcopy(body["tags"])
    return rewritten(resp, doc)


@judge("ecs", "DescribeTaskDefinition")
def _judge_describe_task_definition(layer, req):
    """A bare family means its latest ACTIVE revision; moto answers the latest of any status."""
    reference = req.params.get("taskDefinition") or ""
    if not reference or ":" in reference:
        return None
    revisions = backend(request_account(req), req.region or DEFAULT_REGION).task_definitions.get(reference, {})
    active = [number for number, td in sorted(revisions.items()) if td.status == "ACTIVE"]
    if not active:
        return aws_error("ecs", 400, "ClientException", "Unable to describe task definition.")
    req.forward_json({**req.params, "taskDefinition": f"{reference}:{active[-1]}"})
    return None


@after("ecs", "DescribeTaskDefinition")
def _after_describe_task_definition(layer, req, resp):
    st = state(layer)
    doc = json_body(resp)
    moto_doc = doc.get("taskDefinition")
    if not moto_doc:
        return resp
    doc["taskDefinition"] = full_task_definition(st, moto_doc)
    include = req.params.get("include") or []
    if "TAGS" in include:
        arn = moto_doc.get("taskDefinitionArn")
        tags = doc.get("tags")
        with st.lock:
            if not tags:
                stored = st.task_definitions.get(arn)
                tags = copy.deepcopy((stored or {}).get("body", {}).get("tags") or [])
            tags = tags + copy.deepcopy(st.system_tags.get(arn) or [])
        doc["tags"] = tags
    else:
        doc.pop("tags", None)
    doc.pop("failures", None)  # not in ECS's DescribeTaskDefinition output
    return rewritten(resp, doc)


@after("ecs", "DeregisterTaskDefinition")
def _after_deregister(layer, req, resp):
    st = state(layer)
    doc = json_body(resp)
    moto_doc = doc.get("taskDefinition")
    if not moto_doc:
        return resp
    with st.lock:
        stored = st.task_definitions.get(moto_doc.get("taskDefinitionArn"))
        if stored is not None:
            stored.setdefault("deregisteredAt", now())
    doc["taskDefinition"] = full_task_definition(st, moto_doc)
    return rewritten(resp, doc)


# Body fields moto's register_task_definition takes, by its keyword names.
_REGISTER_KWARGS = {
    "volumes": "volumes",
    "networkMode": "network_mode",
    "tags": "tags",
    "placementConstraints": "placement_constraints",
    "requiresCompatibilities": "requires_compatibilities",
    "cpu": "cpu",
    "memory": "memory",
    "taskRoleArn": "task_role_arn",
    "executionRoleArn": "execution_role_arn",
    "proxyConfiguration": "proxy_configuration",
    "inferenceAccelerators": "inference_accelerators",
    "runtimePlatform": "runtime_platform",
    "ipcMode": "ipc_mode",
    "pidMode": "pid_mode",
    "ephemeralStorage": "ephemeral_storage",
}


def register_in_moto(st, account, region, body, registered_by):
    """Register `body` straight into moto (another pipeline's revision) and remember it."""
    kwargs = {kw: copy.deepcopy(body[k]) for k, kw in _REGISTER_KWARGS.items() if k in body}
    td = backend(account, region).register_task_definition(
        body["family"], copy.deepcopy(body.get("containerDefinitions") or []), **kwargs
    )
    remember_task_definition(st, td.arn, body, registered_by)
    return td.arn


def stored_body(st, arn):
    with st.lock:
        stored = st.task_definitions.get(arn)
    return copy.deepcopy(stored["body"]) if stored else None


@control("POST", "/_layer/ecs/system-tags")
def c_system_tags(layer, body, query):
    """Tags with the reserved "aws:" prefix on a revision (put there by AWS's own tooling;
    CloudFormation does not tag task definitions today): answered by DescribeTaskDefinition with
    include=TAGS, refused by RegisterTaskDefinition. Body: {"task_definition": "<family>:<revision> or ARN", "tags": [...]}.
    Or on a service, as CloudFormation tags the services it creates (`aws:cloudformation:stack-name`...):
    {"cluster": "prod", "service": "web", "tags": [...], "account": optional}: answered by
    DescribeServices with include=TAGS, refused by RunTask."""
    st = state(layer)
    tags = body.get("tags") or []
    if not reserved_tags(tags) or len(reserved_tags(tags)) != len(tags):
        raise _control_error(400, "system tags start with aws:")
    if body.get("service"):
        return _service_system_tags(layer, body, tags)
    wanted = body["task_definition"]
    with st.lock:
        arns = [arn for arn in st.task_definitions if arn == wanted or arn.endswith("task-definition/" + wanted)]
        if len(arns) != 1:
            raise _control_error(404, f"no single task definition {wanted}")
        st.system_tags[arns[0]] = copy.deepcopy(tags)
    return {"task_definition": arns[0], "tags": tags}


def _service_system_tags(layer, body, tags):
    cluster, name = name_of(body.get("cluster") or "default"), name_of(body["service"])
    found = []
    for account, regions in list(ecs_backends.items()):
        if body.get("account") not in (None, account):
            continue
        for be in list(regions.values()):
            svc = be.services.get(f"{cluster}:{name}")
            if svc is not None:
                found.append(svc)
    if len(found) != 1:
        raise _control_error(404, f"no single service {cluster}/{name}: add account")
    found[0].tags = [t for t in found[0].tags if not reserved_tags([t])] + copy.deepcopy(tags)
    return {"service": found[0].arn, "tags": tags}


@control("GET", "/_layer/ecs/task-definitions/*")
def c_task_definition(layer, body, query):
    """GET /_layer/ecs/task-definitions/<family>:<revision>[?account=...] -> the body as
    registered."""
    st = state(layer)
    wanted = query.get("*", "")
    if ":" not in wanted:
        raise _control_error(400, "expected /_layer/ecs/task-definitions/<family>:<revision>")
    with st.lock:
        matches = [
            (arn, stored)
            for arn, stored in st.task_definitions.items()
            if arn.split("task-definition/", 1)[-1] == wanted
            and (not query.get("account") or parse_arn(arn)[1] == query["account"])
            and (not query.get("region") or parse_arn(arn)[0] == query["region"])
        ]
    if not matches:
        raise _control_error(404, f"no task definition {wanted} was registered")
    if len(matches) > 1:
        raise _control_error(400, f"{wanted} exists in several accounts/regions: add ?account=")
    return copy.deepcopy(matches[0][1]["body"])


# ====================================================================== services


class ServiceKey(tuple):
    """(account, region, cluster name, service name)"""

    def __new__(cls, account, region, cluster, service):
        return super().__new__(cls, (account, region, cluster, service))

    account = property(lambda self: self[0])
    region = property(lambda self: self[1])
    cluster = property(lambda self: self[2])
    service = property(lambda self: self[3])


def key_of_service_doc(doc):
    region, account = parse_arn(doc["serviceArn"])
    return ServiceKey(account, region, name_of(doc.get("clusterArn")), doc["serviceName"])


def service_model(key):
    try:
        return backend(key.account, key.region).services.get(f"{key.cluster}:{key.service}")
    except KeyError:
        return None


def default_deployment_configuration():
    return {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }


# Service fields moto drops (or, for launchType, invents: EC2 beside a capacity provider
# strategy); the layer keeps them as CreateService received them and answers them back.
KEPT_SERVICE_FIELDS = (
    "deploymentConfiguration",
    "capacityProviderStrategy",
    "placementConstraints",
    "placementStrategy",
    "propagateTags",
    "enableECSManagedTags",
    "enableExecuteCommand",
    "volumeConfigurations",  # answered on the deployments, as ECS does
)


def overlay_service_extras(st, key, svc_doc):
    with st.lock:
        extras = copy.deepcopy(st.service_extras.get(key) or {})
    for field in KEPT_SERVICE_FIELDS:
        if field in extras and field != "volumeConfigurations":
            svc_doc[field] = extras[field]
    if "volumeConfigurations" in extras:
        for deployment in svc_doc.get("deployments") or []:
            deployment["volumeConfigurations"] = copy.deepcopy(extras["volumeConfigurations"])
    if extras.get("capacityProviderStrategy"):
        svc_doc.pop("launchType", None)
    with st.lock:
        settled = None if key in st.rollouts else st.settled_current.get(key)
    if settled is not None:
        svc_doc["currentServiceDeployment"] = settled


@after("ecs", "CreateService")
def _after_create_service(layer, req, resp):
    """moto drops deploymentConfiguration (ECS's defaults when not given), placement, capacity
    providers, execute-command and volume settings: keep them."""
    doc = json_body(resp)
    svc = doc.get("service")
    if not svc:
        return resp
    key = key_of_service_doc(svc)
    controller = (svc.get("deploymentController") or {}).get("type", "ECS")
    extras = {f: copy.deepcopy(req.params[f]) for f in KEPT_SERVICE_FIELDS if f in req.params}
    if "deploymentConfiguration" not in extras and controller == "ECS":
        extras["deploymentConfiguration"] = default_deployment_configuration()
    st = state(layer)
    with st.lock:
        st.service_extras[key] = extras
        if controller == "ECS":
            # ECS tracks a service's creation as its first service deployment.
            settled = SettledDeployment(key, svc.get("taskDefinition"), svc.get("desiredCount", 0),
                                        extras.get("deploymentConfiguration"), now())
            st.finished_service_deployments.append(settled)
            st.settled_current[key] = settled.arn
    overlay_service_extras(st, key, svc)
    return rewritten(resp, doc)


# ---------------------------------------------------------------------- rollout scripts


@control("POST", "/_layer/ecs/rollout")
def c_rollout(layer, body, query):
    outcome = body.get("outcome", "complete")
    if outcome not in OUTCOMES:
        raise _control_error(400, f"outcome must be one of {', '.join(OUTCOMES)}")
    for field in ("cluster", "service"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise _control_error(400, f"{field} (a name) is required")
    polls = int(body.get("polls", 1))
    if polls < 1:
        raise _control_error(400, "polls must be >= 1")
    events = body.get("events") or []
    stopped = body.get("stopped_tasks") or []
    stale_polls = body.get("stale_polls") or []
    current_stale_polls = body.get("current_stale_polls")
    if current_stale_polls is not None and (not isinstance(current_stale_polls, int) or current_stale_polls < 0):
        raise _control_error(400, "current_stale_polls must be null or a number of polls >= 0")
    if not isinstance(stale_polls, list) or not all(isinstance(n, int) and n >= 1 for n in stale_polls):
        raise _control_error(400, "stale_polls must be a list of poll numbers (1 = the first DescribeServices)")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise _control_error(400, "events must be a list of messages")
    if not isinstance(stopped, list) or not all(isinstance(t, dict) for t in stopped):
        raise _control_error(400, "stopped_tasks must be a list of objects")
    script = {
        "cluster": name_of(body["cluster"]),
        "service": name_of(body["service"]),
        "account": body.get("account"),
        "region": body.get("region"),
        "outcome": outcome,
        "polls": polls,
        "events": list(events),
        "stopped_tasks": copy.deepcopy(stopped),
        "stale_polls": list(stale_polls),
        "current_late": bool(body.get("current_late")),
        "current_stale_polls": current_stale_polls,
        "timed": _timed_script(body.get("timed"), outcome),
    }
    st = state(layer)
    with st.lock:
        st.rollout_scripts.append(script)
    return {"rollout": script}


def _timed_script(timed, outcome):
    """`{"running_s": R, "complete_s": C}` (0 <= R < C): a rollout on the clock; None: by polls."""
    if timed is None:
        return None
    if outcome != "complete":
        raise _control_error(400, "timed rollouts are of outcome complete only")
    if not isinstance(timed, dict):
        raise _control_error(400, "timed must be an object {running_s, complete_s}")
    running, complete = timed.get("running_s"), timed.get("complete_s")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (running, complete)):
        raise _control_error(400, "timed needs running_s and complete_s, in seconds")
    if not 0 <= running < complete:
        raise _control_error(400, "timed needs 0 <= running_s < complete_s")
    return {"running_s": float(running), "complete_s": float(complete)}


@control("GET", "/_layer/ecs/rollouts")
def c_rollouts(layer, body, query):
    st = state(layer)
    with st.lock:
        return {
            "pending": copy.deepcopy(st.rollout_scripts),
            "active": [r.summary() for r in st.rollouts.values()],
        }


@control("DELETE", "/_layer/ecs/rollouts")
def c_clear_rollouts(layer, body, query):
    """Pending scripts are dropped; services being rolled out keep their current state
    (already written into moto) and stop progressing."""
    st = state(layer)
    with st.lock:
        st.rollout_scripts.clear()
        st.finished_service_deployments.extend(r.service_deployment for r in st.rollouts.values())
        for key, rollout in st.rollouts.items():
            st.settled_current[key] = rollout.view()["currentServiceDeployment"]
        st.rollouts.clear()
    return {"status": "ok"}


def take_script(st, key):
    with st.lock:
        for i, script in enumerate(st.rollout_scripts):
            if (
                script["cluster"] == key.cluster
                and script["service"] == key.service
                and script["account"] in (None, key.account)
                and script["region"] in (None, key.region)
            ):
                return st.rollout_scripts.pop(i)
    return None


class Rollout:
    """One scripted deployment of one service, advanced one step per DescribeServices poll.

    `deployments` and `events` are kept as ECS shows them (events newest first); `view()`
    is what the layer puts in DescribeServices/UpdateService answers and in moto's model.
    """

    def __init__(self, layer, key, script, previous, new_td_arn, desired, events, config=None):
        self.layer = layer
        self.key = key
        self.script = script
        self.reverted = None  # the reason, once the service went back to the previous revision
        self.outcome = script["outcome"]
        self.polls = script["polls"]
        self.polled = 0
        self.desired = desired
        self.events = events  # newest first
        self.events_before = copy.deepcopy(events)
        self.stopped_tasks = []  # synthesized task documents (from the first poll on)
        t = now()
        self.previous = {
            **previous,
            "status": "ACTIVE",
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {previous['id']} completed.",
            "runningCount": previous.get("desiredCount", desired),
            "pendingCount": 0,
            "updatedAt": t,
        }
        dep_id = new_deployment_id()
        self.new = {
            **{k: v for k, v in previous.items() if k in ("launchType", "platformVersion", "platformFamily", "networkConfiguration", "capacityProviderStrategy")},
            "id": dep_id,
            "status": "PRIMARY",
            "taskDefinition": new_td_arn,
            "desiredCount": desired,
            "pendingCount": desired,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": t,
            "updatedAt": t,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
        }
        self.newer = None  # superseded: the other pipeline's deployment
        self.deployments = [self.new, self.previous]
        self.task_definition = new_td_arn
        self._started_ids = [new_task_id() for _ in range(max(desired, 1))]
        self.service_deployment = ServiceDeployment(self, config, now())
        self.newer_service_deployment = None  # the ARN of the deployment that superseded ours
        self.previous_service_deployment = None  # currentServiceDeployment before this update
        self.started_at = t
        self.completed_at = None  # when ECS completed it (timed rollouts)
        self.first_seen_at = None  # the first DescribeServices answer after that
        self.announced = False  # a timed rollout's first events were emitted

    def stale_current(self):
        """The previous currentServiceDeployment, while the script says ECS still answers it
        (UpdateService: always under `current_stale_polls`; DescribeServices: its first N polls)."""
        polls = self.script.get("current_stale_polls")
        if polls is None or self.previous_service_deployment is None or self.polled > polls:
            return None
        return self.previous_service_deployment

    # -------------------------------------------------------------- view

    def running(self):
        return sum(d.get("runningCount", 0) for d in self.deployments)

    def pending(self):
        return sum(d.get("pendingCount", 0) for d in self.deployments)

    def view(self):
        return {
            "currentServiceDeployment": self.newer_service_deployment or self.service_deployment.arn,
            "taskDefinition": self.task_definition,
            "runningCount": self.running(),
            "pendingCount": self.pending(),
            "deployments": [without_nones(copy.deepcopy(d)) for d in self.deployments],
            "events": copy.deepcopy(self.events),
        }

    def stale_view(self):
        """What a replica that has not seen UpdateService yet answers: the deployment that ran
        before, alone and complete, and the events from before."""
        previous = {**self.previous, "status": "PRIMARY", "rolloutState": "COMPLETED"}
        return {
            **({"currentServiceDeployment": self.previous_service_deployment}
               if self.previous_service_deployment else {}),
            "taskDefinition": previous["taskDefinition"],
            "runningCount": previous.get("runningCount", 0),
            "pendingCount": 0,
            "deployments": [without_nones(copy.deepcopy(previous))],
            "events": copy.deepcopy(self.events_before),
        }

    def summary(self):
        return {
            "cluster": self.key.cluster,
            "service": self.key.service,
            "account": self.key.account,
            "outcome": self.outcome,
            "polls": self.polls,
            "polled": self.polled,
            "deployment_id": self.new["id"],
            "task_definition": self.task_definition,
            "timed": self.script.get("timed"),
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "first_seen_at": self.first_seen_at,
        }

    def sync_model(self):
        """Write the current state into moto's Service, so its own answers agree."""
        svc = service_model(self.key)
        if svc is None:
            return
        svc.task_definition = self.task_definition
        svc.running_count = self.running()
        svc.pending_count = self.pending()
        svc.deployments = [
            {k: (to_datetime(v) if k in ("createdAt", "updatedAt") else v) for k, v in d.items()}
            for d in self.deployments
        ]
        svc.events = [{**e, "createdAt": to_datetime(e["createdAt"])} for e in self.events]

    # -------------------------------------------------------------- events

    def _event(self, message, t):
        self.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": t, "message": message})

    def _emit(self, *messages, at=None):
        """Events in the order they happen (the last one ends up newest), from `at` (now)."""
        base = now() if at is None else at
        for i, message in enumerate(messages):
            self._event(message, base + i * 0.001)

    def _svc(self):
        return f"(service {self.key.service})"

    def _started_message(self, ids):
        tasks = " ".join(f"(task {i})" for i in ids)
        return f"{self._svc()} has started {len(ids)} tasks: {tasks}."

    def _stopped_message(self, count):
        ids = " ".join(f"(task {new_task_id()})" for _ in range(count))
        return f"{self._svc()} has stopped {count} running tasks: {ids}."

    # -------------------------------------------------------------- steps

    def _touch(self, *deployments):
        t = now()
        for d in deployments:
            d["updatedAt"] = t

    def _progress(self, dep, k):
        """Counts of an in-progress deployment at poll k (< polls)."""
        running = self.desired * k // self.polls if self.outcome == "complete" else 0
        if self.outcome == "stuck":
            running = min(self.desired * k // self.polls, max(self.desired - 1, 0))
        dep["runningCount"] = running
        dep["pendingCount"] = self.desired - running
        if self.outcome == "fail":
            dep["failedTasks"] = k
        self._touch(dep)

    def _materialize_stopped_tasks(self):
        key = self.key
        for i, spec in enumerate(self.script["stopped_tasks"]):
            task_id = self._started_ids[i] if i < len(self._started_ids) else new_task_id()
            self.stopped_tasks.append(
                stopped_task_doc(
                    self.layer, key, task_id, self.new["taskDefinition"], spec,
                    started_by=self.new["id"], group=f"service:{key.service}",
                    launch_type=self.new.get("launchType"),
                )
            )

    def advance(self):
        """One DescribeServices poll."""
        self.polled += 1
        k = self.polled
        if self.script.get("timed"):
            self.catch_up()
            if self.completed_at is not None and self.first_seen_at is None:
                self.first_seen_at = now()
            return
        if k == 1:
            self._emit(self._started_message(self._started_ids[: self.desired] or self._started_ids[:1]), *self.script["events"])
            self._materialize_stopped_tasks()
        if self.reverted is not None:
            self.finish_revert()
        else:
            getattr(self, "_step_" + self.outcome)(k)
        self.service_deployment.advance(k, now())
        self.sync_model()

    def catch_up(self):
        """A timed rollout: the state at this moment (any read of it)."""
        timed, t = self.script["timed"], now()
        elapsed = t - self.started_at
        if self.reverted is not None:  # rolled back on request: as a rollout by polls
            self.finish_revert()
            self.service_deployment.advance(self.polled, t)
            self.sync_model()
            return
        if not self.announced:
            self.announced = True
            self._emit(self._started_message(self._started_ids[: self.desired] or self._started_ids[:1]),
                       *self.script["events"], at=self.started_at)
        if self.completed_at is None:
            if elapsed >= timed["complete_s"]:
                at = self.started_at + timed["complete_s"]
                self.new.update(
                    runningCount=self.desired, pendingCount=0, rolloutState="COMPLETED",
                    rolloutStateReason=f"ECS deployment {self.new['id']} completed.", updatedAt=at,
                )
                self.deployments = [self.new]
                stopped = self.previous.get("runningCount", 0)
                self._emit(
                    *([self._stopped_message(stopped)] if stopped else []),
                    f"{self._svc()} (deployment {self.new['id']}) deployment completed.",
                    f"{self._svc()} has reached a steady state.",
                    at=at,
                )
                self.completed_at = at
            else:
                share = min(elapsed / timed["running_s"], 1.0) if timed["running_s"] else 1.0
                running = int(self.desired * share)
                if running != self.new["runningCount"]:
                    self.new.update(runningCount=running, pendingCount=self.desired - running)
                    self._touch(self.new)
        self.service_deployment.advance(self.polled, t)
        if self.completed_at is not None and self.service_deployment.finished is not None:
            self.service_deployment.finished = min(self.service_deployment.finished, self.completed_at)
        self.sync_model()

    def revert(self, reason, *events):
        """The service goes back to the previous revision: ours FAILED, the previous one PRIMARY
        again (the circuit breaker; a rollback of the service deployment: a failed hook, an
        alarm, a StopServiceDeployment request). `events` come before the rollback's own."""
        if self.reverted is not None:
            return
        self.reverted = reason
        self.new.update(status="ACTIVE", rolloutState="FAILED", rolloutStateReason=reason, pendingCount=0)
        self.previous.update(
            status="PRIMARY", rolloutState="IN_PROGRESS",
            rolloutStateReason=f"ECS deployment {self.previous['id']} in progress.",
        )
        self._touch(self.new, self.previous)
        self.deployments = [self.previous, self.new]
        self.task_definition = self.previous["taskDefinition"]
        self._emit(*events, f"{self._svc()} rolling back to deployment {self.previous['id']}.")

    def finish_revert(self):
        """The previous revision runs again, steady."""
        if self.previous.get("rolloutState") == "COMPLETED":
            return
        self.previous.update(
            rolloutState="COMPLETED",
            rolloutStateReason=f"ECS deployment {self.previous['id']} completed.",
            runningCount=self.previous.get("desiredCount", self.desired), pendingCount=0,
        )
        self._touch(self.previous)
        self.deployments = [self.previous]
        self._emit(
            f"{self._svc()} (deployment {self.previous['id']}) deployment completed.",
            f"{self._svc()} has reached a steady state.",
        )

    def _step_hook_fail(self, k):
        self._step_complete(k)

    def _step_alarm(self, k):
        self._step_complete(k)

    def _step_fail_no_rollback(self, k):
        """The circuit breaker trips without rollback configured: our deployment is FAILED and
        stays; the service keeps trying with the new revision."""
        if k < self.polls:
            self._progress(self.new, k)
        elif k == self.polls:
            self.new.update(
                rolloutState="FAILED",
                rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
                runningCount=0, pendingCount=self.desired, failedTasks=3,
            )
            self._touch(self.new)
            self._emit(f"{self._svc()} (deployment {self.new['id']}) deployment failed: tasks failed to start.")

    def _step_complete(self, k):
        if k < self.polls:
            self._progress(self.new, k)
        elif k == self.polls:
            self.new.update(
                runningCount=self.desired, pendingCount=0, rolloutState="COMPLETED",
                rolloutStateReason=f"ECS deployment {self.new['id']} completed.",
            )
            self._touch(self.new)
            self.deployments = [self.new]
            stopped = self.previous.get("runningCount", 0)
            messages = [self._stopped_message(stopped)] if stopped else []
            self._emit(
                *messages,
                f"{self._svc()} (deployment {self.new['id']}) deployment completed.",
                f"{self._svc()} has reached a steady state.",
            )

    def _step_fail(self, k):
        if k < self.polls:
            self._progress(self.new, k)
        elif k == self.polls:
            # ECS's circuit breaker rolls back (advance() finishes it at the next poll).
            self.new.update(
                runningCount=0,
                failedTasks=max(self.new.get("failedTasks", 0) + 1, len(self.script["stopped_tasks"]), 3),
            )
            self.revert(
                "ECS deployment circuit breaker: tasks failed to start.",
                f"{self._svc()} (deployment {self.new['id']}) deployment failed: tasks failed to start.",
            )

    def _step_superseded(self, k):
        if k < self.polls:
            self._progress(self.new, k)
        elif k == self.polls:
            self._progress(self.new, max(k - 1, 0))
            st = state(self.layer)
            body = stored_body(st, self.new["taskDefinition"])
            if body is None:  # registered before the layer ran (cannot happen via the API)
                raise RuntimeError(f"no stored task definition for {self.new['taskDefinition']}")
            newer_arn = register_in_moto(
                st, self.key.account, self.key.region, body,
                f"arn:aws:iam::{self.key.account}:user/another-pipeline",
            )
            t = now()
            dep_id = new_deployment_id()
            self.newer = {
                **{k2: v for k2, v in self.new.items() if k2 in ("launchType", "platformVersion", "platformFamily", "networkConfiguration", "capacityProviderStrategy")},
                "id": dep_id, "status": "PRIMARY", "taskDefinition": newer_arn,
                "desiredCount": self.desired, "pendingCount": self.desired, "runningCount": 0,
                "failedTasks": 0, "createdAt": t, "updatedAt": t,
                "rolloutState": "IN_PROGRESS", "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
            }
            self.new["status"] = "ACTIVE"  # rolloutState stays IN_PROGRESS
            self._touch(self.new)
            self.deployments = [self.newer, self.new, self.previous]
            self.task_definition = newer_arn
            self.newer_service_deployment = self.service_deployment.arn.rsplit("/", 1)[0] + "/" + uuid.uuid4().hex[:22]
            self._emit(self._started_message([new_task_id() for _ in range(max(self.desired, 1))]))
        elif k == self.polls + 1:
            self.newer.update(
                runningCount=self.desired, pendingCount=0, rolloutState="COMPLETED",
                rolloutStateReason=f"ECS deployment {self.newer['id']} completed.",
            )
            self._touch(self.newer)
            self.deployments = [self.newer]
            stopped = self.previous.get("runningCount", 0) + self.new.get("runningCount", 0)
            messages = [self._stopped_message(stopped)] if stopped else []
            self._emit(
                *messages,
                f"{self._svc()} (deployment {self.newer['id']}) deployment completed.",
                f"{self._svc()} has reached a steady state.",
            )

    def _step_stuck(self, k):
        self._progress(self.new, min(k, self.polls))
        if k >= self.polls and (k - self.polls) % STUCK_EVENT_EVERY == 0:
            self._emit(f"{self._svc()} is unable to consistently start tasks successfully.")


def model_events(svc):
    events = [
        {**e, "createdAt": to_epoch(e.get("createdAt"))} for e in (getattr(svc, "events", None) or [])
    ]
    return sorted(events, key=lambda e: e.get("createdAt") or 0, reverse=True)


# UpdateService members only a CodeDeploy deployment may change on a CODE_DEPLOY service.
CODE_DEPLOY_ONLY = {"loadBalancers": "load balancers", "networkConfiguration": "network configuration",
                    "platformVersion": "platform version"}


@judge("ecs", "UpdateService")
def _judge_update_service(layer, req):
    """Snapshot the service before moto changes it; refuse what ECS refuses for services
    whose deployments are not ECS's own."""
    params = req.params
    refused = refuses_inactive(req)
    if refused is not None:
        return refused
    account, region = request_account(req), req.region or DEFAULT_REGION
    try:
        svc = backend(account, region)._get_service(params.get("cluster") or "default", name_of(params.get("service")))
    except Exception:
        return None  # moto answers ClusterNotFound / ServiceNotFound
    controller = (svc.deployment_controller or {}).get("type", "ECS")
    if controller != "ECS":
        tool = "AWS CodeDeploy to trigger a new deployment" if controller == "CODE_DEPLOY" else "task sets"
        if params.get("taskDefinition"):
            return invalid_parameter(
                f"Unable to update task definition on services with a {controller} deployment "
                f"controller. Use {tool}."
            )
        if params.get("forceNewDeployment"):
            return invalid_parameter(
                f"Cannot force a new deployment on services with a {controller} deployment "
                f"controller. Use {tool}."
            )
        # API_UpdateService: with CODE_DEPLOY, "If the network configuration, platform version,
        # task definition, or load balancer need to be updated, create a new CodeDeploy
        # deployment." The load balancers' wording: cdklabs/cdk-ecs-codedeploy#292; the others'
        # follow it (unverified).
        for field, what in CODE_DEPLOY_ONLY.items():
            if controller == "CODE_DEPLOY" and params.get(field) is not None:
                return invalid_parameter(
                    f"Unable to update {what} on services with a CODE_DEPLOY deployment controller. Use {tool}."
                )
    req.notes["ecs_before"] = {
        "task_definition": svc.task_definition,
        "deployments": copy.deepcopy(svc.deployments),
        "events": model_events(svc),
    }
    return None


@after("ecs", "UpdateService")
def _after_update_service(layer, req, resp):
    st = state(layer)
    doc = json_body(resp)
    svc_doc = doc.get("service")
    if not svc_doc:
        return resp
    key = key_of_service_doc(svc_doc)
    model = service_model(key)
    before = req.notes.get("ecs_before") or {}

    # moto stores taskDefinition as sent ("web:2"); ECS answers the ARN.
    td_param = req.params.get("taskDefinition")
    if td_param and model is not None:
        td = backend(key.account, key.region).describe_task_definition(td_param)
        model.task_definition = td.arn
        svc_doc["taskDefinition"] = td.arn
    new_td = svc_doc.get("taskDefinition")
    changed = bool(req.params.get("forceNewDeployment")) or (
        bool(td_param) and new_td != before.get("task_definition")
    )

    started = None
    with st.lock:
        if changed:
            script = take_script(st, key)
            if script is not None:
                previous = next(
                    (d for d in before.get("deployments") or [] if d.get("status") == "PRIMARY"), None
                )
                previous = {k: to_epoch(v) for k, v in (previous or {}).items()}
                previous.setdefault("id", new_deployment_id())
                previous.setdefault("taskDefinition", before.get("task_definition"))
                previous.setdefault("desiredCount", svc_doc.get("desiredCount", 0))
                previous.setdefault("createdAt", now())
                config = (st.service_extras.get(key) or {}).get("deploymentConfiguration")
                rollout = Rollout(
                    layer, key, script, previous, new_td, svc_doc.get("desiredCount", 0),
                    before.get("events") or [], config,
                )
                replaced = st.rollouts.get(key)
                if replaced is not None:
                    st.finished_service_deployments.append(replaced.service_deployment)
                    rollout.previous_service_deployment = replaced.view()["currentServiceDeployment"]
                else:
                    rollout.previous_service_deployment = st.settled_current.get(key)
                st.settled_current.pop(key, None)
                started = rollout
                st.rollouts[key] = rollout
                rollout.sync_model()
            else:
                replaced = st.rollouts.pop(key, None)  # unscripted: moto's own behaviour stands
                if replaced is not None:
                    st.finished_service_deployments.append(replaced.service_deployment)
                # ECS would start a service deployment the layer does not model: none is named.
                st.settled_current.pop(key, None)
        rollout = st.rollouts.get(key)
        if rollout is not None:
            svc_doc.update(rollout.view())
            if rollout is started and rollout.script.get("current_late"):
                svc_doc.pop("currentServiceDeployment", None)
            stale = rollout.stale_current() if rollout is started else None
            if stale is not None:
                # containers-roadmap#2709: the answer still names the previous service deployment.
                svc_doc["currentServiceDeployment"] = stale
                req.notes["record"] = {"scenario": {"current_stale": stale}}
        extras = st.service_extras.setdefault(key, {})
        for field in KEPT_SERVICE_FIELDS:
            if req.params.get(field) is not None:
                extras[field] = copy.deepcopy(req.params[field])
    overlay_service_extras(st, key, svc_doc)
    return rewritten(resp, doc)


# Functions (layer, ServiceKey, service doc) that add to DescribeServices answers what other
# modules model (codedeploy.py: the task sets of CODE_DEPLOY services).
SERVICE_OVERLAYS = []


@judge("ecs", "DescribeServices")
def _judge_describe_services(layer, req):
    services = req.params.get("services")
    if isinstance(services, list) and len(services) > 10:
        return invalid_parameter("services can have at most 10 items.")
    return None


@after("ecs", "DescribeServices")
def _after_describe_services(layer, req, resp):
    """Each call that includes a service being rolled out is one poll of it."""
    st = state(layer)
    doc = json_body(resp)
    stale, stale_current = [], []
    for svc_doc in doc.get("services") or []:
        key = key_of_service_doc(svc_doc)
        with st.lock:
            rollout = st.rollouts.get(key)
            if rollout is not None:
                rollout.advance()
                if rollout.polled in rollout.script.get("stale_polls", ()):
                    # An eventually consistent read: this answer lags behind UpdateService.
                    svc_doc.update(rollout.stale_view())
                    stale.append(key.service)
                else:
                    svc_doc.update(rollout.view())
                    previous = rollout.stale_current()
                    if previous is not None:
                        svc_doc["currentServiceDeployment"] = previous
                        stale_current.append(key.service)
        overlay_service_extras(st, key, svc_doc)
        for overlay in SERVICE_OVERLAYS:
            overlay(layer, key, svc_doc)
    scenario = {}
    if stale:
        scenario["stale_read"] = stale
    if stale_current:
        scenario["current_stale"] = stale_current
    if scenario:
        req.notes["record"] = {"scenario": scenario}
    return rewritten(resp, doc)


# ====================================================================== tasks


def container_images(st, td_arn):
    body = stored_body(st, td_arn) or {}
    return {
        c.get("name"): c.get("image")
        for c in body.get("containerDefinitions") or []
        if isinstance(c, dict)
    }


def container_doc(task_arn, td_arn, images, spec, last_status):
    doc = {
        "containerArn": f"{task_arn.replace(':task/', ':container/', 1)}/{uuid.uuid4()}",
        "taskArn": task_arn,
        "name": spec.get("name"),
        "image": spec.get("image") or images.get(spec.get("name")),
        "lastStatus": last_status,
    }
    if last_status == "STOPPED":
        if spec.get("exitCode") is not None:
            doc["exitCode"] = spec["exitCode"]
        if spec.get("reason") is not None:
            doc["reason"] = spec["reason"]
    return without_nones(doc)


def stopped_task_doc(layer, key, task_id, td_arn, spec, started_by, group, launch_type=None):
    st = state(layer)
    arn = f"arn:aws:ecs:{key.region}:{key.account}:task/{key.cluster}/{task_id}"
    images = container_images(st, td_arn)
    containers = spec.get("containers")
    if containers is None:
        containers = [{"name": n, "exitCode": 1} for n in images] or [{"name": "app", "exitCode": 1}]
    t = now()
    return without_nones({
        "taskArn": arn,
        "clusterArn": f"arn:aws:ecs:{key.region}:{key.account}:cluster/{key.cluster}",
        "taskDefinitionArn": td_arn,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stoppedReason": spec.get("stoppedReason", "Essential container in task exited"),
        "stopCode": spec.get("stopCode", "EssentialContainerExited"),
        "startedBy": started_by,
        "group": group,
        "launchType": launch_type,
        "createdAt": t - 30,
        "startedAt": t - 25,
        "stoppingAt": t - 5,
        "stoppedAt": t,
        "containers": [container_doc(arn, td_arn, images, c, "STOPPED") for c in containers],
        "overrides": {"containerOverrides": [], "inferenceAcceleratorOverrides": []},
        "version": 3,
    })


def synthesized_stopped_tasks(st, account, region, cluster, service=None):
    with st.lock:
        return [
            task
            for key, rollout in st.rollouts.items()
            if (key.account, key.region, key.cluster) == (account, region, cluster)
            and (service is None or key.service == service)
            for task in rollout.stopped_tasks
        ]


def all_synthesized(st):
    with st.lock:
        return {t["taskArn"]: t for r in st.rollouts.values() for t in r.stopped_tasks}


@after("ecs", "ListTasks")
def _after_list_tasks(layer, req, resp):
    """moto ignores serviceName; ECS lists only the service's tasks. Stopped tasks of a
    scripted rollout are added for desiredStatus=STOPPED."""
    st = state(layer)
    doc = json_body(resp)
    account, region = request_account(req), req.region or DEFAULT_REGION
    cluster = name_of(req.params.get("cluster") or "default")
    service = req.params.get("serviceName")
    arns = doc.get("taskArns") or []
    if service:
        service = name_of(service)
        tasks = backend(account, region).tasks.get(cluster, {})
        arns = [a for a in arns if getattr(tasks.get(a), "group", None) == f"service:{service}"]
    if req.params.get("desiredStatus") == "STOPPED":
        for task in synthesized_stopped_tasks(st, account, region, cluster, service):
            if task["taskArn"] not in arns:
                arns.append(task["taskArn"])
    doc["taskArns"] = arns
    return rewritten(resp, doc)


# ---------------------------------------------------------------------- RunTask scripts


@control("POST", "/_layer/ecs/run-task")
def c_run_task(layer, body, query):
    polls = int(body.get("polls", 1))
    if polls < 0:
        raise _control_error(400, "polls must be >= 0")
    containers = body.get("containers")
    if containers is not None and (
        not isinstance(containers, list) or not all(isinstance(c, dict) and c.get("name") for c in containers)
    ):
        raise _control_error(400, "containers must be a list of {name, exitCode, reason}")
    failures = body.get("failures")
    if failures is not None and not isinstance(failures, list):
        raise _control_error(400, "failures must be a list")
    script = {
        "polls": polls,
        "stoppedReason": body.get("stoppedReason", "Essential container in task exited"),
        "stopCode": body.get("stopCode", "EssentialContainerExited"),
        "containers": copy.deepcopy(containers),
        "failures": copy.deepcopy(failures),
    }
    st = state(layer)
    with st.lock:
        st.run_task_scripts.append(script)
    return {"run_task": script}


@control("DELETE", "/_layer/ecs/run-task")
def c_clear_run_task(layer, body, query):
    st = state(layer)
    with st.lock:
        st.run_task_scripts.clear()
    return {"status": "ok"}


FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


def refuses_inactive(req):
    """ECS starts no new task from a deregistered revision, and updates no service to one."""
    reference = req.params.get("taskDefinition")
    if not reference:
        return None
    try:
        td = backend(request_account(req), req.region or DEFAULT_REGION).describe_task_definition(reference)
    except Exception:
        return None  # moto answers the unknown revision itself
    if td.status != "ACTIVE":
        return invalid_parameter("TaskDefinition is inactive")
    return None


def refuses_reserved_tags(req):
    """ECS reserves the "aws:" prefix (any case) of tag keys and values: a RunTask carrying one
    (a CloudFormation service's aws:cloudformation:* tags, copied) is refused. The message is the
    one ECS answers for such keys (amazon-ecs-agent#1704)."""
    reserved = reserved_tags(req.params.get("tags"))
    if not reserved:
        return None
    keyed = [t for t in reserved if str(t.get("key", "")).lower().startswith("aws:")]
    req.notes["record"] = {"scenario": {"reserved_tags": [t.get("key") for t in reserved]}}
    return invalid_parameter("Tag key must not start with aws:" if keyed else "Tag value must not start with aws:")


@judge("ecs", "RunTask")
def _judge_run_task(layer, req):
    """moto raises a bare Exception (an HTML 500) for an EC2 task in a cluster without
    container instances; ECS answers InvalidParameterException."""
    params = req.params
    refused = refuses_inactive(req) or refuses_reserved_tags(req)
    if refused is not None:
        return refused
    strategy = params.get("capacityProviderStrategy") or []
    if strategy and all(item.get("capacityProvider") in FARGATE_PROVIDERS for item in strategy):
        # moto fails (an HTML 500) on any capacity provider strategy; on ECS, a Fargate one
        # places the task on Fargate.
        forwarded = {k: v for k, v in params.items() if k != "capacityProviderStrategy"}
        req.forward_json({**forwarded, "launchType": "FARGATE"})
        req.notes["capacity_provider"] = strategy[0]["capacityProvider"]
        return None
    if params.get("launchType") or strategy:
        return None
    account, region = request_account(req), req.region or DEFAULT_REGION
    try:
        be = backend(account, region)
        cluster = be._get_cluster(params.get("cluster") or "default")
    except Exception:
        return None
    if getattr(cluster, "default_capacity_provider_strategy", None):
        return None
    if not be.container_instances.get(cluster.name):
        return invalid_parameter("No Container Instances were found in your cluster.")
    return None


@after("ecs", "RunTask")
def _after_run_task(layer, req, resp):
    st = state(layer)
    doc = json_body(resp)
    provider = req.notes.get("capacity_provider")
    if provider:
        for task in doc.get("tasks") or []:
            task.pop("launchType", None)
            task["capacityProviderName"] = provider
        resp = rewritten(resp, doc)
    with st.lock:
        script = st.run_task_scripts.pop(0) if st.run_task_scripts else None
    if script is None:
        return resp
    tasks = doc.get("tasks") or []
    if script["failures"] is not None:
        # ECS placed nothing: drop what moto started.
        account, region = request_account(req), req.region or DEFAULT_REGION
        cluster_tasks = backend(account, region).tasks.get(name_of(req.params.get("cluster") or "default"), {})
        for task in tasks:
            cluster_tasks.pop(task.get("taskArn"), None)
        return rewritten(resp, {"tasks": [], "failures": script["failures"]})
    for task in tasks:
        arn = task["taskArn"]
        images = container_images(st, task.get("taskDefinitionArn"))
        containers = script["containers"]
        if containers is None:
            containers = [{"name": n, "exitCode": 0} for n in images] or [{"name": "app", "exitCode": 0}]
        run = {
            "script": script,
            "containers": containers,
            "images": images,
            "calls": 0,
            "created": now(),
            "container_arns": {},
        }
        with st.lock:
            st.run_tasks[arn] = run
        apply_run_task(run, task, calls=0)
    doc["failures"] = doc.get("failures") or []
    return rewritten(resp, doc)


def apply_run_task(run, task, calls):
    """Rewrite one task document for DescribeTasks call number `calls` (0: RunTask)."""
    script = run["script"]
    arn = task["taskArn"]
    if calls == 0 or (calls == 1 and script["polls"] >= 2):
        status = "PROVISIONING"
    elif calls <= script["polls"]:
        status = "RUNNING"
    else:
        status = "STOPPED"
    task["lastStatus"] = status
    task["desiredStatus"] = "STOPPED" if status == "STOPPED" else "RUNNING"
    task["createdAt"] = run["created"]
    containers = []
    for spec in run["containers"]:
        c = container_doc(arn, task.get("taskDefinitionArn"), run["images"], spec,
                          status if status != "PROVISIONING" else "PENDING")
        c["containerArn"] = run["container_arns"].setdefault(spec.get("name"), c["containerArn"])
        containers.append(c)
    task["containers"] = containers
    for field in ("stoppedReason", "stopCode", "stoppedAt", "stoppingAt", "executionStoppedAt", "startedAt"):
        task.pop(field, None)
    if status in ("RUNNING", "STOPPED"):
        task["startedAt"] = run["created"] + 1
    if status == "STOPPED":
        run.setdefault("stopped", now())
        task["stoppedReason"] = script["stoppedReason"]
        task["stopCode"] = script["stopCode"]
        task["stoppingAt"] = run["stopped"]
        task["executionStoppedAt"] = run["stopped"]
        task["stoppedAt"] = run["stopped"]
    return status


@after("ecs", "DescribeTasks")
def _after_describe_tasks(layer, req, resp):
    st = state(layer)
    doc = json_body(resp)
    account, region = request_account(req), req.region or DEFAULT_REGION
    cluster = name_of(req.params.get("cluster") or "default")
    wanted = [w for w in req.params.get("tasks") or [] if isinstance(w, str)]
    tasks = doc.get("tasks") or []
    moto_tasks = backend(account, region).tasks.get(cluster, {})
    for task in tasks:
        with st.lock:
            run = st.run_tasks.get(task.get("taskArn"))
            if run is None:
                continue
            run["calls"] += 1
            status = apply_run_task(run, task, run["calls"])
        model = moto_tasks.get(task["taskArn"])
        if model is not None and status == "STOPPED":
            model.last_status = "STOPPED"
            model.desired_status = "STOPPED"
            model.stopped_reason = task["stoppedReason"]
    found = {t.get("taskArn") for t in tasks}
    synthesized = all_synthesized(st)
    failures = list(doc.get("failures") or [])
    for want in wanted:
        if any(f == want or f.endswith("/" + want) for f in found if f):
            continue
        match = synthesized.get(want) or next(
            (t for a, t in synthesized.items() if a.endswith("/" + want)), None
        )
        if match is not None and name_of(match["clusterArn"]) == cluster:
            tasks.append(copy.deepcopy(match))
            found.add(match["taskArn"])
        else:
            failures.append({"arn": want, "reason": "MISSING"})
    doc["tasks"] = tasks
    doc["failures"] = failures
    return rewritten(resp, doc)


# Answers without their item (a control of its own), chained after the handlers above.
from . import ecs_answers  # noqa: E402,F401
from . import ecs_idempotency  # noqa: E402,F401  (after ecs_answers: a replay is the answer as emptied)
