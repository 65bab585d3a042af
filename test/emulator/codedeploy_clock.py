"""CodeDeploy ECS deployments on the clock (the scenario's `timed`): each lifecycle event takes
its own seconds, the traffic shift waits out the deployment configuration's bake time, and the
moments AWS records are kept, so a benchmark can measure how late a poller notices them.

How long the phases of a real deployment take
(https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-ecs.html):

- `Install` creates the replacement task set and lasts until its tasks run and are healthy in
  the target group: ECS starts the tasks, then the load balancer's health checks pass (an ALB
  target group's defaults, 30 s interval × 5 healthy checks, are up to 150 s:
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
- The events with a hook last as long as its Lambda function takes to call
  PutLifecycleEventHookExecutionStatus (at most an hour); without one, seconds (unverified: the
  console shows them ending a few seconds apart).
- `AllowTraffic` shifts the production listener in the configuration's steps, each step held for
  its interval: ECSCanary10Percent5Minutes holds 10 % for 5 minutes, ECSLinear10PercentEvery1Minutes
  adds 10 % every minute (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html).
- After `AfterAllowTraffic` the original task set is kept for the group's termination wait
  (`terminationWaitTimeInMinutes`, up to 2880:
  https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_BlueInstanceTerminationOption.html),
  then removed, and the deployment reads `Succeeded`.

`timed` fields (all seconds, all optional):

| Field | Default | Meaning |
| --- | --- | --- |
| `start_s` | 1 | CreateDeployment to `InProgress` (BeforeInstall begins). |
| `event_s` | 2 | How long a lifecycle event lasts unless `events` says. |
| `events` | {} | `{event: seconds}`, e.g. `{"Install": 90, "AfterAllowTestTraffic": 20}`. For `AllowTraffic`, the seconds after its last traffic step. |
| `interval_s` | the configuration's | Between traffic steps (canary: one interval at the canary's weight; linear: one per step). |
| `finish_s` | `event_s` | After `AfterAllowTraffic` (or the termination wait) until the original task set is gone and the deployment `Succeeded`. |

`ready_wait` and `termination_wait` given as numbers are seconds in timed mode (ticks otherwise).
The deployment's summary keeps `traffic_moved_at` (when `AfterAllowTraffic` succeeded with all
traffic on the replacement: the pipe's end) and `completed_at` (when it read `Succeeded`,
`Failed` or `Stopped`: where `aws deploy wait deployment-successful` ends).
"""

FIELDS = {"start_s", "event_s", "events", "interval_s", "finish_s"}
DEFAULTS = {"start_s": 1.0, "event_s": 2.0}

# The predefined ECS configurations' interval between traffic steps, in seconds (page above).
INTERVALS = {
    "CodeDeployDefault.ECSCanary10Percent5Minutes": 300.0,
    "CodeDeployDefault.ECSCanary10Percent15Minutes": 900.0,
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": 60.0,
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": 180.0,
}


def read_timed(timed):
    """The scenario's `timed` checked; -> (script value or None, error message or None)."""
    from .codedeploy_deployments import EVENTS  # that module imports this one

    if timed is None:
        return None, None
    if not isinstance(timed, dict) or set(timed) - FIELDS:
        return None, f"timed must be an object with fields among {sorted(FIELDS)}"

    def seconds(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0

    events = timed.get("events") or {}
    if not isinstance(events, dict) or not all(name in EVENTS and seconds(s) for name, s in events.items()):
        return None, f"timed.events must map lifecycle events ({', '.join(EVENTS)}) to seconds >= 0"
    for field in FIELDS - {"events"}:
        if field in timed and not seconds(timed[field]):
            return None, f"timed.{field} must be a number of seconds >= 0"
    checked = {**DEFAULTS, **{k: float(v) for k, v in timed.items() if k != "events"}}
    checked["events"] = {name: float(s) for name, s in events.items()}
    return checked, None


def duration(dep, phase):
    """Seconds from the moment before `phase` (the previous phase, or the deployment's creation)
    until `phase` is due."""
    timed = dep.script["timed"]
    if phase == "start":
        return timed["start_s"]
    if phase == "finish":
        return timed.get("finish_s", timed["event_s"])
    if phase[0] == "shift":
        return timed.get("interval_s", INTERVALS.get(dep.config_name, 0.0))
    if phase[0] == "complete":
        return timed["events"].get(phase[1], timed["event_s"])
    raise ValueError(f"no duration for {phase!r}")


def next_due(dep, at):
    """When the deployment moves next after `at`, or None while it waits for someone
    (ContinueDeployment) or has ended."""
    if dep.wait is not None:
        _, left = dep.wait
        return None if left is None else at + dep.wait_s
    if not dep.phases:
        return None
    return at + duration(dep, dep.phases[0])
