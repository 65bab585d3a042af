"""Lambda as the pipe's lambda-deploy action meets it: updates that take time and can fail,
conflicts while they run, RevisionId/CodeSha256 preconditions, versions and aliases.

moto keeps functions, versions and aliases, but every function is Active and Successful at
once, nothing ever conflicts, there is no RevisionId on functions and PublishVersion
preconditions are ignored. This module adds, per function ($LATEST of account/region/name):

- **RevisionId** on every configuration document; it changes on every successful update,
  again when a scripted update or a Pending state ends, and per published version. Checked
  (412 PreconditionFailedException) by UpdateFunctionCode, UpdateFunctionConfiguration,
  PublishVersion and UpdateAlias; PublishVersion also checks CodeSha256 (400).
- **Scripted updates** (`POST /_layer/lambda/script`): the next matching UpdateFunctionCode /
  UpdateFunctionConfiguration answers LastUpdateStatus InProgress, stays InProgress for
  `in_progress_polls` GetFunction/GetFunctionConfiguration calls, then Successful or Failed
  (with reason and reason code). While it runs, updates and PublishVersion get 409
  ResourceConflictException as from Lambda.
- **Function states** (`POST /_layer/lambda/state`): Pending (or Inactive/Failed) for N polls.
- **On the clock** instead of polls: an update script's `in_progress_s` (seconds after the
  UpdateFunctionCode/UpdateFunctionConfiguration that takes it) and a state's `seconds` (after the
  control call) end when their time is up, whoever looks and however often, as Lambda's own do;
  every read of the function catches up with the clock first. The moment an update completes is
  kept in `GET /_layer/lambda/status` (`history[].completes_at`, epoch seconds), which is how the
  benchmark measures a poller's detection delay. Realistic durations: about 1 s for a zip
  function outside a VPC, about 25 s for an image or a function in a VPC (measured by the AWS CDK
  team when Lambda states reached every function: aws/aws-cdk#18536), almost two minutes for a
  4 GB image (fujiwara/lambroll#313); https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
  (LastUpdateStatus InProgress while an update runs).
- **Scripted conflicts** (`POST /_layer/lambda/conflicts`): the next N matching mutating calls
  of a function get ResourceConflictException whatever its state.
- **PublishVersion** returns the last version when nothing updated the function since it was
  published (moto published a new one on the second call); after any update, even one that set
  the same code or configuration, it publishes a new version, as Lambda does (moto#8379).
- **Function names** as name, ARN or partial ARN (`123456789012:function:name`) everywhere.
- **Request records** never hold a package (packages.py): `ZipFile` (Lambda) and S3 PutObject/UploadPart
  bodies are recorded as `{"size", "sha256_b64"}`.

moto quirks patched here: see README.md, "Lambda scenarios".
"""

import base64
import copy
import hashlib
import json
import re
import threading
import time
import uuid
from urllib.parse import quote

from moto.awslambda.models import ImageConfig, LambdaFunction, LambdaStorage, lambda_backends
from moto.iam.models import get_account_id_from
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

from . import lambda_images, lambda_members
from .dispatch import after, control, judge, on_reset
from .ecs import caller_arn
from .packages import unzipped_size
from .protocol import aws_error

DEFAULT_REGION = "us-east-1"
LOCK = threading.RLock()

OUTCOMES = ("Successful", "Failed")
APPLIES_TO = {"code": {"UpdateFunctionCode"}, "configuration": {"UpdateFunctionConfiguration"},
              "any": {"UpdateFunctionCode", "UpdateFunctionConfiguration"}}
STATES = ("Pending", "Inactive", "Failed")
UPDATES = ("UpdateFunctionCode", "UpdateFunctionConfiguration")
# What a scripted conflict with action "*" applies to: calls that change the function.
MUTATING = {"UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion",
            "CreateAlias", "UpdateAlias", "DeleteAlias", "DeleteFunction"}
# Operations whose path carries {FunctionName}: name, ARN or partial ARN is resolved here.
FUNCTION_ACTIONS = ("GetFunction", "GetFunctionConfiguration", "UpdateFunctionCode",
                    "UpdateFunctionConfiguration", "PublishVersion", "GetAlias", "CreateAlias",
                    "UpdateAlias", "DeleteAlias", "ListAliases", "ListVersionsByFunction",
                    "DeleteFunction")

VIEW_KEYS = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus",
             "LastUpdateStatusReason", "LastUpdateStatusReasonCode")
# What Lambda says while a function is created and while an update runs (it says "created"
# for updates too).
IN_PROGRESS_REASON = "The function is being created."
IN_PROGRESS_CODE = "Creating"
STATE_DEFAULTS = {
    "Pending": ("The function is being created.", "Creating"),
    "Inactive": ("The function is inactive and its VPC connection is no longer available. "
                 "Invoke or update the function to reactivate it.", "Idle"),
    "Failed": ("The function could not be created.", "InternalError"),
}
FAILED_DEFAULT = ("The function update failed.", "InternalError")

ARN_RE = re.compile(r"^arn:aws[\w-]*:lambda:([a-z0-9-]+):(\d{12}):function:([\w-]+)(?::([\w$-]+))?$")
PARTIAL_ARN_RE = re.compile(r"^(\d{12}):function:([\w-]+)(?::([\w$-]+))?$")
PATH_RE = re.compile(r"^(/[^/]+/functions/)([^/]+)(.*)$")


def _enum(shape):
    try:
        from moto.core.utils import get_service_model

        return set(get_service_model("lambda").shape_for(shape).enum)
    except Exception:
        return None


REASON_CODES = _enum("LastUpdateStatusReasonCode")
STATE_REASON_CODES = _enum("StateReasonCode")


# ====================================================================== per-function state
#
# Kept on moto's LambdaFunction objects (so moto's reset and DeleteFunction drop it too):
#   revision_id, pending {state, remaining (None = for ever), reason, code},
#   update {action, remaining, outcome, reason, code}, last {reason, code} (a Failed outcome),
#   extra_config (UpdateFunctionConfiguration fields moto drops), fingerprint (versions).


def new_revision():
    return str(uuid.uuid4())


def now():
    return time.time()


def emu(fn):
    """The layer's state of a function (or version), caught up with the clock: every read of it
    goes through here, so a timed state or update has ended for every reader alike."""
    st = fn.__dict__.get("_emu")
    if st is None:
        st = fn.__dict__["_emu"] = {"revision_id": new_revision(), "pending": None, "update": None,
                                    "last": None, "extra_config": {}, "fingerprint": None}
    with LOCK:
        settle(st)
    return st


def settle(st):
    """A state or update on the clock (`ends_at`) whose time is up ends, as poll() ends one
    that has had its polls."""
    t = now()
    pending = st["pending"]
    if pending and pending.get("ends_at") is not None and t >= pending["ends_at"]:
        _end_pending(st, pending)
    update = st["update"]
    if update and update.get("ends_at") is not None and t >= update["ends_at"]:
        _end_update(st, update)


def _end_pending(st, pending):
    """A state with `then` becomes that state when it ends (a version Pending, then Failed);
    otherwise the function is Active again."""
    st["pending"] = pending.get("then")
    if not pending.get("version"):
        st["revision_id"] = new_revision()


def _end_update(st, update):
    st["update"] = None
    st["last"] = None if update["outcome"] == "Successful" else {"reason": update["reason"], "code": update["code"]}
    st["revision_id"] = new_revision()


def view(st):
    v = {}
    pending, update, last = st["pending"], st["update"], st["last"]
    if pending:
        v.update(State=pending["state"], StateReason=pending["reason"], StateReasonCode=pending["code"])
        if pending["state"] == "Pending":
            v.update(LastUpdateStatus="InProgress", LastUpdateStatusReason=IN_PROGRESS_REASON,
                     LastUpdateStatusReasonCode=IN_PROGRESS_CODE)
        elif pending["state"] == "Failed" and pending.get("version"):
            # A version that failed to initialise: its LastUpdateStatus fails with it.
            v.update(LastUpdateStatus="Failed", LastUpdateStatusReason=pending["reason"],
                     LastUpdateStatusReasonCode=pending["code"])
    if update:
        v.update(LastUpdateStatus="InProgress", LastUpdateStatusReason=IN_PROGRESS_REASON,
                 LastUpdateStatusReasonCode=IN_PROGRESS_CODE)
    elif last and "LastUpdateStatus" not in v:
        v.update(LastUpdateStatus="Failed", LastUpdateStatusReason=last["reason"],
                 LastUpdateStatusReasonCode=last["code"])
    return v


def poll(fn):
    """One GetFunction/GetFunctionConfiguration of $LATEST (or of a version, for its own
    state): a scripted state/update by polls advances (one on the clock only by time)."""
    with LOCK:
        st = emu(fn)
        pending = st["pending"]
        if pending and pending.get("ends_at") is None and pending["remaining"] is not None:
            if pending["remaining"] > 0:
                pending["remaining"] -= 1
            else:
                _end_pending(st, pending)
        update = st["update"]
        if update and update.get("ends_at") is None:
            if update["remaining"] > 0:
                update["remaining"] -= 1
            else:
                _end_update(st, update)


# ====================================================================== moto patches

_moto_get_configuration = LambdaFunction.get_configuration
_moto_update_configuration = LambdaFunction.update_configuration
_moto_set_function_code = LambdaFunction._set_function_code

# UpdateFunctionConfiguration fields moto accepts and drops: answered back as sent.
OVERLAY_FIELDS = ("DeadLetterConfig", "LoggingConfig", "FileSystemConfigs")


def _get_configuration(self, on_create=False):
    """moto's document plus RevisionId, the scripted state/update view and the fields of
    UpdateFunctionConfiguration moto does not keep."""
    config = _moto_get_configuration(self, on_create)
    st = emu(self)
    config.update(copy.deepcopy(st["extra_config"]))
    config["RevisionId"] = st["revision_id"]
    config.update(view(st))
    return config


def _update_configuration(self, config_updates):
    body = dict(config_updates)
    env = body.get("Environment")
    if isinstance(env, dict) and "Variables" not in env:  # moto: KeyError -> 500
        body["Environment"] = {**env, "Variables": {}}
    _moto_update_configuration(self, body)
    extra = emu(self)["extra_config"]
    for key, value in body.items():
        if key == "TracingConfig":
            self.tracing_config = value
        elif key == "EphemeralStorage":
            self.ephemeral_storage = value["Size"]
        elif key == "KMSKeyArn":
            self.kms_key_arn = value or None
        elif key == "ImageConfig":
            self.image_config = ImageConfig(value)
        elif key == "SnapStart":
            extra["SnapStart"] = {"ApplyOn": value.get("ApplyOn", "None"), "OptimizationStatus": "Off"}
        elif key in OVERLAY_FIELDS:
            extra[key] = copy.deepcopy(value)
    return self.get_configuration()


def _set_function_code(self, updated_spec):
    """moto's, plus: S3ObjectVersion is honoured (moto took the latest object), and an image
    given by digest (`repo@sha256:<hex>`) has that digest as CodeSha256, as in Lambda."""
    _moto_set_function_code(self, updated_spec)
    from_update = updated_spec is not self.code
    if from_update and updated_spec.get("DryRun"):
        return
    version = updated_spec.get("S3ObjectVersion")
    if version and "S3Bucket" in updated_spec and "S3Key" in updated_spec:
        obj, _, _ = s3_object(self.account_id, updated_spec["S3Bucket"], updated_spec["S3Key"], version)
        if obj is not None:
            value = obj.value
            self.code_bytes, self.code_size = value, len(value)
            self.code_sha_256 = base64.b64encode(hashlib.sha256(value).digest()).decode()
            self.code_digest = hashlib.sha256(value).hexdigest()
            self.code["S3ObjectVersion"] = version
    image = updated_spec.get("ImageUri") or ""
    if "@sha256:" in image:
        self.code_sha_256 = image.split("@sha256:", 1)[1]


VOLATILE = {"RevisionId", "LastModified", "FunctionArn", "Version", *VIEW_KEYS}


def fingerprint(fn):
    """Code and configuration of a function, to tell whether a version would differ."""
    config = {k: v for k, v in fn.get_configuration().items() if k not in VOLATILE}
    return json.dumps(config, sort_keys=True, default=str)


def _publish_version(self, name_or_arn, description=""):
    """Like Lambda: a new version only if code or configuration changed since the last one
    (moto compared a flag that the first publish never cleared); numbers go on from the
    highest; every version has its own RevisionId."""
    function = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn)
    group = self._functions.get(function.function_name)
    if not group or not group["latest"]:
        return None
    latest, versions = group["latest"], group["versions"]
    fp = fingerprint(latest)
    if versions and emu(versions[-1])["fingerprint"] == fp and not emu(latest).get("updated_since_publish"):
        return versions[-1]
    emu(latest)["updated_since_publish"] = False
    fn = copy.copy(latest)
    fn.code = dict(latest.code)  # moto updates the code dict in place
    fn.set_version(max([int(v.version) for v in versions] + [0]) + 1)
    if description:
        fn.description = description
    fn.__dict__["_emu"] = {"revision_id": new_revision(), "pending": None, "update": None, "last": None,
                           "extra_config": copy.deepcopy(emu(latest)["extra_config"]), "fingerprint": fp}
    latest.code_or_config_updated = False
    versions.append(fn)
    self._arns[fn.function_arn] = fn
    return fn


LambdaFunction.get_configuration = _get_configuration
LambdaFunction.update_configuration = _update_configuration
LambdaFunction._set_function_code = _set_function_code
LambdaStorage.publish_version = _publish_version


# ====================================================================== layer state


class LambdaState:
    def __init__(self):
        self.scripts = []  # pending update scripts, in the order they were posted
        self.conflicts = []  # pending scripted conflicts
        self.version_scripts = []  # pending version-state scripts (lambda_versions.py)
        self.history = []  # updates and versions that took a script: {function, account, action, outcome...}


def state(layer):
    st = getattr(layer, "lambda_state", None)
    if st is None:
        st = layer.lambda_state = LambdaState()
    return st


@on_reset
def _reset(layer):
    layer.lambda_state = LambdaState()


def _control_error(status, message):
    from .layer import ControlError  # layer imports this module: import at call time

    return ControlError(status, message)


# ====================================================================== helpers


def lambda_versions():
    """The versions module (it imports this one: imported at call time)."""
    from . import lambda_versions as module

    return module


def lambda_routing():
    """The alias-routing module (it imports this one: imported at call time)."""
    from . import lambda_routing as module

    return module


def lambda_provisioned():
    """The provisioned-concurrency module (it imports this one: imported at call time)."""
    from . import lambda_provisioned as module

    return module


# Lambda refuses a request body this large: "Request must be smaller than 69905067 bytes"
# (50 MiB of zip, base64-encoded: 4/3 of it).
REQUEST_MAX = 69905067
# Lambda's limit for unpacked code (250 MiB; layers count too, not modelled here).
UNZIPPED_MAX = 262144000
ECR_IMAGE_RE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/[a-z0-9._/-]+"
                          r"(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$")


def ecr_image_uri(uri, region):
    """Lambda takes images from ECR of its own region, by tag or digest."""
    m = ECR_IMAGE_RE.match(uri)
    return bool(m) and m.group(2) == region


def error(status, code, message, reason):
    resp = aws_error("lambda", status, code, message)
    resp.reason = reason
    return resp


def conflict(message):
    return error(409, "ResourceConflictException", message, "Conflict")


def update_in_progress(arn):
    return conflict(f"The operation cannot be performed at this time. An update is in progress for resource: {arn}")


def invalid_parameter(message):
    return error(400, "InvalidParameterValueException", message, "Bad Request")


def precondition_failed():
    return error(412, "PreconditionFailedException",
                 "The Revision Id provided does not match the latest Revision Id. "
                 "Call the GetFunction/GetAlias API to retrieve the latest Revision Id", "Precondition Failed")


def parse_function_ref(ref, account, region):
    """(account, region, name, qualifier) of a name, `name:qualifier`, ARN or partial ARN."""
    m = ARN_RE.match(ref)
    if m:
        return m.group(2), m.group(1), m.group(3), m.group(4)
    m = PARTIAL_ARN_RE.match(ref)
    if m:
        return m.group(1), region, m.group(2), m.group(3)
    name, _, qualifier = ref.partition(":")
    return account, region, name, qualifier or None


def function_arn(account, region, name):
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def storage(account, region):
    return lambda_backends[account][region]._lambdas


def latest_function(account, region, name):
    group = storage(account, region)._functions.get(name)
    return group["latest"] if group else None


def json_body(resp):
    return json.loads(resp.body or b"{}")


def rewritten(resp, doc):
    resp.body = json.dumps(doc).encode()
    return resp


class Call:
    """What a Lambda function call is about: the caller's account/region, the function."""

    def __init__(self, req, account, region, name, qualifier, fn):
        self.req, self.account, self.region = req, account, region
        self.name, self.qualifier, self.fn = name, qualifier, fn
        self.arn = function_arn(account, region, name)


def resolve(layer, req):
    """The function a call names; rewrites a (partial) ARN in the path to the plain name for
    moto (which 500'd on partial ARNs and named the whole ARN as the function in errors).
    -> Call, or a Response refusing the call."""
    account = get_account_id_from(req.access_key_id or "")
    region = req.region or DEFAULT_REGION
    ref = req.params.get("FunctionName")
    if not isinstance(ref, str) or not ref:
        return None
    ref_account, ref_region, name, qualifier = parse_function_ref(ref, account, region)
    if ref_region != region:
        return error(404, "ResourceNotFoundException",
                     f"Functions from '{ref_region}' are not reachable in this region ('{region}')", "Not Found")
    if ref_account != account:
        action = f"lambda:{req.action}"
        return error(403, "AccessDeniedException",
                     f"User: {caller_arn(layer, req, account)} is not authorized to perform: {action} on resource: "
                     f"{function_arn(ref_account, ref_region, name)} because no resource-based policy allows the "
                     f"{action} action", "Forbidden")
    m = PATH_RE.match(req.environ.get("PATH_INFO", ""))
    if m and m.group(2) != name and (ARN_RE.match(ref) or PARTIAL_ARN_RE.match(ref)):
        plain = name + (":" + qualifier if qualifier else "")
        path = m.group(1) + plain + m.group(3)
        req.environ["PATH_INFO"] = path
        # moto routes on the path as it arrived (RAW_URI), not PATH_INFO
        qs = req.environ.get("QUERY_STRING")
        for key in ("RAW_URI", "REQUEST_URI"):
            if key in req.environ:
                req.environ[key] = quote(path, safe="/:$") + (f"?{qs}" if qs else "")
    call = Call(req, account, region, name, qualifier, latest_function(account, region, name))
    req.notes["lambda"] = call
    return call


def matches(spec, call):
    return spec["function"] == call.name and spec.get("account") in (None, call.account)


def take_conflict(layer, call, action):
    with LOCK:
        for c in state(layer).conflicts:
            if matches(c, call) and (c["action"] == action or (c["action"] == "*" and action in MUTATING)):
                c["remaining"] -= 1
                if c["remaining"] <= 0:
                    state(layer).conflicts.remove(c)
                return update_in_progress(call.arn)
    return None


def busy(call):
    """409 while the function is Pending or a scripted update runs."""
    st = emu(call.fn)
    if st["pending"] and st["pending"]["state"] == "Pending":
        return conflict("The operation cannot be performed at this time. "
                        "The function is currently in the following state: Pending")
    if st["update"]:
        return update_in_progress(call.arn)
    return None


def s3_object(account, bucket, key, version=None):
    """(object, S3 error code, S3 message) as Lambda's GetObject of the package sees it."""
    backend = s3_backends[account]["aws"]
    try:
        obj = backend.get_object(bucket, key, version_id=version)
    except MissingBucket:
        return None, "NoSuchBucket", "The specified bucket does not exist"
    if obj is None:
        if version and backend.get_object(bucket, key) is not None:
            return None, "NoSuchVersion", "The specified version does not exist."
        return None, "NoSuchKey", "The specified key does not exist."
    return obj, None, None


def register(kind, actions):
    def wrap(fn):
        for action in actions:
            kind("lambda", action)(fn)
        return fn

    return wrap


# ====================================================================== control API


def _function_field(body):
    ref = body.get("function")
    if not isinstance(ref, str) or not ref:
        raise _control_error(400, "function (name or ARN) is required")
    account, region, name, _ = parse_function_ref(ref, body.get("account"), body.get("region"))
    return name, account


def seconds(body, key):
    """A duration on the clock (`key`, seconds >= 0), or None when the body has none."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _control_error(400, f"{key} must be a number of seconds >= 0")
    return float(value)


def _int(body, key, default, minimum=0, allow_none=False):
    value = body.get(key, default)
    if value is None and allow_none:
        return None
    value = int(value)
    if value < minimum:
        raise _control_error(400, f"{key} must be >= {minimum}")
    return value


@control("POST", "/_layer/lambda/script")
def c_script(layer, body, query):
    name, account = _function_field(body)
    outcome = body.get("outcome", "Successful")
    if outcome not in OUTCOMES:
        raise _control_error(400, f"outcome must be one of {OUTCOMES}")
    applies_to = body.get("applies_to", "any")
    if applies_to not in APPLIES_TO:
        raise _control_error(400, f"applies_to must be one of {sorted(APPLIES_TO)}")
    reason, code = body.get("reason"), body.get("reason_code")
    if outcome == "Failed":
        reason, code = reason or FAILED_DEFAULT[0], code or FAILED_DEFAULT[1]
    if code is not None and REASON_CODES and code not in REASON_CODES:
        raise _control_error(400, f"reason_code {code!r} is not a LastUpdateStatusReasonCode of the Lambda API")
    script = {"function": name, "account": account, "in_progress_polls": _int(body, "in_progress_polls", 1),
              "in_progress_s": seconds(body, "in_progress_s"), "outcome": outcome, "reason": reason,
              "reason_code": code, "applies_to": applies_to}
    with LOCK:
        state(layer).scripts.append(script)
    return {"script": script}


@control("POST", "/_layer/lambda/state")
def c_state(layer, body, query):
    name, account = _function_field(body)
    region = body.get("region") or DEFAULT_REGION
    st_name = body.get("state", "Pending")
    if st_name not in STATES:
        raise _control_error(400, f"state must be one of {STATES}")
    polls = _int(body, "polls", 1, allow_none=True)
    timed = seconds(body, "seconds")
    reason = body.get("reason") or STATE_DEFAULTS[st_name][0]
    code = body.get("reason_code") or STATE_DEFAULTS[st_name][1]
    if STATE_REASON_CODES and code not in STATE_REASON_CODES:
        raise _control_error(400, f"reason_code {code!r} is not a StateReasonCode of the Lambda API")
    version = body.get("version")  # a published version instead of $LATEST
    accounts = [account] if account else list(lambda_backends.keys())
    found = []
    with LOCK:
        for acct in accounts:
            fn = latest_function(acct, region, name)
            if fn is not None and version is not None:
                group = storage(acct, region)._functions[name]
                fn = next((v for v in group["versions"] if str(v.version) == str(version)), None)
            if fn is not None:
                emu(fn)["pending"] = {"state": st_name, "remaining": polls, "reason": reason, "code": code,
                                      "version": version is not None,
                                      "ends_at": None if timed is None else now() + timed}
                if version is None:
                    emu(fn)["revision_id"] = new_revision()
                found.append(fn.function_arn)
    if not found:
        what = f"version {version} of function {name}" if version is not None else f"function {name}"
        raise _control_error(404, f"no {what} in {region}" + (f" of account {account}" if account else ""))
    return {"state": {"function": name, "version": version, "state": st_name, "polls": polls, "seconds": timed,
                      "reason": reason, "reason_code": code, "functions": found}}


@control("POST", "/_layer/lambda/conflicts")
def c_conflicts(layer, body, query):
    name, account = _function_field(body)
    action = body.get("action") or "*"
    conflict_spec = {"function": name, "account": account, "action": action,
                     "remaining": _int(body, "count", 1, minimum=1)}
    with LOCK:
        state(layer).conflicts.append(conflict_spec)
    return {"conflicts": dict(conflict_spec)}


@control("GET", "/_layer/lambda/status")
def c_status(layer, body, query):
    functions = []
    with LOCK:
        for account in list(lambda_backends.keys()):
            for region, backend in list(lambda_backends[account].items()):
                for group in list(backend._lambdas._functions.values()):
                    fn = group["latest"]
                    if fn is None:
                        continue
                    st = emu(fn)
                    functions.append({
                        "account": account, "region": region, "function": fn.function_name,
                        "revision_id": st["revision_id"], "code_sha256": fn.code_sha_256,
                        "pending": copy.deepcopy(st["pending"]), "update": copy.deepcopy(st["update"]),
                        "view": view(st), "versions": [str(v.version) for v in group["versions"]],
                        "version_states": {str(v.version): view(emu(v)) for v in group["versions"]},
                    })
        lst = state(layer)
        provisioned, provisioned_history = lambda_provisioned().status(layer)
        return {"provisioned": provisioned, "provisioned_history": provisioned_history,
                "scripts": copy.deepcopy(lst.scripts), "conflicts": copy.deepcopy(lst.conflicts),
                "version_scripts": copy.deepcopy(lst.version_scripts),
                "history": copy.deepcopy(lst.history), "functions": functions}


@control("DELETE", "/_layer/lambda/scripts")
def c_clear(layer, body, query):
    with LOCK:
        state(layer).scripts.clear()
        state(layer).conflicts.clear()
        state(layer).version_scripts.clear()
    return {"status": "ok"}


# ====================================================================== judges and afters


@register(judge, FUNCTION_ACTIONS)
def _judge_function_call(layer, req):
    if req.action == "UpdateFunctionConfiguration":
        refusal = lambda_members.judge_body(layer, req)  # the body's members come first
        if refusal is not None:
            return refusal
    call = resolve(layer, req)
    if call is None or not isinstance(call, Call):
        return call  # a refusal, or nothing to say
    if call.fn is None:
        return None  # moto answers ResourceNotFoundException
    action = req.action
    refusal = take_conflict(layer, call, action)
    if refusal is not None:
        return refusal
    if action == "UpdateFunctionCode" and len(req.body) >= REQUEST_MAX:
        return error(413, "RequestEntityTooLargeException",
                     f"Request must be smaller than {REQUEST_MAX} bytes for the UpdateFunctionCode operation",
                     "Request Entity Too Large")
    if action in ("GetFunction", "GetFunctionConfiguration"):
        qualifier = call.qualifier or req.query.get("Qualifier")
        if qualifier in (None, "", "$LATEST"):
            poll(call.fn)
        else:
            lambda_versions().poll_qualified(call, qualifier)
        return None
    if action in UPDATES or action == "PublishVersion":
        with LOCK:
            refusal = busy(call)
            if refusal is None and action == "PublishVersion":
                refusal = lambda_versions().before_publish(call, req)
            if refusal is None:
                revision = req.params.get("RevisionId")
                if revision and revision != emu(call.fn)["revision_id"]:
                    refusal = precondition_failed()
        if refusal is not None:
            return refusal
    if action == "UpdateFunctionCode":
        return _check_code_source(layer, call, req)
    if action == "PublishVersion":
        sha = req.params.get("CodeSha256")
        if sha and sha != call.fn.code_sha_256:
            # Lambda's wording, as users quote it (justinram11/serverless-aws-batch#22).
            return invalid_parameter(f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST "
                                     f"({call.fn.code_sha_256}). Please try again with the CodeSHA256 in $LATEST.")
    if action in ("CreateAlias", "UpdateAlias"):
        return _check_alias(call, req)
    if action == "DeleteFunction":
        return lambda_versions().check_delete(call, req)
    return None


def _check_code_source(layer, call, req):
    p = req.params
    image = "ImageUri" in p
    if call.fn.package_type == "Image" and not image:
        return invalid_parameter("Please provide ImageUri when updating a function with packageType Image.")
    if call.fn.package_type != "Image" and image:
        return invalid_parameter("Please don't provide ImageUri when updating a function with packageType Zip.")
    if image and not ecr_image_uri(p["ImageUri"], call.region):
        return invalid_parameter(f"Source image {p['ImageUri']} is not valid. Provide a valid source image.")
    if image:
        return lambda_images.index_refusal(layer, req, p["ImageUri"])
    if "S3Bucket" in p or "S3Key" in p:
        obj, code, message = s3_object(call.account, p.get("S3Bucket", ""), p.get("S3Key", ""),
                                       p.get("S3ObjectVersion"))
        if obj is None:
            return invalid_parameter(f"Error occurred while GetObject. S3 Error Code: {code}. "
                                     f"S3 Error Message: {message}")
        return _check_package(unzipped_size(obj.value))
    if "ZipFile" in p:
        sizes = getattr(req, "unzipped_sizes", None) or [0]
        return _check_package(sizes[0])
    return None


def _check_package(size):
    """Lambda unpacks a package when it takes it: not a zip, or too big unzipped, is refused."""
    if size is None:
        return invalid_parameter("Could not unzip uploaded file. Please check your file, then try to upload again.")
    if size >= UNZIPPED_MAX:
        return invalid_parameter(f"Unzipped size must be smaller than {UNZIPPED_MAX} bytes")
    return None


def _aliases(call):
    return storage(call.account, call.region)._aliases[call.arn]


def _check_alias(call, req):
    aliases = _aliases(call)
    name = req.params.get("Name")
    refusal = lambda_versions().check_alias_target(call, req)
    if refusal is None:
        refusal = lambda_routing().check(call, req, lambda_versions().version_function)
    if refusal is not None:
        return refusal
    if req.action == "CreateAlias" and name in aliases:
        # moto: ConflictException; Lambda: ResourceConflictException
        return conflict(f"Alias already exists: {call.arn}:{name}")
    revision = req.params.get("RevisionId")
    if req.action == "UpdateAlias" and revision and name in aliases and aliases[name].revision_id != revision:
        return precondition_failed()
    return None


@register(after, UPDATES)
def _after_update(layer, req, resp):
    call = req.notes.get("lambda")
    if not isinstance(call, Call) or call.fn is None:
        return resp
    if req.action == "UpdateFunctionCode" and req.params.get("DryRun"):
        return resp
    with LOCK:
        st = emu(call.fn)
        st["revision_id"] = new_revision()
        st["last"] = None
        # Any update, even one that sets what is there already, makes the next PublishVersion
        # a new version (getmoto/moto#8379, checked against AWS; aws-sdk-js-v3#5946).
        st["updated_since_publish"] = True
        script = None
        lst = state(layer)
        for s in lst.scripts:
            if matches(s, call) and req.action in APPLIES_TO[s["applies_to"]]:
                script = s
                lst.scripts.remove(s)
                break
        if script is not None:
            timed, started = script.get("in_progress_s"), now()
            ends_at = None if timed is None else started + timed
            st["update"] = {"action": req.action, "remaining": script["in_progress_polls"], "ends_at": ends_at,
                            "outcome": script["outcome"], "reason": script["reason"], "code": script["reason_code"]}
            lst.history.append({"function": call.name, "account": call.account, "action": req.action,
                                "outcome": script["outcome"], "in_progress_polls": script["in_progress_polls"],
                                "in_progress_s": timed, "started_at": started, "completes_at": ends_at})
        fresh = call.fn.get_configuration()
    doc = json_body(resp)
    for key in VIEW_KEYS:
        doc.pop(key, None)
    for key in ("RevisionId", "CodeSha256", "CodeSize", "State", *VIEW_KEYS):
        if key in fresh:
            doc[key] = fresh[key]
    doc.setdefault("LastUpdateStatus", "Successful")
    return rewritten(resp, doc)


@register(after, ("GetAlias", "UpdateAlias"))
def _after_alias(layer, req, resp):
    # moto answers 201; Lambda 200. UpdateAlias gives the alias a new RevisionId.
    resp.status, resp.reason = 200, "OK"
    call = req.notes.get("lambda")
    if req.action == "UpdateAlias" and isinstance(call, Call):
        alias = _aliases(call).get(req.params.get("Name"))
        if alias is not None:
            alias.revision_id = new_revision()
            # An alias with provisioned concurrency allocates it anew for its new version.
            lambda_provisioned().alias_moved(layer, call, alias.name, alias.function_version)
            doc = json_body(resp)
            doc["RevisionId"] = alias.revision_id
            return rewritten(resp, doc)
    return resp
