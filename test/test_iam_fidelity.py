"""Where real IAM authorises more than the call's own action, the generated permissions must
cover it too (issue 11 review). The emulator layer enforces these extra authorisations
(emulator/permissions.py), so a generated policy that lacks them fails here as it would in AWS:

- ECS tag-on-create: RegisterTaskDefinition / RunTask that carry tags are also authorised as
  ecs:TagResource with the ecs:CreateAction condition key (ECS developer guide, "Grant
  permission to tag resources on creation"; enforced for every account since 2024).
- Lambda code from S3: Lambda reads the object with the caller's permissions ("Your access has
  been denied by S3, please make sure your request credentials have permission to GetObject
  for <bucket>/<key>"), as s3:GetObjectVersion when a version is named; the pipe's own upload
  is s3:PutObject.
"""

import copy
import json
import subprocess

import pytest

from emulator.ecs_scenario import ecs_fixture, task_definition_body
from emulator.lambda_scenario import lambda_fixture, make_zip
from pipe import ACCOUNT, BINARY, REGION, WORKSPACE

CLUSTER = "prod"


def generate(scenario, *args):
    done = subprocess.run(
        [str(BINARY), "trust-policy", "--workspace", WORKSPACE, "--workspace-uuid", scenario.workspace_uuid,
         "--repository-uuid", scenario.repo_uuid, "--account", ACCOUNT, "--region", REGION, *args],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def dropping(policy, action):
    """The policy with `action` taken out of every statement that grants it."""
    smaller = copy.deepcopy(policy)
    found = False
    for statement in smaller["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions:
            found = True
            statement["Action"] = [a for a in actions if a != action] or ["sts:GetCallerIdentity"]
    assert found, f"{action} is not in the policy"
    return smaller


def refusals(emulator):
    return [r for r in emulator.requests() if r["status"] == 403]


# ------------------------------------------------------------------ ECS: tags on creation


@pytest.fixture
def tagged_ecs(scenario, emulator):
    """A service whose current revision has tags (the pipe copies them onto the new revision)."""
    ecs_fixture(emulator, cluster=CLUSTER, services=("web",))
    body = task_definition_body("web", ("app",), image_tag="2")
    assert body["tags"], "the revision the pipe registers carries tags"
    (scenario.clone_dir / "task-definition.json").write_text(json.dumps(body))
    policy = generate(scenario, "--actions", "ecs-deploy", "--cluster", CLUSTER,
                      "--services", "web")["role"]["permissions_policy"]

    def run(policy):
        emulator.enforce_role_policy(scenario.role_arn, policy)
        emulator.ecs_rollout(CLUSTER, "web", "complete", polls=1)
        return scenario.run(ACTION="ecs-deploy", CLUSTER_NAME=CLUSTER, SERVICE_NAME="web",
                            TASK_DEFINITION="task-definition.json")

    return policy, run


def test_registering_a_tagged_revision_is_authorised_as_tag_on_create(tagged_ecs, emulator):
    policy, run = tagged_ecs
    result = run(policy)
    assert result.code == 0, result
    assert not refusals(emulator)

    result = run(dropping(policy, "ecs:TagResource"))
    assert result.code == 3, result
    assert "ecs:TagResource" in result.output
    refused = refusals(emulator)
    assert refused and refused[0]["action"] == "RegisterTaskDefinition", refused


def test_tag_resource_is_granted_only_for_creating_calls(tagged_ecs, scenario):
    """ecs:TagResource on `*` is safe only with its ecs:CreateAction condition: the layer gives
    that key only on creating calls, so a policy whose condition names another call is refused."""
    policy, run = tagged_ecs
    other = copy.deepcopy(policy)
    for statement in other["Statement"]:
        if statement["Action"] == "ecs:TagResource" or "ecs:TagResource" in statement["Action"]:
            assert statement["Condition"]["StringEquals"]["ecs:CreateAction"], statement
            statement["Condition"]["StringEquals"]["ecs:CreateAction"] = ["CreateCluster"]
    result = run(other)
    assert result.code == 3, result
    assert "ecs:TagResource" in result.output


# ------------------------------------------------------------------ Lambda: code in S3


@pytest.fixture
def s3_lambda(scenario, emulator):
    fn = lambda_fixture(emulator, name="api")
    (scenario.clone_dir / "app.zip").write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 1\n"}))

    def run(policy):
        emulator.enforce_role_policy(scenario.role_arn, policy)
        return scenario.run(ACTION="lambda-deploy", FUNCTION_NAME="api", ZIP_FILE="app.zip",
                            S3_BUCKET=fn.bucket, S3_KEY="builds/api.zip", ALIAS="live")

    return fn, run


def test_lambda_from_s3_deploys_with_exactly_the_generated_permissions(s3_lambda, scenario, emulator):
    fn, run = s3_lambda
    doc = generate(scenario, "--actions", "lambda-deploy", "--function", "api", "--s3-bucket", fn.bucket)
    assert not [n for n in doc["notes"] if "S3_BUCKET" in n], "no note asks for what was granted"
    result = run(doc["role"]["permissions_policy"])
    assert result.code == 0, result
    assert not refusals(emulator)
    update = [r for r in emulator.requests(service="lambda") if r["action"] == "UpdateFunctionCode"][-1]
    assert update["params"]["S3Bucket"] == fn.bucket and update["params"].get("S3ObjectVersion"), update


def test_the_generated_s3_permissions_hold_only_for_the_buckets_owner(s3_lambda, scenario, emulator):
    # s3:ResourceAccount pins the bucket to the account that owns it: the same policy judged as
    # if the bucket belonged to another account refuses the upload (S3 ARNs name no account).
    fn, run = s3_lambda
    policy = generate(scenario, "--actions", "lambda-deploy", "--function", "api",
                      "--s3-bucket", fn.bucket)["role"]["permissions_policy"]
    [s3] = [statement for statement in policy["Statement"] if statement["Sid"] == "LambdaCodeInS3"]
    assert s3["Condition"] == {"StringEquals": {"s3:ResourceAccount": "111111111111"}}, s3
    elsewhere = copy.deepcopy(policy)
    for statement in elsewhere["Statement"]:
        if statement["Sid"] == "LambdaCodeInS3":
            statement["Condition"]["StringEquals"]["s3:ResourceAccount"] = "999999999999"
    result = run(elsewhere)
    assert result.code == 3, result
    assert "s3:PutObject" in result.output
    assert [r["action"] for r in refusals(emulator)] == ["PutObject"]


@pytest.mark.parametrize("action", ["s3:PutObject", "s3:GetObjectVersion"])
def test_lambda_from_s3_without_one_generated_s3_action_is_refused(s3_lambda, scenario, action):
    fn, run = s3_lambda
    policy = generate(scenario, "--actions", "lambda-deploy", "--function", "api",
                      "--s3-bucket", fn.bucket)["role"]["permissions_policy"]
    result = run(dropping(policy, action))
    assert result.code == 3, result
    if action == "s3:PutObject":
        assert "s3:PutObject" in result.output
    else:
        # Lambda's own refusal names the object it could not read as the caller.
        assert f"permission to GetObject for {fn.bucket}/builds/api.zip" in result.output


def test_lambda_from_s3_without_bucket_permissions_is_refused_and_the_note_says_how(s3_lambda, scenario):
    fn, run = s3_lambda
    doc = generate(scenario, "--actions", "lambda-deploy", "--function", "api")
    assert [n for n in doc["notes"] if "--s3-bucket" in n], doc["notes"]
    result = run(doc["role"]["permissions_policy"])
    assert result.code == 3, result
    assert "s3:PutObject" in result.output


def test_a_function_given_as_a_qualified_arn_still_covers_the_function_itself(scenario, emulator):
    """Lambda authorises PublishVersion, UpdateFunctionCode and CreateAlias on the unqualified
    function ARN: a policy built from `function:api:live` alone would refuse them."""
    lambda_fixture(emulator, name="api")
    (scenario.clone_dir / "app.zip").write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 1\n"}))
    qualified = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:api:live"
    policy = generate(scenario, "--actions", "lambda-deploy", "--function", qualified)["role"]["permissions_policy"]
    emulator.enforce_role_policy(scenario.role_arn, policy)
    result = scenario.run(ACTION="lambda-deploy", FUNCTION_NAME="api", ZIP_FILE="app.zip", ALIAS="live")
    assert result.code == 0, result
    assert not refusals(emulator)


def test_tag_on_create_is_judged_on_the_resource_being_created(tagged_ecs):
    """AWS authorises the implicit ecs:TagResource on the new revision's ARN, so a policy that
    narrows it to the family (as peers' policies do) is enough, and another family is not."""
    policy, run = tagged_ecs

    def tag_resource_on(resource):
        narrowed = copy.deepcopy(policy)
        for statement in narrowed["Statement"]:
            if statement["Action"] == "ecs:TagResource":
                statement["Resource"] = resource
        return narrowed

    family = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:*"
    result = run(tag_resource_on(family))
    assert result.code == 0, result
    other = run(tag_resource_on(f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api:*"))
    assert other.code == 3, other
    assert "ecs:TagResource" in other.output and "task-definition/web:" in other.output


# ------------------------------------------------------------------ the provider's URL


def test_a_workspace_slug_typed_in_capitals_still_gives_the_provider_sts_finds(scenario, emulator):
    """Bitbucket workspace IDs are lowercase and the token's iss has the lowercase slug; STS looks
    the provider up by that URL, so a provider made from `--workspace ACME` as typed is never found."""
    from pipe import OTHER_ACCOUNT

    done = subprocess.run(
        [str(BINARY), "trust-policy", "--workspace", WORKSPACE.upper(), "--workspace-uuid", scenario.workspace_uuid,
         "--repository-uuid", scenario.repo_uuid, "--account", OTHER_ACCOUNT, "--role-name", "typed"],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin"},
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    provider = doc["identity_provider"]
    emulator.create_oidc_provider(OTHER_ACCOUNT, provider["url"], [provider["audience"]])
    emulator.create_role(OTHER_ACCOUNT, "typed", doc["role"]["trust_policy"])
    result = scenario.run(AWS_OIDC_ROLE_ARN=doc["role"]["arn"])
    assert result.code == 0, result
