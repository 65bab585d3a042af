"""ACTION=ecs-deploy end to end: the binary, authenticated with the step's OIDC token, against
the emulator's ECS (moto plus scripted rollouts). Each test asserts what the pipe printed, its
exit code, and what ECS now holds or was asked."""

import json

import pytest

from emulator.ecs_scenario import (
    UNKNOWN_FIELD,
    UNKNOWN_VALUE,
    ecs_fixture,
    register_task_definition_raw,
    task_definition_body,
)
from pipe import Scenario

CLUSTER = "prod"


class Ecs:
    """A Fargate cluster with services (see ecs_scenario) and a pipe step that deploys to it."""

    def __init__(self, step, emulator, services=("web",), **fixture):
        self.step = step
        self.emulator = emulator
        self.ecs = ecs_fixture(emulator, cluster=CLUSTER, services=services, **fixture)
        self.boto = self.ecs.client("ecs")

    def run(self, timeout=60, **overrides):
        variables = {"ACTION": "ecs-deploy", "CLUSTER_NAME": CLUSTER, "SERVICE_NAME": " ".join(self.ecs.services)}
        variables.update(overrides)
        return self.step.run(timeout=timeout, **variables)

    def rollout(self, outcome="complete", polls=1, services=None, **extra):
        for service in services or self.ecs.services:
            self.emulator.ecs_rollout(CLUSTER, service, outcome, polls=polls, **extra)

    def calls(self, action=None):
        """The pipe's own ECS calls (its User-Agent names it), not the fixture's setup."""
        return [
            call for call in self.emulator.requests(service="ecs", action=action)
            if "aws-role-deploy" in (call["user_agent"] or "")
        ]

    def service(self, name="web"):
        return self.boto.describe_services(cluster=CLUSTER, services=[name])["services"][0]

    def write_task_definition(self, body, name="task-definition.json"):
        """Into the clone directory; returns the relative path, as users give it."""
        path = self.step.clone_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2))
        return name


@pytest.fixture
def ecs(scenario, emulator):
    return Ecs(scenario, emulator)


def assert_nothing_changed(ecs):
    for action in ("RegisterTaskDefinition", "UpdateService", "RunTask"):
        assert ecs.calls(action) == [], f"{action} was called"


# ------------------------------------------------------------------------------ sources


def test_image_only_deploy_registers_from_the_current_definition(ecs):
    ecs.rollout("complete", polls=2)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    assert "Deployed web:2 to web" in result.final_line
    [register] = ecs.calls("RegisterTaskDefinition")
    sent = register["params"]
    assert sent["containerDefinitions"][0]["image"] == "repo/app:2"
    # Everything else comes from the current revision, unknown fields and tags included.
    assert sent[UNKNOWN_FIELD] == UNKNOWN_VALUE
    assert sent["tags"] == [{"key": "team", "value": "platform"}]
    assert "taskDefinitionArn" not in sent and "revision" not in sent
    service = ecs.service()
    assert service["taskDefinition"].endswith("task-definition/web:2")
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_REVISION"] == "2"
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "COMPLETED"
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_DEPLOYMENT_ID"] == service["deployments"][0]["id"]
    assert "/ecs/v2/clusters/prod/services/web/deployments?region=us-east-1" in outputs[
        "AWS_ROLE_DEPLOY_SERVICES_0_CONSOLE_URL"]


def test_file_with_unknown_fields_and_placeholders_is_sent_as_written(ecs, emulator):
    body = task_definition_body("web", ("app", "envoy"))
    body["containerDefinitions"][0]["image"] = "repo/app:${BITBUCKET_BUILD_NUMBER}"
    body["containerDefinitions"][0]["command"] = ["serve", "--port", "$${PORT}"]
    body["brandNewEcsFeature"] = {"enabled": True, "level": 3}
    ecs.rollout("complete")
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(body))

    assert result.code == 0, result
    stored = emulator.ecs_task_definition("web:2")
    assert stored["brandNewEcsFeature"] == {"enabled": True, "level": 3}
    assert stored[UNKNOWN_FIELD] == UNKNOWN_VALUE
    assert stored["containerDefinitions"][0]["image"] == "repo/app:42"
    assert stored["containerDefinitions"][0]["command"] == ["serve", "--port", "${PORT}"]
    assert stored["ephemeralStorage"] == {"sizeInGiB": 21}


def test_describe_task_definition_output_is_accepted(ecs, emulator):
    described = ecs.boto.describe_task_definition(taskDefinition="web:1", include=["TAGS"])
    described.pop("ResponseMetadata")
    described["taskDefinition"]["containerDefinitions"][0]["image"] = "repo/app:3"
    ecs.rollout("complete")
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(json.loads(json.dumps(described, default=str))))

    assert result.code == 0, result
    assert "dropped the read-only fields" in result.output and "taskDefinitionArn" in result.output
    [register] = ecs.calls("RegisterTaskDefinition")
    for field in ("taskDefinitionArn", "revision", "status", "compatibilities", "registeredAt", "registeredBy"):
        assert field not in register["params"], field
    assert register["params"]["tags"] == [{"key": "team", "value": "platform"}]


def test_nulls_of_a_console_export_are_dropped_with_one_note_and_never_sent(ecs):
    body = task_definition_body("web", ("app",))
    body.update(ipcMode=None, pidMode=None, proxyConfiguration=None)
    body["containerDefinitions"][0].update(user=None, linuxParameters=None, logConfiguration={
        "logDriver": "awslogs", "secretOptions": None, "options": {"awslogs-group": "/ecs/web"}})
    ecs.rollout("complete")
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(body))

    assert result.code == 0, result
    [note] = [line for line in result.lines if "null value" in line]
    assert "dropped 6 null value(s)" in note and 'mean "not set"' in note, note
    for path in ("ipcMode", "containerDefinitions[0].user", "containerDefinitions[0].logConfiguration.secretOptions"):
        assert path in note, path
    [register] = ecs.calls("RegisterTaskDefinition")
    assert "scenario" not in register, "the emulator saw nulls"
    sent = register["params"]
    assert sent["containerDefinitions"][0]["logConfiguration"] == {"logDriver": "awslogs",
                                                                   "options": {"awslogs-group": "/ecs/web"}}
    assert "user" not in sent["containerDefinitions"][0] and "ipcMode" not in sent


@pytest.mark.parametrize("described", [False, True], ids=["request", "describe-output"])
def test_tags_written_as_an_object_are_refused_with_the_right_shape(ecs, described):
    body = task_definition_body("web", ("app",))
    body["tags"] = {"team": "platform"}
    if described:
        tags = body.pop("tags")
        body = {"taskDefinition": body, "tags": tags}
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(body))

    assert result.code == 2, result
    assert 'written as an object' in result.output
    assert '"tags": [{"key":"team","value":"platform"}]' in result.output, result
    assert "nothing to deploy" not in result.output, "a second, misleading problem"
    assert [line for line in result.lines if "TASK_DEFINITION" in line and "tags" in line], result
    assert_nothing_changed(ecs)


def test_a_refused_file_is_the_only_problem_said(ecs):
    """Without SERVICE_NAME too: neither "nothing to deploy" nor "SERVICE_NAME is required"."""
    path = ecs.write_task_definition({"family": "web", "containerDefinitions": [{"image": "x"}]})
    for services in ("web", None):
        result = ecs.run(TASK_DEFINITION=path, SERVICE_NAME=services)
        assert result.code == 2, result
        assert "without a \"name\"" in result.output
        assert "nothing to deploy" not in result.output and "SERVICE_NAME" not in result.output, result
    assert_nothing_changed(ecs)


def test_existing_revision_is_deployed_without_registering(ecs):
    arn = ecs.ecs.register_revision(image_tag="7")
    ecs.rollout("complete")
    result = ecs.run(TASK_DEFINITION="web:2")

    assert result.code == 0, result
    assert ecs.calls("RegisterTaskDefinition") == []
    [update] = ecs.calls("UpdateService")
    assert update["params"]["taskDefinition"] == arn
    assert result.outputs_env["AWS_ROLE_DEPLOY_REGISTERED"] == "false"


def test_register_only_without_services(ecs):
    result = ecs.run(SERVICE_NAME=None, TASK_DEFINITION=ecs.write_task_definition(task_definition_body("batch")))

    assert result.code == 0, result
    assert "no service was updated" in result.final_line
    assert ecs.calls("UpdateService") == []
    assert result.outputs_env["AWS_ROLE_DEPLOY_TASK_DEFINITION_ARN"].endswith("task-definition/batch:1")


def test_placeholder_problems_are_validation_errors(ecs, emulator):
    body = task_definition_body()
    body["containerDefinitions"][0]["image"] = "repo/app:${NOT_DEFINED_ANYWHERE}"
    body["containerDefinitions"][0]["environment"].append({"name": "K", "value": "${AWS_SECRET_ACCESS_KEY}"})
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(body))

    assert result.code == 2, result
    assert "${NOT_DEFINED_ANYWHERE} is not defined" in result.output
    assert "${AWS_SECRET_ACCESS_KEY} names a credential variable" in result.output
    assert ecs.calls() == []


# ------------------------------------------------------------------------------ several services


def test_one_revision_to_several_services(scenario, emulator):
    names = [f"svc{i}" for i in range(12)]
    ecs = Ecs(scenario, emulator, services=names)
    ecs.rollout("complete", polls=2)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", FORCE_NEW_DEPLOYMENT="true", DESIRED_COUNT="3")

    assert result.code == 0, result
    assert len(ecs.calls("RegisterTaskDefinition")) == 1
    updates = ecs.calls("UpdateService")
    assert sorted(u["params"]["service"] for u in updates) == sorted(names)
    for update in updates:
        assert update["params"]["taskDefinition"].endswith("task-definition/web:2")
        assert update["params"]["forceNewDeployment"] is True
        assert update["params"]["desiredCount"] == 3
    # DescribeServices in batches of at most ten.
    assert all(len(call["params"]["services"]) <= 10 for call in ecs.calls("DescribeServices"))
    assert [result.outputs_env[f"AWS_ROLE_DEPLOY_SERVICES_{i}_NAME"] for i in range(12)] == names


def services_on_two_revisions(scenario, emulator):
    """web runs web:1; worker runs web:2, which has a change of its own (an extra variable)."""
    ecs = Ecs(scenario, emulator, services=("web", "worker"))
    body = task_definition_body("web", ("app",), image_tag="1")
    body["containerDefinitions"][0]["environment"].append({"name": "WORKER_QUEUE", "value": "jobs"})
    revision_2 = register_task_definition_raw(ecs.boto, body)["taskDefinition"]["taskDefinitionArn"]
    ecs.boto.update_service(cluster=CLUSTER, service="worker", taskDefinition=revision_2)
    return ecs


def test_a_restart_keeps_each_service_on_its_own_revision(scenario, emulator):
    ecs = services_on_two_revisions(scenario, emulator)
    ecs.rollout("complete")
    result = ecs.run(FORCE_NEW_DEPLOYMENT="true")

    assert result.code == 0, result
    assert ecs.calls("RegisterTaskDefinition") == []
    updates = {call["params"]["service"]: call["params"] for call in ecs.calls("UpdateService")}
    assert set(updates) == {"web", "worker"}
    for params in updates.values():
        assert "taskDefinition" not in params, params
        assert params["forceNewDeployment"] is True
    assert ecs.service("web")["taskDefinition"].endswith("task-definition/web:1")
    assert ecs.service("worker")["taskDefinition"].endswith("task-definition/web:2")
    assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_1_TASK_DEFINITION_ARN"].endswith("web:2")


def test_a_new_image_builds_one_revision_per_current_revision(scenario, emulator):
    ecs = services_on_two_revisions(scenario, emulator)
    ecs.rollout("complete")
    result = ecs.run(IMAGE="repo/app:9", CONTAINER_NAME="app")

    assert result.code == 0, result
    registered = ecs.calls("RegisterTaskDefinition")
    assert len(registered) == 2, registered
    variables = [
        sorted(e["name"] for e in call["params"]["containerDefinitions"][0]["environment"]) for call in registered
    ]
    assert ["APP_ENV", "DB_PASSWORD"] in variables and ["APP_ENV", "DB_PASSWORD", "WORKER_QUEUE"] in variables
    assert all(call["params"]["containerDefinitions"][0]["image"] == "repo/app:9" for call in registered)
    web, worker = (emulator.ecs_task_definition(ecs.service(name)["taskDefinition"].split("/")[-1])
                   for name in ("web", "worker"))
    assert "WORKER_QUEUE" not in json.dumps(web) and "WORKER_QUEUE" in json.dumps(worker)
    assert web["containerDefinitions"][0]["image"] == worker["containerDefinitions"][0]["image"] == "repo/app:9"


def test_services_of_different_families_each_get_their_own_revision(scenario, emulator):
    ecs = Ecs(scenario, emulator, services=("web", "worker"))
    other = ecs.ecs.register_revision(family="worker")
    ecs.boto.update_service(cluster=CLUSTER, service="worker", taskDefinition=other)
    ecs.rollout("complete")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    families = sorted(call["params"]["family"] for call in ecs.calls("RegisterTaskDefinition"))
    assert families == ["web", "worker"]
    assert ecs.service("web")["taskDefinition"].endswith("task-definition/web:2")
    assert ecs.service("worker")["taskDefinition"].endswith("task-definition/worker:2")


def test_an_inactive_revision_is_refused_before_any_change(ecs):
    revision = ecs.ecs.register_revision(image_tag="2")
    ecs.boto.deregister_task_definition(taskDefinition=revision)
    result = ecs.run(TASK_DEFINITION="web:2")

    assert result.code == 2, result
    assert "INACTIVE" in result.output and "TASK_DEFINITION" in result.output
    assert_nothing_changed(ecs)


def test_a_one_off_task_from_an_inactive_current_revision_is_refused_before_any_change(ecs, emulator):
    # A restart keeps the service on web:1, which a cleanup job deregistered; ECS would refuse the
    # one-off task (TaskDefinition is inactive) after nothing else, but say so before anything.
    ecs.boto.deregister_task_definition(taskDefinition=ecs.ecs.task_definition_arn)
    emulator.ecs_run_task(containers=[{"name": "app", "exitCode": 0}])
    result = ecs.run(FORCE_NEW_DEPLOYMENT="true", RUN_TASK="true")

    assert result.code == 2, result
    assert "INACTIVE" in result.output and "RUN_TASK" in result.output, result
    assert_nothing_changed(ecs)


def test_a_bare_family_means_its_latest_active_revision(ecs):
    ecs.ecs.register_revision(image_tag="2")
    newest = ecs.ecs.register_revision(image_tag="3")
    ecs.boto.deregister_task_definition(taskDefinition=newest)
    ecs.rollout("complete")
    result = ecs.run(TASK_DEFINITION="web")

    assert result.code == 0, result
    assert ecs.calls("RegisterTaskDefinition") == []
    [update] = ecs.calls("UpdateService")
    assert update["params"]["taskDefinition"].endswith("task-definition/web:2")


def test_tags_reserved_by_aws_are_not_copied_from_the_current_revision(ecs, emulator):
    # CloudFormation keeps aws:cloudformation:* tags on the revisions it registers; ECS refuses
    # them in RegisterTaskDefinition.
    emulator.ecs_system_tags("web:1", [{"key": "aws:cloudformation:stack-name", "value": "prod-web"}])
    ecs.rollout("complete")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    [register] = ecs.calls("RegisterTaskDefinition")
    assert register["params"]["tags"] == [{"key": "team", "value": "platform"}]
    assert "aws:cloudformation:stack-name" in result.output  # said, not silently dropped


def test_an_unchanged_file_is_reported_identical(ecs):
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(task_definition_body()), DRY_RUN="true")

    assert result.code == 0, result
    assert "identical" in result.output, result
    changed = task_definition_body(image_tag="2")
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(changed), DRY_RUN="true")
    diff = [line for line in result.lines if line.startswith("INFO:   ")]
    assert diff == ['INFO:   ~ containerDefinitions[app].image: "repo/app:1" → "repo/app:2"'], result


# ------------------------------------------------------------------------------ failures


def test_circuit_breaker_rollback_fails_with_reasons(ecs):
    stopped = [{"stoppedReason": "Essential container in task exited", "stopCode": "EssentialContainerExited",
                "containers": [{"name": "app", "exitCode": 3, "reason": "OutOfMemoryError"}]}]
    ecs.rollout("fail", polls=2, stopped_tasks=stopped)
    result = ecs.run(IMAGE="repo/app:broken", CONTAINER_NAME="app")

    assert result.code == 1, result
    assert "rolled back" in result.output
    assert "circuit breaker" in result.output
    assert "web:1" in result.output  # what ECS went back to
    assert "exit code 3" in result.output and "OutOfMemoryError" in result.output
    assert "rolling back to deployment" in result.output  # a service event
    assert ecs.service()["taskDefinition"].endswith("web:1")
    # The outputs say how it ended, for later script lines.
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "ROLLED_BACK"
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_FINAL_STATUS"] == "ROLLBACK_SUCCESSFUL"
    assert "circuit breaker" in outputs["AWS_ROLE_DEPLOY_SERVICES_0_FINDINGS"]


def test_superseded_deployment_is_not_called_a_rollback(ecs):
    ecs.rollout("superseded", polls=1)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 1, result
    assert "superseded" in result.output
    assert "not a rollback" in result.output
    assert "web:3" in result.output


def test_a_stale_read_that_misses_our_deployment_is_not_taken_for_a_rollback(ecs, emulator):
    # DescribeServices is eventually consistent: the second poll answers as before the update.
    ecs.rollout("complete", polls=4, stale_polls=[2])
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "COMPLETED"
    stale = [call for call in ecs.calls("DescribeServices") if call.get("scenario")]
    assert len(stale) == 1 and stale[0]["scenario"] == {"stale_read": ["web"]}


def test_stuck_deployment_times_out(ecs):
    ecs.rollout("stuck")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", WAIT_TIMEOUT="4")

    assert result.code == 1, result
    assert "did not complete within WAIT_TIMEOUT" in result.output
    assert "unable to consistently start tasks" in result.output


def test_throttling_during_the_wait_is_retried(ecs, emulator):
    ecs.rollout("complete", polls=3)
    # The first DescribeServices checks the input; the next ones are polls of the wait.
    emulator.add_fault("throttle", service="ecs", action="DescribeServices", count=2, skip=2)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", AWS_MAX_ATTEMPTS="3")

    assert result.code == 0, result
    faults = [call["fault"] for call in ecs.calls("DescribeServices")]
    assert faults.count("throttle") == 2
    assert faults[:2] == [None, None]


def test_access_denied_names_the_iam_action(ecs, emulator):
    emulator.add_fault("access_denied", service="ecs", action="UpdateService", count=1)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 3, result
    assert "ecs:UpdateService" in result.output
    assert len(ecs.calls("UpdateService")) == 1


# ------------------------------------------------------------------------------ bad input found in AWS


def test_unknown_container_lists_the_containers(ecs):
    result = ecs.run(IMAGE="repo/x:2", CONTAINER_NAME="sidecar")

    assert result.code == 2, result
    assert "no container \"sidecar\"" in result.output and "its containers: app" in result.output
    assert_nothing_changed(ecs)


def test_missing_cluster_and_service(ecs):
    result = ecs.run(CLUSTER_NAME="staging", IMAGE="repo/app:2")
    assert result.code == 2, result
    assert "Cluster staging not found" in result.output and "CLUSTER_NAME" in result.output

    result = ecs.run(SERVICE_NAME="web api", IMAGE="repo/app:2")
    assert result.code == 2, result
    assert "api" in result.final_line
    assert "Services in prod: web" in result.output
    assert_nothing_changed(ecs)


def test_code_deploy_services_are_refused_before_any_change(scenario, emulator):
    ecs = Ecs(scenario, emulator, controller="CODE_DEPLOY")
    result = ecs.run(IMAGE="repo/app:2")

    assert result.code == 2, result
    assert "CODE_DEPLOY deployment controller" in result.output
    assert_nothing_changed(ecs)


# ------------------------------------------------------------------------------ one-off task


def test_run_task_passes_then_services_update(ecs, emulator):
    emulator.ecs_run_task(polls=2, containers=[{"name": "app", "exitCode": 0}])
    ecs.rollout("complete")
    result = ecs.run(IMAGE="repo/app:2", RUN_TASK="true", RUN_TASK_COMMAND="python manage.py migrate --database 'main db'")

    assert result.code == 0, result
    [run] = ecs.calls("RunTask")
    assert run["params"]["taskDefinition"].endswith("web:2")
    assert run["params"]["launchType"] == "FARGATE"
    assert run["params"]["networkConfiguration"] == ecs.ecs.network_configuration()
    [override] = run["params"]["overrides"]["containerOverrides"]
    assert override == {"name": "app", "command": ["python", "manage.py", "migrate", "--database", "main db"]}
    assert len(ecs.calls("UpdateService")) == 1


def test_the_one_off_task_runs_like_the_first_listed_service(ecs, emulator):
    # A second service on Fargate Spot, with placement, tags, execute command and an EBS volume
    # configured at launch, listed first (by ARN): the one-off task must run like it.
    volume = {"name": "data", "managedEBSVolume": {
        "roleArn": "arn:aws:iam::111111111111:role/ecs-ebs", "sizeInGiB": 20, "volumeType": "gp3",
        "encrypted": True, "filesystemType": "ext4"}}
    spot = [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    placement = [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}]
    spread = [{"type": "spread", "field": "attribute:ecs.availability-zone"}]
    worker = ecs.boto.create_service(
        cluster=CLUSTER, serviceName="worker", taskDefinition=ecs.ecs.task_definition_arn, desiredCount=1,
        capacityProviderStrategy=spot, networkConfiguration=ecs.ecs.network_configuration(),
        placementConstraints=placement, placementStrategy=spread, propagateTags="SERVICE",
        tags=[{"key": "team", "value": "jobs"}], enableExecuteCommand=True, enableECSManagedTags=True,
        volumeConfigurations=[volume],
    )["service"]
    web_arn = ecs.ecs.service_arns["web"]
    emulator.ecs_run_task(containers=[{"name": "app", "exitCode": 0}])
    ecs.rollout("complete", services=("web", "worker"))
    result = ecs.run(SERVICE_NAME=f"{worker['serviceArn']} {web_arn}", IMAGE="repo/app:2", RUN_TASK="true")

    assert result.code == 0, result
    [run] = ecs.calls("RunTask")
    params = run["params"]
    assert params["capacityProviderStrategy"] == spot and "launchType" not in params, params
    assert params["placementConstraints"] == placement and params["placementStrategy"] == spread
    assert params["tags"] == [{"key": "team", "value": "jobs"}], "RunTask cannot propagate a service's tags"
    assert "propagateTags" not in params
    assert params["enableExecuteCommand"] is True and params["enableECSManagedTags"] is True
    assert params["volumeConfigurations"] == [volume]
    assert params["networkConfiguration"] == ecs.ecs.network_configuration()


def test_a_capacity_provider_service_gets_no_launch_type_guess(ecs, emulator):
    ecs.boto.create_service(
        cluster=CLUSTER, serviceName="batch", taskDefinition=ecs.ecs.task_definition_arn, desiredCount=1,
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
        networkConfiguration=ecs.ecs.network_configuration(), propagateTags="TASK_DEFINITION",
    )
    emulator.ecs_run_task(containers=[{"name": "app", "exitCode": 0}])
    ecs.rollout("complete", services=("batch",))
    result = ecs.run(SERVICE_NAME="batch", IMAGE="repo/app:2", RUN_TASK="true")

    assert result.code == 0, result
    [run] = ecs.calls("RunTask")
    assert "launchType" not in run["params"], "no FARGATE guess beside a capacity provider strategy"
    assert run["params"]["propagateTags"] == "TASK_DEFINITION"
    assert "tags" not in run["params"]


def test_failed_run_task_stops_before_any_service_changes(scenario, emulator):
    ecs = Ecs(scenario, emulator, containers=("app", "envoy"))
    emulator.ecs_run_task(containers=[{"name": "app", "exitCode": 2, "reason": "migration failed"},
                                      {"name": "envoy", "exitCode": 137}])
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", RUN_TASK="true", RUN_TASK_COMMAND="migrate")

    assert result.code == 1, result
    assert "container app ended with exit code 2" in result.output
    assert "migration failed" in result.output
    assert "No service was updated" in result.output
    assert ecs.calls("UpdateService") == []


def test_run_task_judges_only_its_container(scenario, emulator):
    ecs = Ecs(scenario, emulator, containers=("app", "envoy"))
    # The sidecar is stopped by ECS with 137 when the essential container exits: not a failure.
    emulator.ecs_run_task(containers=[{"name": "app", "exitCode": 0}, {"name": "envoy", "exitCode": 137}])
    ecs.rollout("complete")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", RUN_TASK="true")

    assert result.code == 0, result
    [run] = ecs.calls("RunTask")
    assert "overrides" not in run["params"] or not run["params"]["overrides"].get("containerOverrides")


def test_run_task_container_that_never_ran(ecs, emulator):
    emulator.ecs_run_task(containers=[{"name": "app", "exitCode": None, "reason": "CannotPullContainerError"}],
                          stopped_reason="Task failed to start", stop_code="TaskFailedToStart")
    result = ecs.run(IMAGE="repo/app:2", RUN_TASK="true", RUN_TASK_COMMAND="migrate")

    assert result.code == 1, result
    assert "no exit code" in result.output and "CannotPullContainerError" in result.output
    assert "TaskFailedToStart" in result.output
    assert ecs.calls("UpdateService") == []


# ------------------------------------------------------------------------------ dry run, no wait


def test_dry_run_changes_nothing_and_masks_environment_values(ecs):
    body = task_definition_body()
    body["cpu"] = "512"
    body["containerDefinitions"][0]["environment"] = [
        {"name": "APP_ENV", "value": "production"},
        {"name": "DB_PASSWORD", "value": "a-new-database-password"},
        {"name": "API_TOKEN", "value": "tok-123456789"},
    ]
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(body), DRY_RUN="true", DESIRED_COUNT="4")

    assert result.code == 0, result
    assert "Dry run: nothing was changed" in result.final_line
    assert '~ cpu: "256" → "512"' in result.output
    assert "environment[DB_PASSWORD].value: changed (sha256:" in result.output
    assert "+ containerDefinitions[app].environment[API_TOKEN]: sha256:" in result.output
    for secret in ("a-new-database-password", "tok-123456789", "s3cret-app"):
        assert secret not in result.everything()
    assert "would update web (now web:1), desired count 2 → 4" in result.output
    assert_nothing_changed(ecs)


def test_without_wait_the_pipe_returns_after_the_update(ecs):
    result = ecs.run(IMAGE="repo/app:2", WAIT="false")

    assert result.code == 0, result
    assert "not waited for" in result.final_line
    assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "IN_PROGRESS"
    assert len(ecs.calls("DescribeServices")) == 1


# ------------------------------------------------------------------------------ long waits and sessions


def web_identity_durations(emulator):
    return [(call["params"]["DurationSeconds"], call["error_code"])
            for call in emulator.requests(service="sts", action="AssumeRoleWithWebIdentity")]


def test_a_long_wait_asks_for_a_session_that_covers_it(emulator, tmp_path):
    step = Scenario(emulator, tmp_path, role_max_session_duration=43200)
    ecs = Ecs(step, emulator)
    ecs.rollout("complete")
    result = ecs.run(IMAGE="repo/app:2", WAIT_TIMEOUT="7200")

    assert result.code == 0, result
    # Two hours of waiting plus five minutes of headroom, in one session.
    assert web_identity_durations(emulator) == [("7500", None)]
    # The step's token (ten minutes here) cannot renew the session after it expires.
    assert "reaches past the expiry of the step's OIDC token" in result.output


def test_a_role_with_a_shorter_maximum_falls_back_with_a_warning(ecs, emulator):
    ecs.rollout("complete")
    result = ecs.run(IMAGE="repo/app:2", WAIT_TIMEOUT="7200")

    assert result.code == 0, result
    assert web_identity_durations(emulator) == [("7500", "ValidationError"), ("3600", None)]
    assert "refused a 2.1 h session" in result.output and "MaxSessionDuration" in result.output


def test_a_short_wait_keeps_the_usual_session(ecs, emulator):
    ecs.rollout("complete")
    result = ecs.run(IMAGE="repo/app:2", WAIT_TIMEOUT="300")

    assert result.code == 0, result
    assert web_identity_durations(emulator) == [("3600", None)]
    assert "reaches past the expiry" not in result.output


def test_force_new_deployment_alone_restarts_the_current_revision(ecs):
    ecs.rollout("complete")
    result = ecs.run(FORCE_NEW_DEPLOYMENT="true")

    assert result.code == 0, result
    assert ecs.calls("RegisterTaskDefinition") == []
    [update] = ecs.calls("UpdateService")
    # No task definition in the request: the service restarts on whatever it runs at that moment.
    assert "taskDefinition" not in update["params"]
    assert update["params"]["forceNewDeployment"] is True
    assert ecs.service()["taskDefinition"].endswith("task-definition/web:1")
    assert "Deployed web:1 to web" in result.final_line


def test_access_denied_during_the_wait_fails_at_once(ecs, emulator):
    ecs.rollout("stuck")
    emulator.add_fault("access_denied", service="ecs", action="DescribeServices", count=50, skip=1)
    # WAIT_TIMEOUT is far beyond the runner's 30 s: only failing fast finishes in time.
    result = ecs.run(IMAGE="repo/app:2", WAIT_TIMEOUT="600", timeout=30)

    # One mapping for every AWS failure: a refused permission is exit 3 wherever it happens.
    assert result.code == 3, result
    assert "AccessDenied" in result.output and "ecs:DescribeServices" in result.output
    assert "not followed to the end" in result.output and "web (web:2" in result.output


def test_one_refused_update_among_several_says_what_was_done(scenario, emulator):
    ecs = Ecs(scenario, emulator, services=("web", "worker"))
    emulator.add_fault("access_denied", service="ecs", action="UpdateService", count=1)
    result = ecs.run(IMAGE="repo/app:2", WAIT="false")

    assert result.code == 3, result
    assert "ecs:UpdateService" in result.output
    assert "Registered or chosen: web:2." in result.output
    assert "Updated anyway (their deployments go on): " in result.output
    assert len(ecs.calls("UpdateService")) == 2


def test_throttling_while_following_the_one_off_task(ecs, emulator):
    emulator.ecs_run_task(polls=2, containers=[{"name": "app", "exitCode": 0}])
    ecs.rollout("complete")
    emulator.add_fault("throttle", service="ecs", action="DescribeTasks", count=3)
    result = ecs.run(IMAGE="repo/app:2", RUN_TASK="true", AWS_MAX_ATTEMPTS="1")

    assert result.code == 0, result
    # Said once for the streak of three throttled polls, and once when AWS answers again.
    said = [line for line in result.lines if "ThrottlingException" in line and not line.startswith("DEBUG:")]
    assert len(said) == 1, result
    assert "One-off task" in result.output and "trying again until WAIT_TIMEOUT" in result.output
    assert "AWS answers again, after 3 failed attempt(s)" in result.output
    assert len(ecs.calls("UpdateService")) == 1


def test_an_answer_that_cannot_be_read_is_described_not_quoted(ecs, emulator):
    from emulator.faults import GARBLED_SECRET

    emulator.add_fault("garbled", service="ecs", action="DescribeServices", count=1)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", DEBUG="true")

    assert result.code == 1, result
    assert "could not be read (HTTP 200, application/x-amz-json-1.1" in result.output, result
    assert "garbled-request-1" in result.output, "the request id, for a support case"
    assert GARBLED_SECRET not in result.everything()
    assert_nothing_changed(ecs)
