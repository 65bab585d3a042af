"""STS judged as real STS would: refusals come from evaluating the request against moto's
IAM state (OIDC providers, roles, trust policies, users' keys), never from a script.

moto itself accepts any AssumeRole*/token/role/duration; it only runs once we decided yes.
"""

import re
import time
import unicodedata
from datetime import datetime, timezone

from . import backends
from .dispatch import after, control, judge, on_reset
from .oidc import TokenError
from .policy import Caller, is_allowed, load_policy
from .protocol import aws_error, xml_escape

SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9_+=,.@-]{2,64}$")
EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$")
CHAINED_MAX = 3600
TAGS_CLAIM = "https://aws.amazon.com/tags"


class Refusal(Exception):
    """An STS error answer; raised anywhere in a judge, turned into the response."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _validation(message):
    return Refusal(400, "ValidationError", message)


def _refusing(fn):
    def wrapper(layer, req):
        try:
            return fn(layer, req)
        except Refusal as r:
            return aws_error("sts", r.status, r.code, r.message)

    wrapper.__name__ = fn.__name__
    return wrapper


# ---------------------------------------------------------------- input validation


def _check_session_name(name):
    if name is None:
        raise _validation(
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy "
            "constraint: Member must not be null"
        )
    if not SESSION_NAME_RE.match(name):
        raise _validation(
            f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* "
            "and have length between 2 and 64"
        )


def _duration(params):
    raw = params.get("DurationSeconds")
    if raw is None or raw == "":
        return 3600
    try:
        value = int(raw)
    except ValueError:
        raise _validation(f"Value '{raw}' at 'durationSeconds' is not a valid integer")
    if value < 900:
        raise _validation(
            f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to "
            "satisfy constraint: Member must have value greater than or equal to 900"
        )
    if value > 43200:
        raise _validation(
            f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to "
            "satisfy constraint: Member must have value less than or equal to 43200"
        )
    return value


def _check_role_arn(role_arn):
    if role_arn is None:
        raise _validation(
            "1 validation error detected: Value null at 'roleArn' failed to satisfy "
            "constraint: Member must not be null"
        )
    m = backends.ROLE_ARN_RE.match(role_arn)
    if not m:
        raise _validation(f"{role_arn} is invalid")  # STS: "Request ARN is invalid"
    return m.group(1)


def _check_max_session(role, duration):
    if duration > backends.role_max_session_duration(role):
        raise _validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )


def _tag_chars_ok(text):
    # [\p{L}\p{Z}\p{N}_.:/=+\-@]: letters, separators (incl. space), numbers, and a few marks.
    return all(unicodedata.category(c)[0] in "LZN" or c in "_.:/=+-@" for c in text)


def _session_tags(params):
    """Tags.member.N.Key/Value and TransitiveTagKeys.member.N, validated like STS."""
    tags = {}
    n = 1
    while f"Tags.member.{n}.Key" in params:
        key = params[f"Tags.member.{n}.Key"]
        value = params.get(f"Tags.member.{n}.Value", "")
        if not (1 <= len(key) <= 128) or not _tag_chars_ok(key):
            raise _validation(
                f"1 validation error detected: Value '{key}' at 'tags.{n}.member.key' failed to "
                "satisfy constraint: Member must have length between 1 and 128 and satisfy "
                "regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"
            )
        if len(value) > 256 or not _tag_chars_ok(value):
            raise _validation(
                f"1 validation error detected: Value '{value}' at 'tags.{n}.member.value' failed "
                "to satisfy constraint: Member must have length less than or equal to 256 and "
                "satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"
            )
        if key.lower() in {k.lower() for k in tags}:
            raise _validation(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive."
            )
        tags[key] = value
        n += 1
    if len(tags) > 50:
        raise _validation(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
            "Member must have length less than or equal to 50"
        )
    transitive = []
    n = 1
    while f"TransitiveTagKeys.member.{n}" in params:
        transitive.append(params[f"TransitiveTagKeys.member.{n}"])
        n += 1
    lowered = {k.lower() for k in tags}
    for key in transitive:
        if key.lower() not in lowered:
            raise _validation("The specified transitive tag key must be included in the requested tags.")
    # Present-but-empty lists (Tags= / TransitiveTagKeys=) still count as "sending tags".
    sent = bool(tags or transitive or "Tags" in params or "TransitiveTagKeys" in params)
    return tags, transitive, sent


# ---------------------------------------------------------------- the identity provider's keys

# STS fetches the provider's signing keys (its JWKS) to verify a token, and now and then cannot:
# the call then fails with one of these, although the token and the trust policy are fine.
IDP_OUTAGES = {
    "keys": (
        400,
        "InvalidIdentityToken",
        "Couldn't retrieve verification key from your identity provider,  please reference "
        "AssumeRoleWithWebIdentity documentation for requirements",
    ),
    "communication": (
        400,
        "IDPCommunicationError",
        "The request could not be fulfilled because the identity provider (IDP) that was asked to "
        "verify the incoming identity token could not be reached. This is often a transient error "
        "caused by network conditions.",
    ),
}


@on_reset
def _reset_idp(layer):
    layer.idp_outage = {"remaining": 0, "kind": "keys"}
    layer.issuer_certificate_thumbprint = None
    layer.issuer_certificate_trusted_ca = True


@control("POST", "/_layer/oidc/certificate")
def c_issuer_certificate(layer, body, query):
    """The SHA-1 thumbprint of the certificate the issuer's host presents now (`thumbprint`,
    40 hex digits; null: not checked) and whether a CA in IAM's trusted library signed it
    (`trusted_ca`, default true: api.bitbucket.org's certificate is publicly signed). IAM uses its
    trusted CAs for any JWKS endpoint whose certificate they signed, and compares the provider's
    thumbprints only otherwise (UpdateOpenIDConnectProviderThumbprint API reference): only then
    does a rotated certificate refuse every token until the provider is updated."""
    thumbprint = body.get("thumbprint")
    if thumbprint is not None and not re.fullmatch(r"[0-9a-fA-F]{40}", thumbprint):
        raise ValueError("thumbprint must be 40 hex digits")
    layer.issuer_certificate_thumbprint = thumbprint.lower() if thumbprint else None
    layer.issuer_certificate_trusted_ca = bool(body.get("trusted_ca", True))
    return {"thumbprint": layer.issuer_certificate_thumbprint, "trusted_ca": layer.issuer_certificate_trusted_ca}


def _certificate_matches(layer, provider):
    presented = layer.issuer_certificate_thumbprint
    configured = [t.lower() for t in getattr(provider, "thumbprint_list", None) or []]
    if getattr(layer, "issuer_certificate_trusted_ca", True):
        return  # verified by its CA: the thumbprints are not used
    if presented and configured and presented not in configured:
        raise TokenError(
            "InvalidIdentityToken", "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
        )


@control("POST", "/_layer/oidc/outage")
def c_idp_outage(layer, body, query):
    """STS cannot reach the identity provider's keys for the next `count` web-identity calls
    (`kind`: "keys" or "communication"); later calls are judged as usual."""
    kind = body.get("kind", "keys")
    if kind not in IDP_OUTAGES:
        raise ValueError(f"kind must be one of {', '.join(IDP_OUTAGES)}")
    layer.idp_outage = {"remaining": int(body.get("count", 1)), "kind": kind}
    return {"outage": dict(layer.idp_outage)}


def _keys_reachable(layer):
    outage = layer.idp_outage
    if outage["remaining"] <= 0:
        return
    outage["remaining"] -= 1
    raise Refusal(*IDP_OUTAGES[outage["kind"]])


# ---------------------------------------------------------------- AssumeRoleWithWebIdentity


# The OIDC claims IAM offers as condition keys of AssumeRoleWithWebIdentity.
OIDC_CONDITION_CLAIMS = ("aud", "sub", "azp", "amr", "email", "oaud")


@judge("sts", "AssumeRoleWithWebIdentity")
@_refusing
def judge_web_identity(layer, req):
    p = req.params
    _check_session_name(p.get("RoleSessionName"))
    duration = _duration(p)
    account = _check_role_arn(p.get("RoleArn"))
    token = p.get("WebIdentityToken")
    if not token:
        raise _validation(
            "1 validation error detected: Value null at 'webIdentityToken' failed to satisfy "
            "constraint: Member must not be null"
        )

    try:
        header, claims = layer.issuer.unverified_claims(token)
        issuer = claims.get("iss")
        provider = backends.find_oidc_provider(account, issuer) if isinstance(issuer, str) else None
        if provider is None:
            raise TokenError(
                "InvalidIdentityToken",
                f"No OpenIDConnect provider found in your account for {issuer}",
            )
        _certificate_matches(layer, provider)
        _keys_reachable(layer)
        layer.issuer.verify_signature(token, header)
    except TokenError as e:
        raise Refusal(400, e.code, e.message)

    now = int(time.time())
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise Refusal(400, "InvalidIdentityToken", "Couldn't parse the token: missing exp claim")
    if exp <= now:
        # (sic: STS's message really has no space before the second value)
        raise Refusal(
            400,
            "ExpiredTokenException",
            f"Token expired: current date/time {now} must be before the expiration date/time{int(exp)}",
        )
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and nbf > now + 60:
        raise Refusal(400, "InvalidIdentityToken", "Token is not yet valid (nbf is in the future)")

    auds = claims.get("aud")
    auds = auds if isinstance(auds, list) else [auds]
    if not any(isinstance(a, str) and a in provider.client_id_list for a in auds):
        raise Refusal(400, "InvalidIdentityToken", "Incorrect token audience")

    denied = Refusal(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    role = backends.find_role(p["RoleArn"])
    if role is None:
        raise denied

    # Condition keys: "<provider url>:<claim>" for the claims IAM supplies as keys, and no
    # others (IAM's condition-keys page, #condition-keys-wif; a condition on any other claim never
    # matches: configure-aws-credentials#306, github/docs#15324).
    context = {}
    for claim, value in claims.items():
        if claim not in OIDC_CONDITION_CLAIMS:
            continue
        if isinstance(value, list):
            context[f"{provider.url}:{claim}"] = [str(v) for v in value]
        elif isinstance(value, (str, int, float, bool)):
            context[f"{provider.url}:{claim}"] = str(value).lower() if isinstance(value, bool) else str(value)
    context["sts:RoleSessionName"] = p["RoleSessionName"]
    context["aws:FederatedProvider"] = provider.arn

    policy = load_policy(role.assume_role_policy_document)
    caller = Caller("federated", provider.arn, account=account)
    if not is_allowed(policy, "sts:AssumeRoleWithWebIdentity", caller, context):
        raise denied
    if TAGS_CLAIM in claims and not is_allowed(policy, "sts:TagSession", caller, context):
        raise Refusal(403, "AccessDenied", "Not authorized to perform sts:TagSession")
    _check_max_session(role, duration)

    req.notes = {
        "role": role,
        "account": account,
        "claims": claims,
        "provider": provider,
        "chained": False,
    }
    return None


@after("sts", "AssumeRoleWithWebIdentity")
def after_web_identity(layer, req, resp):
    notes = req.notes
    claims, role = notes["claims"], notes["role"]
    body = resp.body.decode("utf-8")
    # Real STS says who the token was about; moto leaves these out.
    aud = claims.get("aud")
    aud = aud[0] if isinstance(aud, list) and aud else aud
    extra = (
        f"<SubjectFromWebIdentityToken>{xml_escape(claims.get('sub', ''))}</SubjectFromWebIdentityToken>"
        f"<Audience>{xml_escape(aud or '')}</Audience>"
        f"<Provider>{xml_escape(claims.get('iss', ''))}</Provider>"
    )
    body = body.replace(
        "</AssumeRoleWithWebIdentityResult>", extra + "</AssumeRoleWithWebIdentityResult>", 1
    )
    # moto answers a fixed placeholder role id; STS gives "<role id>:<session name>".
    body = re.sub(
        r"<AssumedRoleId>[^<]*</AssumedRoleId>",
        f"<AssumedRoleId>{role.id}:{xml_escape(req.params['RoleSessionName'])}</AssumedRoleId>",
        body,
        count=1,
    )
    resp.body = body.encode("utf-8")
    return _register_session(layer, req, resp)


# ---------------------------------------------------------------- AssumeRole


def resolve_caller(layer, req):
    """The principal behind the signing key: a layer-issued session or an IAM user."""
    if not req.access_key_id:
        raise Refusal(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
    issued = layer.issued_key(req.access_key_id)
    if issued is not None:
        return Caller("aws", issued["arn"], account=issued["account"], role_arn=issued["role_arn"]), True
    user, key = backends.find_user_by_access_key(req.access_key_id)
    if user is not None and getattr(key, "status", "Active") == "Active":
        return Caller("aws", user.arn, account=user.account_id), False
    raise Refusal(403, "InvalidClientTokenId", "The security token included in the request is invalid.")


@judge("sts", "AssumeRole")
@_refusing
def judge_assume_role(layer, req):
    p = req.params
    caller, chained = resolve_caller(layer, req)
    role_arn = p.get("RoleArn")
    _check_session_name(p.get("RoleSessionName"))
    duration = _duration(p)
    account = _check_role_arn(role_arn)
    external_id = p.get("ExternalId")
    if external_id is not None and not EXTERNAL_ID_RE.match(external_id):
        raise _validation(
            f"1 validation error detected: Value '{external_id}' at 'externalId' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* "
            "and have length between 2 and 1224"
        )
    tags, transitive, sent_tags = _session_tags(p)

    def denied(action):
        return Refusal(
            403,
            "AccessDenied",
            f"User: {caller.arn} is not authorized to perform: {action} on resource: {role_arn}",
        )

    role = backends.find_role(role_arn)
    if role is None:
        raise denied("sts:AssumeRole")

    context = {
        "sts:RoleSessionName": p["RoleSessionName"],
        "aws:PrincipalArn": caller.role_arn or caller.arn,
        "aws:PrincipalAccount": caller.account,
    }
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    if sent_tags:
        context["aws:TagKeys"] = list(tags)
        context["sts:TransitiveTagKeys"] = transitive
        for k, v in tags.items():
            context[f"aws:RequestTag/{k}"] = v

    policy = load_policy(role.assume_role_policy_document)
    if not is_allowed(policy, "sts:AssumeRole", caller, context):
        raise denied("sts:AssumeRole")
    if sent_tags and not is_allowed(policy, "sts:TagSession", caller, context):
        raise denied("sts:TagSession")

    if chained and duration > CHAINED_MAX:
        raise _validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles "
            "assumed by role chaining."
        )
    _check_max_session(role, duration)

    req.notes = {"role": role, "account": account, "caller": caller.arn, "chained": chained}
    return None


@after("sts", "AssumeRole")
def after_assume_role(layer, req, resp):
    return _register_session(layer, req, resp)


# ---------------------------------------------------------------- issued credentials


def _xml_value(body, tag):
    m = re.search(rf"<{tag}>([^<]*)</{tag}>", body)
    return m.group(1) if m else None


def parse_aws_time(text):
    text = text.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def format_aws_time(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _register_session(layer, req, resp):
    """Remember the new key (for expiry, caller lookup, secrets); apply a shortened lifetime."""
    body = resp.body.decode("utf-8")
    key_id = _xml_value(body, "AccessKeyId")
    if not key_id:
        return resp
    lifetime = layer.lifetime_seconds
    if lifetime is not None:
        # Whole seconds, so the time the client reads is exactly the time we enforce.
        expiration = float(int(time.time()) + lifetime)
        body = re.sub(
            r"<Expiration>[^<]*</Expiration>",
            f"<Expiration>{format_aws_time(expiration)}</Expiration>",
            body,
            count=1,
        )
        resp.body = body.encode("utf-8")
    else:
        expiration = parse_aws_time(_xml_value(body, "Expiration"))
    notes = req.notes
    layer.register_key(
        {
            "access_key_id": key_id,
            "session_token": _xml_value(body, "SessionToken"),
            "arn": _xml_value(body, "Arn"),
            "role_arn": notes["role"].arn,
            "account": notes["account"],
            "expiration": expiration,
            "chained": True,  # any use of this key to AssumeRole is role chaining
            "issued_by": req.action,
            "issued_at": time.time(),
        }
    )
    return resp
