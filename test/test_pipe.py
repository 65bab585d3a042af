"""End-to-end tests of the pipe's binary against the emulator (moto + our STS-judging layer).

Each test runs the binary with the environment Bitbucket would give it (test/pipe.py) and
checks three things: the exit code, what the user reads, and what reached AWS (the emulator's
request records). Every run is also checked for the invariants of the output format
(`Result.check_invariants`): never exit 101, and the last line is `✔`/`✖`.
"""

import http.client
import http.server
import re
import secrets as _random
import socket
import threading
from urllib.parse import urlsplit

import pytest

from pipe import (
    ACCOUNT,
    BUILD_NUMBER,
    ISSUER,
    ISSUER_HOST,
    OTHER_ACCOUNT,
    REPO_FULL_NAME,
    SESSION_NAME,
    new_uuid,
)

ASSUMED_ROLE_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{SESSION_NAME}"
WEB_IDENTITY = "AssumeRoleWithWebIdentity"


# ------------------------------------------------------------------------------------ helpers


def web_identity_calls(emulator):
    return emulator.requests(service="sts", action=WEB_IDENTITY)


def assume_role_calls(emulator):
    return emulator.requests(service="sts", action="AssumeRole")


def caller_identity_calls(emulator):
    return emulator.requests(service="sts", action="GetCallerIdentity")


def only(items, what="item"):
    assert len(items) == 1, f"expected exactly one {what}, got {len(items)}: {items}"
    return items[0]


def tags_of(params):
    """Session tags of a recorded AssumeRole: {key: value} from Tags.member.N.Key/Value."""
    tags = {}
    for name, key in params.items():
        match = re.fullmatch(r"Tags\.member\.(\d+)\.Key", name)
        if match:
            tags[key] = params[f"Tags.member.{match.group(1)}.Value"]
    return tags


def tag_params(params):
    return {name: value for name, value in params.items() if name.startswith("Tags.")}


def issued_key(emulator, issued_by, arn_fragment=""):
    """The access key id the layer issued by `issued_by` (e.g. AssumeRoleWithWebIdentity)."""
    issued = emulator.issued_credentials()["issued"]
    keys = [c["access_key_id"] for c in issued if c["issued_by"] == issued_by and arn_fragment in c["arn"]]
    return only(keys, f"key issued by {issued_by}")


def identity_line(result):
    return only([line for line in result.lines if "Authenticated as" in line], "identity line")


def detail_line(result, name):
    """A decoded-claim line of a refusal: `  iss: ...`."""
    return only([line.strip() for line in result.lines if line.strip().startswith(f"{name}: ")], f"{name}: line")


def assert_nothing_secret(emulator, result, *more):
    """No issued secret (tokens, secret keys, session tokens) nor any of `more` anywhere the
    run wrote: stdout, stderr, outputs files."""
    text = result.everything()
    emulator.assert_no_secrets_in(text)
    for value in more:
        assert value not in text, f"secret value {value[:4]}... leaked\n{result}"


def dead_port():
    """A loopback port bound but not listening: connections are refused at once. The socket
    is returned so that the port stays taken."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


# ------------------------------------------------------------------------------------ OIDC


def test_oidc_success(scenario, emulator):
    result = scenario.run()

    assert result.code == 0, result
    assert result.final_line.startswith("✔"), result
    line = identity_line(result)
    assert ASSUMED_ROLE_ARN in line and f"account {ACCOUNT}" in line, line

    call = only(web_identity_calls(emulator), WEB_IDENTITY)
    assert call["status"] == 200
    assert call["params"]["RoleArn"] == scenario.role_arn
    assert call["params"]["RoleSessionName"] == SESSION_NAME
    assert call["params"]["DurationSeconds"] == "3600"
    assert not tag_params(call["params"]), call["params"]
    assert call["access_key_id"] is None, "AssumeRoleWithWebIdentity is unsigned"
    assert "app/aws-role-deploy" in call["user_agent"]

    # The role's session names itself (AssumedRoleUser): no round trip to GetCallerIdentity.
    assert not caller_identity_calls(emulator)

    assert result.env_file.is_file() and result.json_file.is_file(), result
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_ACCOUNT"] == ACCOUNT
    assert outputs["AWS_ROLE_DEPLOY_CALLER_ARN"] == ASSUMED_ROLE_ARN
    assert outputs["AWS_ROLE_DEPLOY_SESSION_NAME"] == SESSION_NAME
    assert outputs["AWS_ROLE_DEPLOY_ROLE_ARN"] == scenario.role_arn
    assert outputs["AWS_ROLE_DEPLOY_ACTION"] == "assume-role"
    assert outputs["AWS_ROLE_DEPLOY_REGION"] == "us-east-1"
    as_json = result.outputs_json
    assert {f"AWS_ROLE_DEPLOY_{key.upper()}": value for key, value in as_json.items() if value is not None} == outputs
    assert str(result.env_file) in result.output and str(result.json_file) in result.output

    written = result.outputs_text()
    for credential in [issued_key(emulator, WEB_IDENTITY), *emulator.secrets()]:
        assert credential not in written, f"credential {credential[:6]}... written to the outputs files"
    assert not re.search(r"(?i)secret|session_token|access_key", written), written
    assert_nothing_secret(emulator, result)


def test_explicit_session_name_is_sanitised(scenario, emulator):
    result = scenario.run(AWS_ROLE_SESSION_NAME="deploy (prod)/#1 ü")

    expected = "deploy--prod---1--"
    assert result.code == 0, result
    call = only(web_identity_calls(emulator), WEB_IDENTITY)
    assert call["params"]["RoleSessionName"] == expected
    assert f"assumed-role/deploy/{expected}" in identity_line(result)
    assert result.outputs_env["AWS_ROLE_DEPLOY_SESSION_NAME"] == expected


def test_oidc_then_chained_role_with_external_id(scenario, emulator):
    external_id = "ext-" + _random.token_hex(12)
    target = scenario.chained_role(external_id=external_id)

    result = scenario.run(AWS_ROLE_ARN=target, AWS_EXTERNAL_ID=external_id)

    assert result.code == 0, result
    only(web_identity_calls(emulator), WEB_IDENTITY)
    call = only(assume_role_calls(emulator), "AssumeRole")
    assert call["status"] == 200
    params = call["params"]
    assert params["RoleArn"] == target
    assert params["ExternalId"] == external_id
    assert params["RoleSessionName"] == SESSION_NAME
    assert params["DurationSeconds"] == "3600"
    assert tags_of(params) == {
        "Repository": REPO_FULL_NAME,
        "Branch": "main",
        "Commit": scenario.commit,
        "BuildNumber": BUILD_NUMBER,
        "StepUuid": scenario.step_uuid.strip("{}"),
    }
    assert call["access_key_id"] == issued_key(emulator, WEB_IDENTITY)

    line = identity_line(result)
    assert f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/target/{SESSION_NAME}" in line, line
    assert f"account {OTHER_ACCOUNT}" in line, line
    assert not caller_identity_calls(emulator)
    assert result.outputs_env["AWS_ROLE_DEPLOY_CALLER_ARN"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/target/{SESSION_NAME}"
    assert result.outputs_env["AWS_ROLE_DEPLOY_ACCOUNT"] == OTHER_ACCOUNT
    assert result.outputs_env["AWS_ROLE_DEPLOY_ROLE_ARN"] == target
    assert_nothing_secret(emulator, result, external_id)


def test_wrong_external_id_is_refused(scenario, emulator):
    expected_id = "right-" + _random.token_hex(12)
    given_id = "wrong-" + _random.token_hex(12)
    target = scenario.chained_role(external_id=expected_id)

    result = scenario.run(AWS_ROLE_ARN=target, AWS_EXTERNAL_ID=given_id)

    assert result.code == 3, result
    assert "AWS_EXTERNAL_ID" in result.output
    assert "AccessDenied" in result.output
    call = only(assume_role_calls(emulator), "AssumeRole (AccessDenied is not retried)")
    assert call["status"] == 403 and call["params"]["ExternalId"] == given_id
    assert not caller_identity_calls(emulator)
    assert result.outputs_env is None, "nothing is written after a refusal"
    assert_nothing_secret(emulator, result, expected_id, given_id)


def test_missing_external_id_is_refused(scenario, emulator):
    target = scenario.chained_role(external_id="needed-" + _random.token_hex(8))

    result = scenario.run(AWS_ROLE_ARN=target)

    assert result.code == 3, result
    assert "AWS_EXTERNAL_ID" in result.output
    call = only(assume_role_calls(emulator), "AssumeRole")
    assert call["status"] == 403
    assert "ExternalId" not in call["params"]


def test_role_without_tag_session_is_assumed_untagged_with_a_warning(scenario, emulator):
    # Typical of a vendor's role with an ExternalId: its trust policy admits sts:AssumeRole only.
    target = scenario.chained_role(tag_session=False)

    result = scenario.run(AWS_ROLE_ARN=target)

    assert result.code == 0, result
    first, second = assume_role_calls(emulator)
    assert first["status"] == 403 and first["error_code"] == "AccessDenied" and tags_of(first["params"])
    assert second["status"] == 200 and not tag_params(second["params"]), second["params"]
    warning = [line for line in result.lines if line.startswith("WARNING:") and "sts:TagSession" in line]
    assert len(warning) == 1, result
    # It names the statement to add, and how to silence it.
    assert scenario.role_arn in warning[0] and target in warning[0], warning[0]
    assert '"Action": ["sts:AssumeRole", "sts:TagSession"]' in warning[0], warning[0]
    assert 'AWS_SESSION_TAGS: "false"' in warning[0], warning[0]


def test_role_without_tag_session_refuses_when_tags_are_required(scenario, emulator):
    target = scenario.chained_role(tag_session=False)

    result = scenario.run(AWS_ROLE_ARN=target, AWS_SESSION_TAGS="true")

    assert result.code == 3, result
    assert "sts:TagSession" in result.output
    assert "AWS_SESSION_TAGS" in result.output
    call = only(assume_role_calls(emulator), "AssumeRole")
    assert call["status"] == 403 and tags_of(call["params"])


def test_session_tags_off_for_role_without_tag_session(scenario, emulator):
    target = scenario.chained_role(tag_session=False)

    result = scenario.run(AWS_ROLE_ARN=target, AWS_SESSION_TAGS="false")

    assert result.code == 0, result
    call = only(assume_role_calls(emulator), "AssumeRole")
    assert call["status"] == 200
    assert not tag_params(call["params"]), call["params"]


def test_deployment_environment_tag(scenario, emulator):
    target = scenario.chained_role()

    result = scenario.run(AWS_ROLE_ARN=target, BITBUCKET_DEPLOYMENT_ENVIRONMENT="production")

    assert result.code == 0, result
    tags = tags_of(only(assume_role_calls(emulator), "AssumeRole")["params"])
    assert tags["DeploymentEnvironment"] == "production"
    assert tags["Branch"] == "main"


def test_git_tag_replaces_branch_tag(scenario, emulator):
    target = scenario.chained_role()

    result = scenario.run(AWS_ROLE_ARN=target, BITBUCKET_TAG="1.4.0")

    assert result.code == 0, result
    tags = tags_of(only(assume_role_calls(emulator), "AssumeRole")["params"])
    assert tags["Tag"] == "1.4.0"
    assert "Branch" not in tags, tags
    assert "DeploymentEnvironment" not in tags


# ------------------------------------------------------------------------------------ access keys


def keys_env(user):
    return {
        "AWS_OIDC_ROLE_ARN": None,
        "BITBUCKET_STEP_OIDC_TOKEN": None,
        "AWS_ACCESS_KEY_ID": user["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": user["secret_access_key"],
    }


def test_access_keys_work_with_a_warning(scenario, emulator):
    user = scenario.user()

    result = scenario.run(**keys_env(user))

    assert result.code == 0, result
    warnings = result.lines_starting("WARNING:")
    assert any("AWS_OIDC_ROLE_ARN" in w and "oidc: true" in w for w in warnings), result
    assert "WARNING:" in result.stderr
    line = identity_line(result)
    assert user["arn"] in line and f"account {ACCOUNT}" in line, line
    identity = only(caller_identity_calls(emulator), "GetCallerIdentity")
    assert identity["access_key_id"] == user["access_key_id"]
    assert not web_identity_calls(emulator) and not assume_role_calls(emulator)
    assert result.outputs_env["AWS_ROLE_DEPLOY_CALLER_ARN"] == user["arn"]
    assert_nothing_secret(emulator, result, user["secret_access_key"])


def test_access_keys_then_role_may_last_two_hours(scenario, emulator):
    user = scenario.user()
    target = scenario.chained_role(name="deployer", trusted=ACCOUNT, max_session_duration=7200)

    result = scenario.run(**keys_env(user), AWS_ROLE_ARN=target, AWS_ROLE_DURATION_SECONDS="7200")

    assert result.code == 0, result
    call = only(assume_role_calls(emulator), "AssumeRole")
    assert call["status"] == 200
    assert call["access_key_id"] == user["access_key_id"]
    assert call["params"]["DurationSeconds"] == "7200"
    assert call["params"]["RoleArn"] == target
    assert tags_of(call["params"])["Repository"] == REPO_FULL_NAME
    assert f"assumed-role/deployer/{SESSION_NAME}" in identity_line(result)
    assert not web_identity_calls(emulator)
    assert_nothing_secret(emulator, result, user["secret_access_key"])


def test_oidc_wins_over_access_keys(scenario, emulator):
    user = scenario.user()

    result = scenario.run(AWS_ACCESS_KEY_ID=user["access_key_id"], AWS_SECRET_ACCESS_KEY=user["secret_access_key"])

    assert result.code == 0, result
    only(web_identity_calls(emulator), WEB_IDENTITY)
    signed_by_user = [r for r in emulator.requests() if r["access_key_id"] == user["access_key_id"]]
    assert not signed_by_user, signed_by_user
    warnings = result.lines_starting("WARNING:")
    assert any("ignored" in w and "AWS_ACCESS_KEY_ID" in w for w in warnings), result
    assert ASSUMED_ROLE_ARN in identity_line(result)
    assert_nothing_secret(emulator, result, user["secret_access_key"])


# ------------------------------------------------------------------------------------ token problems


def test_role_without_token_asks_for_oidc_true(scenario, emulator):
    result = scenario.run(BITBUCKET_STEP_OIDC_TOKEN=None)

    assert result.code == 2, result
    assert "oidc: true" in result.output
    assert "AWS_OIDC_ROLE_ARN" in result.output
    assert emulator.requests() == []


def test_malformed_token(scenario, emulator):
    bad = "this-is-not.a-json-web.token-at-all"
    result = scenario.run(BITBUCKET_STEP_OIDC_TOKEN=bad)

    assert result.code == 2, result
    assert re.search(r"^  - BITBUCKET_STEP_OIDC_TOKEN: ", result.output, re.M), result
    assert bad not in result.output
    assert emulator.requests(service="sts") == []
    assert emulator.requests() == []


def test_expired_token(scenario, emulator):
    token = scenario.mint_token(lifetime=-120)

    result = scenario.run(BITBUCKET_STEP_OIDC_TOKEN=token)

    assert result.code == 3, result
    assert "expired" in result.final_line.lower(), result
    assert "EXPIRED" in detail_line(result, "exp")
    assert "ExpiredTokenException" in result.output
    call = only(web_identity_calls(emulator), WEB_IDENTITY)
    assert (call["status"], call["error_code"], call["fault"]) == (400, "ExpiredTokenException", None)
    assert_nothing_secret(emulator, result)


# IDPCommunicationError is retried by the SDK itself, silently; the "key" form of the same
# outage is an InvalidIdentityToken, which only the pipe knows to try again.
@pytest.mark.parametrize(
    "kind, code, said", [("keys", "InvalidIdentityToken", True), ("communication", "IDPCommunicationError", False)]
)
def test_sts_failing_to_reach_the_identity_provider_is_retried(scenario, emulator, kind, code, said):
    emulator.idp_outage(count=2, kind=kind)

    result = scenario.run()

    assert result.code == 0, result
    calls = web_identity_calls(emulator)
    assert [call["error_code"] for call in calls] == [code, code, None], calls
    assert calls[-1]["status"] == 200
    warnings = [line for line in result.lines if line.startswith("WARNING:") and "identity provider" in line]
    assert len(warnings) == (1 if said else 0), result
    assert "trust policy" not in result.output.lower()


def test_sts_never_reaching_the_identity_provider_says_so_without_policy_advice(scenario, emulator):
    emulator.idp_outage(count=50)

    # The tries would cover about 30 s (their schedule is pinned down in src/auth/chain.rs, on a
    # paused clock); the run's WAIT_TIMEOUT ends them sooner, so this takes 5 s, not 30.
    result = scenario.run(WAIT_TIMEOUT="5")

    assert result.code == 1, result
    assert "could not reach the identity provider" in result.final_line, result
    assert "InvalidIdentityToken" in result.output
    # The token and the trust policy are fine: no advice about them.
    assert "trust policy" not in result.output.lower() and "Condition" not in result.output, result
    calls = web_identity_calls(emulator)
    assert all(call["error_code"] == "InvalidIdentityToken" for call in calls), calls
    # Tried again with growing pauses (from 1 s, a quarter either way, growing by half), until
    # the deadline cut the last one short. The emulator's clock: a loaded machine only
    # lengthens the gaps, so these lower bounds hold whatever the load.
    gaps = [later["time"] - earlier["time"] for earlier, later in zip(calls, calls[1:])]
    assert len(gaps) >= 2, [call["time"] for call in calls]
    assert gaps[0] >= 0.75 and gaps[1] >= 0.75 * 1.5, gaps
    assert not caller_identity_calls(emulator)


def test_forged_token(scenario, emulator):
    token = scenario.mint_token(key="untrusted")

    result = scenario.run(BITBUCKET_STEP_OIDC_TOKEN=token)

    assert result.code == 3, result
    assert "InvalidIdentityToken" in result.output
    assert detail_line(result, "iss") == f"iss: {ISSUER}"
    assert detail_line(result, "aud") == f"aud: {scenario.audience}"
    assert scenario.repo_uuid in detail_line(result, "sub")
    assert "valid, expires" in detail_line(result, "exp")
    call = only(web_identity_calls(emulator), WEB_IDENTITY)
    assert call["status"] == 400
    assert_nothing_secret(emulator, result)


def test_trust_policy_mismatch_suggests_a_statement(scenario, emulator):
    other_repo = new_uuid()
    token = scenario.mint_token(sub=f"{other_repo}:{scenario.step_uuid}", repositoryUuid=other_repo)

    result = scenario.run(BITBUCKET_STEP_OIDC_TOKEN=token)

    assert result.code == 3, result
    assert "AccessDenied" in result.output
    assert detail_line(result, "aud") == f"aud: {scenario.audience}"
    assert detail_line(result, "sub") == f"sub: {other_repo}:{scenario.step_uuid}"
    assert '"StringLike"' in result.output
    assert f'"{ISSUER_HOST}:sub": "{other_repo}:*"' in result.output, result
    assert f'"{other_repo}:*"' in result.output
    provider_arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER_HOST}"
    assert provider_arn == scenario.provider_arn
    assert f'"Federated": "{provider_arn}"' in result.output, result
    call = only(web_identity_calls(emulator), f"{WEB_IDENTITY} (AccessDenied is not retried)")
    assert call["status"] == 403
    assert_nothing_secret(emulator, result)


# ------------------------------------------------------------------------------------ validation


def validation_entries(result):
    return [line for line in result.lines if line.startswith("  - ")]


def test_all_invalid_variables_in_one_block(scenario, emulator):
    result = scenario.run(
        ACTION="deploy",
        AWS_DEFAULT_REGION="moon",
        AWS_ROLE_DURATION_SECONDS="1h",
        DEBUG="loud",
        AWS_MAX_ATTEMPTS="11",
    )

    assert result.code == 2, result
    assert result.lines.count("✖ Validation errors:") == 1, result
    entries = validation_entries(result)
    variables = [entry[4:].split(":", 1)[0] for entry in entries]
    assert sorted(variables) == sorted(
        ["ACTION", "AWS_DEFAULT_REGION", "AWS_ROLE_DURATION_SECONDS", "DEBUG", "AWS_MAX_ATTEMPTS"]
    ), entries
    assert '"moon"' in result.output and '"1h"' in result.output
    assert emulator.requests() == []


OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/target"

SINGLE_BAD_VARIABLES = [
    # (overrides, variable named, fragment of its message)
    ({"AWS_DEFAULT_REGION": "Europe"}, "AWS_DEFAULT_REGION", '"Europe"'),
    ({"AWS_DEFAULT_REGION": None}, "AWS_DEFAULT_REGION", "is required"),
    ({"AWS_OIDC_ROLE_ARN": "arn:aws:iam::111111111111:user/deploy"}, "AWS_OIDC_ROLE_ARN", "IAM role ARN"),
    ({"AWS_OIDC_ROLE_ARN": "arn:aws:iam::1111:role/deploy"}, "AWS_OIDC_ROLE_ARN", "12 digits"),
    ({"AWS_ROLE_DURATION_SECONDS": "60"}, "AWS_ROLE_DURATION_SECONDS", "900 to 43200"),
    ({"AWS_ROLE_ARN": OTHER_ROLE, "AWS_ROLE_DURATION_SECONDS": "7200"}, "AWS_ROLE_DURATION_SECONDS", "3600"),
    ({"AWS_SESSION_TAGS": "maybe"}, "AWS_SESSION_TAGS", "true or false"),
    ({"DEBUG": "verbose"}, "DEBUG", "true or false"),
    ({"ALLOWED_ACCOUNT_IDS": "111111111111 12345"}, "ALLOWED_ACCOUNT_IDS", '"12345"'),
    ({"AWS_ENDPOINT_URL": "localhost:5000"}, "AWS_ENDPOINT_URL", "http://"),
    ({"AWS_MAX_ATTEMPTS": "0"}, "AWS_MAX_ATTEMPTS", "1 to 10"),
    ({"ACTION": "deploy"}, "ACTION", "must be one of"),
    ({"ACTION": "ecr-push"}, "IMAGE_NAME", "exactly one image source"),
    ({"ACTION": None}, "ACTION", "is required"),
]


@pytest.mark.parametrize(
    "overrides, variable, fragment",
    SINGLE_BAD_VARIABLES,
    ids=[f"{variable}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for o, variable, _ in SINGLE_BAD_VARIABLES],
)
def test_single_invalid_variable(scenario, emulator, overrides, variable, fragment):
    result = scenario.run(**overrides)

    assert result.code == 2, result
    assert result.lines.count("✖ Validation errors:") == 1, result
    entry = only(validation_entries(result), "validation entry")
    assert entry.startswith(f"  - {variable}: ") and fragment in entry, entry
    assert emulator.requests() == []


def test_invalid_proxy_url_is_not_quoted_back(scenario, emulator):
    """README: proxy URLs are secrets (they carry proxy credentials) and are never printed,
    not even when they are malformed."""
    password = "Pr0xy-" + _random.token_hex(8)
    value = f"ci-user:{password}@proxy.internal:3128"

    result = scenario.run(HTTPS_PROXY=value)

    assert result.code == 2, result
    entry = only(validation_entries(result), "validation entry")
    assert entry.startswith("  - HTTPS_PROXY: "), entry
    assert password not in result.output and value not in result.output, result
    assert emulator.requests() == []


def test_duration_over_the_roles_maximum(scenario, emulator):
    result = scenario.run(AWS_ROLE_DURATION_SECONDS="7200")

    assert result.code == 2, result
    assert "AWS_ROLE_DURATION_SECONDS" in result.output
    assert "MaxSessionDuration" in result.output
    call = only(web_identity_calls(emulator), WEB_IDENTITY)
    assert call["params"]["DurationSeconds"] == "7200"
    assert call["status"] == 400
    assert result.outputs_env is None


# ------------------------------------------------------------------------------------ secrets


def assert_debug_lines(result):
    debug = result.lines_starting("DEBUG:")
    assert any("took" in line and "request id" in line for line in debug), result


def test_no_secret_in_debug_output_on_success(scenario, emulator):
    external_id = "ext-" + _random.token_hex(16)
    target = scenario.chained_role(external_id=external_id)

    result = scenario.run(AWS_ROLE_ARN=target, AWS_EXTERNAL_ID=external_id, DEBUG="true")

    assert result.code == 0, result
    assert_debug_lines(result)
    assert any("Session tags" in line for line in result.lines_starting("DEBUG:")), result
    secrets = emulator.secrets()
    assert scenario.token in secrets and len(secrets) >= 5, "token + 2 secret keys + 2 session tokens"
    assert_nothing_secret(emulator, result, external_id, scenario.token.split(".")[2])


def test_no_secret_in_debug_output_on_failure(scenario, emulator):
    external_id = "ext-" + _random.token_hex(16)
    wrong_id = "bad-" + _random.token_hex(16)
    target = scenario.chained_role(external_id=external_id)

    result = scenario.run(AWS_ROLE_ARN=target, AWS_EXTERNAL_ID=wrong_id, DEBUG="true")

    assert result.code == 3, result
    assert "AccessDenied" in result.output
    assert_debug_lines(result)
    assert len(emulator.secrets()) >= 3, "token + the first session's secret key and session token"
    assert_nothing_secret(emulator, result, external_id, wrong_id, scenario.token.split(".")[2])


# ------------------------------------------------------------------------------------ accounts


def test_account_not_allowed(scenario, emulator):
    result = scenario.run(ALLOWED_ACCOUNT_IDS="333333333333 444444444444")

    assert result.code == 3, result
    assert ACCOUNT in result.final_line and "ALLOWED_ACCOUNT_IDS" in result.final_line, result
    assert not result.env_file.exists() and not result.json_file.exists()
    assert not any(scenario.outputs_dir.iterdir())
    # The role ARN names its account, so the pipe refuses before a single call.
    assert emulator.requests() == []


def test_account_not_allowed_for_access_keys(scenario, emulator):
    # Plain keys name no account: the refusal follows GetCallerIdentity, before any change.
    user = scenario.user()
    result = scenario.run(
        AWS_OIDC_ROLE_ARN=None,
        AWS_ACCESS_KEY_ID=user["access_key_id"],
        AWS_SECRET_ACCESS_KEY=user["secret_access_key"],
        ALLOWED_ACCOUNT_IDS="333333333333",
    )

    assert result.code == 3, result
    assert ACCOUNT in result.final_line and "ALLOWED_ACCOUNT_IDS" in result.final_line, result
    only(caller_identity_calls(emulator), "GetCallerIdentity")
    assert not result.env_file.exists()


def test_allowed_accounts_as_yaml_list(scenario, emulator):
    result = scenario.run(
        ALLOWED_ACCOUNT_IDS_COUNT="2", ALLOWED_ACCOUNT_IDS_0="333333333333", ALLOWED_ACCOUNT_IDS_1=ACCOUNT
    )

    assert result.code == 0, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_ACCOUNT"] == ACCOUNT


# ------------------------------------------------------------------------------------ retries


def attempts(emulator):
    return [(call["fault"], call["status"]) for call in web_identity_calls(emulator)]


RETRY_CASES = {
    # name: (fault, count, AWS_MAX_ATTEMPTS, expected exit code, expected (fault, status) per attempt)
    "throttling retried": ("throttle", 2, "3", 0, [("throttle", 400), ("throttle", 400), (None, 200)]),
    "throttling gives up": ("throttle", 5, "2", 1, [("throttle", 400), ("throttle", 400)]),
    "access denied not retried": ("access_denied", 3, "3", 3, [("access_denied", 403)]),
    "5xx retried": ("server_error", 2, "3", 0, [("server_error", 500), ("server_error", 500), (None, 200)]),
    "dropped connection retried": ("drop", 1, "3", 0, [("drop", None), (None, 200)]),
}


@pytest.mark.parametrize("fault, count, max_attempts, code, expected", RETRY_CASES.values(), ids=RETRY_CASES.keys())
def test_retries_by_kind_of_failure(scenario, emulator, fault, count, max_attempts, code, expected):
    emulator.add_fault(fault, service="sts", action=WEB_IDENTITY, count=count)

    result = scenario.run(AWS_MAX_ATTEMPTS=max_attempts)

    assert result.code == code, result
    assert attempts(emulator) == expected
    if fault == "throttle" and code != 0:
        assert "Throttling" in result.final_line, result
    if fault == "access_denied":
        assert "AccessDenied" in result.output


def test_hung_request_times_out_and_is_retried(scenario, emulator):
    # Held for 30 s: only the 1 s attempt timeout gets the pipe done before the runner's
    # 20 s limit kills it.
    emulator.add_fault("hang", service="sts", action=WEB_IDENTITY, count=1, hang_seconds=30)

    result = scenario.run(AWS_MAX_ATTEMPTS="3", AWS_ATTEMPT_TIMEOUT="1", timeout=20)

    assert result.code == 0, result
    assert attempts(emulator) == [("hang", None), (None, 200)]


# ------------------------------------------------------------------------------------ outputs


def test_outputs_skipped_without_shared_storage_dir(scenario, emulator):
    result = scenario.run(BITBUCKET_PIPE_SHARED_STORAGE_DIR=None)

    assert result.code == 0, result
    info = only([line for line in result.lines_starting("INFO:") if "BITBUCKET_PIPE_SHARED_STORAGE_DIR" in line])
    assert "not set" in info
    assert not any(scenario.outputs_dir.iterdir())
    assert not list(scenario.clone_dir.glob("**/aws-role-deploy.*"))


# ------------------------------------------------------------------------------------ network


def test_sts_endpoint_wins_over_general_endpoint(scenario, emulator):
    target = scenario.chained_role()
    sock, port = dead_port()
    try:
        result = scenario.run(
            AWS_ROLE_ARN=target,
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
            AWS_ENDPOINT_URL_STS=emulator.base_url,
            AWS_MAX_ATTEMPTS="1",
        )
    finally:
        sock.close()

    assert result.code == 0, result
    # Both hops, the unsigned one and the signed one, went to the STS endpoint.
    only(web_identity_calls(emulator), WEB_IDENTITY)
    only(assume_role_calls(emulator), "AssumeRole")


class ForwardProxy:
    """A plain-HTTP forward proxy on 127.0.0.1: takes absolute-URI requests, forwards them,
    and records (method, URL) of each."""

    def __init__(self):
        self.seen = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                target = urlsplit(self.path)
                if target.scheme != "http" or not target.hostname:
                    self.send_error(400, "absolute http:// URI expected")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append((self.command, self.path))
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in ("proxy-connection", "proxy-authorization", "connection", "keep-alive")
                }
                upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
                try:
                    path = target.path or "/"
                    if target.query:
                        path += "?" + target.query
                    upstream.request(self.command, path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    self.send_response(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forward_proxy():
    with ForwardProxy() as proxy:
        yield proxy


def test_http_proxy_is_used(scenario, emulator, forward_proxy):
    # A chained role: an unsigned call and a signed one, both through the proxy.
    result = scenario.run(HTTP_PROXY=forward_proxy.url, AWS_MAX_ATTEMPTS="1", AWS_ROLE_ARN=scenario.chained_role())

    assert result.code == 0, result
    urls = [url for _, url in forward_proxy.seen]
    assert len(urls) == 2 and all(url.startswith(emulator.base_url) for url in urls), forward_proxy.seen
    assert len(emulator.requests(service="sts")) == 2
    assert forward_proxy.url not in result.output, "proxy URLs are never printed"


def test_no_proxy_bypasses_the_proxy(scenario, emulator, forward_proxy):
    result = scenario.run(HTTP_PROXY=forward_proxy.url, NO_PROXY="127.0.0.1", AWS_MAX_ATTEMPTS="1",
                          AWS_ROLE_ARN=scenario.chained_role())

    assert result.code == 0, result
    assert forward_proxy.seen == []
    assert len(emulator.requests(service="sts")) == 2
