"""Trust-policy evaluation: the subset of IAM policy logic STS applies to a role's trust policy.

Supported: Effect Allow/Deny (an explicit Deny wins), Action (string/list, wildcards, case-
insensitive), Principal "*" / {"AWS": ...} / {"Federated": ...}, and Condition blocks with
the String* operators and Bool, their `IfExists` forms, the `ForAnyValue:`/`ForAllValues:` set
qualifiers and `Null`. Condition keys are case-insensitive, values case-sensitive (as IAM).

Not evaluated (documented in README): identity-based policies of the caller, permission
boundaries, SCPs, NotAction/NotPrincipal. Numeric/Date/Arn/IpAddress operators raise
UnsupportedCondition, which the layer turns into a loud 500 rather than a silent verdict.
"""

import json
import re
from urllib.parse import unquote


def load_policy(document):
    """moto stores the document as given; accept a dict, JSON text or URL-encoded JSON."""
    if isinstance(document, dict):
        return document
    if not document:
        return {"Statement": []}
    try:
        return json.loads(document)
    except ValueError:
        return json.loads(unquote(document))


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def glob_match(pattern, value):
    """IAM wildcards: * any run of characters, ? exactly one. Nothing else is special."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


def action_matches(statement, action):
    return any(glob_match(a.lower(), action.lower()) for a in _as_list(statement.get("Action")))


class Caller:
    """Who is asking. `kind` is "federated" (web identity) or "aws" (signed credentials)."""

    def __init__(self, kind, arn, account=None, role_arn=None):
        self.kind = kind
        self.arn = arn  # provider ARN for federated; user/assumed-role ARN for aws
        self.account = account
        self.role_arn = role_arn  # the IAM role behind an assumed-role session


def principal_matches(statement, caller):
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if caller.kind == "federated":
        return caller.arn in _as_list(principal.get("Federated"))
    for p in _as_list(principal.get("AWS")):
        if p == "*":
            return True
        # An account id or its root ARN names every principal of that account (whether
        # that principal may call sts:AssumeRole is then up to its identity policies,
        # which this layer does not evaluate).
        if caller.account and p in (caller.account, f"arn:aws:iam::{caller.account}:root"):
            return True
        if p == caller.arn or (caller.role_arn and p == caller.role_arn):
            return True
    return False


_STRING_OPS = {
    "StringEquals": lambda p, v: p == v,
    "StringNotEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringNotEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": lambda p, v: glob_match(p, v),
    "StringNotLike": lambda p, v: glob_match(p, v),
    "Bool": lambda p, v: p.lower() == v.lower(),
}
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike"}


class UnsupportedCondition(Exception):
    pass


def _condition_holds(operator, key, policy_values, context):
    qualifier = None
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    present = key.lower() in context
    values = _as_list(context.get(key.lower()))
    policy_values = [str(v) for v in _as_list(policy_values)]

    if operator == "Null":
        want_missing = str(policy_values[0]).lower() == "true"
        return (not present) == want_missing
    if operator not in _STRING_OPS:
        raise UnsupportedCondition(operator)
    match = _STRING_OPS[operator]
    negated = operator in _NEGATED

    def one(v):
        hit = any(match(p, str(v)) for p in policy_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)  # vacuously true when the key is missing
    if qualifier == "ForAnyValue":
        return present and any(one(v) for v in values)  # false when the key is missing
    if not present:
        # A missing key fails a positive condition and satisfies a negated one (IAM rule),
        # unless IfExists says "only if present".
        return if_exists or negated
    if len(values) != 1:
        # A multi-valued key (e.g. a list `aud`) used with a single-valued operator: holds
        # if any value matches, which is what STS does for the aud list of a token.
        return any(one(v) for v in values) if not negated else all(one(v) for v in values)
    return one(values[0])


def conditions_hold(statement, context):
    for operator, block in (statement.get("Condition") or {}).items():
        for key, policy_values in block.items():
            if not _condition_holds(operator, key, policy_values, context):
                return False
    return True


def is_allowed(policy, action, caller, context):
    """True iff some Allow statement grants `action` to `caller` under `context` and no Deny does."""
    context = {k.lower(): v for k, v in context.items()}
    allowed = False
    for st in _as_list(policy.get("Statement")):
        if not (action_matches(st, action) and principal_matches(st, caller)):
            continue
        if not conditions_hold(st, context):
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed
