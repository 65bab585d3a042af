"""RunTask's `clientToken`: ECS runs a request's tasks once per token.

"clientToken — An identifier that you provide to ensure the idempotency of the request. It must be
unique and is case sensitive." (ECS API reference, RunTask). The AWS SDKs fill it in themselves
(it is an idempotency token in the service model) and send the same one with every retry of a
request, so a RunTask whose answer was lost (the `lost_answer` fault) and is tried again starts
nothing new: ECS answers with the tasks the first attempt started. moto ignores the token and
would start a second one-off task; this module answers a repeated token from what the first
attempt answered, and records `"scenario": {"client_token_replayed": true}` in the request log.

Imported by ecs.py after its own RunTask handlers, which it wraps (a replay never reaches them,
so a scripted one-off task is consumed once).
"""

import json
import threading
import uuid

from .dispatch import AFTERS, JUDGES, on_reset
from .protocol import Response


class Answered:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_token = {}  # (access key's account or key, region, cluster, token) -> answer doc


def answered(layer):
    found = getattr(layer, "ecs_run_task_tokens", None)
    if found is None:
        found = layer.ecs_run_task_tokens = Answered()
    return found


@on_reset
def _reset(layer):
    layer.ecs_run_task_tokens = Answered()


def _key(req):
    token = req.params.get("clientToken")
    if not token:
        return None
    from .ecs import request_account

    return (request_account(req), req.region, req.params.get("cluster") or "default", token)


def _replaying(inner_judge):
    def judge(layer, req):
        key = _key(req)
        if key is not None:
            with answered(layer).lock:
                doc = answered(layer).by_token.get(key)
            if doc is not None:
                record = req.notes.get("record") or {}
                record["scenario"] = {**(record.get("scenario") or {}), "client_token_replayed": True}
                req.notes["record"] = record
                headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))]
                return Response(200, headers, json.dumps(doc))
        return inner_judge(layer, req) if inner_judge is not None else None

    return judge


def _remembering(inner_after):
    def after(layer, req, resp):
        if inner_after is not None:
            resp = inner_after(layer, req, resp)
        key = _key(req)
        if key is not None and 200 <= resp.status < 300:
            with answered(layer).lock:
                answered(layer).by_token[key] = json.loads(resp.body or b"{}")
        return resp

    return after


JUDGES[("ecs", "RunTask")] = _replaying(JUDGES.get(("ecs", "RunTask")))
AFTERS[("ecs", "RunTask")] = _remembering(AFTERS.get(("ecs", "RunTask")))
