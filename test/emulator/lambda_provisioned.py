"""Provisioned concurrency, which moto does not have at all (no route answers
`/2019-09-30/functions/<name>/provisioned-concurrency`): the configurations of a function's
aliases and versions, and their allocation over time, as Lambda reports it.

- **PutProvisionedConcurrencyConfig** (202), **GetProvisionedConcurrencyConfig**,
  **DeleteProvisionedConcurrencyConfig** (204) and **ListProvisionedConcurrencyConfigs**,
  answered here. A qualifier that is neither a published version nor an alias → 404
  ResourceNotFoundException; `$LATEST` → 400 InvalidParameterValueException; no configuration →
  404 `ProvisionedConcurrencyConfigNotFoundException` "No Provisioned Concurrency Config found
  for this function" (the wording users quote: serverless/serverless#10897).
- **Allocation over time**: an allocation (a Put, or the alias the configuration belongs to
  moving to another version: Lambda then provisions the new version's environments) is
  `IN_PROGRESS` for N GetProvisionedConcurrencyConfig calls, with `Allocated` rising towards
  `Requested`, then `READY` (all allocated), or `FAILED` with a `StatusReason`
  (`FUNCTION_ERROR_INIT_FAILURE` by default: serverless/serverless#7250 and #11878, sst#4713).
  Unscripted allocations take one poll, then READY.
- **On the clock**: with `in_progress_s`, the allocation is IN_PROGRESS for that many seconds
  after it starts (Allocated rising with the time), whoever looks and however often, as Lambda's
  own is; each history entry keeps the moment it ends (`completes_at`, epoch seconds), which is
  how the benchmark measures a poller's detection delay. Real allocations take minutes: more
  than three (hashicorp/terraform-provider-aws#31981, which asks to skip the provider's wait for
  READY), three to four in the provider's acceptance tests (#31991).
- **Scenario control** `POST /_layer/lambda/provisioned-concurrency`: a configuration already in
  place (READY, as if allocated long ago) on an alias or version, and what its next allocation
  does: `in_progress_polls`, `outcome` (READY | FAILED), `reason`.
- **Request log**: every GetProvisionedConcurrencyConfig answered from a configuration is
  recorded with `"scenario": {"provisioned_concurrency": {"status", "allocated", "requested",
  "version"}}`; the configurations and what happened to them: `GET /_layer/lambda/status`
  (`provisioned`).

Not modelled: the account's concurrency limits (a request beyond the unreserved concurrency is
refused by Lambda), `AvailableProvisionedConcurrentExecutions` below `Allocated` under load,
the spill-over of traffic to on-demand instances while IN_PROGRESS (nothing is invoked here).
"""

import copy
import datetime
import time

from .dispatch import control, judge, on_reset
from .lambda_ import (LOCK, Call, _control_error, _function_field, _int, error, invalid_parameter, resolve,
                      seconds, storage)
from .protocol import Response

OUTCOMES = ("READY", "FAILED")
DEFAULT_FAILURE = "FUNCTION_ERROR_INIT_FAILURE"
NOT_FOUND = "No Provisioned Concurrency Config found for this function"


class ProvisionedState:
    def __init__(self):
        # (account, region, function, qualifier) -> configuration
        self.configs = {}
        self.history = []


def state(layer):
    st = getattr(layer, "lambda_provisioned", None)
    if st is None:
        st = layer.lambda_provisioned = ProvisionedState()
    return st


@on_reset
def _reset(layer):
    layer.lambda_provisioned = ProvisionedState()


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _target_version(account, region, name, qualifier):
    """The version a qualifier names now (an alias: the version it points at), or None."""
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    alias = storage(account, region)._aliases.get(arn, {}).get(qualifier)
    if alias is not None:
        return str(alias.function_version), True
    group = storage(account, region)._functions.get(name)
    if group and any(str(fn.version) == str(qualifier) for fn in group["versions"]):
        return str(qualifier), False
    return None, False


def _start(config, version, script=None):
    """A new allocation for `version`: IN_PROGRESS, nothing allocated yet."""
    script = script or config.pop("next", None) or {"in_progress_polls": 1, "outcome": "READY", "reason": None}
    timed, started = script.get("in_progress_s"), time.time()
    config.update(status="IN_PROGRESS", allocated=0, version=version, remaining=script["in_progress_polls"],
                  outcome=script["outcome"], reason=script["reason"], polls=script["in_progress_polls"],
                  last_modified=_now(), in_progress_s=timed, started_at=started,
                  ends_at=None if timed is None else started + timed)


def _finish(config):
    if config["outcome"] == "READY":
        config.update(status="READY", allocated=config["requested"])
    else:
        config.update(status="FAILED", reason=config["reason"] or DEFAULT_FAILURE)


def _catch_up(config):
    """An allocation on the clock: Allocated rises with the time, and it ends at `ends_at`."""
    if config["status"] != "IN_PROGRESS" or config.get("ends_at") is None:
        return
    t = time.time()
    if t >= config["ends_at"]:
        _finish(config)
        return
    share = (t - config["started_at"]) / (config["ends_at"] - config["started_at"])
    config["allocated"] = min(config["requested"] - 1, int(config["requested"] * share))


def _poll(config):
    """One GetProvisionedConcurrencyConfig: an allocation under way advances by one poll (one
    on the clock, by the time)."""
    if config["status"] != "IN_PROGRESS":
        return
    if config.get("ends_at") is not None:
        _catch_up(config)
        return
    if config["remaining"] > 0:
        config["remaining"] -= 1
        done = config["polls"] - config["remaining"]
        config["allocated"] = min(config["requested"] - 1, config["requested"] * done // (config["polls"] + 1))
        return
    _finish(config)


def _document(config, arn):
    doc = {"RequestedProvisionedConcurrentExecutions": config["requested"],
           "AllocatedProvisionedConcurrentExecutions": config["allocated"],
           "AvailableProvisionedConcurrentExecutions": config["allocated"],
           "Status": config["status"], "LastModified": config["last_modified"]}
    if arn is not None:
        doc["FunctionArn"] = arn
    if config["status"] == "FAILED":
        doc["StatusReason"] = config["reason"]
    return doc


def _call(layer, req):
    """(Call, qualifier) of a provisioned-concurrency call, or a refusal Response."""
    call = resolve(layer, req)
    if call is None or not isinstance(call, Call):
        return call or error(404, "ResourceNotFoundException", "Function not found", "Not Found")
    if call.fn is None:
        return error(404, "ResourceNotFoundException", f"Function not found: {call.arn}", "Not Found")
    return call, call.qualifier or req.query.get("Qualifier")


def _key(call, qualifier):
    return (call.account, call.region, call.name, str(qualifier))


def _check_qualifier(call, qualifier):
    if not qualifier:
        return invalid_parameter("The qualifier (a version number or an alias name) is required.")
    if qualifier == "$LATEST":
        # Lambda only provisions published versions and aliases (PutProvisionedConcurrencyConfig:
        # "Adds a provisioned concurrency configuration to a function's alias or version").
        return invalid_parameter("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
    version, _ = _target_version(call.account, call.region, call.name, qualifier)
    if version is None:
        return error(404, "ResourceNotFoundException", f"Function not found: {call.arn}:{qualifier}", "Not Found")
    return None


@judge("lambda", "PutProvisionedConcurrencyConfig")
def _put(layer, req):
    found = _call(layer, req)
    if not isinstance(found, tuple):
        return found
    call, qualifier = found
    refusal = _check_qualifier(call, qualifier)
    if refusal is not None:
        return refusal
    requested = req.params.get("ProvisionedConcurrentExecutions")
    if not isinstance(requested, int) or requested < 1:
        return invalid_parameter("ProvisionedConcurrentExecutions must be at least 1.")
    version, _ = _target_version(call.account, call.region, call.name, qualifier)
    with LOCK:
        configs = state(layer).configs
        config = configs.setdefault(_key(call, qualifier), {"requested": requested})
        config["requested"] = requested
        _start(config, version)
        state(layer).history.append({"function": call.name, "qualifier": qualifier, "action": "Put",
                                     "version": version, "outcome": config["outcome"], "polls": config["polls"],
                                     "in_progress_s": config["in_progress_s"], "started_at": config["started_at"],
                                     "completes_at": config["ends_at"]})
        doc = _document(config, None)
    return Response.json(doc, status=202)


@judge("lambda", "GetProvisionedConcurrencyConfig")
def _get(layer, req):
    found = _call(layer, req)
    if not isinstance(found, tuple):
        return found
    call, qualifier = found
    with LOCK:
        config = state(layer).configs.get(_key(call, qualifier))
        version, _ = _target_version(call.account, call.region, call.name, qualifier)
        if config is None or version is None:
            return error(404, "ProvisionedConcurrencyConfigNotFoundException", NOT_FOUND, "Not Found")
        _poll(config)
        doc = _document(config, None)
        req.notes["record"] = {"scenario": {"provisioned_concurrency": {
            "status": config["status"], "allocated": config["allocated"], "requested": config["requested"],
            "version": config["version"]}}}
    return Response.json(doc)


@judge("lambda", "DeleteProvisionedConcurrencyConfig")
def _delete(layer, req):
    found = _call(layer, req)
    if not isinstance(found, tuple):
        return found
    call, qualifier = found
    with LOCK:
        if state(layer).configs.pop(_key(call, qualifier), None) is None:
            return error(404, "ProvisionedConcurrencyConfigNotFoundException", NOT_FOUND, "Not Found")
    return Response(204)


@judge("lambda", "ListProvisionedConcurrencyConfigs")
def _list(layer, req):
    found = _call(layer, req)
    if not isinstance(found, tuple):
        return found
    call, _ = found
    with LOCK:
        for config in state(layer).configs.values():
            _catch_up(config)
        items = [_document(config, f"{call.arn}:{key[3]}")
                 for key, config in state(layer).configs.items()
                 if key[:3] == (call.account, call.region, call.name)
                 and _target_version(call.account, call.region, call.name, key[3])[0] is not None]
    return Response.json({"ProvisionedConcurrencyConfigs": items})


def alias_moved(layer, call, alias, version):
    """UpdateAlias moved `alias` to `version`: its configuration (if any) allocates anew."""
    with LOCK:
        config = state(layer).configs.get(_key(call, alias))
        if config is None or config.get("version") == str(version):
            return
        _start(config, str(version))
        state(layer).history.append({"function": call.name, "qualifier": alias, "action": "UpdateAlias",
                                     "version": str(version), "outcome": config["outcome"],
                                     "polls": config["polls"], "in_progress_s": config["in_progress_s"],
                                     "started_at": config["started_at"], "completes_at": config["ends_at"]})


def has_configuration(layer, account, region, name, version):
    """Whether a published version has provisioned concurrency (its own configuration, or an
    alias's that points at it)."""
    with LOCK:
        for key, config in state(layer).configs.items():
            if key[:3] == (account, region, name) and config.get("version") == str(version):
                return True
    return False


def status(layer):
    with LOCK:
        return [{"account": k[0], "region": k[1], "function": k[2], "qualifier": k[3],
                 **{f: copy.deepcopy(v) for f, v in config.items()}}
                for k, config in state(layer).configs.items()], copy.deepcopy(state(layer).history)


@control("POST", "/_layer/lambda/provisioned-concurrency")
def c_provisioned(layer, body, query):
    name, account = _function_field(body)
    account = account or "111111111111"
    region = body.get("region", "us-east-1")
    qualifier = body.get("qualifier")
    if not isinstance(qualifier, str) or not qualifier or qualifier == "$LATEST":
        raise _control_error(400, "qualifier must name an alias or a published version")
    version, _ = _target_version(account, region, name, qualifier)
    if version is None:
        raise _control_error(404, f"{name}:{qualifier} is neither an alias nor a published version")
    outcome = body.get("outcome", "READY")
    if outcome not in OUTCOMES:
        raise _control_error(400, f"outcome must be one of {OUTCOMES}")
    requested = _int(body, "executions", 2, minimum=1)
    script = {"in_progress_polls": _int(body, "in_progress_polls", 1), "in_progress_s": seconds(body, "in_progress_s"),
              "outcome": outcome, "reason": body.get("reason") if outcome == "FAILED" else None}
    with LOCK:
        config = {"requested": requested, "status": "READY", "allocated": requested, "version": version,
                  "remaining": 0, "outcome": "READY", "reason": None, "polls": 0, "last_modified": _now(),
                  "next": script}
        state(layer).configs[(account, region, name, qualifier)] = config
    return {"provisioned_concurrency": {"function": name, "qualifier": qualifier, "version": version,
                                        "executions": requested, "next": script}}

