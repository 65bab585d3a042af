"""Self-tests of the emulator layer (test/emulator/), driven with boto3 as an AWS client would.

They pin down that refusals come from evaluation (tokens, trust policies, durations, keys),
that scripted faults behave as advertised, and that the observation endpoints are truthful.
"""

import json
import socket
import time
from urllib.parse import urlparse

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from emulator.client import (
    bitbucket_audience,
    bitbucket_claims,
    bitbucket_issuer,
    web_identity_trust_policy,
)
from emulator.policy import Caller, UnsupportedCondition, is_allowed

ACCOUNT = "111111111111"
OTHER = "222222222222"
THIRD = "333333333333"
WORKSPACE_UUID = "{0e8f4f8c-1111-4222-8333-944444444444}"
REPO = "{aaaaaaaa-1111-4222-8333-944444444444}"
ENV = "{eeeeeeee-1111-4222-8333-944444444444}"
ISSUER = bitbucket_issuer("ws")
AUDIENCE = bitbucket_audience(WORKSPACE_UUID)
# No retries, so a test sees each response; no client-side validation, so the layer's own
# validation is what answers out-of-range parameters.
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False)


def client(emulator, service, creds=None, config=NO_RETRY):
    creds = creds or {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
    return boto3.client(
        service,
        endpoint_url=emulator.base_url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=config,
    )


def error_of(excinfo):
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"], excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def oidc(emulator):
    """A provider + a role admitting one repository (any step, any environment)."""
    provider = emulator.create_oidc_provider(ACCOUNT, ISSUER, [AUDIENCE])
    policy = web_identity_trust_policy(provider, ISSUER, AUDIENCE, sub_pattern=f"{REPO}:*")
    role = emulator.create_role(ACCOUNT, "deploy", policy, max_session_duration=7200)
    return {"provider": provider, "role": role}


def token(emulator, key="trusted", kid=None, **overrides):
    claims = bitbucket_claims(workspace="ws", workspace_uuid=WORKSPACE_UUID, repo_uuid=REPO)
    claims.update(overrides)
    return emulator.mint_token(claims, key=key, kid=kid)


def web_identity(emulator, role, tok, **kw):
    sts = client(emulator, "sts", config=NO_RETRY.merge(Config(signature_version=UNSIGNED)))
    return sts.assume_role_with_web_identity(
        RoleArn=role, RoleSessionName=kw.pop("session", "bitbucket-pipe"), WebIdentityToken=tok, **kw
    )


def refused(fn, *args, **kw):
    with pytest.raises(ClientError) as excinfo:
        fn(*args, **kw)
    return error_of(excinfo)


# ====================================================================== web identity


def test_web_identity_success_then_caller_identity_in_role_account(emulator, oidc):
    resp = web_identity(emulator, oidc["role"], token(emulator))
    assert resp["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/bitbucket-pipe"
    assert resp["SubjectFromWebIdentityToken"].startswith(REPO + ":")
    assert resp["Audience"] == AUDIENCE
    assert resp["Provider"] == ISSUER
    ident = client(emulator, "sts", resp["Credentials"]).get_caller_identity()
    assert ident["Account"] == ACCOUNT
    assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/bitbucket-pipe"


def test_only_the_claims_iam_supplies_are_condition_keys(emulator):
    """IAM offers `aud`, `sub` and a few more OIDC claims as condition keys, not every claim of
    the token (condition-keys page, #condition-keys-wif; configure-aws-credentials#306): a trust
    policy conditioned on Bitbucket's `repositoryUuid` claim never matches."""
    provider = emulator.create_oidc_provider(ACCOUNT, ISSUER, [AUDIENCE])
    host = ISSUER[len("https://"):]
    policy = web_identity_trust_policy(provider, ISSUER, AUDIENCE, sub_pattern=f"{REPO}:*",
                                       StringEquals={f"{host}:repositoryUuid": REPO})
    role = emulator.create_role(ACCOUNT, "by-claim", policy)
    code, _, status = refused(web_identity, emulator, role, token(emulator))
    assert (code, status) == ("AccessDenied", 403)
    # …IfExists on a key IAM does not supply holds.
    policy = web_identity_trust_policy(provider, ISSUER, AUDIENCE, sub_pattern=f"{REPO}:*",
                                       StringEqualsIfExists={f"{host}:repositoryUuid": "{other}"})
    role = emulator.create_role(ACCOUNT, "if-exists", policy)
    assert web_identity(emulator, role, token(emulator))["Credentials"]


def test_deployment_environment_sub_and_aud_list(emulator):
    provider = emulator.create_oidc_provider(ACCOUNT, ISSUER, [AUDIENCE])
    policy = web_identity_trust_policy(provider, ISSUER, AUDIENCE, sub_pattern=f"{REPO}:{ENV}:*")
    role = emulator.create_role(ACCOUNT, "prod", policy)
    claims = bitbucket_claims(workspace_uuid=WORKSPACE_UUID, repo_uuid=REPO, env_uuid=ENV,
                              aud=["custom-audience", AUDIENCE])
    assert web_identity(emulator, role, emulator.mint_token(claims))["Credentials"]
    # the same repository without the environment does not match
    code, msg, status = refused(web_identity, emulator, role, token(emulator))
    assert (code, status) == ("AccessDenied", 403)


def test_forged_token_refused(emulator, oidc):
    code, _, status = refused(web_identity, emulator, oidc["role"], token(emulator, key="untrusted"))
    assert (code, status) == ("InvalidIdentityToken", 400)


def test_unknown_kid_and_garbage_token_refused(emulator, oidc):
    code, _, _ = refused(web_identity, emulator, oidc["role"], token(emulator, kid="other-key"))
    assert code == "InvalidIdentityToken"
    code, msg, _ = refused(web_identity, emulator, oidc["role"], "not-a-jwt-at-all")
    assert code == "InvalidIdentityToken" and "parse" in msg


def test_expired_token(emulator, oidc):
    past = int(time.time()) - 60
    code, msg, status = refused(web_identity, emulator, oidc["role"],
                                token(emulator, iat=past - 3600, exp=past))
    assert (code, status) == ("ExpiredTokenException", 400)
    assert msg.startswith("Token expired: current date/time")


def test_audience_mismatch(emulator, oidc):
    code, msg, _ = refused(web_identity, emulator, oidc["role"], token(emulator, aud="ari:cloud:bitbucket::workspace/other"))
    assert (code, msg) == ("InvalidIdentityToken", "Incorrect token audience")


def test_sub_not_matching_string_like(emulator, oidc):
    tok = token(emulator, sub="{bbbbbbbb-0000-4000-8000-000000000000}:{step}")
    code, msg, status = refused(web_identity, emulator, oidc["role"], tok)
    assert (code, status) == ("AccessDenied", 403)
    assert msg == "Not authorized to perform sts:AssumeRoleWithWebIdentity"


def test_provider_missing_in_role_account(emulator):
    # The provider exists, but in another account than the role.
    provider = emulator.create_oidc_provider(OTHER, ISSUER, [AUDIENCE])
    role = emulator.create_role(ACCOUNT, "deploy",
                                web_identity_trust_policy(provider, ISSUER, AUDIENCE))
    code, msg, _ = refused(web_identity, emulator, role, token(emulator))
    assert code == "InvalidIdentityToken"
    assert msg == f"No OpenIDConnect provider found in your account for {ISSUER}"


def test_role_missing_is_access_denied(emulator, oidc):
    code, _, _ = refused(web_identity, emulator, f"arn:aws:iam::{ACCOUNT}:role/nope", token(emulator))
    assert code == "AccessDenied"


def test_token_session_tags_need_tag_session(emulator, oidc):
    tags = {"principal_tags": {"repo": ["app"]}, "transitive_tag_keys": []}
    tok = token(emulator, **{"https://aws.amazon.com/tags": tags})
    code, msg, _ = refused(web_identity, emulator, oidc["role"], tok)
    assert (code, msg) == ("AccessDenied", "Not authorized to perform sts:TagSession")
    policy = web_identity_trust_policy(oidc["provider"], ISSUER, AUDIENCE, sub_pattern=f"{REPO}:*")
    policy["Statement"][0]["Action"] = ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]
    role = emulator.create_role(ACCOUNT, "tagging", policy)
    assert web_identity(emulator, role, tok)["Credentials"]


def test_explicit_deny_wins(emulator, oidc):
    provider = oidc["provider"]
    policy = web_identity_trust_policy(provider, ISSUER, AUDIENCE)
    policy["Statement"].append({
        "Effect": "Deny", "Principal": {"Federated": provider},
        "Action": "sts:*", "Condition": {"StringLike": {f"{ISSUER[8:]}:sub": f"{REPO}:*"}},
    })
    role = emulator.create_role(ACCOUNT, "denied", policy)
    assert refused(web_identity, emulator, role, token(emulator))[0] == "AccessDenied"


def test_durations_and_session_names(emulator, oidc):
    # the role allows 7200
    assert web_identity(emulator, oidc["role"], token(emulator), DurationSeconds=7200)
    code, msg, status = refused(web_identity, emulator, oidc["role"], token(emulator), DurationSeconds=7201)
    assert (code, status) == ("ValidationError", 400)
    assert msg == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    assert refused(web_identity, emulator, oidc["role"], token(emulator), DurationSeconds=899)[0] == "ValidationError"
    for bad in ("bad name!", "x", "n" * 65):
        assert refused(web_identity, emulator, oidc["role"], token(emulator), session=bad)[0] == "ValidationError"


# ====================================================================== AssumeRole


@pytest.fixture
def session(emulator, oidc):
    """Credentials of the OIDC session in ACCOUNT."""
    return web_identity(emulator, oidc["role"], token(emulator))["Credentials"]


def chained_role(emulator, policy_extra=None, actions=("sts:AssumeRole",), account=OTHER, name="target",
                 principal=f"arn:aws:iam::{ACCOUNT}:role/deploy", max_session=43200):
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions)}
    statement.update(policy_extra or {})
    return emulator.create_role(account, name, {"Version": "2012-10-17", "Statement": [statement]},
                                max_session_duration=max_session)


def test_chained_assume_role_with_external_id(emulator, session):
    role = chained_role(emulator, {"Condition": {"StringEquals": {"sts:ExternalId": "ext-123"}}})
    sts = client(emulator, "sts", session)
    out = sts.assume_role(RoleArn=role, RoleSessionName="chained", ExternalId="ext-123")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{OTHER}:assumed-role/target/chained"
    assert client(emulator, "sts", out["Credentials"]).get_caller_identity()["Account"] == OTHER

    caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/bitbucket-pipe"
    for kw in ({"ExternalId": "wrong-id"}, {}):
        code, msg, status = refused(sts.assume_role, RoleArn=role, RoleSessionName="chained", **kw)
        assert (code, status) == ("AccessDenied", 403)
        assert msg == f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}"


def test_session_tags_need_tag_session(emulator, session):
    sts = client(emulator, "sts", session)
    tags = [{"Key": "pipeline", "Value": "1234-abcd"}, {"Key": "repo", "Value": "my repo/x"}]
    role = chained_role(emulator, name="notags")
    code, msg, _ = refused(sts.assume_role, RoleArn=role, RoleSessionName="tagged", Tags=tags)
    assert code == "AccessDenied" and "sts:TagSession" in msg
    code, msg, _ = refused(sts.assume_role, RoleArn=role, RoleSessionName="tagged", Tags=tags[:1],
                           TransitiveTagKeys=["pipeline"])
    assert code == "AccessDenied" and "sts:TagSession" in msg
    role = chained_role(emulator, actions=("sts:AssumeRole", "sts:TagSession"), name="tags")
    assert sts.assume_role(RoleArn=role, RoleSessionName="tagged", Tags=tags, TransitiveTagKeys=["repo"])
    # STS's tag character set: no "*", and no braces, so Bitbucket's braced UUIDs can't be
    # tag values as they are
    for bad in ({"Key": "bad*key", "Value": "v"}, {"Key": "pipeline", "Value": "{1234}"},
                {"Key": "k" * 129, "Value": "v"}, {"Key": "k", "Value": "v" * 257}):
        code, _, _ = refused(sts.assume_role, RoleArn=role, RoleSessionName="tagged", Tags=[bad])
        assert code == "ValidationError"
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert refused(sts.assume_role, RoleArn=role, RoleSessionName="tagged", Tags=too_many)[0] == "ValidationError"


def test_role_chaining_one_hour_limit(emulator, session):
    role = chained_role(emulator)
    sts = client(emulator, "sts", session)
    code, msg, status = refused(sts.assume_role, RoleArn=role, RoleSessionName="chain", DurationSeconds=7200)
    assert (code, status) == ("ValidationError", 400)
    assert "1 hour session limit for roles assumed by role chaining" in msg
    assert sts.assume_role(RoleArn=role, RoleSessionName="chain", DurationSeconds=3600)


def test_user_keys_assume_role_cross_account(emulator):
    user = emulator.create_user(OTHER, "broker")
    keys = {"AccessKeyId": user["access_key_id"], "SecretAccessKey": user["secret_access_key"]}
    role = chained_role(emulator, account=THIRD, principal=OTHER, max_session=3600)
    sts = client(emulator, "sts", keys)
    assert sts.get_caller_identity()["Arn"] == user["arn"]
    out = sts.assume_role(RoleArn=role, RoleSessionName="from-user", DurationSeconds=3600)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{THIRD}:assumed-role/target/from-user"
    # a user-held session may ask more than 1 h only up to the role's maximum
    code, msg, _ = refused(sts.assume_role, RoleArn=role, RoleSessionName="again", DurationSeconds=7200)
    assert code == "ValidationError" and "MaxSessionDuration" in msg
    # a user of an untrusted account
    stranger = emulator.create_user(ACCOUNT, "stranger")
    other = client(emulator, "sts", {"AccessKeyId": stranger["access_key_id"],
                                     "SecretAccessKey": stranger["secret_access_key"]})
    code, msg, _ = refused(other.assume_role, RoleArn=role, RoleSessionName="again")
    assert code == "AccessDenied" and msg.startswith(f"User: {stranger['arn']} is not authorized")


def test_unknown_key_and_missing_session_token(emulator, session):
    role = chained_role(emulator)
    code, msg, status = refused(client(emulator, "sts", {"AccessKeyId": "AKIAUNKNOWN000000000",
                                                        "SecretAccessKey": "x"}).assume_role,
                                RoleArn=role, RoleSessionName="again")
    assert (code, status) == ("InvalidClientTokenId", 403)
    assert msg == "The security token included in the request is invalid."
    unsigned = client(emulator, "sts", config=NO_RETRY.merge(Config(signature_version=UNSIGNED)))
    assert refused(unsigned.assume_role, RoleArn=role, RoleSessionName="anon")[0] == "MissingAuthenticationToken"
    no_token = {"AccessKeyId": session["AccessKeyId"], "SecretAccessKey": session["SecretAccessKey"]}
    code, _, _ = refused(client(emulator, "sts", no_token).get_caller_identity)
    assert code == "InvalidClientTokenId"


# ====================================================================== faults


def test_throttle_twice_then_success(emulator, oidc):
    emulator.add_fault("throttle", service="sts", action="AssumeRoleWithWebIdentity", count=2)
    tok = token(emulator)
    for _ in range(2):
        code, msg, status = refused(web_identity, emulator, oidc["role"], tok)
        assert (code, msg, status) == ("Throttling", "Rate exceeded", 400)
    assert web_identity(emulator, oidc["role"], tok)["Credentials"]
    recs = emulator.requests(service="sts", action="AssumeRoleWithWebIdentity")
    assert [(r["fault"], r["status"]) for r in recs] == [("throttle", 400), ("throttle", 400), (None, 200)]
    assert emulator.faults() == []


def test_error_faults_and_json_protocol(emulator, session):
    sts = client(emulator, "sts", session)
    emulator.add_fault("access_denied", service="sts", action="GetCallerIdentity")
    emulator.add_fault("server_error", service="sts", action="GetCallerIdentity")
    assert refused(sts.get_caller_identity)[::2] == ("AccessDenied", 403)
    assert refused(sts.get_caller_identity)[::2] == ("InternalFailure", 500)
    assert sts.get_caller_identity()["Account"] == ACCOUNT
    # a JSON-protocol service gets a JSON error document
    emulator.add_fault("throttle", service="ecs", action="ListClusters")
    ecs = client(emulator, "ecs", session)
    code, _, status = refused(ecs.list_clusters)
    assert (code, status) == ("ThrottlingException", 400)
    assert ecs.list_clusters()["clusterArns"] == []
    # Lambda throttles its own way; "error" sends any error document
    lam = client(emulator, "lambda", session)
    emulator.add_fault("throttle", service="lambda", action="ListFunctions")
    emulator.add_fault("error", service="lambda", action="GetFunction", status=409,
                       code="ResourceConflictException", message="update in progress")
    assert refused(lam.list_functions)[::2] == ("TooManyRequestsException", 429)
    assert refused(lam.get_function, FunctionName="f") == ("ResourceConflictException", "update in progress", 409)
    assert emulator.requests(service="lambda", action="GetFunction")[0]["params"]["FunctionName"] == "f"


def test_drop_closes_connection_without_response(emulator, oidc):
    emulator.add_fault("drop", service="sts", action="AssumeRoleWithWebIdentity")
    # Closed, not left hanging: a hang would end in botocore's ReadTimeoutError instead.
    with pytest.raises(ConnectionClosedError):
        web_identity(emulator, oidc["role"], token(emulator))
    # also at the socket level: EOF where the status line should be
    emulator.add_fault("drop", service="sts", action="GetCallerIdentity")
    url = urlparse(emulator.base_url)
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: sts.amazonaws.com\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        assert s.recv(1024) == b""
    assert [r["fault"] for r in emulator.requests()] == ["drop", "drop"]
    assert all(r["status"] is None for r in emulator.requests())


def test_hang_then_drop(emulator, oidc):
    emulator.add_fault("hang", service="sts", action="AssumeRoleWithWebIdentity", hang_seconds=5)
    sts = client(emulator, "sts",
                 config=NO_RETRY.merge(Config(signature_version=UNSIGNED, read_timeout=0.5)))
    with pytest.raises(ReadTimeoutError):
        sts.assume_role_with_web_identity(RoleArn=oidc["role"], RoleSessionName="hung",
                                          WebIdentityToken=token(emulator))
    assert emulator.requests()[0]["fault"] == "hang"
    # the fault was used up: the next call goes through
    assert web_identity(emulator, oidc["role"], token(emulator))


# ====================================================================== observation


def test_requests_recorded_with_token_redacted(emulator, session):
    role = chained_role(emulator, actions=("sts:AssumeRole", "sts:TagSession"))
    client(emulator, "sts", session).assume_role(
        RoleArn=role, RoleSessionName="rec", ExternalId="abc", Tags=[{"Key": "k", "Value": "v"}])
    web = emulator.requests(action="AssumeRoleWithWebIdentity")
    assert len(web) == 1
    assert web[0]["params"]["WebIdentityToken"] == "<redacted>"
    assert web[0]["access_key_id"] is None and web[0]["status"] == 200
    assert "Boto3" in web[0]["user_agent"]
    for secret in emulator.secrets():
        assert secret not in json.dumps(emulator.requests())
    (ar,) = emulator.requests(service="sts", action="AssumeRole")
    assert ar["access_key_id"] == session["AccessKeyId"]
    assert ar["params"]["Tags.member.1.Key"] == "k" and ar["params"]["ExternalId"] == "abc"
    assert [r["action"] for r in emulator.requests(service="sts")] == ["AssumeRoleWithWebIdentity", "AssumeRole"]


def test_secrets_registry(emulator, oidc):
    tok = token(emulator)
    creds = web_identity(emulator, oidc["role"], tok)["Credentials"]
    user = emulator.create_user(ACCOUNT, "u")
    secrets = emulator.secrets()
    for value in (tok, creds["SecretAccessKey"], creds["SessionToken"], user["secret_access_key"]):
        assert value in secrets
    # keys created through moto's own IAM API are caught from the response too
    iam_key = client(emulator, "iam", {"AccessKeyId": user["access_key_id"],
                                       "SecretAccessKey": user["secret_access_key"]})
    iam_key.create_user(UserName="v")
    made = iam_key.create_access_key(UserName="v")["AccessKey"]["SecretAccessKey"]
    assert made in emulator.secrets()


def test_credential_lifetime_and_expiry(emulator, oidc):
    emulator.set_credential_lifetime(2)
    creds = web_identity(emulator, oidc["role"], token(emulator))["Credentials"]
    # The shortened lifetime as the emulator recorded it when issuing (whole seconds, so the
    # client reads exactly the expiry that is enforced), not timed around a loaded call.
    [issued] = emulator.issued_credentials()["issued"]
    assert creds["Expiration"].timestamp() == issued["expiration"]
    assert 0 < issued["expiration"] - issued["issued_at"] <= 2, issued
    sts = client(emulator, "sts", creds)
    assert sts.get_caller_identity()["Account"] == ACCOUNT
    time.sleep(max(0.0, creds["Expiration"].timestamp() - time.time()) + 0.1)
    code, msg, status = refused(sts.get_caller_identity)
    assert (code, status) == ("ExpiredToken", 403)
    assert msg == "The security token included in the request is expired"
    # JSON services say it their way
    assert refused(client(emulator, "ecs", creds).list_clusters)[0] == "ExpiredTokenException"
    assert issued["access_key_id"] == creds["AccessKeyId"] and issued["chained"] is True


def test_default_expiration_is_enforced_too(emulator, oidc):
    creds = web_identity(emulator, oidc["role"], token(emulator), DurationSeconds=900)["Credentials"]
    (issued,) = emulator.issued_credentials()["issued"]
    assert abs(issued["expiration"] - creds["Expiration"].timestamp()) < 1
    assert 890 <= issued["expiration"] - issued["issued_at"] <= 900, issued


def test_reset_clears_state_but_keeps_issuer_keys(emulator, oidc):
    jwks = emulator.jwks()
    assert jwks["keys"][0]["kid"] == "test-key-1"
    web_identity(emulator, oidc["role"], token(emulator))
    emulator.add_fault("throttle")
    emulator.set_credential_lifetime(5)
    emulator.reset()
    assert emulator.requests() == [] and emulator.secrets() == [] and emulator.faults() == []
    assert emulator.issued_credentials() == {"lifetime_seconds": None, "issued": []}
    assert emulator.jwks() == jwks
    # moto was reset too: the role is gone
    assert refused(web_identity, emulator, oidc["role"], token(emulator))[0] == "InvalidIdentityToken"


# ====================================================================== policy evaluation (unit)

FED = Caller("federated", "arn:aws:iam::111111111111:oidc-provider/idp")


def _policy(condition, effect="Allow", action="sts:AssumeRoleWithWebIdentity"):
    return {"Statement": [{"Effect": effect, "Principal": {"Federated": FED.arn},
                           "Action": action, "Condition": condition}]}


@pytest.mark.parametrize("condition, context, expected", [
    ({"StringEquals": {"idp:aud": "a"}}, {"idp:aud": "a"}, True),
    ({"StringEquals": {"IDP:AUD": "a"}}, {"idp:aud": "a"}, True),  # keys case-insensitive
    ({"StringEquals": {"idp:aud": "A"}}, {"idp:aud": "a"}, False),  # values are not
    ({"StringEquals": {"idp:aud": ["x", "a"]}}, {"idp:aud": "a"}, True),
    ({"StringEquals": {"idp:aud": "a"}}, {"idp:aud": ["b", "a"]}, True),  # list aud: any
    ({"StringEquals": {"idp:aud": "a"}}, {}, False),
    ({"StringLike": {"idp:sub": "{r}:*"}}, {"idp:sub": "{r}:{s}"}, True),
    ({"StringLike": {"idp:sub": "{r}:?"}}, {"idp:sub": "{r}:ab"}, False),
    ({"StringLike": {"idp:sub": "[r]*"}}, {"idp:sub": "r"}, False),  # no character classes
    ({"StringNotEquals": {"idp:sub": "x"}}, {}, True),
    ({"StringEqualsIfExists": {"idp:sub": "x"}}, {}, True),
    ({"ForAnyValue:StringLike": {"idp:aud": "a*"}}, {"idp:aud": ["b", "ab"]}, True),
    ({"ForAnyValue:StringEquals": {"idp:aud": "a"}}, {}, False),
    ({"ForAllValues:StringEquals": {"idp:aud": ["a", "b"]}}, {"idp:aud": ["a", "c"]}, False),
    ({"Null": {"idp:sub": "true"}}, {}, True),
])
def test_condition_operators(condition, context, expected):
    assert is_allowed(_policy(condition), "sts:AssumeRoleWithWebIdentity", FED, context) is expected


def test_unsupported_operator_is_loud():
    with pytest.raises(UnsupportedCondition):
        is_allowed(_policy({"NumericLessThan": {"idp:exp": "1"}}), "sts:AssumeRoleWithWebIdentity",
                   FED, {"idp:exp": "0"})


def test_actions_principals_and_deny():
    assert is_allowed(_policy({}, action="sts:*"), "sts:AssumeRoleWithWebIdentity", FED, {})
    assert is_allowed(_policy({}, action=["sts:TagSession", "*"]), "sts:AssumeRoleWithWebIdentity", FED, {})
    assert not is_allowed(_policy({}, action="sts:AssumeRole"), "sts:AssumeRoleWithWebIdentity", FED, {})
    other = Caller("federated", "arn:aws:iam::111111111111:oidc-provider/other")
    assert not is_allowed(_policy({}), "sts:AssumeRoleWithWebIdentity", other, {})
    both = _policy({})
    both["Statement"] += _policy({}, effect="Deny")["Statement"]
    assert not is_allowed(both, "sts:AssumeRoleWithWebIdentity", FED, {})
    user = Caller("aws", "arn:aws:iam::222222222222:user/u", account="222222222222")
    session = Caller("aws", "arn:aws:sts::222222222222:assumed-role/r/s", account="222222222222",
                     role_arn="arn:aws:iam::222222222222:role/r")
    for principal, who, ok in [
        ("*", user, True),
        ("222222222222", user, True),
        ("arn:aws:iam::222222222222:root", session, True),
        ("arn:aws:iam::222222222222:user/u", user, True),
        ("arn:aws:iam::222222222222:user/u", session, False),
        ("arn:aws:iam::222222222222:role/r", session, True),
        (["arn:aws:iam::333333333333:root", "arn:aws:iam::222222222222:role/r"], session, True),
        ("333333333333", user, False),
    ]:
        policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": principal},
                                 "Action": "sts:AssumeRole"}]}
        assert is_allowed(policy, "sts:AssumeRole", who, {}) is ok, (principal, who.arn)


def test_the_secrets_scanner_finds_every_encoding(emulator):
    import base64
    from urllib.parse import quote

    import pytest as _pytest

    from emulator.client import encodings

    secret = "sk/live+token=value-1234"
    for _, text in encodings(secret):
        with _pytest.raises(AssertionError, match="secret leaked"):
            emulator.assert_no_secrets_in(f"...{text}...", more=[secret])
    assert base64.b64encode(secret.encode()).decode() in [t for _, t in encodings(secret)]
    assert quote(secret, safe="") in [t for _, t in encodings(secret)]
    emulator.assert_no_secrets_in("nothing here", more=[secret])


def test_passing_roles_is_authorised_as_iam_does():
    """A function's Role and the ECS infrastructure role of EBS volumes are passed roles, each to
    its own service (the mapping the permissions enforcement judges; pure, no server needed)."""
    from types import SimpleNamespace

    from emulator.permissions import authorizations

    def needs(service, action, params):
        req = SimpleNamespace(service=service, action=action, params=params, region="us-east-1", path="/")
        return [(a, r, c) for a, r, c in authorizations(req, "111111111111") if a == "iam:PassRole"]

    role = "arn:aws:iam::111111111111:role/api-exec"
    assert needs("lambda", "UpdateFunctionConfiguration", {"FunctionName": "api", "Role": role}) == [
        ("iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})]
    assert needs("lambda", "UpdateFunctionConfiguration", {"FunctionName": "api", "Timeout": 3}) == []
    ebs = "arn:aws:iam::111111111111:role/ecs-ebs"
    volumes = [{"name": "data", "managedEBSVolume": {"roleArn": ebs, "sizeInGiB": 10}}]
    for action, params in [("RunTask", {"cluster": "prod", "taskDefinition": "web:2", "volumeConfigurations": volumes}),
                           ("UpdateService", {"cluster": "prod", "service": "web", "volumeConfigurations": volumes})]:
        assert needs("ecs", action, params) == [("iam:PassRole", ebs, {"iam:PassedToService": "ecs.amazonaws.com"})]
    assert needs("ecs", "RunTask", {"cluster": "prod", "taskDefinition": "web:2"}) == []
