"""scripts/probe-aws against the emulator (its --emulator mode), so the probe kit cannot rot: every
row runs here as it runs against a sandbox account, and each row the emulator models must agree
with the assumption the row states. Rows whose emulator side is not there yet are listed in
NOT_IN_THE_EMULATOR_YET and must still differ: when someone adds the behaviour, this test fails
and the row moves to the modelled ones (nothing is faked either way).

The safety rules are tested too: no PROBE_AWS_ACCOUNT, or credentials of another account, and
nothing is touched.
"""

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import probe_aws  # noqa: E402

ACCOUNT = "111111111111"
PREFIX = "probe-aws-test"

# Row id -> what is missing in the emulator, and whose work adds it.
NOT_IN_THE_EMULATOR_YET = {}
# Rows that state what the emulator knowingly does differently from AWS (the README says so).
KNOWN_DEVIATIONS = {"lambda-create-function-state"}


@pytest.fixture
def prober(emulator, registry_process, monkeypatch):
    """Credentials of an IAM user of ACCOUNT in the emulator, and ECR's token naming the ECR-like
    front of the test registry."""
    from registry import EcrLikeFront

    front = EcrLikeFront(registry_process)
    emulator.ecr_registry(front.endpoint, registry_process.password)
    user = emulator.create_user(ACCOUNT, "prober")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", user["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", user["secret_access_key"])
    yield emulator
    front.close()


def args(emulator, *more):
    return probe_aws.parse_args(["--account", ACCOUNT, "--region", "us-east-1", "--prefix", PREFIX,
                                 "--emulator", emulator.base_url, *more])


def test_every_row_runs_against_the_emulator(prober):
    emulator = prober
    role = emulator.create_role(ACCOUNT, f"{PREFIX}-execution", {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}]})
    # Basic scanning without scan on push, as a sandbox account's fresh repository has it.
    emulator.ecr_scan(on_push=False)
    # containers-roadmap#2709 as the ECS emulator models it: UpdateService names the previous
    # service deployment, a later DescribeServices the new one.
    emulator.ecs_rollout(f"{PREFIX}-ecs", f"{PREFIX}-ecs", "complete", polls=1, current_stale_polls=0)
    out = io.StringIO()
    rows = {row.id: row for row in probe_aws.run(args(emulator, "--lambda-role-arn", role), out=out)}
    text = out.getvalue()
    print(text)

    assert set(rows) == {row_id for row_id, *_ in probe_aws.ROWS}
    for row_id, row in rows.items():
        assert row.verdict != "error", (row_id, row.answered)
        assert f"[{row.verdict}] {row_id}" in text and f"emulator assumes: {row.assumes}" in text
        if row_id in NOT_IN_THE_EMULATOR_YET:
            assert row.verdict == "differs", f"{row_id} is modelled now: move it out of NOT_IN_THE_EMULATOR_YET"
        elif row_id in KNOWN_DEVIATIONS:
            assert row.verdict in ("agrees", "differs"), row_id
        elif row_id == "ecs-update-service-current-deployment":
            assert row.verdict == "observed" and "answer was stale" in row.answered, row.answered
        else:
            assert row.verdict == "agrees", (row_id, row.answered)
    assert "ImageTagAlreadyExistsException" in rows["ecr-put-image-immutable-same-image"].answered

    # Everything it made was named with the prefix, and deleted again.
    made = [r for r in emulator.requests() if r["action"] in ("CreateRepository", "CreateCluster", "CreateService",
                                                               "CreateFunction") and r["status"] == 200]
    assert made and all(PREFIX in str(r["params"]) for r in made)
    deleted = {r["action"] for r in emulator.requests() if 200 <= (r["status"] or 0) < 300}
    assert {"DeleteRepository", "DeleteService", "DeleteCluster", "DeleteFunction"} <= deleted, deleted
    assert "cleanup:" not in text
    emulator.assert_no_secrets_in(text)


def test_no_account_named_no_run(prober, monkeypatch, capsys):
    monkeypatch.delenv("PROBE_AWS_ACCOUNT", raising=False)
    assert probe_aws.main(["--region", "us-east-1", "--emulator", prober.base_url]) == 2
    assert "PROBE_AWS_ACCOUNT" in capsys.readouterr().err
    assert prober.requests() == []


def test_credentials_of_another_account_touch_nothing(prober, monkeypatch, capsys):
    other = prober.create_user("222222222222", "elsewhere")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", other["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", other["secret_access_key"])
    assert probe_aws.main(["--account", ACCOUNT, "--region", "us-east-1", "--emulator", prober.base_url]) == 2
    assert "not PROBE_AWS_ACCOUNT" in capsys.readouterr().err
    assert [r["action"] for r in prober.requests()] == ["GetCallerIdentity"]


def test_the_nightly_probe_step_is_in_the_pipelines_file():
    """bitbucket-pipelines.yml parses, every script line is one shell line (a `: ` in an unquoted
    line makes YAML read a mapping, which Bitbucket refuses), and the custom probe-aws pipeline runs
    the probe with the step's OIDC identity."""
    import yaml

    doc = yaml.safe_load((Path(__file__).resolve().parent.parent / "bitbucket-pipelines.yml").read_text())

    def steps(node):
        if isinstance(node, dict):
            if "script" in node:
                yield node
            for value in node.values():
                yield from steps(value)
        elif isinstance(node, list):
            for value in node:
                yield from steps(value)

    for step in steps(doc):
        assert all(isinstance(line, str) for line in step["script"]), step["script"]
    [probe] = doc["pipelines"]["custom"]["probe-aws"]
    assert probe["step"]["oidc"] is True
    assert any("scripts/probe_aws.py" in line for line in probe["step"]["script"])


def test_the_probe_role_policy_names_only_probe_resources(capsys):
    role = f"arn:aws:iam::{ACCOUNT}:role/probe-lambda"
    assert probe_aws.main(["--policy", "--account", ACCOUNT, "--region", "eu-west-1",
                           "--lambda-role-arn", role]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    for statement in doc["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for resource in resources:
            assert resource == role or "probe-aws-" in resource or (
                resource == "*" and set(actions) <= {"ecr:GetAuthorizationToken", "ecs:RegisterTaskDefinition",
                                                     "ecs:DeregisterTaskDefinition"}), (actions, resource)
