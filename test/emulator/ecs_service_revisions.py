"""ECS service revisions, which moto lacks: the ARNs service deployments name
(`sourceServiceRevisions[].arn`, `targetServiceRevision.arn`, `rollback.serviceRevisionArn`) and
`DescribeServiceRevisions`, which maps each to its `taskDefinition`. And `ListTaskDefinitions`
as ECS pages and sorts it (moto ignores `sort`, `maxResults` and `nextToken`).

- A service revision ARN is opaque, as ECS's are (`.../service-revision/<cluster>/<service>/<19
  digits>`): a client must describe it to learn its task definition. One revision per service
  and task definition, created the first time a service deployment names it.
- `DescribeServiceRevisions` takes 1–20 ARNs; one it does not know is a `failures` entry
  `MISSING`. So is every revision of a service whose history was forgotten:

      POST /_layer/ecs/service-revisions/forget {"cluster": "prod", "service": "web"}

  models revisions created before 25 October 2024, which ECS cannot describe (its API reference:
  "You can't describe a service revision that was created before October 25, 2024."). Recorded in
  the request log as `{"scenario": {"forgotten_revisions": [...]}}`.
- `ListTaskDefinitions`: `sort` ASC (default) or DESC, by family then revision number;
  `maxResults` 1–100 (default 100) with an opaque `nextToken`.
"""

import base64
import json
import random
import threading
import time
import uuid

from .dispatch import after, control, judge, on_reset
from .protocol import Response, aws_error

_lock = threading.Lock()
_revisions = {}  # ARN -> document
_by_task_definition = {}  # (account, region, cluster, service, task definition ARN) -> ARN
_forgotten = set()  # (account or None, cluster, service)


@on_reset
def _reset(layer):
    with _lock:
        _revisions.clear()
        _by_task_definition.clear()
        _forgotten.clear()


def service_revision_arn(key, task_definition):
    """The ARN of the service revision of `key` (a ServiceKey) that runs `task_definition`."""
    ident = (key.account, key.region, key.cluster, key.service, task_definition or "")
    with _lock:
        arn = _by_task_definition.get(ident)
        if arn is None:
            number = random.randint(10**18, 10**19 - 1)
            arn = f"arn:aws:ecs:{key.region}:{key.account}:service-revision/{key.cluster}/{key.service}/{number}"
            _by_task_definition[ident] = arn
            _revisions[arn] = {
                "serviceRevisionArn": arn,
                "serviceArn": f"arn:aws:ecs:{key.region}:{key.account}:service/{key.cluster}/{key.service}",
                "clusterArn": f"arn:aws:ecs:{key.region}:{key.account}:cluster/{key.cluster}",
                "taskDefinition": task_definition,
                "launchType": "FARGATE",
                "createdAt": time.time(),
                "_key": (key.account, key.cluster, key.service),
            }
        return arn


def _is_forgotten(doc):
    account, cluster, service = doc["_key"]
    return (account, cluster, service) in _forgotten or (None, cluster, service) in _forgotten


def _answer(doc):
    return Response(
        200, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))], json.dumps(doc)
    )


@judge("ecs", "DescribeServiceRevisions")
def _describe(layer, req):
    arns = req.params.get("serviceRevisionArns")
    if not isinstance(arns, list) or not 1 <= len(arns) <= 20:
        return aws_error("ecs", 400, "InvalidParameterException",
                         "serviceRevisionArns must have between 1 and 20 items.")
    found, failures, forgotten = [], [], []
    with _lock:
        for arn in arns:
            doc = _revisions.get(arn)
            if doc is not None and _is_forgotten(doc):
                forgotten.append(arn)
                doc = None
            if doc is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append({k: v for k, v in doc.items() if not k.startswith("_")})
    if forgotten:
        req.notes["record"] = {"scenario": {"forgotten_revisions": forgotten}}
    return _answer({"serviceRevisions": found, "failures": failures})


@control("POST", "/_layer/ecs/service-revisions/forget")
def c_forget(layer, body, query):
    from .ecs import _control_error

    for field in ("cluster", "service"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise _control_error(400, f"{field} (a name) is required")
    entry = (body.get("account"), body["cluster"], body["service"])
    with _lock:
        _forgotten.add(entry)
    return {"forgotten": {"account": entry[0], "cluster": entry[1], "service": entry[2]}}


# ---------------------------------------------------------------------- ListTaskDefinitions


def _order(arn):
    name = arn.rsplit("task-definition/", 1)[-1]
    family, _, revision = name.rpartition(":")
    return family, int(revision) if revision.isdigit() else 0


@judge("ecs", "ListTaskDefinitions")
def _judge_list(layer, req):
    sort = req.params.get("sort") or "ASC"
    if sort not in ("ASC", "DESC"):
        return aws_error("ecs", 400, "InvalidParameterException", "sort must be ASC or DESC.")
    limit = req.params.get("maxResults")
    if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 100):
        return aws_error("ecs", 400, "InvalidParameterException", "maxResults must be between 1 and 100.")
    token = req.params.get("nextToken")
    if token is not None:
        try:
            json.loads(base64.b64decode(token))["start"]
        except (ValueError, KeyError, TypeError):
            return aws_error("ecs", 400, "InvalidParameterException", "The nextToken is invalid.")
    return None


@after("ecs", "ListTaskDefinitions")
def _after_list(layer, req, resp):
    doc = json.loads(resp.body or b"{}")
    arns = sorted(doc.get("taskDefinitionArns") or [], key=_order, reverse=req.params.get("sort") == "DESC")
    start = 0
    if req.params.get("nextToken"):
        start = json.loads(base64.b64decode(req.params["nextToken"]))["start"]
    limit = req.params.get("maxResults") or 100
    page = arns[start:start + limit]
    answer = {"taskDefinitionArns": page}
    if start + limit < len(arns):
        answer["nextToken"] = base64.b64encode(json.dumps({"start": start + limit}).encode()).decode()
    resp.body = json.dumps(answer).encode()
    return resp
