"""One CodeDeploy deployment of an ECS service, and the service's task sets (codedeploy.py
drives them; see its docstring for what is modelled and the sources).

A deployment moves one *tick* at a time: a poll of it (GetDeployment, BatchGetDeployments naming
it, or a read of its target, BatchGetDeploymentTargets or GetDeploymentTarget, not right after a
poll of the deployment: see `look`) by default,
`polls_per_event` polls per tick, or one tick per `seconds_per_event` of wall clock when the
scenario says so; or on the clock, each phase taking its own seconds (`timed`,
codedeploy_clock.py). Each tick finishes one lifecycle event and starts the next:

    start -> BeforeInstall -> Install (green task set created, then running) -> AfterInstall
    -> AllowTestTraffic -> AfterAllowTestTraffic -> [Ready: wait for ContinueDeployment]
    -> BeforeAllowTraffic -> AllowTraffic (one tick per traffic step of the deployment config;
       at its end green is PRIMARY and the service runs the new task definition)
    -> AfterAllowTraffic -> [termination wait: blue kept, still InProgress] -> blue terminated,
       Succeeded

A rollback deployment (creator codeDeployRollback) puts the traffic back on blue and drops green.

A StopDeployment is either done at once (answer `Succeeded`) or not yet (answer `Pending`, "some
deployment lifecycle events might still be running"; later stop calls answer `Succeeded` once it
is done): https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-ecs.html#deployment-stop-fail-ecs.
Here it holds where it is, still in its status, for `stop_polls` polls (default 1; 0: done at
once), then reads `Stopped`, with its rollback deployment in `rollbackInfo` from that same look.
Peers poll for it: ecspresso
retries GetDeployment after StopDeployment until the status is Stopped *and* rollbackInfo names
the rollback deployment (kayac/ecspresso#673, "Sometimes failed to wait until the deployment was
completed"; #679, "After StopDeployment, CodeDeploy creates a new rollback deployment"). How many
polls real AWS takes: unverified.
"""

import copy
import random
import string

from . import codedeploy_clock

EVENTS = ["BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
          "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]
ROLLBACK_EVENTS = ["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]
# The ALARM_ACTIVE error's message, naming the alarm (the code: API_ErrorInformation.html; the
# wording: unverified).
ALARM_MESSAGE = ("One or more alarms have been activated according to the Amazon CloudWatch metrics you "
                 "selected, and the affected deployments have been stopped. Activated alarms: <{alarm}>")
READY_TIMEOUT = ("The deployment was stopped because traffic rerouting was not started (ContinueDeployment) "
                 "before the end of the wait period.")
ACTIVE = ("Created", "Queued", "InProgress", "Baking", "Ready")
FINAL = ("Succeeded", "Failed", "Stopped")

# Traffic steps (green's weight after each) of the predefined ECS deployment configurations:
# https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html
TRAFFIC_STEPS = {
    "CodeDeployDefault.ECSAllAtOnce": [100.0],
    "CodeDeployDefault.ECSCanary10Percent5Minutes": [10.0, 100.0],
    "CodeDeployDefault.ECSCanary10Percent15Minutes": [10.0, 100.0],
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": [float(p) for p in range(10, 101, 10)],
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": [float(p) for p in range(10, 101, 10)],
}


def new_deployment_id():
    """`d-` and nine upper-case letters and digits, as CodeDeploy names deployments."""
    return "d-" + "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(9))


def target_group_name(arn):
    """`arn:...:targetgroup/<name>/<id>` -> name."""
    parts = (arn or "").split(":")[-1].split("/")
    return parts[1] if len(parts) >= 3 else (arn or "")


class TaskSet:
    """An ECS task set of a CODE_DEPLOY service: what DescribeServices shows in `taskSets` and
    CodeDeploy in `taskSetsInfo`."""

    def __init__(self, key, task_definition, desired, label, target_group_arn, now, running=None):
        self.key = key
        self.id = f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"
        self.arn = f"arn:aws:ecs:{key.region}:{key.account}:task-set/{key.cluster}/{key.service}/{self.id}"
        self.task_definition = task_definition
        self.desired = desired
        self.running = desired if running is None else running
        self.label = label
        self.target_group_arn = target_group_arn
        self.status = "PRIMARY"
        self.weight = 100.0
        self.stability = "STEADY_STATE" if self.running >= desired else "STABILIZING"
        self.created = self.updated = self.stability_at = now

    def set(self, now, **changes):
        for name, value in changes.items():
            setattr(self, name, value)
        stability = "STEADY_STATE" if self.running >= self.desired else "STABILIZING"
        if stability != self.stability:
            self.stability, self.stability_at = stability, now
        self.updated = now

    def ecs_doc(self, svc_doc):
        key = self.key
        lbs = copy.deepcopy(svc_doc.get("loadBalancers") or [])
        for lb in lbs:
            lb["targetGroupArn"] = self.target_group_arn or lb.get("targetGroupArn")
        doc = {
            "id": self.id, "taskSetArn": self.arn,
            "serviceArn": svc_doc.get("serviceArn"),
            "clusterArn": svc_doc.get("clusterArn") or f"arn:aws:ecs:{key.region}:{key.account}:cluster/{key.cluster}",
            "startedBy": "CodeDeploy", "status": self.status, "taskDefinition": self.task_definition,
            "computedDesiredCount": self.desired, "pendingCount": max(self.desired - self.running, 0),
            "runningCount": self.running, "createdAt": self.created, "updatedAt": self.updated,
            "launchType": svc_doc.get("launchType"), "platformVersion": svc_doc.get("platformVersion"),
            "networkConfiguration": svc_doc.get("networkConfiguration"), "loadBalancers": lbs,
            "serviceRegistries": svc_doc.get("serviceRegistries") or [],
            "scale": {"value": 100.0, "unit": "PERCENT"},
            "stabilityStatus": self.stability, "stabilityStatusAt": self.stability_at,
        }
        return {k: v for k, v in doc.items() if v is not None}

    def codedeploy_doc(self):
        # `identifer` (sic) is the field's real name in CodeDeploy's API:
        # https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTaskSet.html
        return {
            "identifer": self.id, "desiredCount": self.desired,
            "pendingCount": max(self.desired - self.running, 0), "runningCount": self.running,
            "status": self.status, "trafficWeight": self.weight,
            "targetGroup": {"name": target_group_name(self.target_group_arn)},
            "taskSetLabel": self.label,
        }


class Deployment:
    """One ECS deployment (or rollback deployment) and its one target, the service."""

    def __init__(self, st, id, app, group, key, service_sets, new_td, config_name, script, now,
                 appspec=None, failure=None, rollback_of=None):
        self.st = st  # codedeploy.CodeDeployState (for task sets and rollbacks)
        self.id = id
        self.app, self.group = app, group  # names
        self.key = key
        self.sets = service_sets  # the service's task set list, shared with the state
        self.new_td = new_td
        self.config_name = config_name
        self.script = script
        self.appspec = appspec
        self.initial_failure = failure
        self.rollback_of = rollback_of
        self.events = [{"lifecycleEventName": name, "status": "Pending"}
                       for name in (ROLLBACK_EVENTS if rollback_of else EVENTS)]
        self.status = "Created"
        self.target_status = "Pending"
        self.error = None
        self.rollback_info = None
        self.termination_wait_started = False
        self.created, self.started, self.completed, self.updated = now, None, None, now
        self.polls = 0
        self.polled_since_target = False
        self.ticks = 0
        self.clock_base = (now, 0)
        self.wait = None  # ("READY_WAIT" | "TERMINATION_WAIT", ticks left or None for ever)
        self.wait_s = None  # timed: the wait's seconds (its one tick is due then)
        self.traffic_moved_at = None  # AfterAllowTraffic succeeded, all traffic on the replacement
        self.stopping = None  # a StopDeployment not done yet: {"polls": left, "roll_back": bool}
        self.stop_requested = False  # a StopDeployment was accepted (a later one answers Succeeded)
        self.blue = next((s for s in self.sets if s.status == "PRIMARY"), None)
        self.green = None
        self.old_td = self.blue.task_definition if self.blue else None
        steps = TRAFFIC_STEPS.get(config_name, [100.0])
        self.phases = ["start"] + self._event_phases(steps)
        # Timed: when the next phase is due (None: waiting for someone, or over).
        self.due = now + codedeploy_clock.duration(self, "start") if script.get("timed") else None

    def _event_phases(self, steps):
        phases = []
        names = [e["lifecycleEventName"] for e in self.events]
        for name in names:
            if name == "AllowTraffic" and not self.rollback_of:
                phases += [("shift", w) for w in steps[1:]]
            phases.append(("complete", name))
            if name == "AfterAllowTestTraffic" and self.script.get("ready_wait"):
                phases.append(("wait", "READY_WAIT", self.script["ready_wait"]))
            if name == "AfterAllowTraffic" and self.script.get("termination_wait") and not self.rollback_of:
                phases.append(("wait", "TERMINATION_WAIT", self.script["termination_wait"]))
        return phases + ["finish"]

    # ------------------------------------------------------------------ time

    def look(self, now, poll, target=False):
        """A look at the deployment (poll: it counts as a poll) moves it to where time has got.
        A read of its `target` is a poll unless the deployment was polled since the last one:
        a follower that reads the deployment and then its target looks once, and one that reads
        only the target (it holds the end: AfterAllowTraffic) looks every time."""
        if target:
            poll, self.polled_since_target = poll and not self.polled_since_target, False
        elif poll:
            self.polled_since_target = True
        if poll:
            self.polls += 1
        if self.stopping is not None:
            # Held where it is until the stop is done (no lifecycle progress meanwhile).
            if poll:
                self.stopping["polls"] -= 1
            if self.stopping["polls"] < 0:
                self.stop(now, self.stopping["roll_back"])
            return
        if self.script.get("timed"):
            # Each phase at the moment it was due, so its times (startTime, endTime, completeTime)
            # are AWS's, not the moment someone looked.
            while self.due is not None and self.due <= now and self.status not in FINAL:
                at, self.due = self.due, None
                self.ticks += 1
                self.tick(at)
                if self.due is None:
                    self.due = codedeploy_clock.next_due(self, at)
            return
        seconds = self.script.get("seconds_per_event")
        if seconds:
            base_time, base_ticks = self.clock_base
            due = base_ticks + int((now - base_time) / float(seconds))
        else:
            due = self.polls // int(self.script.get("polls_per_event") or 1)
        while self.ticks < due and self.status not in FINAL:
            self.ticks += 1
            self.tick(now)

    def tick(self, now):
        self.updated = now
        if self.wait is not None:
            kind, left = self.wait
            if left is None:
                return  # until ContinueDeployment
            if left > 1:
                self.wait = (kind, left - 1)
            elif kind == "READY_WAIT":
                # STOP_DEPLOYMENT: "If traffic rerouting is not started before the end of the
                # specified wait period, the deployment status is changed to Stopped."
                self.stop(now, False, code="TIMEOUT", message=READY_TIMEOUT)
            else:
                self.release_wait(now)  # Blue's termination wait is over
            return
        if not self.phases:
            return
        phase = self.phases.pop(0)
        if phase == "start":
            self._start(now)
        elif phase == "finish":
            self._finish(now)
        elif phase[0] == "shift":
            self._shift(phase[1], now)
        elif phase[0] == "complete":
            self._complete(phase[1], now)

    def release_wait(self, now):
        """The wait ends (ContinueDeployment, or its ticks ran out): carry on at once."""
        kind, _ = self.wait
        self.wait = None
        self.clock_base = (now, self.ticks)
        if kind == "READY_WAIT":
            self.status = self.target_status = "InProgress"
            self._start_next(now)
        elif self.script.get("timed"):
            pass  # the original task set is removed in its own time (the "finish" phase's)
        else:
            self.phases = [p for p in self.phases if p != "finish"]
            self._finish(now)
        if self.script.get("timed"):
            self.due = codedeploy_clock.next_due(self, now)

    # ------------------------------------------------------------------ steps

    def _event(self, name):
        return next(e for e in self.events if e["lifecycleEventName"] == name)

    def _start(self, now):
        self.status, self.started, self.target_status = "InProgress", now, "InProgress"
        if self.initial_failure:
            code, message = self.initial_failure
            for e in self.events:
                e["status"] = "Skipped"
            self._end("Failed", now, code, message)
            return
        self._begin(self.events[0]["lifecycleEventName"], now)

    def _begin(self, name, now):
        ev = self._event(name)
        ev.update(status="InProgress", startTime=now)
        if self.rollback_of:
            if name == "AllowTraffic":
                self._traffic_back(now)
            return
        if name == "Install":
            tg = self._other_target_group()
            self.green = TaskSet(self.key, self.new_td, self.blue.desired if self.blue else 1, "Green", tg, now,
                                 running=0)
            self.green.set(now, status="ACTIVE", weight=0.0)
            if self.blue:
                self.blue.label = "Blue"
            self.sets.append(self.green)
        elif name == "AllowTraffic":
            steps = TRAFFIC_STEPS.get(self.config_name, [100.0])
            self._weights(steps[0], now)

    def _complete(self, name, now):
        ev = self._event(name)
        at_this = self.script.get("fail_at") == name and not self.rollback_of
        if at_this and self.script.get("outcome") == "alarm":
            ev.update(status="Succeeded", endTime=now)
            alarm = self.script.get("alarm") or "web-5xx-errors"
            error = self.script.get("error") or {}
            self.stop(now, self.st.rolls_back_on(self, "DEPLOYMENT_STOP_ON_ALARM"),
                      code=error.get("code") or "ALARM_ACTIVE",
                      message=error.get("message") or ALARM_MESSAGE.format(alarm=alarm), why="alarm")
            return
        if at_this and self.script.get("outcome") == "fail":
            diag = {"errorCode": "ScriptFailed", "scriptName": self.appspec_hook(name) or "",
                    "message": f"The lifecycle event {name} failed.", "logTail": ""}
            diag.update(self.script.get("diagnostics") or {})
            ev.update(status="Failed", endTime=now, diagnostics=diag)
            for other in self.events:
                if other["status"] in ("Pending", "InProgress"):
                    other["status"] = "Skipped"
            error = self.script.get("error") or {}
            self._end("Failed", now, error.get("code") or "HOOK_EXECUTION_FAILURE",
                      error.get("message") or f"The deployment failed because a lifecycle event ({name}) failed.")
            return
        ev.update(status="Succeeded", endTime=now)
        if name == "AfterAllowTraffic":
            self.traffic_moved_at = now  # AllowTraffic's end put all traffic on the replacement
        if name == "Install" and self.green is not None:
            self.green.set(now, running=self.green.desired)
        if name == "AllowTraffic" and not self.rollback_of:
            self._weights(100.0, now)
            self.green.set(now, status="PRIMARY")
            if self.blue:
                self.blue.set(now, status="ACTIVE")
            self.st.set_service_task_definition(self.key, self.new_td)
        if self.phases and self.phases[0][0] == "wait":
            _, kind, ticks = self.phases.pop(0)
            if self.script.get("timed"):  # a number is seconds: one tick, due then
                self.wait, self.wait_s = (kind, None if ticks is True else 1), float(ticks)
            else:
                self.wait = (kind, None if ticks is True else int(ticks))
            if kind == "READY_WAIT":
                self.status = self.target_status = "Ready"
            else:
                self.termination_wait_started = True
            return
        self._start_next(now)

    def _start_next(self, now):
        pending = [e for e in self.events if e["status"] == "Pending"]
        if pending:
            self._begin(pending[0]["lifecycleEventName"], now)

    def _shift(self, weight, now):
        self._weights(weight, now)

    def _weights(self, green_weight, now):
        if self.green is not None:
            self.green.set(now, weight=float(green_weight))
        if self.blue is not None:
            self.blue.set(now, weight=100.0 - float(green_weight))

    def _traffic_back(self, now):
        """A rollback's AllowTraffic: all traffic to the original task set, which is PRIMARY again."""
        original, replacement = self.rollback_of.blue, self.rollback_of.green
        if original is not None:
            original.set(now, weight=100.0, status="PRIMARY")
        if replacement is not None:
            replacement.set(now, weight=0.0, status="ACTIVE")
        if self.rollback_of.old_td:
            self.st.set_service_task_definition(self.key, self.rollback_of.old_td)

    def _finish(self, now):
        if self.rollback_of:
            self._drop(self.rollback_of.green)
        else:
            self._drop(self.blue)
        self.termination_wait_started = False
        self._end("Succeeded", now)

    def _drop(self, task_set):
        if task_set is not None and task_set in self.sets:
            self.sets.remove(task_set)

    def _end(self, status, now, code=None, message=None):
        self.status, self.completed = status, now
        self.target_status = status  # Succeeded or Failed
        self.phases = []
        self.wait = None
        if code:
            self.error = {"code": code, "message": message}
        if status == "Failed" and self.st.rolls_back_on(self, "DEPLOYMENT_FAILURE"):
            self.st.roll_back(self, now, "failure")

    def request_stop(self, now, roll_back, polls):
        """StopDeployment: done after `polls` more polls (0: at once); -> whether it is done."""
        if self.stopping is not None:
            return False
        self.stop_requested = True
        self.wait = None  # a Ready or termination wait is over: the deployment is being stopped
        if polls <= 0:
            self.stop(now, roll_back)
            return True
        self.stopping = {"polls": int(polls), "roll_back": bool(roll_back)}
        return False

    def stop(self, now, roll_back, code="MANUAL_STOP", message="The deployment was stopped by a StopDeployment request.",
             why="stop"):
        for e in self.events:
            if e["status"] in ("Pending", "InProgress"):
                e["status"] = "Skipped"
        # A target has no Stopped status (TargetStatus: Pending, InProgress, Succeeded, Failed,
        # Skipped, Unknown, Ready): Failed, as the deployment overview counts it (unverified).
        self.status, self.target_status = "Stopped", "Failed"
        self.completed, self.updated = now, now
        self.phases, self.wait, self.stopping = [], None, None
        self.error = {"code": code, "message": message}
        if roll_back:
            self.st.roll_back(self, now, why)

    def appspec_hook(self, event):
        return ((self.appspec or {}).get("hooks") or {}).get(event)

    def _other_target_group(self):
        pair = self.st.target_group_pair(self)
        current = self.blue.target_group_arn if self.blue else None
        others = [tg for tg in pair if tg != current]
        return others[0] if others else current

    # ------------------------------------------------------------------ documents

    def overview(self):
        counts = {"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0}
        state = {"Created": "Pending", "Stopped": "Failed"}.get(self.status, self.status)
        if self.status == "Ready":
            state = "Ready"
        counts[state if state in counts else "InProgress"] = 1
        return counts

    def info(self):
        """What the layer puts over moto's deploymentInfo."""
        doc = {
            "status": self.status, "createTime": self.created, "startTime": self.started,
            "completeTime": self.completed, "deploymentOverview": self.overview(),
            "errorInformation": copy.deepcopy(self.error), "rollbackInfo": copy.deepcopy(self.rollback_info),
            "instanceTerminationWaitTimeStarted": self.termination_wait_started,
            "deploymentConfigName": self.config_name, "computePlatform": "ECS",
            "creator": "codeDeployRollback" if self.rollback_of else "user",
        }
        return doc

    def target_id(self):
        return f"{self.key.cluster}:{self.key.service}"

    def target(self):
        key = self.key
        sets = [s for s in self.sets if s in (self.blue, self.green)] if not self.rollback_of else [
            s for s in self.sets if s in (self.rollback_of.blue, self.rollback_of.green)]
        return {
            "deploymentTargetType": "ECSTarget",
            "ecsTarget": {
                "deploymentId": self.id, "targetId": self.target_id(),
                "targetArn": f"arn:aws:ecs:{key.region}:{key.account}:service/{key.cluster}/{key.service}",
                "lastUpdatedAt": self.updated, "lifecycleEvents": copy.deepcopy(self.events),
                "status": self.target_status, "taskSetsInfo": [s.codedeploy_doc() for s in sets],
            },
        }

    def summary(self):
        """For the control API and tests."""
        return {
            "id": self.id, "application": self.app, "deployment_group": self.group, "status": self.status,
            "service": self.target_id(), "task_definition": self.new_td, "previous_task_definition": self.old_td,
            "events": {e["lifecycleEventName"]: e["status"] for e in self.events},
            "error": self.error, "rollback": self.rollback_info, "polls": self.polls, "wait": self.wait and self.wait[0],
            "stopping": copy.deepcopy(self.stopping),
            "appspec": copy.deepcopy(self.appspec and {k: v for k, v in self.appspec.items() if k != "document"}),
            "rollback_of": self.rollback_of.id if self.rollback_of else None,
            "created_at": self.created, "traffic_moved_at": self.traffic_moved_at, "completed_at": self.completed,
            "config": self.config_name,
        }
