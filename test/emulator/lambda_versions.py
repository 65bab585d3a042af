"""Published versions with a state of their own, as Lambda has them with SnapStart (and, now
and then, without): a new version stays `Pending` while Lambda initialises it and takes its
snapshot, for seconds to minutes, then becomes `Active`, or `Failed` when the initialisation
failed. moto's versions are Active at once. This module adds, per function:

- **Version-state scripts** (`POST /_layer/lambda/version-state`): the next PublishVersion of
  the function that creates a version answers it `Pending` (LastUpdateStatus InProgress) and
  keeps it so for `pending_polls` GetFunction/GetFunctionConfiguration calls *of that version*
  (`Qualifier=<version>`, or an alias pointing at it), then `Active`, or `Failed` with the
  script's reason and code (State and LastUpdateStatus alike). With `pending_s` instead, the
  version is Pending for that many seconds after the PublishVersion, whoever looks (Lambda takes
  the snapshot on its own clock: "seconds to minutes"), and the moment it ends is kept
  (`GET /_layer/lambda/status`, `history[].completes_at`).
- **Aliases** cannot be pointed at a `Failed` version (primary or weighted): 409
  ResourceConflictException, as reported against Lambda (hashicorp/terraform-provider-aws
  #49904). A `Pending` one can: the alias then answers invocations only once it is Active.
- **PublishVersion while another version is Pending** gets 409 "An update is in progress"
  (aws/aws-cli #6718: a SnapStart version being created blocks the next publish).
"""

import base64

from .dispatch import after, control
from .protocol import aws_error
from .lambda_ import (LOCK, STATE_REASON_CODES, Call, _control_error, _function_field, _int, conflict, emu,
                      json_body, matches, now, poll, rewritten, seconds, state, storage, update_in_progress, view,
                      VIEW_KEYS)

OUTCOMES = ("Active", "Failed")
# The layer's own wording: Lambda's exact StateReason for these states is not documented.
PENDING = ("Lambda is initializing the function version and creating its snapshot.", "Creating")
FAILED = ("The function version failed to initialize while Lambda created its snapshot.", "FunctionError")


def versions(call):
    group = storage(call.account, call.region)._functions.get(call.name)
    return group["versions"] if group else []


def version_function(call, qualifier):
    """The version a qualifier names (a version number, or an alias), or None."""
    if qualifier is None:
        return None
    alias = storage(call.account, call.region)._aliases.get(call.arn, {}).get(qualifier)
    number = alias.function_version if alias is not None else qualifier
    for fn in versions(call):
        if str(fn.version) == str(number):
            return fn
    return None


def poll_qualified(call, qualifier):
    """A GetFunction(Configuration) of a version (or alias): one poll of its state."""
    fn = version_function(call, qualifier)
    if fn is not None:
        poll(fn)


def before_publish(call, req):
    """PublishVersion: refused while a version is still being created; else remember which
    versions exist, so the after-handler knows whether Lambda made a new one."""
    existing = versions(call)
    for fn in existing:
        pending = emu(fn)["pending"]
        if pending and pending["state"] == "Pending":
            return update_in_progress(call.arn)
    req.notes["versions_before"] = {str(fn.version) for fn in existing}
    return None


def check_alias_target(call, req):
    """CreateAlias/UpdateAlias pointing at a Failed version (primary or weighted) → 409."""
    wanted = [req.params.get("FunctionVersion")]
    routing = req.params.get("RoutingConfig") or {}
    wanted += list((routing.get("AdditionalVersionWeights") or {}).keys())
    for number in filter(None, wanted):
        fn = version_function(call, str(number))
        pending = emu(fn)["pending"] if fn is not None else None
        if pending and pending["state"] == "Failed":
            return conflict("The operation cannot be performed at this time. The function version "
                            f"{number} is currently in the following state: 'Failed', "
                            f"StateReasonCode: '{pending['code']}'")
    return None


def check_delete(call, req):
    """DeleteFunction of a published version an alias points at (its version, or a weighted
    share) → 409, as Lambda refuses it (moto deletes it and leaves the alias dangling)."""
    qualifier = call.qualifier or req.query.get("Qualifier")
    if not qualifier or qualifier == "$LATEST":
        return None
    aliases = storage(call.account, call.region)._aliases.get(call.arn, {})
    names = []
    for name, alias in aliases.items():
        weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
        if str(alias.function_version) == str(qualifier) or str(qualifier) in {str(v) for v in weights}:
            names.append(name)
    if names:
        return conflict(f"Unable to delete version because the following aliases reference it: [{', '.join(sorted(names))}]")
    return None


@after("lambda", "PublishVersion")
def _after_publish(layer, req, resp):
    call = req.notes.get("lambda")
    if not isinstance(call, Call) or call.fn is None:
        return resp
    doc = json_body(resp)
    number = str(doc.get("Version"))
    if number in req.notes.get("versions_before", set()):
        return resp  # the existing version, answered with its own state
    with LOCK:
        lst = state(layer)
        script = next((s for s in lst.version_scripts if matches(s, call)), None)
        fn = version_function(call, number)
        if script is None or fn is None:
            return resp
        lst.version_scripts.remove(script)
        then = None
        if script["outcome"] == "Failed":
            then = {"state": "Failed", "remaining": None, "reason": script["reason"], "code": script["reason_code"],
                    "version": True}
        timed, started = script.get("pending_s"), now()
        ends_at = None if timed is None else started + timed
        emu(fn)["pending"] = {"state": "Pending", "remaining": script["pending_polls"], "reason": PENDING[0],
                              "code": PENDING[1], "version": True, "then": then, "ends_at": ends_at}
        lst.history.append({"function": call.name, "account": call.account, "action": "PublishVersion",
                            "version": number, "outcome": script["outcome"],
                            "pending_polls": script["pending_polls"], "pending_s": timed, "started_at": started,
                            "completes_at": ends_at})
        fresh = view(emu(fn))
    for key in VIEW_KEYS:
        doc.pop(key, None)
    doc.update(fresh)
    return rewritten(resp, doc)


@control("POST", "/_layer/lambda/version-state")
def c_version_state(layer, body, query):
    name, account = _function_field(body)
    outcome = body.get("outcome", "Active")
    if outcome not in OUTCOMES:
        raise _control_error(400, f"outcome must be one of {OUTCOMES}")
    reason, code = body.get("reason"), body.get("reason_code")
    if outcome == "Failed":
        reason, code = reason or FAILED[0], code or FAILED[1]
        if STATE_REASON_CODES and code not in STATE_REASON_CODES:
            raise _control_error(400, f"reason_code {code!r} is not a StateReasonCode of the Lambda API")
    script = {"function": name, "account": account, "pending_polls": _int(body, "pending_polls", 1),
              "pending_s": seconds(body, "pending_s"), "outcome": outcome, "reason": reason, "reason_code": code}
    with LOCK:
        state(layer).version_scripts.append(script)
    return {"version_state": script}


# ---------------------------------------------------------------------- ListVersionsByFunction

# "ListVersionsByFunction returns a maximum of 50 items in each response, even if you set the
# number higher" (API reference); moto answers every version at once.
VERSIONS_PER_PAGE = 50


@after("lambda", "ListVersionsByFunction")
def _after_list_versions(layer, req, resp):
    """Pages of at most 50 (`MaxItems` 1–10000 asks for fewer), `$LATEST` first, then the
    versions in ascending order, each page but the last with an opaque `NextMarker`."""
    doc = json_body(resp)
    listed = doc.get("Versions") or []
    try:
        start = int(base64.b64decode(req.params["Marker"]).decode()) if req.params.get("Marker") else 0
        asked = int(req.params.get("MaxItems") or VERSIONS_PER_PAGE)
    except (ValueError, TypeError):
        return aws_error("lambda", 400, "InvalidParameterValueException", "Invalid Marker or MaxItems.")
    size = max(1, min(asked, VERSIONS_PER_PAGE))
    answer = {"Versions": listed[start:start + size]}
    if start + size < len(listed):
        answer["NextMarker"] = base64.b64encode(str(start + size).encode()).decode()
    return rewritten(resp, answer)
