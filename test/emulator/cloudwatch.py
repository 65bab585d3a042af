"""CloudWatch alarms as `ALARMS` meets them: moto keeps metric alarms (`put_metric_alarm`) and
their state (`set_alarm_state`, with its StateReason), and answers DescribeAlarms in every
protocol CloudWatch speaks (query, AWS JSON 1.0 with `X-Amz-Target:
GraniteServiceVersion20100801.DescribeAlarms`, CBOR). The pipe calls it in AWS JSON 1.0, signed
for `monitoring` (CloudWatch's signing name).

What moto cannot do by itself is an alarm that goes off while a deployment runs: a scenario
(`POST /_layer/cloudwatch/alarm`) sets one alarm's state when the pipe gets that far:

| Field | Default | Meaning |
| --- | --- | --- |
| `alarm` | required | The alarm's name (it must exist in moto: `put_metric_alarm` first). |
| `state` | `"ALARM"` | The state it goes to: `ALARM`, `OK` or `INSUFFICIENT_DATA`. |
| `reason` | a threshold-crossed reason | Its `StateReason`. |
| `after_update_alias` | none | Flip once this many successful UpdateAlias calls were made since the scenario was set (counted at the next DescribeAlarms). |
| `after_polls` | none | Flip at the pipe's DescribeAlarms call number N+1 (the first N see the old state). |

Every DescribeAlarms is recorded with `"alarm_states"`: each named alarm's state as answered
(`"missing"` for a name moto does not know). `DELETE /_layer/cloudwatch/alarm` (or a reset)
drops the scenarios.
"""

import json
import threading

from .dispatch import control, judge, on_reset

LOCK = threading.RLock()
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
DEFAULT_REASON = "Threshold Crossed: 1 datapoint [5.0 (07/12/26 12:00:00)] was greater than the threshold (1.0)."


@on_reset
def _reset(layer):
    with LOCK:
        layer.alarm_flips = []
        layer.alarm_polls = 0


def _control_error(message):
    from .layer import ControlError  # layer imports this module: import at call time

    return ControlError(400, message)


@control("POST", "/_layer/cloudwatch/alarm")
def c_alarm(layer, body, query):
    """Flip `alarm` to `state` after `after_update_alias` UpdateAlias calls or `after_polls`
    DescribeAlarms calls of the pipe."""
    unknown = set(body) - {"alarm", "state", "reason", "after_update_alias", "after_polls"}
    if unknown:
        raise _control_error(f"unknown fields {sorted(unknown)}")
    if not body.get("alarm"):
        raise _control_error("alarm is required")
    if body.get("state", "ALARM") not in STATES:
        raise _control_error(f"state must be one of {', '.join(STATES)}")
    if (body.get("after_update_alias") is None) == (body.get("after_polls") is None):
        raise _control_error("give exactly one of after_update_alias and after_polls")
    with LOCK:
        layer.alarm_flips.append({
            "alarm": body["alarm"],
            "state": body.get("state", "ALARM"),
            "reason": body.get("reason") or DEFAULT_REASON,
            "after_update_alias": body.get("after_update_alias"),
            "after_polls": body.get("after_polls"),
            # Counted from now: earlier deployments in the same session (a try-out) do not count.
            "update_alias_before": _update_alias_calls(layer),
            "polls_before": layer.alarm_polls,
        })
    return {"flips": len(layer.alarm_flips)}


@control("DELETE", "/_layer/cloudwatch/alarm")
def c_alarm_delete(layer, body, query):
    with LOCK:
        layer.alarm_flips = []
    return {}


def _backends():
    from moto.cloudwatch.models import cloudwatch_backends

    for account in list(cloudwatch_backends.keys()):
        for region in list(cloudwatch_backends[account].keys()):
            yield cloudwatch_backends[account][region]


def set_state(name, state, reason):
    """Set `name`'s state wherever moto keeps an alarm of that name; False if none."""
    found = False
    for backend in _backends():
        if name in backend.alarms:
            backend.set_alarm_state(name, reason, json.dumps({"emulator": "scenario"}), state)
            found = True
    return found


def _state_of(name, region):
    for backend in _backends():
        if backend.region_name == region and name in backend.alarms:
            return backend.alarms[name].state_value
    return "missing"


def _update_alias_calls(layer):
    return sum(
        1 for record in layer.records
        if record["service"] == "lambda" and record["action"] == "UpdateAlias"
        and record["status"] is not None and 200 <= record["status"] < 300
    )


@judge("cloudwatch", "DescribeAlarms")
def j_describe_alarms(layer, req):
    """Apply the flips whose moment has come, then let moto answer."""
    with LOCK:
        layer.alarm_polls += 1
        for flip in list(layer.alarm_flips):
            updates = _update_alias_calls(layer) - flip["update_alias_before"]
            polls = layer.alarm_polls - flip["polls_before"]
            due = (flip["after_update_alias"] is not None and updates >= flip["after_update_alias"]) or (
                flip["after_polls"] is not None and polls > flip["after_polls"]
            )
            if due:
                set_state(flip["alarm"], flip["state"], flip["reason"])
                layer.alarm_flips.remove(flip)
        names = req.params.get("AlarmNames") or [
            value for key, value in sorted(req.params.items()) if key.startswith("AlarmNames.member.")
        ]
        req.notes["record"] = {
            "alarm_states": {name: _state_of(name, req.region or "us-east-1") for name in names}
        }
    return None
