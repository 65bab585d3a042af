"""Keyless onboarding (issue 11): what `aws-role-deploy trust-policy` and `ACTION: trust-policy`
generate, judged by code that is not the generator's: an IAM grammar checker, the emulator
layer's own trust-policy evaluator (and its STS), PyYAML and python-hcl2."""

import json
import re
import subprocess
import uuid

import hcl2
import pytest
import yaml

from emulator.client import bitbucket_audience, bitbucket_claims, bitbucket_issuer
from emulator.policy import Caller, is_allowed
from iam_grammar import problems_of
from pipe import ACCOUNT, BINARY, OTHER_ACCOUNT, ISSUER, WORKSPACE

WS_UUID = str(uuid.UUID(int=1))
REPO = str(uuid.UUID(int=2))
ENV = str(uuid.UUID(int=3))
OTHER = str(uuid.UUID(int=4))
TASK_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/web-task"
EXEC_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/web-execution"


def generate(*args, env=None, expect=0):
    """Run the CLI; secrets only ever in env, never here unless a test means it."""
    done = subprocess.run(
        [str(BINARY), "trust-policy", *args], capture_output=True, text=True, timeout=30, env=env or {"PATH": "/usr/bin"}
    )
    assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def scope_args(environment=None, repository=REPO):
    args = ["--workspace", WORKSPACE, "--workspace-uuid", WS_UUID, "--repository-uuid", repository]
    if environment:
        args += ["--environment-uuid", environment]
    return args


FULL = [
    "--account", ACCOUNT, "--region", "us-east-1",
    "--actions", "ecs-deploy,ecr-push,lambda-deploy",
    "--cluster", "prod", "--services", "web worker", "--task-role-arn", TASK_ROLE, "--execution-role-arn", EXEC_ROLE,
    "--function", "api", "--ecr-repository", "web", "--ecr-create-repository",
]


def document(*args, env=None):
    return json.loads(generate(*args, env=env).stdout)


# ------------------------------------------------------------------------------------ grammar


def test_every_generated_policy_is_iam_grammar():
    doc = document(*scope_args(ENV), *FULL, "--chained-role-account", OTHER_ACCOUNT, "--external-id", "ext-1234")
    policies = [
        (doc["role"]["trust_policy"], "trust"),
        (doc["role"]["permissions_policy"], "permissions"),
        (doc["chained_role"]["trust_policy"], "trust"),
        (doc["chained_role"]["permissions_policy"], "permissions"),
    ]
    for policy, kind in policies:
        assert problems_of(policy, kind) == [], json.dumps(policy, indent=2)
    # The checker itself rejects what IAM rejects.
    broken = json.loads(json.dumps(doc["role"]["trust_policy"]))
    broken["Statement"][0]["Resource"] = "*"
    broken["Statement"][0]["Condition"]["StringLikeish"] = {"k": "v"}
    assert len(problems_of(broken, "trust")) == 2
    assert problems_of({"Version": "2008-10-17", "Statement": []}, "permissions")


def test_the_provider_and_the_uuid_forms():
    doc = document("--workspace", WORKSPACE, "--workspace-uuid", "{" + WS_UUID + "}",
                   "--repository-uuid", REPO.upper(), "--account", ACCOUNT)
    provider = doc["identity_provider"]
    assert provider["url"] == ISSUER
    assert provider["audience"] == f"ari:cloud:bitbucket::workspace/{WS_UUID}"
    assert provider["arn"] == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER[len('https://'):]}"
    sub = doc["role"]["trust_policy"]["Statement"][0]["Condition"]["StringLike"]
    assert list(sub.values()) == ["{" + REPO + "}:*"]


def test_without_a_repository_it_refuses():
    done = generate("--workspace", WORKSPACE, "--workspace-uuid", WS_UUID, expect=2)
    assert "--repository-uuid is required" in done.stderr and done.stdout == ""


@pytest.mark.parametrize("option, value", [
    ("--cluster", "prod*"), ("--services", "web?"), ("--function", "api-${aws:username}"),
    ("--s3-bucket", "artifacts-%{ if true }x%{ endif }"), ("--ecr-repository", "team/*"),
    ("--function-role-arn", f"arn:aws:iam::{ACCOUNT}:role/*"), ("--audience", "ari:cloud:bitbucket::workspace/*"),
])
def test_wildcards_and_references_in_any_name_are_refused(option, value):
    args = [*scope_args(), "--account", ACCOUNT, "--actions", "ecs-deploy,ecr-push,lambda-deploy"]
    if option == "--services":
        args += ["--cluster", "prod"]
    done = generate(*args, option, value, expect=2)
    assert option in done.stderr and "refused" in done.stderr, done.stderr
    assert done.stdout == ""


def test_registry_bucket_owner_and_passed_roles_are_iam_grammar():
    doc = document(*scope_args(), "--account", ACCOUNT, "--region", "us-east-1",
                   "--actions", "ecs-deploy,ecr-push,lambda-deploy", "--cluster", "prod", "--function", "api",
                   "--ecr-repository", "web", "--registry-id", OTHER_ACCOUNT, "--s3-bucket", "artifacts",
                   "--s3-bucket-owner", OTHER_ACCOUNT, "--function-role-arn", f"arn:aws:iam::{ACCOUNT}:role/api-exec",
                   "--infrastructure-role-arn", f"arn:aws:iam::{ACCOUNT}:role/ecs-ebs", "--task-role-arn",
                   f"arn:aws:iam::{ACCOUNT}:role/web-task")
    policy = doc["role"]["permissions_policy"]
    assert problems_of(policy, "permissions") == [], json.dumps(policy, indent=2)
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert by_sid["EcrPush"]["Resource"] == f"arn:aws:ecr:us-east-1:{OTHER_ACCOUNT}:repository/web"
    assert by_sid["LambdaCodeInS3"]["Condition"] == {"StringEquals": {"s3:ResourceAccount": OTHER_ACCOUNT}}
    assert by_sid["PassFunctionRole"]["Condition"]["StringEquals"]["iam:PassedToService"] == "lambda.amazonaws.com"
    assert by_sid["PassInfrastructureRoles"]["Condition"]["StringEquals"]["iam:PassedToService"] == "ecs.amazonaws.com"


def test_permissions_iam_would_refuse_for_their_size_are_not_printed():
    services = " ".join(f"service-with-a-long-name-{i}" for i in range(200))
    done = generate(*scope_args(), "--account", ACCOUNT, "--actions", "ecs-deploy", "--cluster", "prod",
                    "--services", services, expect=2)
    assert "10240" in done.stderr and "fewer names" in done.stderr, done.stderr
    assert done.stdout == ""


def test_help_documents_every_option():
    text = generate("--help").stdout
    for option in ["--workspace", "--repository-uuid", "--environment-uuid", "--audience", "--account",
                   "--actions", "--chained-role-account", "--external-id", "--format"]:
        assert option in text


# ------------------------------------------------------------ the layer's evaluator judges (b)


def evaluate(policy, claims, provider_account=ACCOUNT):
    """As sts.py judges a web-identity call: the provider of the token's iss, claims as keys."""
    host = claims["iss"][len("https://"):]
    provider_arn = f"arn:aws:iam::{provider_account}:oidc-provider/{host}"
    context = {f"{host}:{k}": (v if isinstance(v, list) else str(v)) for k, v in claims.items()}
    caller = Caller("federated", provider_arn, account=provider_account)
    return is_allowed(policy, "sts:AssumeRoleWithWebIdentity", caller, context)


def claims(repo=REPO, env=None, workspace=WORKSPACE, workspace_uuid=WS_UUID, **extra):
    return bitbucket_claims(workspace=workspace, workspace_uuid=workspace_uuid, repo_uuid=repo, env_uuid=env, **extra)


@pytest.mark.parametrize(
    "scope, token, admitted",
    [
        ("repository", claims(), True),
        ("repository", claims(env=ENV), True),
        ("repository", claims(env=OTHER), True),
        ("repository", claims(repo=OTHER), False),
        ("repository", claims(workspace_uuid=OTHER), False),
        ("repository", claims(aud=[bitbucket_audience(OTHER)]), False),
        ("repository", claims(workspace="other-ws"), False),
        ("environment", claims(env=ENV), True),
        ("environment", claims(env=OTHER), False),
        ("environment", claims(), False),
        ("environment", claims(repo=OTHER, env=ENV), False),
        ("environment", claims(env=ENV, workspace_uuid=OTHER), False),
    ],
)
def test_the_trust_policy_admits_exactly_its_scope(scope, token, admitted):
    policy = document(*scope_args(ENV if scope == "environment" else None), "--account", ACCOUNT)["role"]["trust_policy"]
    assert evaluate(policy, token) is admitted, (scope, token["sub"], token["aud"])


def test_the_chained_trust_policy_admits_only_the_first_role_with_the_external_id():
    doc = document(*scope_args(), "--account", ACCOUNT, "--chained-role-account", OTHER_ACCOUNT,
                   "--external-id", "ext-7f3a9c")
    policy = doc["chained_role"]["trust_policy"]
    first = doc["role"]["arn"]
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/bitbucket-deploy/s"

    def judge(action, role_arn=first, **context):
        return is_allowed(policy, action, Caller("aws", session, account=ACCOUNT, role_arn=role_arn), context)

    assert judge("sts:AssumeRole", **{"sts:ExternalId": "ext-7f3a9c"})
    assert judge("sts:TagSession", **{"sts:ExternalId": "ext-7f3a9c"})
    assert not judge("sts:AssumeRole", **{"sts:ExternalId": "wrong-id"})
    assert not judge("sts:AssumeRole")
    assert not judge("sts:AssumeRole", role_arn=f"arn:aws:iam::{ACCOUNT}:role/other", **{"sts:ExternalId": "ext-7f3a9c"})
    untagged = document(*scope_args(), "--account", ACCOUNT, "--chained-role-account", OTHER_ACCOUNT,
                        "--no-session-tags")["chained_role"]["trust_policy"]
    assert untagged["Statement"][0]["Action"] == "sts:AssumeRole" and "Condition" not in untagged["Statement"][0]


# ------------------------------------------------------------------- (e) templates, parsed


def test_cloudformation_parses_with_the_expected_resources_and_no_external_id():
    text = generate(*scope_args(ENV), *FULL, "--chained-role-account", OTHER_ACCOUNT, "--external-id", "ext-7f3a9c",
                    "--format", "cloudformation").stdout
    first, second = list(yaml.safe_load_all(text))
    assert json.loads(text.split("\n---\n")[0].split("\n", 1)[1])  # each part is a JSON template too
    types = {name: r["Type"] for name, r in first["Resources"].items()}
    assert types == {"BitbucketOidcProvider": "AWS::IAM::OIDCProvider", "DeployRole": "AWS::IAM::Role"}
    provider = first["Resources"]["BitbucketOidcProvider"]["Properties"]
    # ThumbprintList: CloudFormation creates no provider without one, and updates of one created
    # without it fail (cloudformation-coverage-roadmap#2092).
    assert provider == {"Url": ISSUER, "ClientIdList": [f"ari:cloud:bitbucket::workspace/{WS_UUID}"],
                        "ThumbprintList": [{"Ref": "ProviderThumbprint"}]}
    assert first["Parameters"]["ProviderThumbprint"]["AllowedPattern"] == "^([0-9a-fA-F]{40})?$"
    # The role waits for the provider it trusts when the stack creates it (a Ref in Fn::If), and
    # no DependsOn names the conditional provider (a template error when it is not created).
    assert "DependsOn" not in first["Resources"]["DeployRole"]
    federated = first["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0][
        "Principal"]["Federated"]
    assert federated["Fn::If"][:2] == ["CreateProvider", {"Ref": "BitbucketOidcProvider"}], federated
    role = first["Resources"]["DeployRole"]["Properties"]
    assert problems_of(_substituted(role["AssumeRolePolicyDocument"]), "trust") == []
    assert problems_of(_substituted(role["Policies"][0]["PolicyDocument"]), "permissions") == []
    assert {r["Type"] for r in second["Resources"].values()} == {"AWS::IAM::Role"}
    assert second["Parameters"]["ExternalId"]["NoEcho"] is True
    assert "ext-7f3a9c" not in text
    target = second["Resources"]["DeployTargetRole"]["Properties"]
    assert problems_of(_substituted(target["AssumeRolePolicyDocument"]), "trust") == []
    assert problems_of(_substituted(target["Policies"][0]["PolicyDocument"]), "permissions") == []
    assert target["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == {
        "Fn::Sub": "${ExternalId}"}
    assert any(s["Sid"] == "PassTaskRoles" for s in target["Policies"][0]["PolicyDocument"]["Statement"])


def test_a_thumbprint_given_is_the_templates_default_and_in_every_output():
    thumbprint = "9E99A48A9960B14926BB7F3B02E22DA2B0AB7280"
    stack = json.loads(generate(*scope_args(), "--thumbprint", thumbprint, "--format", "cloudformation").stdout)
    assert stack["Parameters"]["ProviderThumbprint"]["Default"] == thumbprint.lower()
    assert document(*scope_args(), "--thumbprint", thumbprint)["identity_provider"]["thumbprints"] == [
        thumbprint.lower()]
    terraform = hcl2.loads(generate(*scope_args(), "--thumbprint", thumbprint, "--format", "terraform").stdout)
    [provider] = [body for block in terraform["resource"] for kind, named in block.items()
                  if kind.strip('"') == "aws_iam_openid_connect_provider" for body in named.values()]
    assert [t.strip('"') for t in provider["thumbprint_list"]] == [thumbprint.lower()]
    assert "--thumbprint" in generate(*scope_args(), "--thumbprint", "9e99", expect=2).stderr


def _substituted(value):
    """CloudFormation's Fn::Sub done with sample values for the parameters."""
    samples = {"${AWS::Partition}": "aws", "${AWS::AccountId}": ACCOUNT, "${ExternalId}": "sample-id",
               "${BitbucketDeployRoleArn}": f"arn:aws:iam::{ACCOUNT}:role/bitbucket-deploy"}
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        # Both branches name the same provider: the one the stack creates, or the existing one.
        created, existing = _substituted(value["Fn::If"][1]), _substituted(value["Fn::If"][2])
        assert created == existing, (created, existing)
        return existing
    if value == {"Ref": "BitbucketOidcProvider"}:  # Ref of AWS::IAM::OIDCProvider: its ARN
        return f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER.removeprefix('https://')}"
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        for name, sample in samples.items():
            text = text.replace(name, sample)
        assert "${" not in text, text
        return text
    if isinstance(value, dict):
        return {k: _substituted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_substituted(v) for v in value]
    return value


def _resolved(text):
    """A heredoc policy with Terraform's references replaced by sample values."""
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    if text.startswith("<<"):
        text = text.split("\n", 1)[1].rsplit("\n", 1)[0]
    text = text.replace("${aws_iam_openid_connect_provider.bitbucket.arn}",
                        f"arn:aws:iam::{ACCOUNT}:oidc-provider/x")
    text = text.replace("${aws_iam_role.bitbucket.arn}", f"arn:aws:iam::{ACCOUNT}:role/bitbucket-deploy")
    text = text.replace("${var.external_id}", "sample-id")
    assert "${" not in text, text
    return json.loads(text)


def test_terraform_is_hcl_with_the_expected_resources():
    text = generate(*scope_args(), *FULL, "--chained-role-account", OTHER_ACCOUNT, "--external-id", "ext-7f3a9c",
                    "--format", "terraform").stdout
    parsed = hcl2.loads(text)
    resources = {}
    for block in parsed["resource"]:
        for kind, named in block.items():
            for name, body in named.items():
                resources[(kind.strip('"'), name.strip('"'))] = body
    assert set(resources) == {
        ("aws_iam_openid_connect_provider", "bitbucket"),
        ("aws_iam_role", "bitbucket"), ("aws_iam_role_policy", "bitbucket"),
        ("aws_iam_role", "target"), ("aws_iam_role_policy", "target"),
    }, sorted(resources)
    provider = resources[("aws_iam_openid_connect_provider", "bitbucket")]
    assert provider["url"].strip('"') == ISSUER
    for (kind, name), body in resources.items():
        if kind == "aws_iam_role":
            assert problems_of(_resolved(body["assume_role_policy"]), "trust") == []
        if kind == "aws_iam_role_policy":
            assert problems_of(_resolved(body["policy"]), "permissions") == []
    variables = {name: body for block in parsed["variable"] for name, body in block.items()}
    assert variables['"external_id"' if '"external_id"' in variables else "external_id"]["sensitive"] is True
    assert "ext-7f3a9c" not in text


# ----------------------------------------------------------------- ACTION: trust-policy in a step


def _json_block(output):
    lines = output.splitlines()
    start = lines.index("{")
    end = len(lines) - lines[::-1].index("}")
    return json.loads("\n".join(lines[start:end]))


def test_a_deployment_step_generates_its_environment_scope_and_the_role_admits_it(scenario, emulator):
    env_uuid = "{" + str(uuid.uuid4()) + "}"
    token = scenario.mint_token(sub=f"{scenario.repo_uuid}:{env_uuid}:{scenario.step_uuid}",
                                deploymentEnvironmentUuid=env_uuid)
    target = scenario.chained_role(external_id="ext-secret-5d1c")
    result = scenario.run(ACTION="trust-policy", BITBUCKET_STEP_OIDC_TOKEN=token, AWS_ROLE_ARN=target,
                          AWS_EXTERNAL_ID="ext-secret-5d1c", POLICY_ACTIONS="lambda-deploy", FUNCTION_NAME="api")
    assert result.code == 0, result
    assert emulator.requests() == [], "trust-policy calls no AWS API"
    doc = _json_block(result.stdout)
    trust = doc["role"]["trust_policy"]
    host = ISSUER[len("https://"):]
    assert trust["Statement"][0]["Condition"]["StringLike"] == {f"{host}:sub": f"{scenario.repo_uuid}:{env_uuid}:*"}
    assert doc["role"]["arn"] == scenario.role_arn
    assert doc["chained_role"]["trust_policy"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == \
        "<the value of AWS_EXTERNAL_ID>"
    assert "function:api" in json.dumps(doc["chained_role"]["permissions_policy"])

    # The role, given exactly that trust policy, admits this step and refuses a non-deployment one.
    emulator.create_role(ACCOUNT, "env-scoped", trust)
    role = f"arn:aws:iam::{ACCOUNT}:role/env-scoped"
    assert scenario.run(AWS_OIDC_ROLE_ARN=role, BITBUCKET_STEP_OIDC_TOKEN=token).code == 0
    refused = scenario.run(AWS_OIDC_ROLE_ARN=role)
    assert refused.code == 3, refused
    assert "this step is not a deployment step" in refused.output


def test_a_step_without_a_token_uses_bitbucket_variables(scenario):
    result = scenario.run(ACTION="trust-policy", BITBUCKET_STEP_OIDC_TOKEN=None, AWS_OIDC_ROLE_ARN=None,
                          BITBUCKET_REPO_OWNER_UUID=scenario.workspace_uuid, POLICY_FORMAT="terraform")
    assert result.code == 0, result
    # The log lines around the document are not HCL; the document is.
    document_lines = [line for line in result.stdout.splitlines() if not line.startswith(("INFO:", "\x1b", "✔"))]
    parsed = hcl2.loads("\n".join(document_lines))
    assert parsed["resource"]
    assert scenario.repo_uuid + ":*" in result.stdout


def test_a_step_without_anything_to_scope_to_is_refused(scenario):
    result = scenario.run(ACTION="trust-policy", BITBUCKET_STEP_OIDC_TOKEN=None, BITBUCKET_REPO_UUID=None)
    assert result.code == 2, result
    assert "BITBUCKET_REPO_UUID" in result.output and "oidc: true" in result.output
