"""CodeDeploy's reads and actions on ECS deployments that exist (codedeploy.py creates them and
documents what is modelled, with sources): GetDeployment / BatchGetDeployments (each a poll),
ListDeployments, ListDeploymentTargets, BatchGetDeploymentTargets, GetDeploymentTarget (a poll too, unless right after one of the deployment),
StopDeployment, ContinueDeployment, and the task sets of CODE_DEPLOY services in DescribeServices.
"""

import copy
import hashlib
import json
import time

from . import ecs
from .codedeploy import answer, backend_for, refusal, state, sync
from .codedeploy_deployments import FINAL
from .dispatch import after, judge
from .protocol import aws_error

# ---------------------------------------------------------------------- reads


def _deployment(layer, did, poll=False, target=False):
    """The deployment, moved to where time has got; a rollback it started moves with it (CodeDeploy
    carries a rollback out whether or not anyone follows it). `target`: a read of its target."""
    st = state(layer)
    dep = st.deployments.get(did)
    if dep is not None:
        dep.look(time.time(), poll, target)
        sync(dep)
        rollback = st.deployments.get((dep.rollback_info or {}).get("rollbackDeploymentId"))
        if rollback is not None and rollback is not dep:
            rollback.look(time.time(), poll, target)
            sync(rollback)
    return dep


def _overlay(info, dep):
    info.update(dep.info())
    # "The content property of the appSpecContent object in the returned revision is always null.
    # Use GetApplicationRevision and the sha256 property" (AWS CLI reference, get-deployment).
    info["revision"] = revision_view(dep.revision)
    for name in ("errorInformation", "rollbackInfo", "previousRevision", "relatedDeployments", "targetInstances",
                 "overrideAlarmConfiguration", "additionalDeploymentStatusInfo", "externalId", "startTime",
                 "completeTime", "deploymentStatusMessages"):
        if info.get(name) in (None, {}, "", []):
            info.pop(name, None)


@after("codedeploy", "GetDeployment")
def a_get_deployment(layer, req, resp):
    doc = json.loads(resp.body)
    with state(layer).lock:
        dep = _deployment(layer, req.params.get("deploymentId"), poll=True)
        if dep is not None:
            _overlay(doc["deploymentInfo"], dep)
            req.notes["record"] = {"deployment_status": dep.status}
    resp.body = json.dumps(doc).encode()
    return resp


@after("codedeploy", "BatchGetDeployments")
def a_batch_get_deployments(layer, req, resp):
    doc = json.loads(resp.body)
    with state(layer).lock:
        for info in doc.get("deploymentsInfo") or []:
            dep = _deployment(layer, info.get("deploymentId"), poll=True)
            if dep is not None:
                _overlay(info, dep)
    resp.body = json.dumps(doc).encode()
    return resp


@judge("codedeploy", "ListDeployments")
def j_list_deployments(layer, req):
    st = state(layer)
    with st.lock:
        for did in list(st.deployments):
            _deployment(layer, did)
    return None


def _known(layer, req, started=False, poll=False):
    """(deployment, None) or (None, error response) for the deploymentId of a request; with
    `started`, a deployment still `Created` is refused as CodeDeploy refuses reading its targets;
    `poll`: the read counts as a poll (a read of the target shows its progress)."""
    did = req.params.get("deploymentId")
    if not did:
        return None, refusal("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
    dep = _deployment(layer, did, poll, target=poll)
    if dep is None:
        if did in backend_for(req).deployments:
            return None, aws_error("codedeploy", 500, "InternalFailure",
                                   "emulator layer: targets are modelled for ECS deployments only")
        return None, refusal("DeploymentDoesNotExistException",
                             f"The deployment {did} does not exist with the user or AWS account.")
    if started and dep.status == "Created":
        return None, refusal("DeploymentNotStartedException", "The specified deployment has not started.")
    return dep, None


@judge("codedeploy", "ListDeploymentTargets")
def j_list_targets(layer, req):
    with state(layer).lock:
        dep, refused = _known(layer, req, started=True)
        return refused or answer({"targetIds": [dep.target_id()]})


def _target_of(dep, target_id):
    if ":" not in (target_id or ""):
        return None, refusal("InvalidDeploymentTargetIdException",
                             f"Invalid id {target_id} for ECS deployment, valid Id should be in format "
                             "<cluster-name>:<service-name>")
    if target_id != dep.target_id():
        return None, refusal("DeploymentTargetDoesNotExistException",
                             f"The target {target_id} does not exist in deployment {dep.id}.")
    return dep.target(), None


@judge("codedeploy", "BatchGetDeploymentTargets")
def j_batch_get_targets(layer, req):
    with state(layer).lock:
        dep, refused = _known(layer, req, started=True, poll=True)
        found = [_target_of(dep, target_id) for target_id in req.params.get("targetIds") or []] if dep else []
        refused = refused or next((r for _, r in found if r is not None), None)
        return refused or answer({"deploymentTargets": [target for target, _ in found]})


@judge("codedeploy", "GetDeploymentTarget")
def j_get_target(layer, req):
    with state(layer).lock:
        dep, refused = _known(layer, req, started=True, poll=True)
        target, refused = _target_of(dep, req.params.get("targetId")) if dep else (None, refused)
        return refused or answer({"deploymentTarget": target})


def revision_view(revision):
    """A revision as CodeDeploy answers it: the AppSpec's sha256, not its content."""
    view = copy.deepcopy(revision or {})
    for kind in ("appSpecContent", "string"):
        if isinstance(view.get(kind), dict):
            content = view[kind].pop("content", None) or ""
            view[kind].setdefault("sha256", hashlib.sha256(content.encode()).hexdigest())
    return view


@after("codedeploy", "GetDeploymentGroup")
def a_get_deployment_group(layer, req, resp):
    """moto answers `alarmConfiguration`, `targetRevision` and the last deployments empty: the
    group's alarms as created, and the group's latest deployments (API_DeploymentGroupInfo.html)."""
    doc = json.loads(resp.body)
    info = doc.get("deploymentGroupInfo") or {}
    group = backend_for(req).deployment_groups.get(info.get("applicationName"), {}).get(info.get("deploymentGroupName"))
    if group is not None and group.alarm_configuration:
        info["alarmConfiguration"] = copy.deepcopy(group.alarm_configuration)
    st = state(layer)
    with st.lock:
        mine = [_deployment(layer, d.id) for d in list(st.deployments.values())
                if (d.app, d.group) == (info.get("applicationName"), info.get("deploymentGroupName"))]
    for field in ("alarmConfiguration", "targetRevision", "lastSuccessfulDeployment", "lastAttemptedDeployment"):
        if info.get(field) == {}:
            info.pop(field)
    if mine:
        info["targetRevision"] = revision_view(mine[-1].revision)
        info["lastAttemptedDeployment"] = _brief(mine[-1])
        succeeded = [d for d in mine if d.status == "Succeeded"]
        if succeeded:
            info["lastSuccessfulDeployment"] = _brief(succeeded[-1])
    resp.body = json.dumps(doc).encode()
    return resp


def _brief(dep):
    brief = {"deploymentId": dep.id, "status": dep.status, "createTime": dep.created, "endTime": dep.completed}
    return {k: v for k, v in brief.items() if v is not None}


# ---------------------------------------------------------------------- Stop / Continue

# StopDeployment's answers (API_StopDeployment.html: status Pending or Succeeded; the messages'
# wording: unverified).
PENDING_MESSAGE = "Stopping Pending. Stopping to schedule commands in the deployment instances"
STOPPED_MESSAGE = "Deployment stopped"


@judge("codedeploy", "StopDeployment")
def j_stop(layer, req):
    st = state(layer)
    with st.lock:
        dep, refused = _known(layer, req)
        if refused:
            return refused
        if dep.status in FINAL and dep.stop_requested:
            # "After the pending operation is complete, subsequent calls to stop the deployment
            # return a status of succeeded" (deployment-steps-ecs.html#deployment-stop-fail-ecs).
            req.notes["record"] = {"already_stopped": True}
            return answer({"status": "Succeeded", "statusMessage": STOPPED_MESSAGE})
        if dep.status in FINAL:
            return refusal("DeploymentAlreadyCompletedException", f"The deployment {dep.id} is already completed.")
        asked = req.params.get("autoRollbackEnabled")
        roll_back = st.rolls_back_on(dep, "DEPLOYMENT_STOP_ON_REQUEST") if asked is None else bool(asked)
        polls = dep.script.get("stop_polls", 1)
        done = dep.request_stop(time.time(), roll_back, polls)
        sync(dep)
        # What the request asked, and whether it took effect at once (answer Succeeded) or takes
        # a few more polls (answer Pending).
        req.notes["record"] = {"rollback_requested": roll_back, "stopped_at_once": done,
                               "rollback": dep.rollback_info}
    if done:
        return answer({"status": "Succeeded", "statusMessage": STOPPED_MESSAGE})
    return answer({"status": "Pending", "statusMessage": PENDING_MESSAGE})


@judge("codedeploy", "ContinueDeployment")
def j_continue(layer, req):
    with state(layer).lock:
        dep, refused = _known(layer, req)
        if refused:
            return refused
        kind = req.params.get("deploymentWaitType") or "READY_WAIT"
        if dep.wait is None or dep.wait[0] != kind:
            return refusal("DeploymentIsNotInReadyStateException",
                           "The deployment does not have a status of Ready and can't continue yet.")
        dep.release_wait(time.time())
        sync(dep)
    return answer({})


# ---------------------------------------------------------------------- the ECS side


def overlay_service(layer, key, svc_doc):
    """DescribeServices of a CODE_DEPLOY service: its task sets and the PRIMARY task definition."""
    if (svc_doc.get("deploymentController") or {}).get("type") != "CODE_DEPLOY":
        return
    st = state(layer)
    with st.lock:
        for dep in list(st.deployments.values()):
            if dep.key == key:
                dep.look(time.time(), poll=False)
        sets = st.service_sets(key)
        busy = any(d.key == key and d.status not in FINAL for d in st.deployments.values())
        if not busy and len(sets) == 1 and svc_doc.get("desiredCount") is not None:
            # UpdateService(desiredCount) scales the service's one task set (at once, here).
            sets[0].set(time.time(), desired=svc_doc["desiredCount"], running=svc_doc["desiredCount"])
        svc_doc["taskSets"] = [s.ecs_doc(svc_doc) for s in sets]
        primary = next((s for s in sets if s.status == "PRIMARY"), None)
        if primary is not None:
            svc_doc["taskDefinition"] = primary.task_definition
        svc_doc["runningCount"] = sum(s.running for s in sets)
        svc_doc["pendingCount"] = sum(max(s.desired - s.running, 0) for s in sets)


ecs.SERVICE_OVERLAYS.append(overlay_service)
