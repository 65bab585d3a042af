"""ECS service deployments, which moto lacks: `Service.currentServiceDeployment`,
`ListServiceDeployments`, `DescribeServiceDeployments` and `StopServiceDeployment`.

Each scripted rollout (ecs.py's `Rollout`) has one service deployment that moves with it, poll by
poll (one DescribeServices that includes the service is one poll):

- ROLLING (the default strategy): PENDING → IN_PROGRESS → SUCCESSFUL when the rollout completes;
  a circuit-breaker rollback is ROLLBACK_IN_PROGRESS → ROLLBACK_SUCCESSFUL with the breaker's
  failure count; superseded is STOPPED, and the service's current deployment is the newer one.
- BLUE_GREEN, LINEAR, CANARY (`deploymentConfiguration.strategy` of the service): one lifecycle
  stage per poll (PRE_SCALE_UP … BAKE_TIME, CLEAN_UP; PRODUCTION_TRAFFIC_SHIFT once per linear
  step or canary shift), SUCCESSFUL after CLEAN_UP. The rolling view (`deployments[]`) completes
  as soon as the new tasks run, while traffic is still shifting: what a judge of `deployments[]`
  alone gets wrong.
- Outcomes of their own: `hook_fail` (a lifecycle hook fails at POST_TEST_TRAFFIC_SHIFT),
  `alarm` (an alarm trips during BAKE_TIME, or at the last poll of a rolling deployment): both
  roll back; `fail_no_rollback` (the circuit breaker trips, rollback not configured: the rollout
  is FAILED and ECS stops the service deployment, STOPPED, where it is).
- `current_late` in the script: UpdateService answers without `currentServiceDeployment` (ECS can
  answer before it attaches the service deployment); DescribeServices has it.
- A service created with the ECS controller has the service deployment of its creation
  (`SettledDeployment`, SUCCESSFUL) as `currentServiceDeployment` until a rollout replaces it.
- `current_stale_polls` in the script (0 or more): UpdateService answers with the *previous*
  `currentServiceDeployment` (containers-roadmap#2709), and so do the first N DescribeServices
  polls; the new one is attached after that. Each stale answer is recorded in the request log
  as `{"scenario": {"current_stale": ...}}`.
- The service revisions they name are opaque ARNs (ecs_service_revisions.py), one per service and
  task definition; DescribeServiceRevisions maps them to task definitions. A deployment's
  `sourceServiceRevisions` is the revision the service ran before it (the creation's is empty).
- A timed rollout (ecs.py, "Rollouts on the clock") is ROLLING: its service deployment is
  IN_PROGRESS from the first read and SUCCESSFUL at the moment the rollout completes (its
  `finishedAt`), whichever call reads it first.
- StopServiceDeployment with stopType ROLLBACK on an ongoing deployment: ROLLBACK_REQUESTED, then
  ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL; the service goes back to the previous revision.
  A requested rollback moves one step per look at it, by DescribeServices of the service or by
  DescribeServiceDeployments of the deployment (time passes while the client follows it).
"""

import copy
import uuid

from .dispatch import judge
from .ecs_service_revisions import service_revision_arn
from .protocol import Response, aws_error

FINAL = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
BEFORE_TRAFFIC = ["PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT"]
AFTER_TRAFFIC = ["POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"]
HOOK_ARN = "arn:aws:lambda:{region}:{account}:function:check-green"
ALARM = "web-5xx-errors"


def stages_for(strategy, config):
    """The lifecycle stages a deployment of this strategy goes through, in order."""
    if strategy == "LINEAR":
        step = (config.get("linearConfiguration") or {}).get("stepPercent") or 25.0
        shifts = max(1, int(round(100.0 / float(step))))
    elif strategy == "CANARY":
        shifts = 2  # the canary share, then the rest
    else:
        shifts = 1
    return BEFORE_TRAFFIC + ["PRODUCTION_TRAFFIC_SHIFT"] * shifts + AFTER_TRAFFIC


def _answer(doc):
    return Response(
        200,
        [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))],
        __import__("json").dumps(doc),
    )


class SettledDeployment:
    """The service deployment of a service's creation, SUCCESSFUL (the layer does not simulate
    the first rollout): what `currentServiceDeployment` names until an update replaces it."""

    def __init__(self, key, task_definition, desired, config, now):
        self.key = key
        self.rollout = None
        token = uuid.uuid4().hex[:22]
        self.arn = f"arn:aws:ecs:{key.region}:{key.account}:service-deployment/{key.cluster}/{key.service}/{token}"
        self.service_arn = f"arn:aws:ecs:{key.region}:{key.account}:service/{key.cluster}/{key.service}"
        self.cluster_arn = f"arn:aws:ecs:{key.region}:{key.account}:cluster/{key.cluster}"
        self.task_definition = task_definition
        self.desired = desired
        self.config = copy.deepcopy(config or {})
        self.status = "SUCCESSFUL"
        self.created = self.started = self.finished = self.updated = now

    def revision_arn(self):
        return service_revision_arn(self.key, self.task_definition)

    def follow_requested_rollback(self, now):
        return None

    def stop(self, stop_type, now):
        return aws_error(
            "ecs", 400, "InvalidParameterException",
            f"The service deployment {self.arn} is in status {self.status} and cannot be stopped.",
        )

    def brief(self):
        return {
            "serviceDeploymentArn": self.arn, "serviceArn": self.service_arn, "clusterArn": self.cluster_arn,
            "startedAt": self.started, "createdAt": self.created, "finishedAt": self.finished,
            "targetServiceRevisionArn": self.revision_arn(), "status": self.status,
        }

    def doc(self):
        doc = {
            "serviceDeploymentArn": self.arn, "serviceArn": self.service_arn, "clusterArn": self.cluster_arn,
            "createdAt": self.created, "startedAt": self.started, "finishedAt": self.finished,
            "updatedAt": self.updated, "sourceServiceRevisions": [],
            "targetServiceRevision": {"arn": self.revision_arn(), "requestedTaskCount": self.desired,
                                      "runningTaskCount": self.desired, "pendingTaskCount": 0},
            "status": self.status, "lifecycleStage": None if not self.config.get("strategy") else "CLEAN_UP",
            "deploymentConfiguration": copy.deepcopy(self.config),
        }
        return {k: v for k, v in doc.items() if v is not None}


class ServiceDeployment:
    def __init__(self, rollout, config, now):
        key = rollout.key
        self.key = key
        self.rollout = rollout
        self.config = copy.deepcopy(config or {})
        self.strategy = self.config.get("strategy") or "ROLLING"
        token = uuid.uuid4().hex[:22]
        self.arn = f"arn:aws:ecs:{key.region}:{key.account}:service-deployment/{key.cluster}/{key.service}/{token}"
        self.service_arn = f"arn:aws:ecs:{key.region}:{key.account}:service/{key.cluster}/{key.service}"
        self.cluster_arn = f"arn:aws:ecs:{key.region}:{key.account}:cluster/{key.cluster}"
        self.status = "PENDING"
        self.status_reason = None
        self.stage = None
        self.stages = stages_for(self.strategy, self.config) if self.strategy != "ROLLING" else []
        self.step = 0
        self.created = now
        self.started = None
        self.finished = None
        self.updated = now
        self.rollback = None
        breaker = self.config.get("deploymentCircuitBreaker") or {}
        self.breaker = {"status": "MONITORING" if breaker.get("enable") else "DISABLED",
                        "failureCount": 0, "threshold": 3}
        alarms = (self.config.get("alarms") or {}).get("alarmNames") or []
        self.alarms = {"status": "MONITORING" if alarms else "DISABLED", "alarmNames": list(alarms),
                       "triggeredAlarmNames": []}
        self.hooks = []
        self.stopped_by_request = False

    # -------------------------------------------------------------- progress

    def advance(self, k, now):
        """One poll of the service, after its rollout (the rolling view) moved."""
        self.updated = now
        if self.status in FINAL:
            return
        if self.status == "ROLLBACK_REQUESTED":
            self.status = "ROLLBACK_IN_PROGRESS"
            return
        if self.status == "ROLLBACK_IN_PROGRESS":
            self.status, self.finished = "ROLLBACK_SUCCESSFUL", now
            return
        if self.status == "PENDING":
            self.status, self.started = "IN_PROGRESS", now
        outcome, polls = self.rollout.outcome, self.rollout.polls
        if self.stages:
            self.step += 1
            if self.step <= len(self.stages):
                self.stage = self.stages[self.step - 1]
            if outcome == "hook_fail" and self.stage == "POST_TEST_TRAFFIC_SHIFT":
                hook = HOOK_ARN.format(region=self.rollout.key.region, account=self.rollout.key.account)
                self.hooks = [{"hookId": "check-green", "targetArn": hook, "targetType": "AWS_LAMBDA",
                               "status": "FAILED"}]
                self._roll_back(f"Lifecycle hook {hook} returned FAILED at POST_TEST_TRAFFIC_SHIFT.", now)
            elif outcome == "alarm" and self.stage == "BAKE_TIME":
                self._trip_alarm(now)
            elif outcome in ("complete", "hook_fail", "alarm") and self.step > len(self.stages):
                self.status, self.finished = "SUCCESSFUL", now
        elif outcome in ("complete", "hook_fail") and self.rollout.new.get("rolloutState") == "COMPLETED":
            self.status, self.finished = "SUCCESSFUL", now
        elif outcome == "alarm" and k == polls:
            self._trip_alarm(now)
        if k == polls and outcome == "fail":
            self.breaker.update(status="TRIGGERED", failureCount=max(self.breaker["failureCount"], 3))
            self._roll_back("Service deployment rolled back because the circuit breaker threshold was exceeded.",
                            now, revert=False)  # the rollout's own steps put the previous revision back
        elif k == polls and outcome == "fail_no_rollback":
            # With rollback not configured, ECS stops a deployment it finds failing, where it is.
            self.breaker.update(status="TRIGGERED", failureCount=max(self.breaker["failureCount"], 3))
            self.status, self.finished = "STOPPED", now
            self.status_reason = ("ECS deployment circuit breaker: tasks failed to start. Rollback is not "
                                  "configured: the deployment was stopped.")
        elif k == polls and outcome == "superseded":
            self.status, self.finished = "STOPPED", now
            self.status_reason = "Service deployment stopped: a newer service deployment started."

    def _trip_alarm(self, now):
        names = self.alarms["alarmNames"] or [ALARM]
        self.alarms.update(status="TRIGGERED", alarmNames=names, triggeredAlarmNames=[names[0]])
        self._roll_back(f"Service deployment rolled back because the alarm {names[0]} is in ALARM state.", now)

    def _roll_back(self, reason, now, revert=True, requested=False):
        self.status = "ROLLBACK_REQUESTED" if requested else "ROLLBACK_IN_PROGRESS"
        self.rollback = {
            "reason": reason,
            "startedAt": now,
            "serviceRevisionArn": self.revision_arn(self.rollout.previous["taskDefinition"]),
        }
        if revert:
            self.rollout.revert(reason)

    def follow_requested_rollback(self, now):
        """A look at a rollback the client asked for: it moves on, as time does."""
        if not self.stopped_by_request or self.status not in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"):
            return
        self.updated = now
        if self.status == "ROLLBACK_REQUESTED":
            self.status = "ROLLBACK_IN_PROGRESS"
        else:
            self.status, self.finished = "ROLLBACK_SUCCESSFUL", now
            self.rollout.finish_revert()
        self.rollout.sync_model()

    def stop(self, stop_type, now):
        """StopServiceDeployment. Returns an error Response, or None."""
        if self.status.startswith("ROLLBACK"):
            return None  # already rolling back: ECS carries on
        if self.status in FINAL:
            return aws_error(
                "ecs", 400, "InvalidParameterException",
                f"The service deployment {self.arn} is in status {self.status} and cannot be stopped.",
            )
        self.stopped_by_request = True
        if stop_type == "ROLLBACK":
            self._roll_back("Service deployment rolled back by a StopServiceDeployment request.", now,
                            requested=True)
        else:
            self.status, self.finished = "STOPPED", now
            self.status_reason = "Service deployment stopped by a StopServiceDeployment request."
        return None

    # -------------------------------------------------------------- documents

    def revision_arn(self, task_definition):
        return service_revision_arn(self.rollout.key, task_definition)

    def brief(self):
        return {
            "serviceDeploymentArn": self.arn, "serviceArn": self.service_arn, "clusterArn": self.cluster_arn,
            "startedAt": self.started, "createdAt": self.created, "finishedAt": self.finished,
            "targetServiceRevisionArn": self.revision_arn(self.rollout.new["taskDefinition"]),
            "status": self.status, "statusReason": self.status_reason,
        }

    def doc(self):
        doc = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "createdAt": self.created,
            "startedAt": self.started,
            "finishedAt": self.finished,
            "updatedAt": self.updated,
            "sourceServiceRevisions": [{"arn": self.revision_arn(self.rollout.previous["taskDefinition"]),
                                        "requestedTaskCount": self.rollout.desired,
                                        "runningTaskCount": self.rollout.previous.get("runningCount", 0),
                                        "pendingTaskCount": 0}],
            "targetServiceRevision": {"arn": self.revision_arn(self.rollout.new["taskDefinition"]),
                                      "requestedTaskCount": self.rollout.desired,
                                      "runningTaskCount": self.rollout.new.get("runningCount", 0),
                                      "pendingTaskCount": self.rollout.new.get("pendingCount", 0)},
            "status": self.status,
            "statusReason": self.status_reason,
            "lifecycleStage": self.stage,
            "deploymentConfiguration": copy.deepcopy(self.config),
            "rollback": copy.deepcopy(self.rollback),
            "deploymentCircuitBreaker": dict(self.breaker),
            "alarms": copy.deepcopy(self.alarms),
            "lifecycleHookDetails": copy.deepcopy(self.hooks) or None,
        }
        return {k: v for k, v in doc.items() if v is not None}


def _all(layer):
    from .ecs import state  # ecs.py imports this module: import late

    st = state(layer)
    with st.lock:
        return st, [r.service_deployment for r in st.rollouts.values() if r.service_deployment is not None] + list(
            st.finished_service_deployments
        )


@judge("ecs", "DescribeServiceDeployments")
def _describe(layer, req):
    arns = req.params.get("serviceDeploymentArns") or []
    if not isinstance(arns, list) or not 1 <= len(arns) <= 20:
        return aws_error("ecs", 400, "InvalidParameterException",
                         "serviceDeploymentArns must have between 1 and 20 items.")
    from .ecs import now

    st, known = _all(layer)
    with st.lock:
        by_arn = {sd.arn: sd for sd in known}
        for arn in arns:
            if arn in by_arn:
                by_arn[arn].follow_requested_rollback(now())
                rollout = by_arn[arn].rollout
                if rollout is not None and rollout.script.get("timed") and by_arn[arn].status not in FINAL:
                    rollout.catch_up()  # a rollout on the clock moves between reads of any kind
        found = [by_arn[arn].doc() for arn in arns if arn in by_arn]
    failures = [{"arn": arn, "reason": "MISSING"} for arn in arns if arn not in by_arn]
    return _answer({"serviceDeployments": found, "failures": failures})


@judge("ecs", "ListServiceDeployments")
def _list(layer, req):
    service = (req.params.get("service") or "").rsplit("/", 1)[-1]
    cluster = (req.params.get("cluster") or "default").rsplit("/", 1)[-1]
    statuses = req.params.get("status") or []
    st, known = _all(layer)
    with st.lock:
        briefs = [
            sd.brief() for sd in known
            if sd.key.service == service and sd.key.cluster == cluster
            and (not statuses or sd.status in statuses)
        ]
    briefs.sort(key=lambda b: b["createdAt"] or 0, reverse=True)
    return _answer({"serviceDeployments": briefs})


@judge("ecs", "StopServiceDeployment")
def _stop(layer, req):
    from .ecs import now

    arn = req.params.get("serviceDeploymentArn")
    stop_type = req.params.get("stopType") or "ROLLBACK"
    st, known = _all(layer)
    with st.lock:
        match = next((sd for sd in known if sd.arn == arn), None)
        if match is None:
            return aws_error("ecs", 400, "ServiceDeploymentNotFoundException",
                             f"The service deployment {arn} does not exist.")
        refused = match.stop(stop_type, now())
        if match.rollout is not None:
            match.rollout.sync_model()
    return refused or _answer({"serviceDeploymentArn": arn})
