"""KEEP_REVISIONS and KEEP_VERSIONS (issue 20): after a successful ecs-deploy / lambda-deploy, old
task-definition revisions are deregistered and old Lambda versions deleted, never one in use
(a deployment of any service in the cluster; an alias's version or weight; provisioned
concurrency). A refused cleanup call is a warning; bad input is exit 2 before any call."""

import pytest

from emulator.ecs_scenario import register_task_definition_raw, task_definition_body
from emulator.lambda_scenario import make_zip
from test_ecs import CLUSTER, Ecs
from test_lambda import FUNCTION, MUTATING as LAMBDA_MUTATING, Lambda, published_versions

ECS_MUTATING = {"RegisterTaskDefinition", "UpdateService", "RunTask", "DeregisterTaskDefinition", "TagResource",
                "StopServiceDeployment"}


@pytest.fixture
def ecs(scenario, emulator):
    """Services web and api on web:1, and web:2 … web:5 registered but run by none."""
    ecs = Ecs(scenario, emulator, services=("web", "api"))
    for _ in range(4):
        register_task_definition_raw(ecs.boto, task_definition_body("web", ("app",)))
    return ecs


def active(ecs):
    arns = ecs.boto.list_task_definitions(familyPrefix="web", status="ACTIVE")["taskDefinitionArns"]
    return sorted(int(arn.rsplit(":", 1)[1]) for arn in arns)


def test_keep_revisions_deregisters_old_revisions_but_never_one_another_service_runs(ecs):
    ecs.rollout("complete", services=["web"])
    result = ecs.run(SERVICE_NAME="web", IMAGE="repo/app:2", CONTAINER_NAME="app", KEEP_REVISIONS="2")

    assert result.code == 0, result
    assert ecs.service("web")["taskDefinition"].endswith("web:6")
    assert ecs.service("api")["taskDefinition"].endswith("web:1")
    # web:6 and web:5 are the newest two; web:1 is api's.
    assert active(ecs) == [1, 5, 6]
    deregistered = [c["params"]["taskDefinition"].rsplit("/", 1)[-1] for c in ecs.calls("DeregisterTaskDefinition")]
    assert deregistered == ["web:2", "web:3", "web:4"]
    assert "KEEP_REVISIONS: keeping web:1 (a deployment in prod uses it)" in result.output
    assert "KEEP_REVISIONS: deregistered web:2, web:3, web:4" in result.output
    assert result.outputs_env["AWS_ROLE_DEPLOY_DEREGISTERED_REVISIONS"] == "web:2 web:3 web:4"
    # The list happened after the rollout completed.
    calls = [c["action"] for c in ecs.calls()]
    assert calls.index("ListTaskDefinitions") > calls.index("UpdateService")


def test_without_keep_revisions_every_revision_stays(ecs):
    ecs.rollout("complete", services=["web"])
    result = ecs.run(SERVICE_NAME="web", IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    assert active(ecs) == [1, 2, 3, 4, 5, 6]
    assert ecs.calls("ListTaskDefinitions") == [] and ecs.calls("DeregisterTaskDefinition") == []
    assert "AWS_ROLE_DEPLOY_DEREGISTERED_REVISIONS" not in result.outputs_env


def test_a_refused_deregistration_is_a_warning_and_the_deploy_succeeds(ecs, emulator):
    ecs.rollout("complete", services=["web"])
    emulator.add_fault("access_denied", service="ecs", action="DeregisterTaskDefinition", count=10)
    result = ecs.run(SERVICE_NAME="web", IMAGE="repo/app:2", CONTAINER_NAME="app", KEEP_REVISIONS="2")

    assert result.code == 0, result
    assert "Add ecs:DeregisterTaskDefinition to the role's policy" in result.stderr
    assert "the deploy itself succeeded" in result.stderr
    assert active(ecs) == [1, 2, 3, 4, 5, 6]
    assert "Deployed web:6 to web" in result.final_line
    assert result.outputs_env["AWS_ROLE_DEPLOY_DEREGISTERED_REVISIONS"] == ""


@pytest.mark.parametrize("value", ["0", "1001", "two"])
def test_keep_revisions_out_of_range_is_exit_2_before_any_call(ecs, value):
    result = ecs.run(SERVICE_NAME="web", IMAGE="repo/app:2", CONTAINER_NAME="app", KEEP_REVISIONS=value)

    assert result.code == 2, result
    assert "KEEP_REVISIONS" in result.output and "from 1 to 1000" in result.output
    assert [c for c in ecs.calls() if c["action"] in ECS_MUTATING] == []
    assert active(ecs) == [1, 2, 3, 4, 5]


# ------------------------------------------------------------------------------ Lambda


@pytest.fixture
def fn(scenario, emulator):
    """Versions 1–5; alias stable on 1, alias live on 5 sending a weighted share to 3."""
    fn = Lambda(scenario, emulator)
    published_versions(fn, 5)
    fn.boto.create_alias(FunctionName=FUNCTION, Name="stable", FunctionVersion="1")
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="5",
                         RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}})
    return fn


def versions(fn):
    listed = fn.boto.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
    return [v["Version"] for v in listed if v["Version"] != "$LATEST"]


def deploy(fn, **extra):
    return fn.run(ZIP_FILE=fn.write("app.zip", make_zip({"app.py": "V = 'new'\n"})), **extra)


def test_keep_versions_deletes_old_versions_but_never_an_aliased_or_weighted_one(fn):
    result = deploy(fn, KEEP_VERSIONS="2")

    assert result.code == 0, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_VERSION"] == "6"
    assert versions(fn) == ["1", "3", "5", "6"]
    deleted = [c["params"]["Qualifier"] for c in fn.calls("DeleteFunction")]
    assert deleted == ["2", "4"]
    assert "keeping 1 (alias stable), 3 (alias live, weighted)" in result.output
    assert "KEEP_VERSIONS: deleted version(s) 2, 4 of api" in result.output
    assert result.outputs_env["AWS_ROLE_DEPLOY_DELETED_VERSIONS"] == "2 4"
    calls = [c["action"] for c in fn.calls()]
    assert calls.index("ListVersionsByFunction") > calls.index("PublishVersion")


def test_keep_versions_keeps_a_version_with_provisioned_concurrency(fn):
    fn.emulator.lambda_provisioned_concurrency(FUNCTION, "4", executions=1)
    result = deploy(fn, KEEP_VERSIONS="2")

    assert result.code == 0, result
    assert versions(fn) == ["1", "3", "4", "5", "6"]
    assert "4 (provisioned concurrency)" in result.output
    assert result.outputs_env["AWS_ROLE_DEPLOY_DELETED_VERSIONS"] == "2"


def test_keep_versions_after_moving_an_alias_to_an_existing_version(fn):
    result = fn.run(VERSION="2", ALIAS="stable", KEEP_VERSIONS="1")

    assert result.code == 0, result
    # stable now on 2, live on 5 (+3): 1 and 4 go.
    assert versions(fn) == ["2", "3", "5"]
    assert result.outputs_env["AWS_ROLE_DEPLOY_DELETED_VERSIONS"] == "1 4"


def test_a_refused_delete_is_a_warning_and_the_deploy_succeeds(fn):
    fn.emulator.add_fault("access_denied", service="lambda", action="DeleteFunction", count=10)
    result = deploy(fn, KEEP_VERSIONS="2")

    assert result.code == 0, result
    assert "Add lambda:DeleteFunction on the function's versions (api:*)" in result.stderr
    assert versions(fn) == ["1", "2", "3", "4", "5", "6"]
    assert result.outputs_env["AWS_ROLE_DEPLOY_DELETED_VERSIONS"] == ""


@pytest.mark.parametrize("value", ["0", "1001"])
def test_keep_versions_out_of_range_is_exit_2_before_any_call(fn, value):
    result = deploy(fn, KEEP_VERSIONS=value)

    assert result.code == 2, result
    assert "KEEP_VERSIONS" in result.output and "from 1 to 1000" in result.output
    assert [c for c in fn.calls() if c["action"] in LAMBDA_MUTATING] == []
