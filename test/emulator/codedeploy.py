"""CodeDeploy blue/green deployments of ECS services, which moto only stores: its deployments
never leave `Created`, and StopDeployment, ContinueDeployment, ListDeploymentTargets,
BatchGetDeploymentTargets and GetDeploymentTarget are missing. The pipe calls CodeDeploy in AWS
JSON 1.1 (`X-Amz-Target: CodeDeploy_20141006.<Op>`, signed for `codedeploy`); moto keeps the
applications, deployment groups and the deployments' records, this module moves them.

- **CreateDeployment** (computePlatform ECS): the AppSpec is read and checked
  (codedeploy_appspec.py); a bad one, or a task definition without the AppSpec's container and
  port, is accepted and the deployment then fails (`INVALID_REVISION` / `ECS_UPDATE_ERROR`), as
  CodeDeploy does (aws/aws-cli#6267). Refused up front: an unknown application
  (`ApplicationDoesNotExistException` "No application found for name: X") or group
  (`DeploymentGroupDoesNotExistException` "No Deployment Group found for name: X"; both messages
  as AWS SDK users quote them, medium), no revision (`RevisionRequiredException` "RevisionLocation
  must be specified", aws/aws-cli#4256), another deployment active in the group
  (`DeploymentLimitExceededException` "The Deployment Group 'G' already has an active Deployment
  'd-…'", CircleCI-Public/aws-ecs-orb#181). Ids are `d-` + 9 characters. The parsed AppSpec is
  recorded on the request (`"appspec"`).
- **Progress** (codedeploy_deployments.py): lifecycle events in the order of
  https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-hooks.html
  (BeforeInstall, Install, AfterInstall, AllowTestTraffic, AfterAllowTestTraffic,
  BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic), the replacement (Green) task set created
  at Install, traffic shifted in the steps of the deployment configuration, Green made PRIMARY and
  the service's task definition switched at the end of AllowTraffic, the original (Blue) task set
  terminated last. One tick per poll (GetDeployment, BatchGetDeployments, or a read of the
  deployment's target) unless the scenario says otherwise; on the clock with `timed`
  (codedeploy_clock.py: each event's seconds, the configuration's bake time between traffic
  steps, the moments AWS records). Events without a hook read `Succeeded` (unverified).
- **Targets**: ListDeploymentTargets → `["<cluster>:<service>"]`; BatchGetDeploymentTargets and
  GetDeploymentTarget → `ecsTarget` with `lifecycleEvents` and `taskSetsInfo` (field `identifer`,
  sic: https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTaskSet.html). A target
  id not in that form → `InvalidDeploymentTargetIdException` "Invalid id X for ECS deployment,
  valid Id should be in format <cluster-name>:<service-name>" (awsdocs/amazon-ecs-developer-guide
  #112); before the deployment starts → `DeploymentNotStartedException` (API reference).
- **StopDeployment**: answered `Pending` and the deployment holds where it is for the
  scenario's `stop_polls` polls, then reads `Stopped`; with `stop_polls: 0` stopped at once and
  answered `Succeeded`; a later StopDeployment of it answers `Succeeded` (the three outcomes of
  https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-ecs.html#deployment-stop-fail-ecs;
  kayac/ecspresso#673/#679: peers poll GetDeployment after it until Stopped and rollbackInfo),
  `errorInformation` MANUAL_STOP; with `autoRollbackEnabled` (or,
  when not given, the group's DEPLOYMENT_STOP_ON_REQUEST) a rollback deployment (creator
  `codeDeployRollback`) puts traffic back on Blue and drops Green; `rollbackInfo` on both.
  Without rollback the task sets stay where they are (unverified). A failed deployment rolls back
  when its (or its group's) autoRollbackConfiguration has DEPLOYMENT_FAILURE — except before
  Install, where "a rollback is not possible" (hooks page above).
- **ContinueDeployment**: ends a `Ready` wait (READY_WAIT) or the termination wait
  (TERMINATION_WAIT); otherwise `DeploymentIsNotInReadyStateException`.
- **ECS side**: DescribeServices of a CODE_DEPLOY service shows its `taskSets` (PRIMARY/ACTIVE,
  weights in CodeDeploy's view, counts, `stabilityStatus`) and the PRIMARY one's task definition.
  UpdateService with a new task definition is refused in ecs.py ("Unable to update task
  definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a
  new deployment.", boto/boto3#1936, fabfuel/ecs-deploy#175).

Scenario `POST /_layer/codedeploy/deployment` decides how the next deployment(s) go:

| Field | Default | Meaning |
| --- | --- | --- |
| `application`, `deployment_group` | any | Only deployments into these. |
| `outcome` | `succeed` | `succeed`, `fail` (at `fail_at`) or `alarm` (an alarm of the group trips as `fail_at` ends: `Stopped`, ALARM_ACTIVE, rollback if DEPLOYMENT_STOP_ON_ALARM). |
| `fail_at` | `AfterAllowTestTraffic` | The lifecycle event that fails (or after which the alarm trips). |
| `alarm` | `web-5xx-errors` | The alarm named in the ALARM_ACTIVE message. |
| `diagnostics` | ScriptFailed | The failed event's `diagnostics` (errorCode, message, scriptName, logTail). |
| `error` | HOOK_EXECUTION_FAILURE | The deployment's `errorInformation` (`code`, `message`). |
| `polls_per_event` | 1 | Polls (GetDeployment/BatchGetDeployments, BatchGetDeploymentTargets/GetDeploymentTarget) per tick. |
| `seconds_per_event` | none | One tick per this many seconds of wall clock instead of polls. |
| `timed` | none | On the clock instead of polls, each phase its own seconds: `{start_s, event_s, events: {event: s}, interval_s, finish_s}` (codedeploy_clock.py); `ready_wait`/`termination_wait` numbers are then seconds. |
| `ready_wait` | group's | `true`: status Ready after AfterAllowTestTraffic until ContinueDeployment; N: Ready for N ticks, then `Stopped` (TIMEOUT) as STOP_DEPLOYMENT's wait period ends. Default: true when the group's deploymentReadyOption is STOP_DEPLOYMENT. |
| `termination_wait` | `false` | `true`: after AfterAllowTraffic, InProgress with Blue kept until ContinueDeployment(TERMINATION_WAIT); N: N ticks. |
| `stop_polls` | 1 | Polls after a StopDeployment that still see the deployment as it was; the next reads `Stopped` (and names the rollback deployment). 0: stopped at once. |
| `count` | 1 | How many deployments it applies to. |

`GET /_layer/codedeploy/deployments` lists every deployment's summary (status, events, appspec,
rollback, and the moments `created_at`, `traffic_moved_at` (AfterAllowTraffic succeeded, all traffic
on the replacement) and `completed_at` (a final status)); `DELETE /_layer/codedeploy/deployment` drops pending scenarios.
"""

import copy
import json
import threading
import time
import uuid

from moto.codedeploy.models import codedeploy_backends

from . import ecs
from .codedeploy_appspec import appspec_text, check_against_task_definition, read_appspec
from .codedeploy_clock import read_timed
from .codedeploy_deployments import ACTIVE, Deployment, TaskSet, new_deployment_id
from .dispatch import after, control, judge, on_reset
from .protocol import Response, aws_error

OUTCOMES = ("succeed", "fail", "alarm")
SCRIPT_FIELDS = {"application", "deployment_group", "outcome", "fail_at", "alarm", "diagnostics", "error",
                 "polls_per_event", "seconds_per_event", "ready_wait", "termination_wait", "stop_polls", "count",
                 "timed"}
DEFAULT_CONFIG = "CodeDeployDefault.ECSAllAtOnce"
ROLLBACK_MESSAGES = {
    "failure": "Automatic rollback triggered by the failure of deployment {id}: rollback deployment {rid}.",
    "stop": "Rollback requested when deployment {id} was stopped: rollback deployment {rid}.",
    "alarm": "Automatic rollback triggered by an alarm during deployment {id}: rollback deployment {rid}.",
}


class CodeDeployState:
    def __init__(self):
        self.lock = threading.RLock()
        self.scripts = []
        self.deployments = {}  # id -> Deployment
        self.task_sets = {}  # ServiceKey -> [TaskSet]

    def set_service_task_definition(self, key, td):
        model = ecs.service_model(key)
        if model is not None:
            model.task_definition = td

    def rolls_back_on(self, dep, event):
        config = dep.auto_rollback or {}
        return bool(config.get("enabled")) and event in (config.get("events") or [])

    def target_group_pair(self, dep):
        return list(dep.target_groups)

    def roll_back(self, dep, now, why):
        """A rollback deployment for `dep` (nothing to roll back before Green exists)."""
        if dep.rollback_of is not None or dep.green is None:
            return None
        backend = codedeploy_backends[dep.key.account][dep.key.region]
        rid = create_in_moto(backend, dep.app, dep.group, dep.revision, creator="codeDeployRollback")
        script = {k: dep.script.get(k) for k in ("polls_per_event", "seconds_per_event", "timed")}
        rollback = Deployment(self, rid, dep.app, dep.group, dep.key, dep.sets, dep.old_td, dep.config_name,
                              script, now, rollback_of=dep)
        rollback.auto_rollback, rollback.target_groups, rollback.revision = {}, dep.target_groups, dep.revision
        message = ROLLBACK_MESSAGES[why].format(id=dep.id, rid=rid)
        dep.rollback_info = {"rollbackDeploymentId": rid, "rollbackMessage": message}
        rollback.rollback_info = {"rollbackTriggeringDeploymentId": dep.id, "rollbackMessage": message}
        self.deployments[rid] = rollback
        sync(rollback)
        return rollback

    def service_sets(self, key, svc_model=None):
        """The service's task sets; a CODE_DEPLOY service starts with one PRIMARY set."""
        sets = self.task_sets.get(key)
        if sets is None:
            model = svc_model or ecs.service_model(key)
            tg = next((lb.get("targetGroupArn") for lb in (getattr(model, "load_balancers", None) or [])
                       if lb.get("targetGroupArn")), None)
            sets = [TaskSet(key, model.task_definition, model.desired_count, "Blue", tg, time.time())] \
                if model is not None else []
            self.task_sets[key] = sets
        return sets


def state(layer):
    st = getattr(layer, "codedeploy_state", None)
    if st is None:
        st = layer.codedeploy_state = CodeDeployState()
    return st


@on_reset
def _reset(layer):
    layer.codedeploy_state = CodeDeployState()


def _control_error(message):
    from .layer import ControlError  # layer imports this module: import at call time

    return ControlError(400, message)


def answer(doc):
    return Response(200, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))],
                    json.dumps(doc))


def refusal(code, message):
    return aws_error("codedeploy", 400, code, message)


def backend_for(req):
    return codedeploy_backends[ecs.request_account(req)][req.region or ecs.DEFAULT_REGION]


def create_in_moto(backend, app, group, revision, creator="user"):
    """A deployment in moto's records (ListDeployments and the like), under a CodeDeploy-style id."""
    moto_id = backend.create_deployment(app, group, revision)
    return rekey(backend, moto_id, creator)


def rekey(backend, moto_id, creator="user"):
    record = backend.deployments.pop(moto_id)
    record.deployment_id = new_deployment_id()
    record.creator = creator
    backend.deployments[record.deployment_id] = record
    return record.deployment_id


def sync(dep):
    """moto's record follows the deployment's status (ListDeployments filters on it)."""
    record = codedeploy_backends[dep.key.account][dep.key.region].deployments.get(dep.id)
    if record is not None:
        record.status = dep.status


# ---------------------------------------------------------------------- scenario control


@control("POST", "/_layer/codedeploy/deployment")
def c_deployment(layer, body, query):
    unknown = set(body) - SCRIPT_FIELDS
    if unknown:
        raise _control_error(f"unknown fields {sorted(unknown)}")
    outcome = body.get("outcome", "succeed")
    if outcome not in OUTCOMES:
        raise _control_error(f"outcome must be one of {', '.join(OUTCOMES)}")
    fail_at = body.get("fail_at", "AfterAllowTestTraffic")
    from .codedeploy_deployments import EVENTS

    if fail_at not in EVENTS:
        raise _control_error(f"fail_at must be one of {', '.join(EVENTS)}")
    for field in ("ready_wait", "termination_wait"):
        value = body.get(field, False)
        in_seconds = body.get("timed") is not None and isinstance(value, (int, float)) and value > 0
        if not (isinstance(value, bool) or (isinstance(value, int) and value >= 1) or in_seconds):
            raise _control_error(f"{field} must be true, false or a number of ticks >= 1 (seconds > 0 when timed)")
    polls = body.get("polls_per_event", 1)
    if not isinstance(polls, int) or polls < 1:
        raise _control_error("polls_per_event must be a number >= 1")
    stop_polls = body.get("stop_polls", 1)
    if not isinstance(stop_polls, int) or isinstance(stop_polls, bool) or stop_polls < 0:
        raise _control_error("stop_polls must be a number of polls >= 0")
    seconds = body.get("seconds_per_event")
    if seconds is not None and (not isinstance(seconds, (int, float)) or seconds <= 0):
        raise _control_error("seconds_per_event must be a number of seconds > 0")
    timed, wrong = read_timed(body.get("timed"))
    if wrong:
        raise _control_error(wrong)
    if timed and seconds is not None:
        raise _control_error("timed and seconds_per_event are two clocks: give one")
    script = {"outcome": outcome, "fail_at": fail_at, "polls_per_event": polls, "seconds_per_event": seconds,
              "stop_polls": stop_polls, "count": int(body.get("count", 1)), "timed": timed}
    for field in ("application", "deployment_group", "alarm", "diagnostics", "error", "ready_wait", "termination_wait"):
        if field in body:
            script[field] = copy.deepcopy(body[field])
    st = state(layer)
    with st.lock:
        st.scripts.append(script)
    return {"deployment": script}


@control("DELETE", "/_layer/codedeploy/deployment")
def c_clear(layer, body, query):
    st = state(layer)
    with st.lock:
        st.scripts.clear()
    return {}


@control("GET", "/_layer/codedeploy/deployments")
def c_deployments(layer, body, query):
    st = state(layer)
    with st.lock:
        return {"deployments": [d.summary() for d in st.deployments.values()], "pending": copy.deepcopy(st.scripts)}


def take_script(st, app, group, group_model):
    """The first pending scenario for this group (used up by `count`), else success; a group
    whose deploymentReadyOption is STOP_DEPLOYMENT waits Ready unless the scenario says."""
    taken = {"outcome": "succeed", "polls_per_event": 1}
    for script in st.scripts:
        if script.get("application") in (None, app) and script.get("deployment_group") in (None, group):
            script["count"] -= 1
            if script["count"] <= 0:
                st.scripts.remove(script)
            taken = dict(script)
            break
    if "ready_wait" not in taken:
        ready = (group_model.blue_green_deployment_configuration or {}).get("deploymentReadyOption") or {}
        taken["ready_wait"] = ready.get("actionOnTimeout") == "STOP_DEPLOYMENT"
    return taken


# ---------------------------------------------------------------------- CreateDeployment


def _active_in_group(st, app, group, now):
    for dep in list(st.deployments.values()):
        if dep.app == app and dep.group == group:
            dep.look(now, poll=False)
            if dep.status in ACTIVE:
                return dep
    return None


@judge("codedeploy", "CreateDeployment")
def j_create_deployment(layer, req):
    p = req.params
    backend = backend_for(req)
    app, group = p.get("applicationName"), p.get("deploymentGroupName")
    if app not in backend.applications:
        return refusal("ApplicationDoesNotExistException", f"No application found for name: {app}")
    if backend.applications[app].compute_platform != "ECS":
        return None  # other platforms: moto's records only
    if group and group not in backend.deployment_groups.get(app, {}):
        return refusal("DeploymentGroupDoesNotExistException", f"No Deployment Group found for name: {group}")
    if not p.get("revision"):
        return refusal("RevisionRequiredException", "RevisionLocation must be specified")
    kind = p["revision"].get("revisionType")
    if kind not in ("AppSpecContent", "String"):
        return aws_error("codedeploy", 500, "InternalFailure",
                         f"emulator layer: revisionType {kind} is not modelled for ECS (use AppSpecContent)")
    st = state(layer)
    with st.lock:
        active = _active_in_group(st, app, group, time.time()) if group else None
    if active is not None:
        return refusal("DeploymentLimitExceededException",
                       f"The Deployment Group '{group}' already has an active Deployment '{active.id}'")
    summary, failure = read_appspec(appspec_text(p["revision"]))
    req.notes["appspec"] = (summary, failure)
    record = {k: v for k, v in (summary or {}).items() if k != "document"} if summary else None
    req.notes["record"] = {"appspec": record, "appspec_failure": failure and {"code": failure[0], "message": failure[1]}}
    return None


@after("codedeploy", "CreateDeployment")
def a_create_deployment(layer, req, resp):
    if "appspec" not in req.notes:
        return resp
    p = req.params
    backend = backend_for(req)
    app, group = p["applicationName"], p["deploymentGroupName"]
    group_model = backend.deployment_groups[app][group]
    did = rekey(backend, json.loads(resp.body)["deploymentId"])
    summary, failure = req.notes["appspec"]
    account, region = ecs.request_account(req), req.region or ecs.DEFAULT_REGION
    service = (group_model.ecs_services or [{}])[0]
    key = ecs.ServiceKey(account, region, service.get("clusterName"), service.get("serviceName"))
    svc_model = ecs.service_model(key)
    new_td = None
    if failure is None and summary is not None:
        new_td, failure = _check_ecs(layer, key, svc_model, summary)
    config = p.get("deploymentConfigName") or _config_name(group_model)
    st = state(layer)
    now = time.time()
    with st.lock:
        script = take_script(st, app, group, group_model)
        sets = st.service_sets(key, svc_model) if svc_model is not None else []
        dep = Deployment(st, did, app, group, key, sets, new_td, config, script, now, appspec=summary, failure=failure)
        dep.revision = copy.deepcopy(p["revision"])
        dep.auto_rollback = p.get("autoRollbackConfiguration") or group_model.auto_rollback_configuration or {}
        dep.target_groups = _target_groups(group_model, key, sets)
        st.deployments[did] = dep
        sync(dep)
    record = codedeploy_backends[account][region].deployments[did]
    record.deployment_config_name = config
    resp.body = json.dumps({"deploymentId": did}).encode()
    return resp


def _config_name(group_model):
    name = group_model.deployment_config_name
    return DEFAULT_CONFIG if not name or str(name).startswith("CodeDeployDefault.OneAtATime") else str(name)


def _check_ecs(layer, key, svc_model, summary):
    """-> (task definition ARN, failure or None): the service and the AppSpec's task definition."""
    if svc_model is None:
        return None, ("INVALID_ECS_SERVICE", f"The ECS service {key.cluster}:{key.service} does not exist.")
    if (svc_model.deployment_controller or {}).get("type") != "CODE_DEPLOY":
        return None, ("INVALID_ECS_SERVICE",
                      f"The ECS service {key.service} does not use the CODE_DEPLOY deployment controller.")
    try:
        td = ecs.backend(key.account, key.region).describe_task_definition(summary["task_definition"])
    except Exception:
        return None, check_against_task_definition(summary, None)
    body = ecs.stored_body(ecs.state(layer), td.arn) or {"containerDefinitions": td.container_definitions}
    return td.arn, check_against_task_definition(summary, body)


def _target_groups(group_model, key, sets):
    """The deployment group's target group pair as ARNs: names resolved through ELBv2 (moto's)
    and the service's load balancers, else an ARN of the same shape."""
    from moto.elbv2.models import elbv2_backends

    names = []
    for pair in (group_model.load_balancer_info or {}).get("targetGroupPairInfoList") or []:
        names += [tg.get("name") for tg in pair.get("targetGroups") or [] if tg.get("name")]
    known = [s.target_group_arn for s in sets if s.target_group_arn]
    try:
        known += list(elbv2_backends[key.account][key.region].target_groups)
    except KeyError:
        pass
    arns = []
    for name in names:
        match = next((a for a in known if a.split(":")[-1].split("/")[1:2] == [name]), None)
        arns.append(match or f"arn:aws:elasticloadbalancing:{key.region}:{key.account}:targetgroup/{name}/"
                               f"{uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:16]}")
    return arns


@after("codedeploy", "CreateDeploymentGroup")
def a_create_deployment_group(layer, req, resp):
    """moto gives every group CodeDeployDefault.OneAtATime (an EC2 configuration); an ECS group
    created without one deploys all at once (the ECS console's default; unverified for the API)."""
    p = req.params
    backend = backend_for(req)
    app = backend.applications.get(p.get("applicationName"))
    if app is not None and app.compute_platform == "ECS" and not p.get("deploymentConfigName"):
        group = backend.deployment_groups[app.application_name][p["deploymentGroupName"]]
        group.deployment_config_name = DEFAULT_CONFIG
    return resp


def config_name_for(req, app, group):
    """The configuration a CreateDeployment without deploymentConfigName uses: its group's."""
    group_model = backend_for(req).deployment_groups.get(app, {}).get(group)
    return _config_name(group_model) if group_model is not None else DEFAULT_CONFIG


def deployment_group_of(layer, req, did):
    """(application, group) of a deployment, for permissions.py; (None, None) if unknown."""
    dep = state(layer).deployments.get(did)
    if dep is not None:
        return dep.app, dep.group
    record = backend_for(req).deployments.get(did)
    return (record.application_name, record.deployment_group_name) if record else (None, None)
