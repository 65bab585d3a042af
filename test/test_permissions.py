"""The permissions `aws-role-deploy trust-policy` generates suffice, and nothing less does
(issue 11): each deploy runs under a role whose permissions policy is exactly the generated
one, enforced by the emulator layer for every call the action makes (emulator/permissions.py);
without one of its actions, the layer refuses the call and the step fails with exit code 3."""

import copy
import json
import subprocess
import uuid

import pytest

from emulator.ecs_scenario import ecs_fixture, register_task_definition_raw, task_definition_body
from emulator.lambda_scenario import lambda_fixture, make_zip
from pipe import ACCOUNT, BINARY, REGION, WORKSPACE

CLUSTER = "prod"


def generated_permissions(scenario, *args):
    done = subprocess.run(
        [str(BINARY), "trust-policy", "--workspace", WORKSPACE, "--workspace-uuid", scenario.workspace_uuid,
         "--repository-uuid", scenario.repo_uuid, "--account", ACCOUNT, "--region", REGION, *args],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["role"]["permissions_policy"]


def without(policy, action):
    """The policy with one action taken out of whichever statement grants it."""
    smaller = copy.deepcopy(policy)
    for statement in smaller["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions:
            statement["Action"] = [a for a in actions if a != action] or ["sts:GetCallerIdentity"]
            return smaller
    raise AssertionError(f"{action} is not in the policy")


@pytest.fixture
def ecs_step(scenario, emulator):
    execution_role = f"arn:aws:iam::{ACCOUNT}:role/web-execution"
    ecs = ecs_fixture(emulator, cluster=CLUSTER, services=("web",))
    policy = generated_permissions(scenario, "--actions", "ecs-deploy", "--cluster", CLUSTER, "--services", "web",
                                   "--execution-role-arn", execution_role)
    body = task_definition_body("web", ("app",), image_tag="2", execution_role_arn=execution_role)
    path = scenario.clone_dir / "task-definition.json"
    path.write_text(json.dumps(body))

    def run(policy):
        emulator.enforce_role_policy(scenario.role_arn, policy)
        emulator.ecs_rollout(CLUSTER, "web", "complete", polls=1)
        return scenario.run(ACTION="ecs-deploy", CLUSTER_NAME=CLUSTER, SERVICE_NAME="web",
                            TASK_DEFINITION="task-definition.json", RUN_TASK="true")

    return ecs, policy, run


def test_ecs_deploy_runs_with_exactly_the_generated_permissions(ecs_step, emulator):
    ecs, policy, run = ecs_step
    result = run(policy)
    assert result.code == 0, result
    called = {r["action"] for r in emulator.requests(service="ecs") if "aws-role-deploy" in (r["user_agent"] or "")}
    assert {"RegisterTaskDefinition", "RunTask", "UpdateService", "DescribeServices"} <= called, called
    assert not [r for r in emulator.requests() if r["status"] == 403], "nothing was refused"


@pytest.mark.parametrize("action", ["ecs:UpdateService", "ecs:RegisterTaskDefinition", "ecs:RunTask", "iam:PassRole"])
def test_ecs_deploy_without_one_generated_action_is_refused(ecs_step, emulator, action):
    ecs, policy, run = ecs_step
    result = run(without(policy, action))
    assert result.code == 3, result
    assert action in result.output
    refused = [r for r in emulator.requests() if r["status"] == 403]
    assert refused and refused[0]["error_code"] in ("AccessDeniedException", "AccessDenied")


def test_ecs_permissions_scoped_to_another_service_are_refused(ecs_step, scenario):
    ecs, _, run = ecs_step
    other = generated_permissions(scenario, "--actions", "ecs-deploy", "--cluster", CLUSTER, "--services", "api",
                                  "--execution-role-arn", f"arn:aws:iam::{ACCOUNT}:role/web-execution")
    result = run(other)
    assert result.code == 3, result
    assert "service/prod/web" in result.output


def test_ecs_rollback_after_a_deploy_runs_with_exactly_the_generated_permissions(ecs_step, emulator, scenario):
    ecs, policy, run = ecs_step
    assert run(policy).code == 0
    emulator.ecs_rollout(CLUSTER, "web", "complete", polls=1)
    result = scenario.run(ACTION="rollback", CLUSTER_NAME=CLUSTER, SERVICE_NAME="web")
    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back web from web:2 to web:1"), result
    assert "source revision of its current service deployment" in result.output
    assert not [r for r in emulator.requests() if r["status"] == 403], "nothing was refused"


def test_ecs_rollback_without_describing_service_revisions_goes_by_the_family_and_says_why(
        ecs_step, emulator, scenario):
    ecs, policy, run = ecs_step
    assert run(policy).code == 0
    emulator.ecs_rollout(CLUSTER, "web", "complete", polls=1)
    emulator.enforce_role_policy(scenario.role_arn, without(policy, "ecs:DescribeServiceRevisions"))
    result = scenario.run(ACTION="rollback", CLUSTER_NAME=CLUSTER, SERVICE_NAME="web")
    assert result.code == 0, result
    assert "the newest ACTIVE revision of web older than web:2" in result.output
    assert "ecs:DescribeServiceRevisions was refused" in result.output


@pytest.fixture
def lambda_step(scenario, emulator):
    lambda_fixture(emulator, name="api")
    policy = generated_permissions(scenario, "--actions", "lambda-deploy", "--function", "api")
    (scenario.clone_dir / "app.zip").write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 1\n"}))

    def run(policy):
        emulator.enforce_role_policy(scenario.role_arn, policy)
        return scenario.run(ACTION="lambda-deploy", FUNCTION_NAME="api", ZIP_FILE="app.zip", ALIAS="live")

    return policy, run


def test_lambda_rollback_after_two_deploys_runs_with_exactly_the_generated_permissions(lambda_step, emulator,
                                                                                       scenario):
    policy, run = lambda_step
    assert run(policy).code == 0
    (scenario.clone_dir / "app.zip").write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 2\n"}))
    assert run(policy).code == 0
    result = scenario.run(ACTION="rollback", FUNCTION_NAME="api", ALIAS="live")
    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back alias live of api from version 2 to version 1"), result
    assert not [r for r in emulator.requests() if r["status"] == 403], "nothing was refused"
    result = scenario.run(ACTION="rollback", FUNCTION_NAME="api", ALIAS="live", VERSION="2")
    assert result.code == 0, result

    emulator.enforce_role_policy(scenario.role_arn, without(policy, "lambda:ListVersionsByFunction"))
    result = scenario.run(ACTION="rollback", FUNCTION_NAME="api", ALIAS="live")
    assert result.code == 3 and "lambda:ListVersionsByFunction" in result.output, result


def test_lambda_deploy_runs_with_exactly_the_generated_permissions(lambda_step, emulator):
    policy, run = lambda_step
    result = run(policy)
    assert result.code == 0, result
    called = {r["action"] for r in emulator.requests(service="lambda") if "aws-role-deploy" in (r["user_agent"] or "")}
    assert {"UpdateFunctionCode", "PublishVersion", "CreateAlias"} <= called, called
    assert not [r for r in emulator.requests() if r["status"] == 403]


@pytest.mark.parametrize("action", ["lambda:UpdateFunctionCode", "lambda:PublishVersion", "lambda:CreateAlias"])
def test_lambda_deploy_without_one_generated_action_is_refused(lambda_step, action):
    policy, run = lambda_step
    result = run(without(policy, action))
    assert result.code == 3, result
    assert action in result.output


def test_lambda_deploy_without_the_provisioned_concurrency_read_warns_and_deploys(lambda_step):
    """The wait for the alias's provisioned concurrency is the one read a role may lack: the
    alias has moved by then, so it is a warning naming the permission, not a failure."""
    policy, run = lambda_step
    result = run(without(policy, "lambda:GetProvisionedConcurrencyConfig"))
    assert result.code == 0, result
    assert "grant lambda:GetProvisionedConcurrencyConfig" in result.stderr


@pytest.mark.parametrize("granted", [True, False])
def test_lambda_shift_with_alarms_runs_with_exactly_the_generated_permissions(scenario, emulator, granted):
    """ALARMS: cloudwatch:DescribeAlarms comes with --lambda-alarms; without it the alarms are
    refused before any change, naming the permission."""
    fn = lambda_fixture(emulator, name="api")
    lam = fn.client("lambda")
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=lam.publish_version(FunctionName="api")["Version"])
    fn.client("cloudwatch").put_metric_alarm(
        AlarmName="api-errors", MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    (scenario.clone_dir / "app.zip").write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 2\n"}))
    flags = ["--lambda-alarms"] if granted else []
    emulator.enforce_role_policy(scenario.role_arn, generated_permissions(
        scenario, "--actions", "lambda-deploy", "--function", "api", *flags))
    result = scenario.run(ACTION="lambda-deploy", FUNCTION_NAME="api", ZIP_FILE="app.zip", ALIAS="live",
                          TRAFFIC_SHIFT="canary:10%:1m", ALARMS="api-errors", AWS_ROLE_DEPLOY_TEST_TIME_SCALE="600")
    mutating = [r for r in emulator.requests(service="lambda") if r["action"] in ("UpdateFunctionCode", "UpdateAlias")
                and "aws-role-deploy" in (r["user_agent"] or "")]
    if granted:
        assert result.code == 0, result
        assert not [r for r in emulator.requests() if r["status"] == 403]
        assert len(mutating) == 3
    else:
        assert result.code == 3, result
        assert "cloudwatch:DescribeAlarms" in result.output, result
        assert mutating == []


def test_lambda_image_index_is_read_with_exactly_the_generated_permissions(scenario, emulator):
    """IMAGE_URI naming an image index: the pipe reads it (ecr:BatchGetImage, granted with
    --ecr-repository) and deploys the function's platform image; without the grant it warns and
    Lambda's own refusal names the fix."""
    from emulator.ecr_scenario import seed_index

    fn = lambda_fixture(emulator, name="api", package="image")
    fn.client("ecr").create_repository(repositoryName="api")
    _, children = seed_index(fn.client("ecr"), "api", "2")
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/api:2"

    def run(*args):
        emulator.enforce_role_policy(scenario.role_arn, generated_permissions(
            scenario, "--actions", "lambda-deploy", "--function", "api", *args))
        return scenario.run(ACTION="lambda-deploy", FUNCTION_NAME="api", IMAGE_URI=uri)

    result = run("--ecr-repository", "api")
    assert result.code == 0, result
    assert children["linux/amd64"] in result.output
    assert not [r for r in emulator.requests() if r["status"] == 403]

    refused = run()
    assert refused.code == 2, refused
    assert "ecr:BatchGetImage" in refused.output and "--provenance=false" in refused.output


@pytest.mark.parametrize("shape", ["request", "get-function"])
def test_a_configuration_giving_the_function_a_role_passes_it_with_exactly_the_generated_permissions(
        scenario, emulator, shape):
    """FUNCTION_CONFIGURATION sets `Role`: UpdateFunctionConfiguration passes that role to Lambda
    (iam:PassRole for lambda.amazonaws.com). A trust-policy step reading the same file grants it;
    the generic permissions do not. The file as the request, or as `get-function` prints it (the
    role under `Configuration`)."""
    fn = lambda_fixture(emulator, name="api")
    other_role = fn.client("iam").create_role(
        RoleName="api-exec-2", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    configuration = {"Role": other_role, "Timeout": 20}
    if shape == "get-function":
        configuration = {"Configuration": {**configuration, "FunctionName": "api", "Version": "$LATEST"},
                         "Code": {"RepositoryType": "S3", "Location": "https://example.invalid/x"}}
    (scenario.clone_dir / "lambda.json").write_text(json.dumps(configuration))

    def deploy(policy):
        emulator.enforce_role_policy(scenario.role_arn, policy)
        return scenario.run(ACTION="lambda-deploy", FUNCTION_NAME="api", FUNCTION_CONFIGURATION="lambda.json",
                            PUBLISH="false")

    generic = generated_permissions(scenario, "--actions", "lambda-deploy", "--function", "api")
    refused = deploy(generic)
    assert refused.code == 3, refused
    assert "iam:PassRole" in refused.output and other_role in refused.output

    step = scenario.run(ACTION="trust-policy", POLICY_ACTIONS="lambda-deploy", FUNCTION_NAME="api",
                        FUNCTION_CONFIGURATION="lambda.json", AWS_DEFAULT_REGION=REGION)
    assert step.code == 0, step
    lines = step.stdout.splitlines()
    document = json.loads("\n".join(lines[lines.index("{"):len(lines) - lines[::-1].index("}")]))
    policy = document["role"]["permissions_policy"]
    result = deploy(policy)
    assert result.code == 0, result
    assert fn.configuration()["Role"] == other_role
    assert not [r for r in emulator.requests() if r["status"] == 403 and r["time"] > refused_time(emulator)]


def refused_time(emulator):
    return max(r["time"] for r in emulator.requests() if r["status"] == 403)


def test_lambda_permissions_for_another_function_are_refused(lambda_step, scenario):
    _, run = lambda_step
    result = run(generated_permissions(scenario, "--actions", "lambda-deploy", "--function", "other"))
    assert result.code == 3, result


def test_chained_roles_with_exactly_the_generated_permissions(scenario, emulator):
    """The OIDC role may only assume the second role (with session tags); the second role holds
    the deploy permissions, in its own account."""
    from pipe import OTHER_ACCOUNT

    lambda_fixture(emulator, name="api", account=OTHER_ACCOUNT)
    (scenario.clone_dir / "app.zip").write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 1\n"}))
    target = scenario.chained_role(external_id="ext-4c2d9e71")
    done = subprocess.run(
        [str(BINARY), "trust-policy", "--workspace", WORKSPACE, "--workspace-uuid", scenario.workspace_uuid,
         "--repository-uuid", scenario.repo_uuid, "--account", ACCOUNT, "--region", REGION, "--role-name", "deploy",
         "--chained-role-account", OTHER_ACCOUNT, "--chained-role-name", "target",
         "--actions", "lambda-deploy", "--function", "api"],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin", "AWS_EXTERNAL_ID": "ext-4c2d9e71"},
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["chained_role"]["arn"] == target
    emulator.enforce_role_policy(scenario.role_arn, doc["role"]["permissions_policy"])
    emulator.enforce_role_policy(target, doc["chained_role"]["permissions_policy"])

    def run():
        return scenario.run(ACTION="lambda-deploy", FUNCTION_NAME="api", ZIP_FILE="app.zip", ALIAS="live",
                            AWS_ROLE_ARN=target, AWS_EXTERNAL_ID="ext-4c2d9e71", AWS_SESSION_TAGS="true")

    result = run()
    assert result.code == 0, result
    assert not [r for r in emulator.requests() if r["status"] == 403]

    # Without sts:TagSession on the first role, the tagged hop is refused (session tags set explicitly).
    emulator.enforce_role_policy(scenario.role_arn, without(doc["role"]["permissions_policy"], "sts:TagSession"))
    result = run()
    assert result.code == 3, result
    assert "sts:TagSession" in result.output


# --------------------------------------------------------------------------------- ecr-push
# The layer enforces the ECR API calls the pipe makes (GetAuthorizationToken on "*";
# DescribeRepositories, CreateRepository, BatchGetImage, PutImage on the repository's ARN). The
# blob and manifest uploads of an archive push go to the registry, not to ECR's API: real ECR
# authorises them as ecr:BatchCheckLayerAvailability / InitiateLayerUpload / UploadLayerPart /
# CompleteLayerUpload / PutImage, but the test registry (docker-registry) knows nothing of IAM, so
# those grants are only checked to be in the generated policy, not enforced (see
# emulator/permissions.py).

REGISTRY_SIDE = ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                 "ecr:CompleteLayerUpload", "ecr:PutImage"]


def pipe_calls(emulator, service):
    return {r["action"] for r in emulator.requests(service=service) if "aws-role-deploy" in (r["user_agent"] or "")}


def refusals(emulator):
    return [r for r in emulator.requests() if r["status"] == 403]


@pytest.fixture
def ecr_admin(scenario, emulator):
    from emulator.scenario import client_for

    return client_for(emulator, "ecr", scenario.user(name=f"ecr-admin-{uuid.uuid4().hex[:6]}"))


@pytest.fixture
def promote_step(scenario, emulator, ecr_admin):
    """An image tagged sha-9fceb02 in ECR, promoted to prod under the generated permissions."""
    from test_ecr import seed_image

    repository = f"team/web-{uuid.uuid4().hex[:8]}"
    ecr_admin.create_repository(repositoryName=repository)
    seed_image(ecr_admin, repository, "sha-9fceb02")
    policy = generated_permissions(scenario, "--actions", "ecr-push", "--ecr-repository", repository)

    def run(policy):
        emulator.enforce_role_policy(scenario.role_arn, policy)
        return scenario.run(ACTION="ecr-push", SOURCE_TAG="sha-9fceb02", ECR_REPOSITORY=repository, TAGS="prod")

    return repository, policy, run


def test_ecr_promote_runs_with_exactly_the_generated_permissions(promote_step, emulator):
    _, policy, run = promote_step
    result = run(policy)
    assert result.code == 0, result
    assert {"DescribeRepositories", "BatchGetImage", "PutImage"} <= pipe_calls(emulator, "ecr")
    assert not refusals(emulator), "nothing was refused"


@pytest.mark.parametrize("action", ["ecr:DescribeRepositories", "ecr:BatchGetImage", "ecr:PutImage"])
def test_ecr_promote_without_one_generated_action_is_refused(promote_step, emulator, action):
    _, policy, run = promote_step
    result = run(without(policy, action))
    assert result.code == 3, result
    assert action in result.output
    refused = refusals(emulator)
    assert refused and refused[0]["error_code"] == "AccessDeniedException"


def test_ecr_permissions_for_another_repository_are_refused(promote_step, scenario):
    repository, _, run = promote_step
    result = run(generated_permissions(scenario, "--actions", "ecr-push", "--ecr-repository", "team/other"))
    assert result.code == 3, result
    assert f"repository/{repository}" in result.output


@pytest.fixture
def archive_step(scenario, emulator, ecr_registry):
    """An OCI layout pushed from the clone directory; the repository is created when asked."""
    import images

    images.oci_layout(scenario.clone_dir / "image", layer_sizes=(2000,))
    repository = f"team/app-{uuid.uuid4().hex[:8]}"

    def run(policy, **variables):
        emulator.enforce_role_policy(scenario.role_arn, policy)
        return scenario.run(ACTION="ecr-push", IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1",
                            timeout=120, **variables)

    return repository, run


def creating_policy(scenario, repository):
    return generated_permissions(scenario, "--actions", "ecr-push", "--ecr-repository", repository,
                                 "--ecr-create-repository")


def test_ecr_archive_push_creating_the_repository_with_exactly_the_generated_permissions(
    archive_step, scenario, emulator, ecr_registry
):
    repository, run = archive_step
    policy = creating_policy(scenario, repository)
    result = run(policy, CREATE_REPOSITORY="true")
    assert result.code == 0, result
    assert {"GetAuthorizationToken", "DescribeRepositories", "CreateRepository"} <= pipe_calls(emulator, "ecr")
    assert not refusals(emulator), "nothing was refused"
    assert ecr_registry.manifest(repository, "v1")[0] == result.outputs_json["digest"]
    granted = {a for st in policy["Statement"] for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
    assert set(REGISTRY_SIDE) <= granted, "the registry's side is granted, though only real ECR enforces it"


@pytest.mark.parametrize("action", ["ecr:GetAuthorizationToken", "ecr:DescribeRepositories", "ecr:CreateRepository"])
def test_ecr_archive_push_without_one_generated_action_is_refused(archive_step, scenario, emulator, action):
    repository, run = archive_step
    result = run(without(creating_policy(scenario, repository), action), CREATE_REPOSITORY="true")
    assert result.code == 3, result
    assert action in result.output
    refused = refusals(emulator)
    assert refused and refused[0]["error_code"] == "AccessDeniedException"


def test_ecr_archive_push_to_an_existing_repository_needs_no_create(archive_step, scenario, emulator, ecr_admin):
    repository, run = archive_step
    ecr_admin.create_repository(repositoryName=repository)
    policy = generated_permissions(scenario, "--actions", "ecr-push", "--ecr-repository", repository)
    assert "ecr:CreateRepository" not in json.dumps(policy)
    result = run(policy)
    assert result.code == 0, result
    assert not refusals(emulator)


def test_ecr_create_repository_without_the_generated_grant_is_refused(archive_step, scenario):
    """CREATE_REPOSITORY: "true" under permissions generated without --ecr-create-repository."""
    repository, run = archive_step
    result = run(generated_permissions(scenario, "--actions", "ecr-push", "--ecr-repository", repository),
                 CREATE_REPOSITORY="true")
    assert result.code == 3, result
    assert "ecr:CreateRepository" in result.output


def scan_policy(scenario, repository):
    return generated_permissions(scenario, "--actions", "ecr-push", "--ecr-repository", repository, "--ecr-scan")


@pytest.mark.parametrize("kind", ["basic", "enhanced"])
def test_ecr_scan_gate_runs_with_exactly_the_generated_permissions(archive_step, scenario, emulator, ecr_admin, kind):
    """SCAN_FAIL_ON: a basic scan started (the repository does not scan on push), or enhanced
    findings that ECR reads from Inspector as the caller (inspector2:ListFindings)."""
    repository, run = archive_step
    ecr_admin.create_repository(repositoryName=repository)
    if kind == "basic":
        emulator.ecr_scan(on_push=False, in_progress_polls=1)
    else:
        emulator.ecr_scan(kind="enhanced", in_progress_polls=1)
    result = run(scan_policy(scenario, repository), SCAN_FAIL_ON="HIGH")
    assert result.code == 0, result
    assert not refusals(emulator)
    expected = {"DescribeImageScanFindings", "StartImageScan"} if kind == "basic" else {"DescribeImageScanFindings"}
    assert expected <= pipe_calls(emulator, "ecr")


@pytest.mark.parametrize("kind,action", [("basic", "ecr:DescribeImageScanFindings"),
                                         ("basic", "ecr:StartImageScan"),
                                         ("enhanced", "inspector2:ListFindings")])
def test_ecr_scan_gate_without_one_generated_action_is_refused(archive_step, scenario, emulator, ecr_admin, kind,
                                                               action):
    repository, run = archive_step
    ecr_admin.create_repository(repositoryName=repository)
    emulator.ecr_scan(kind=kind, on_push=kind == "enhanced")
    result = run(without(scan_policy(scenario, repository), action), SCAN_FAIL_ON="HIGH")
    assert result.code == 3, result
    assert action in result.output and "stays pushed" in result.output
    assert refusals(emulator)[0]["error_code"] == "AccessDeniedException"


@pytest.mark.docker
def test_ecr_daemon_push_runs_with_exactly_the_generated_permissions(scenario, emulator, ecr_registry, ecr_admin,
                                                                    docker_engine, tmp_path):
    """The daemon path makes the same ECR API calls as the archive path (DescribeRepositories,
    GetAuthorizationToken); the push itself is the daemon's, to the registry."""
    import images

    repository = f"team/daemon-{uuid.uuid4().hex[:8]}"
    ecr_admin.create_repository(repositoryName=repository)
    name = images.build_image(tmp_path / "context", sizes=(1000,))
    policy = generated_permissions(scenario, "--actions", "ecr-push", "--ecr-repository", repository)
    try:
        emulator.enforce_role_policy(scenario.role_arn, policy)
        result = scenario.run(ACTION="ecr-push", IMAGE_NAME=name, ECR_REPOSITORY=repository, TAGS="v1", timeout=120)
        assert result.code == 0, result
        assert {"GetAuthorizationToken", "DescribeRepositories"} <= pipe_calls(emulator, "ecr")
        assert not refusals(emulator)

        emulator.enforce_role_policy(scenario.role_arn, without(policy, "ecr:GetAuthorizationToken"))
        result = scenario.run(ACTION="ecr-push", IMAGE_NAME=name, ECR_REPOSITORY=repository, TAGS="v2", timeout=120)
        assert result.code == 3, result
        assert "ecr:GetAuthorizationToken" in result.output
    finally:
        images.remove_images(name, f"{ecr_registry.host}/{repository}:v1")


# ------------------------------------------------------------------ KEEP_REVISIONS / KEEP_VERSIONS (issue 20)


@pytest.fixture
def ecs_cleanup_step(scenario, emulator):
    """web and api on web:1, web:2 … web:4 registered; a deploy of web with KEEP_REVISIONS: 1."""
    ecs = ecs_fixture(emulator, cluster=CLUSTER, services=("web", "api"))
    boto = ecs.client("ecs")
    for _ in range(3):
        register_task_definition_raw(boto, task_definition_body("web", ("app",)))

    def run(*flags):
        policy = generated_permissions(scenario, "--actions", "ecs-deploy", "--cluster", CLUSTER, "--services", "web",
                                       *flags)
        emulator.enforce_role_policy(scenario.role_arn, policy)
        emulator.ecs_rollout(CLUSTER, "web", "complete", polls=1)
        result = scenario.run(ACTION="ecs-deploy", CLUSTER_NAME=CLUSTER, SERVICE_NAME="web", IMAGE="repo/app:3",
                              CONTAINER_NAME="app", KEEP_REVISIONS="1")
        return policy, result

    return run


def test_ecs_cleanup_runs_with_exactly_the_generated_permissions(ecs_cleanup_step, emulator):
    policy, result = ecs_cleanup_step("--keep-revisions")
    assert result.code == 0, result
    assert not [r for r in emulator.requests() if r["status"] == 403], "nothing was refused"
    assert result.outputs_env["AWS_ROLE_DEPLOY_DEREGISTERED_REVISIONS"] == "web:2 web:3 web:4"


def test_ecs_cleanup_without_its_permissions_is_a_warning(ecs_cleanup_step):
    policy, result = ecs_cleanup_step()
    assert "ecs:DeregisterTaskDefinition" not in json.dumps(policy)
    assert result.code == 0, result
    # api is outside the narrowed services: reading it is what fails first.
    assert "KEEP_REVISIONS: nothing was deregistered" in result.stderr
    assert "Add ecs:DescribeServices to the role's policy" in result.stderr


@pytest.fixture
def lambda_cleanup_step(scenario, emulator):
    fn = lambda_fixture(emulator, name="api")
    lam = fn.client("lambda")
    for i in range(3):
        lam.update_function_code(FunctionName="api", ZipFile=make_zip({"app.py": f"V = {i}\n"}))
        lam.publish_version(FunctionName="api")
    (scenario.clone_dir / "app.zip").write_bytes(make_zip({"app.py": "def handler(e, c):\n    return 1\n"}))

    def run(*flags):
        policy = generated_permissions(scenario, "--actions", "lambda-deploy", "--function", "api", *flags)
        emulator.enforce_role_policy(scenario.role_arn, policy)
        result = scenario.run(ACTION="lambda-deploy", FUNCTION_NAME="api", ZIP_FILE="app.zip", ALIAS="live",
                              KEEP_VERSIONS="2")
        return policy, result

    return run


def test_lambda_cleanup_runs_with_exactly_the_generated_permissions(lambda_cleanup_step, emulator):
    policy, result = lambda_cleanup_step("--keep-versions")
    deletes = [s for s in policy["Statement"] if "lambda:DeleteFunction" in s["Action"]]
    # Versions only: the function itself cannot be deleted with this policy.
    assert [s["Resource"] for s in deletes] == ["arn:aws:lambda:us-east-1:111111111111:function:api:*"]
    assert result.code == 0, result
    assert not [r for r in emulator.requests() if r["status"] == 403], "nothing was refused"
    assert result.outputs_env["AWS_ROLE_DEPLOY_DELETED_VERSIONS"] == "1 2"


def test_lambda_cleanup_without_its_permissions_is_a_warning(lambda_cleanup_step):
    policy, result = lambda_cleanup_step()
    assert "lambda:DeleteFunction" not in json.dumps(policy)
    assert result.code == 0, result
    # The first cleanup call the base policy lacks is named (lambda:ListAliases: rollback's
    # permissions bring lambda:ListVersionsByFunction already).
    assert "KEEP_VERSIONS: nothing was deleted" in result.stderr
    assert "on the function (api) to the role's policy to have old versions cleaned up" in result.stderr
