"""A checker of IAM policy documents' grammar (the shapes IAM's policy validator accepts), for
generated policies. Independent of the generator: written from IAM's JSON policy reference."""

import re

ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*?]+$")
SID_RE = re.compile(r"^[A-Za-z0-9]*$")
ARN_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):[a-z0-9-]+:[a-z0-9-*]*:(\d{12})?:.+$")
OPERATORS = re.compile(
    r"^(ForAnyValue:|ForAllValues:)?"
    r"(StringEquals|StringNotEquals|StringEqualsIgnoreCase|StringNotEqualsIgnoreCase|StringLike|StringNotLike"
    r"|NumericEquals|NumericNotEquals|NumericLessThan|NumericLessThanEquals|NumericGreaterThan"
    r"|NumericGreaterThanEquals|DateEquals|DateNotEquals|DateLessThan|DateLessThanEquals|DateGreaterThan"
    r"|DateGreaterThanEquals|Bool|BinaryEquals|IpAddress|NotIpAddress|ArnEquals|ArnLike|ArnNotEquals"
    r"|ArnNotLike)(IfExists)?$|^Null$"
)
STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
PRINCIPAL_KINDS = {"AWS", "Federated", "Service", "CanonicalUser"}


def _strings(value, what, problems, check=None):
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        problems.append(f"{what}: empty list")
    for item in values:
        if not isinstance(item, str) or not item:
            problems.append(f"{what}: {item!r} is not a non-empty string")
        elif check and not check(item):
            problems.append(f"{what}: {item!r} is malformed")


def problems_of(policy, kind):
    """Every grammar problem of `policy`; `kind` is "trust" (a role's trust policy: principals,
    no resources) or "permissions" (resources, no principals)."""
    problems = []
    if not isinstance(policy, dict):
        return ["the policy is not a JSON object"]
    extra = set(policy) - {"Version", "Statement", "Id"}
    if extra:
        problems.append(f"unknown top-level keys {sorted(extra)}")
    if policy.get("Version") != "2012-10-17":
        problems.append(f"Version must be 2012-10-17, got {policy.get('Version')!r}")
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        return problems + ["Statement must be a non-empty list"]
    sids = [s.get("Sid") for s in statements if isinstance(s, dict) and s.get("Sid")]
    if len(sids) != len(set(sids)):
        problems.append(f"duplicate Sids {sids}")
    for n, st in enumerate(statements):
        where = f"Statement[{n}]"
        if not isinstance(st, dict):
            problems.append(f"{where} is not an object")
            continue
        if set(st) - STATEMENT_KEYS:
            problems.append(f"{where}: unknown keys {sorted(set(st) - STATEMENT_KEYS)}")
        if "Sid" in st and not (isinstance(st["Sid"], str) and SID_RE.match(st["Sid"])):
            problems.append(f"{where}: Sid {st['Sid']!r} must be alphanumeric")
        if st.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"{where}: Effect must be Allow or Deny")
        if ("Action" in st) == ("NotAction" in st):
            problems.append(f"{where}: exactly one of Action / NotAction")
        _strings(st.get("Action", st.get("NotAction")), f"{where}.Action", problems, ACTION_RE.match)
        if kind == "trust":
            if "Resource" in st or "NotResource" in st:
                problems.append(f"{where}: a trust policy has no Resource")
            principal = st.get("Principal")
            if principal == "*":
                problems.append(f"{where}: Principal * admits anyone")
            elif not isinstance(principal, dict) or not principal or set(principal) - PRINCIPAL_KINDS:
                problems.append(f"{where}: Principal must be an object of {sorted(PRINCIPAL_KINDS)}")
            else:
                for name, value in principal.items():
                    _strings(value, f"{where}.Principal.{name}", problems, lambda v: v.startswith("arn:") or v.isdigit())
        else:
            if "Principal" in st or "NotPrincipal" in st:
                problems.append(f"{where}: an identity policy has no Principal")
            if ("Resource" in st) == ("NotResource" in st):
                problems.append(f"{where}: exactly one of Resource / NotResource")
            _strings(st.get("Resource", st.get("NotResource")), f"{where}.Resource", problems,
                     lambda v: v == "*" or ARN_RE.match(v))
        condition = st.get("Condition", {})
        if not isinstance(condition, dict):
            problems.append(f"{where}: Condition must be an object")
            continue
        for operator, block in condition.items():
            if not OPERATORS.match(operator):
                problems.append(f"{where}: unknown condition operator {operator!r}")
            if not isinstance(block, dict) or not block:
                problems.append(f"{where}: Condition.{operator} must be a non-empty object")
                continue
            for key, value in block.items():
                if not re.match(r"^[A-Za-z0-9./:_-]+$", key):
                    problems.append(f"{where}: condition key {key!r} is malformed")
                _strings(value, f"{where}.Condition.{operator}.{key}", problems)
    return problems
