"""ECS answers without the item the caller expects: a 200 whose `services`, `taskDefinition`,
`tasks` or `service` is empty or missing, and no `failures` saying why. ECS's API reference marks
these members optional; a client must not crash on their absence (issue 17). Scripted with

    POST /_layer/ecs/empty-answer {"action": "DescribeServices", "count": 1, "skip": 0}

The next `count` successful answers of that action (after `skip` of them pass untouched) lose
their item; each is recorded in the request log with `"scenario": {"emptied": "<member>"}`.
`GET /_layer/ecs/empty-answer` lists the pending ones, `DELETE` drops them.

Imported by ecs.py after its own handlers are registered: each emptying runs after them, on the
answer as they left it (a DescribeServices poll still advances its rollout).
"""

import json
import threading

from .dispatch import AFTERS, control, on_reset

# action -> (member removed, members set empty instead of removed)
EMPTIED = {
    "DescribeServices": ("services", {"services": [], "failures": []}),
    "DescribeTaskDefinition": ("taskDefinition", None),
    "RegisterTaskDefinition": ("taskDefinition", None),
    "UpdateService": ("service", None),
    "RunTask": ("tasks", {"tasks": [], "failures": []}),
    "DescribeTasks": ("tasks", {"tasks": [], "failures": []}),
}


class Pending:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []  # {"action", "remaining", "skip"}


def pending(layer):
    found = getattr(layer, "ecs_empty_answers", None)
    if found is None:
        found = layer.ecs_empty_answers = Pending()
    return found


@on_reset
def _reset(layer):
    layer.ecs_empty_answers = Pending()


@control("POST", "/_layer/ecs/empty-answer")
def c_empty_answer(layer, body, query):
    from .ecs import _control_error

    action = body.get("action")
    if action not in EMPTIED:
        raise _control_error(400, f"action must be one of {', '.join(EMPTIED)}")
    count, skip = int(body.get("count", 1)), int(body.get("skip", 0))
    if count < 1 or skip < 0:
        raise _control_error(400, "count must be >= 1 and skip >= 0")
    item = {"action": action, "remaining": count, "skip": skip}
    p = pending(layer)
    with p.lock:
        p.items.append(item)
    return {"empty_answer": dict(item)}


@control("GET", "/_layer/ecs/empty-answer")
def c_empty_answers(layer, body, query):
    p = pending(layer)
    with p.lock:
        return {"pending": [dict(i) for i in p.items]}


@control("DELETE", "/_layer/ecs/empty-answer")
def c_clear_empty_answers(layer, body, query):
    p = pending(layer)
    with p.lock:
        p.items.clear()
    return {"status": "ok"}


def _take(layer, action):
    p = pending(layer)
    with p.lock:
        for item in p.items:
            if item["action"] != action:
                continue
            if item["skip"] > 0:
                item["skip"] -= 1
                return False
            item["remaining"] -= 1
            if item["remaining"] <= 0:
                p.items.remove(item)
            return True
    return False


def _emptying(action, inner):
    member, replacement = EMPTIED[action]

    def handler(layer, req, resp):
        if inner is not None:
            resp = inner(layer, req, resp)
        if not 200 <= resp.status < 300 or not _take(layer, action):
            return resp
        doc = json.loads(resp.body or b"{}")
        doc.pop(member, None)
        doc.update(replacement or {})
        record = req.notes.get("record") or {}
        record["scenario"] = {**(record.get("scenario") or {}), "emptied": member}
        req.notes["record"] = record
        resp.body = json.dumps(doc).encode()
        return resp

    return handler


for _action in EMPTIED:
    AFTERS[("ecs", _action)] = _emptying(_action, AFTERS.get(("ecs", _action)))
