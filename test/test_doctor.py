"""The doctor (issue 11): when STS refuses the step's token, the pipe compares its iss/aud/sub
with what a generated trust policy requires and says which part differs. The refusals come from
the emulator layer's STS (provider lookup, audience, trust-policy evaluation), the messages are
pinned by snapshots in test/snapshots/ (UUIDs, times and ports normalised).

UPDATE_SNAPSHOTS=1 rewrites them; review the diff before committing."""

import os
import re
import uuid
from pathlib import Path

import pytest

from emulator.client import bitbucket_audience, bitbucket_issuer, web_identity_trust_policy
from pipe import ACCOUNT, ISSUER

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalised(result, names):
    """The failure block (stderr) with each UUID named by its role in the test."""
    text = result.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    for name, value in names.items():
        text = text.replace(value.strip("{}"), name)
    text = UUID_RE.sub("<uuid>", text)
    text = re.sub(r"exp: .*", "exp: <exp>", text)
    text = re.sub(r"http://127\.0\.0\.1:\d+", "<emulator>", text)
    text = re.sub(r"request id [\w-]+", "request id <id>", text)
    return text


def check_snapshot(name, text):
    path = SNAPSHOTS / f"doctor_{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(), f"the doctor's message for {name} changed:\n{text}"


def names(scenario, **more):
    return {"<workspace uuid>": scenario.workspace_uuid, "<repository uuid>": scenario.repo_uuid,
            "<step uuid>": scenario.step_uuid, **more}


def test_no_provider_for_the_issuer(scenario):
    token = scenario.mint_token(iss=bitbucket_issuer("acme-typo"))
    result = scenario.run(BITBUCKET_STEP_OIDC_TOKEN=token)
    assert result.code == 3, result
    assert "What differs: iss" in result.output
    check_snapshot("no_provider", normalised(result, names(scenario)))


def test_a_custom_audience_the_provider_does_not_list(scenario):
    token = scenario.mint_token(aud=["my-deploys"])
    result = scenario.run(BITBUCKET_STEP_OIDC_TOKEN=token)
    assert result.code == 3, result
    assert "What differs: aud" in result.output and "custom audiences" in result.output
    check_snapshot("audience", normalised(result, names(scenario)))


def test_a_non_deployment_step_and_an_environment_scoped_role(scenario, emulator):
    env_uuid = "{" + str(uuid.uuid4()) + "}"
    emulator.create_role(ACCOUNT, "production", web_identity_trust_policy(
        scenario.provider_arn, ISSUER, scenario.audience, sub_pattern=f"{scenario.repo_uuid}:{env_uuid}:*"))
    result = scenario.run(AWS_OIDC_ROLE_ARN=f"arn:aws:iam::{ACCOUNT}:role/production")
    assert result.code == 3, result
    assert "this step is not a deployment step" in result.output
    check_snapshot("not_a_deployment_step", normalised(result, names(scenario, **{"<environment uuid>": env_uuid})))


def test_a_deployment_step_of_another_environment(scenario, emulator):
    production, staging = "{" + str(uuid.uuid4()) + "}", "{" + str(uuid.uuid4()) + "}"
    emulator.create_role(ACCOUNT, "production", web_identity_trust_policy(
        scenario.provider_arn, ISSUER, scenario.audience, sub_pattern=f"{scenario.repo_uuid}:{production}:*"))
    token = scenario.mint_token(sub=f"{scenario.repo_uuid}:{staging}:{scenario.step_uuid}",
                                deploymentEnvironmentUuid=staging)
    result = scenario.run(AWS_OIDC_ROLE_ARN=f"arn:aws:iam::{ACCOUNT}:role/production", BITBUCKET_STEP_OIDC_TOKEN=token)
    assert result.code == 3, result
    assert "this step runs in deployment environment" in result.output
    check_snapshot("other_environment", normalised(
        result, names(scenario, **{"<production uuid>": production, "<staging uuid>": staging})))


def test_another_repository(scenario, emulator):
    other = "{" + str(uuid.uuid4()) + "}"
    token = scenario.mint_token(sub=f"{other}:{scenario.step_uuid}", repositoryUuid=other)
    result = scenario.run(BITBUCKET_STEP_OIDC_TOKEN=token)
    assert result.code == 3, result
    check_snapshot("other_repository", normalised(result, names(scenario, **{"<other repository uuid>": other})))


def test_assume_role_with_debug_shows_the_comparison_on_success(scenario):
    result = scenario.run(DEBUG="true")
    assert result.code == 0, result
    lines = [line for line in result.lines if "✔ iss" in line or "✔ aud" in line or "✔ sub" in line]
    assert len(lines) == 3, result
    assert "What differs" not in result.output
    quiet = scenario.run(DEBUG="false")
    assert "✔ sub" not in quiet.output


def test_a_publicly_signed_certificate_is_not_judged_by_thumbprint(scenario, emulator):
    """IAM verifies a JWKS endpoint whose certificate a trusted CA signed (api.bitbucket.org's) by
    the CA, not by the provider's thumbprints (UpdateOpenIDConnectProviderThumbprint API
    reference): a rotated certificate refuses nothing."""
    emulator.issuer_certificate("a" * 40)
    assert scenario.run().code == 0


def test_the_issuers_certificate_no_longer_matches_the_providers_thumbprint(scenario, emulator):
    """For a certificate no trusted CA signed, STS compares the provider's thumbprints (IAM
    stores one when created without any): after a rotation every token is refused until the
    provider's thumbprint is updated."""
    emulator.issuer_certificate("a" * 40, trusted_ca=False)
    result = scenario.run()
    assert result.code == 3, result
    assert "doesn't match configured thumbprint" in result.output
    assert "What differs: the provider's thumbprint" in result.output
    assert "update-open-id-connect-provider-thumbprint" in result.output
    check_snapshot("thumbprint", normalised(result, names(scenario)))

    emulator.issuer_certificate("0" * 40, trusted_ca=False)  # the thumbprint the provider holds
    assert scenario.run().code == 0
