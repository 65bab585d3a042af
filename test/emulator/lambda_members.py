"""What an UpdateFunctionConfiguration body holds, judged against the Lambda API model.

moto reads the fields it knows from the body and drops the rest without a word, so a client that
sends a field Lambda does not take (a `get-function` output's `Code`, a `FunctionArn` copied from
`get-function-configuration`) would see 200 and "updated" while nothing it meant was applied. This
module:

- **records** on every UpdateFunctionConfiguration, in its request record, `"unknown_members"`:
  the members of the body that the request shape of the Lambda model (botocore's, as moto ships
  it) does not have, at any depth (`Code`, `VpcConfig.VpcId`, `Layers[0].CodeSize`), sorted; `[]`
  when there is none. Tests assert on it that nothing unknown arrived.
- **refuses** such a body, by default, with 400 `SerializationException` naming the members, before
  anything else is judged (deserialisation comes first in a Smithy service). No public source says
  how Lambda answers an unknown member (see README, "Behaviours beyond moto"): modelled strict, so
  that a client sending one fails in tests; `POST /_layer/lambda/unknown-members {"answer":
  "ignore"}` answers as moto does (applied without the unknown members).
- **refuses** a value of the wrong JSON type (an object where the model has a string, as a
  `get-function-configuration` layer object in `Layers`) with 400 `SerializationException`, always,
  and records its path in `"wrong_types"`: a restJson1 service answers a body it cannot read so
  (Smithy's malformed-request protocol tests; floci-io/floci#2537 for Lambda's structures).
- **refuses** what Lambda is reported to refuse in a `VpcConfig`: `Ipv6AllowedForDualStack: true`
  without subnets or security groups ("Ipv6AllowedForDualStack cannot be true without subnet or
  security groups. Please remove Ipv6AllowedForDualStack value from your request and try again.",
  aws-cloudformation/cloudformation-coverage-roadmap#2061), and subnets without security groups or
  the reverse ("SubnetIds and SecurityIds must coexist or be both empty list.",
  appleboy/lambda-action#72), each 400 `InvalidParameterValueException`.
"""

import threading

from .dispatch import control, on_reset
from .protocol import aws_error

ANSWERS = ("refuse", "ignore")
LOCK = threading.Lock()
_state = {"answer": "refuse"}


def _model():
    from moto.core.utils import get_service_model

    return get_service_model("lambda")


JSON_TYPES = {"structure": dict, "list": list, "map": dict, "string": str, "boolean": bool,
              "integer": int, "long": int}


def judged_members(body, shape=None, prefix=""):
    """(unknown, wrong_types): paths of the members of `body` that `shape` (default:
    UpdateFunctionConfigurationRequest) does not have, at any depth, and of values of the wrong
    JSON type (an object where a string goes). Maps' keys are data, not members; null is absent."""
    if shape is None:
        shape = _model().operation_model("UpdateFunctionConfiguration").input_shape
    unknown, wrong = [], []
    expected = JSON_TYPES.get(shape.type_name)
    if body is None or expected is None:
        return unknown, wrong
    if not isinstance(body, expected) or (expected is int and isinstance(body, bool)):
        return unknown, [f"{prefix} ({type(body).__name__}, not {shape.type_name})"]
    parts = []
    if shape.type_name == "structure":
        for key, value in body.items():
            path = f"{prefix}.{key}" if prefix else key
            member = shape.members.get(key)
            if member is None:
                unknown.append(path)
            else:
                parts.append(judged_members(value, member, path))
    elif shape.type_name == "list":
        parts = [judged_members(item, shape.member, f"{prefix}[{index}]") for index, item in enumerate(body)]
    elif shape.type_name == "map":
        parts = [judged_members(value, shape.value, f"{prefix}.{key}") for key, value in body.items()]
    for more_unknown, more_wrong in parts:
        unknown.extend(more_unknown)
        wrong.extend(more_wrong)
    return sorted(unknown), sorted(wrong)


def invalid_parameter(message):
    resp = aws_error("lambda", 400, "InvalidParameterValueException", message)
    resp.reason = "Bad Request"
    return resp


def vpc_refusal(body):
    vpc = body.get("VpcConfig")
    if not isinstance(vpc, dict):
        return None
    subnets, groups = vpc.get("SubnetIds") or [], vpc.get("SecurityGroupIds") or []
    if vpc.get("Ipv6AllowedForDualStack") is True and not (subnets and groups):
        return invalid_parameter("Ipv6AllowedForDualStack cannot be true without subnet or security groups. "
                                 "Please remove Ipv6AllowedForDualStack value from your request and try again.")
    if bool(subnets) != bool(groups):
        return invalid_parameter("SubnetIds and SecurityIds must coexist or be both empty list.")
    return None


def judge_body(layer, req):
    """First of UpdateFunctionConfiguration's judges: records the unknown members, refuses them
    (unless told to ignore them), then the VpcConfig Lambda refuses. -> a refusal or None."""
    body = {k: v for k, v in req.params.items() if k != "FunctionName"}  # FunctionName: the path's
    unknown, wrong = judged_members(body)
    req.notes.setdefault("record", {}).update(unknown_members=unknown, wrong_types=wrong)
    with LOCK:
        answer = _state["answer"]
    problems = ([f"unknown members: {', '.join(unknown)}"] if unknown and answer == "refuse" else []) + (
        [f"values of the wrong type: {', '.join(wrong)}"] if wrong else [])
    if problems:
        resp = aws_error("lambda", 400, "SerializationException",
                         "Could not read the UpdateFunctionConfiguration request: " + "; ".join(problems))
        resp.reason = "Bad Request"
        return resp
    return vpc_refusal(body)


@control("POST", "/_layer/lambda/unknown-members")
def c_unknown_members(layer, body, query):
    from .layer import ControlError  # layer imports this module: import at call time

    answer = body.get("answer", "refuse")
    if answer not in ANSWERS:
        raise ControlError(400, f"answer must be one of {ANSWERS}")
    with LOCK:
        _state["answer"] = answer
    return {"answer": answer}


@on_reset
def _reset(layer):
    with LOCK:
        _state["answer"] = "refuse"
