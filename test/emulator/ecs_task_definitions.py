"""RegisterTaskDefinition bodies read as ECS reads them (moto takes any JSON it is given).

- `tags` must be a list of `{"key": ..., "value": ...}` objects, the shape of ECS's `Tag`
  (API_RegisterTaskDefinition, API_Tag). A body with another shape there (`{"team": "web"}`,
  a string, a list of strings) does not deserialise into the request: 400
  `SerializationException` naming the member, before anything is registered. moto crashed on
  it (500, `'str' object has no attribute 'get'`).
- A JSON `null` is a member not set: dropped before moto sees the body and before the body is
  stored, so ECS's answers never carry it back (moto stored and answered `"cpu": null`). The
  paths of the nulls are recorded in the request log (`"scenario": {"null_paths": [...]}`),
  so a test can assert that a client sent none.

`ecs.py`'s RegisterTaskDefinition judge calls `judge_body`; its after-handler stores
`registered_body(req)`.
"""

from .protocol import aws_error

NOTE = "ecs_register_body"


def null_paths(value, path=""):
    """Where `value` holds JSON nulls, as `containerDefinitions[0].user`."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            found += [where] if item is None else null_paths(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            found += [where] if item is None else null_paths(item, where)
    return found


def without_nulls(value):
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value if item is not None]
    return value


def tags_problem(tags):
    """Why `tags` is not ECS's list of Tag objects, or None."""
    if tags is None:
        return None
    if not isinstance(tags, list):
        return f"Expected a list for member 'tags', found {type_name(tags)}"
    for index, tag in enumerate(tags):
        if tag is None:
            continue
        if not isinstance(tag, dict):
            return f"Expected a structure (Tag) for member 'tags[{index}]', found {type_name(tag)}"
        for field in ("key", "value"):
            if tag.get(field) is not None and not isinstance(tag[field], str):
                return f"Expected a string for member 'tags[{index}].{field}', found {type_name(tag[field])}"
    return None


def type_name(value):
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"


def judge_body(req):
    """A refusal, or None after noting the body ECS would read (nulls dropped) for moto."""
    problem = tags_problem(req.params.get("tags"))
    if problem:
        return aws_error("ecs", 400, "SerializationException", problem)
    nulls = null_paths(req.params)
    if nulls:
        body = without_nulls(req.params)
        req.notes[NOTE] = body
        record = req.notes.get("record") or {}
        record["scenario"] = {**(record.get("scenario") or {}), "null_paths": nulls}
        req.notes["record"] = record
        req.forward_json(body)
    return None


def registered_body(req):
    """The body as registered: what was sent, minus its nulls."""
    return req.notes.get(NOTE, req.params)
