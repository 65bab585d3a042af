"""ACTION=ecs-deploy to services on the CODE_DEPLOY controller (issue 21): the binary, with the
step's OIDC token, against the emulator's CodeDeploy layer (test/emulator/codedeploy*.py:
deployments that move through ECS lifecycle events per poll, scripted failures, StopDeployment
with rollback, permission checks). Each test asserts what the pipe printed, its exit code, and
what CodeDeploy was asked (the AppSpec as the layer parsed it, from its request log)."""

import json
import signal
import subprocess
import time

import pytest

from emulator.codedeploy_scenario import codedeploy_fixture
from pipe import BINARY, REGION
from test_permissions import generated_permissions

CLUSTER = "prod"


@pytest.fixture
def blue_green(emulator):
    return codedeploy_fixture(emulator, cluster=CLUSTER, service="web")


def deploy(scenario, timeout=90, **overrides):
    variables = {"ACTION": "ecs-deploy", "CLUSTER_NAME": CLUSTER, "SERVICE_NAME": "web", "IMAGE": "repo/app:2"}
    variables.update(overrides)
    return scenario.run(timeout=timeout, **variables)


def pipe_calls(emulator, action=None):
    """The pipe's own CodeDeploy calls (its User-Agent names it), not the fixture's."""
    return [r for r in emulator.requests(service="codedeploy", action=action)
            if "aws-role-deploy" in (r["user_agent"] or "")]


def deployments(emulator):
    return emulator.codedeploy_deployments()["deployments"]


def stopped_while_following(scenario, emulator, blue_green, **overrides):
    """Run the step, SIGTERM it once its deployment exists and is being followed; -> (code, output)."""
    blue_green.next_deployment(outcome="succeed", polls_per_event=1000)
    env = scenario.env(ACTION="ecs-deploy", CLUSTER_NAME=CLUSTER, SERVICE_NAME="web", IMAGE="repo/app:2",
                       **overrides)
    process = subprocess.Popen([str(BINARY)], env=env, cwd=str(scenario.clone_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(300):
        if deployments(emulator) and pipe_calls(emulator, "GetDeployment"):
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return process.returncode, output


def test_a_code_deploy_service_is_deployed_through_codedeploy_with_progress(scenario, emulator, blue_green):
    blue_green.next_deployment(outcome="succeed")
    result = deploy(scenario)

    assert result.code == 0, result
    [deployment] = deployments(emulator)
    did = deployment["id"]
    assert f"CodeDeploy deployment {did} of web:2 started (AppECS-prod-web/DgpECS-prod-web)" in result.output
    for event in ("BeforeInstall", "AllowTraffic", "AfterAllowTraffic"):
        assert f"{event} Succeeded" in result.output, event
    assert "replacement" in result.output and "% traffic" in result.output
    assert result.final_line.endswith("Deployed web:2 to web"), result.final_line
    # ECS was never asked to update the service; CodeDeploy got the revision and the LB's container.
    assert not [r for r in emulator.requests(service="ecs", action="UpdateService")
                if "aws-role-deploy" in (r["user_agent"] or "")]
    appspec = deployment["appspec"]
    assert appspec["task_definition"].endswith(":task-definition/web:2")
    assert (appspec["container_name"], appspec["container_port"]) == ("app", 8080)
    [service] = result.outputs_json["services"]
    assert service["deployment_id"] == did and service["strategy"] == "CODE_DEPLOY"
    assert service["state"] == "COMPLETED" and service["final_status"] in ("Succeeded", "InProgress")
    assert service["console_url"] == (
        f"https://console.aws.amazon.com/codesuite/codedeploy/deployments/{did}?region={REGION}")


def test_the_appspec_file_adds_hooks_and_properties(scenario, emulator, blue_green):
    blue_green.next_deployment(outcome="succeed")
    (scenario.clone_dir / "appspec.json").write_text(json.dumps({
        "version": 0.0,
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
            "TaskDefinition": "<TASK_DEFINITION>", "PlatformVersion": "1.4.0"}}}],
        "Hooks": [{"AfterAllowTestTraffic": "web-smoke-test"}],
    }))
    result = deploy(scenario, CODEDEPLOY_APPSPEC="appspec.json")

    assert result.code == 0, result
    [deployment] = deployments(emulator)
    appspec = deployment["appspec"]
    assert "AfterAllowTestTraffic" in appspec["hooks"] and "web-smoke-test" in str(appspec["hooks"])
    assert appspec["platform_version"] == "1.4.0"
    assert appspec["task_definition"].endswith("web:2")


def test_traffic_all_on_the_replacement_ends_the_step_during_the_termination_wait(scenario, emulator, blue_green):
    # CodeDeploy keeps the original task set for the group's termination wait (5 minutes here),
    # the deployment InProgress meanwhile: the step does not wait it out.
    blue_green.next_deployment(outcome="succeed", termination_wait=True)
    result = deploy(scenario)

    assert result.code == 0, result
    assert "AfterAllowTraffic Succeeded" in result.output
    assert "CodeDeploy removes the original task set in 5 minute(s)" in result.output
    [deployment] = deployments(emulator)
    assert deployment["status"] == "InProgress", "still in its termination wait"
    [service] = result.outputs_json["services"]
    assert (service["state"], service["final_status"]) == ("COMPLETED", "InProgress")


def test_a_deployment_waiting_to_be_continued_says_who_continues_it(scenario, emulator, blue_green):
    blue_green.next_deployment(outcome="succeed", ready_wait=True)
    result = deploy(scenario, WAIT_TIMEOUT="12")

    assert result.code == 1, result
    assert "web (" in result.output and "): Ready" in result.output
    assert "ContinueDeployment" in result.output and "Reroute traffic" in result.output
    assert "did not complete within WAIT_TIMEOUT" in result.output
    assert not pipe_calls(emulator, "ContinueDeployment"), "the pipe never continues it itself"


def test_an_appspec_that_sets_the_task_definition_is_refused_before_any_change(scenario, emulator, blue_green):
    (scenario.clone_dir / "appspec.json").write_text(json.dumps({
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": "web:1"}}}],
    }))
    result = deploy(scenario, CODEDEPLOY_APPSPEC="appspec.json")

    assert result.code == 2, result
    assert "CODEDEPLOY_APPSPEC" in result.output and "Properties.TaskDefinition" in result.output
    assert not pipe_calls(emulator) and not deployments(emulator)


def test_an_appspec_with_part_of_a_network_configuration_is_refused_before_any_change(scenario, emulator, blue_green):
    # CodeDeploy takes Subnets, SecurityGroups and AssignPublicIp all together or none (the
    # emulator fails such a deployment with INVALID_REVISION): the pipe says so before it starts.
    (scenario.clone_dir / "appspec.json").write_text(json.dumps({
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
            "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": blue_green.subnets}}}}}],
    }))
    result = deploy(scenario, CODEDEPLOY_APPSPEC="appspec.json")

    assert result.code == 2, result
    assert "CODEDEPLOY_APPSPEC" in result.output
    assert "missing SecurityGroups, AssignPublicIp" in result.output
    assert not pipe_calls(emulator) and not deployments(emulator)


def test_a_failed_lifecycle_event_fails_the_step_with_codedeploys_reasons(scenario, emulator, blue_green):
    blue_green.next_deployment(
        outcome="fail", fail_at="AfterAllowTestTraffic",
        diagnostics={"errorCode": "ScriptFailed", "message": "smoke test returned 500",
                     "scriptName": "web-smoke-test", "logTail": "token=hook-private-output"},
        error={"code": "HEALTH_CONSTRAINTS", "message": "the hook web-smoke-test failed"},
    )
    result = deploy(scenario)

    assert result.code == 1, result
    assert "HEALTH_CONSTRAINTS: the hook web-smoke-test failed" in result.output
    assert "lifecycle event AfterAllowTestTraffic failed: ScriptFailed: smoke test returned 500" in result.output
    assert "hook-private-output" not in result.everything(), "the hook's log tail is never shown"
    [service] = result.outputs_json["services"]
    assert service["state"] in ("FAILED", "ROLLED_BACK") and service["final_status"] == "Failed"


def test_on_timeout_rollback_stops_the_deployment_and_follows_the_rollback(scenario, emulator, blue_green):
    # Far enough to have something to roll back (the replacement task set exists), not to the end.
    blue_green.next_deployment(outcome="succeed", polls_per_event=2)
    result = deploy(scenario, WAIT_TIMEOUT="5", ON_TIMEOUT="rollback")

    assert result.code == 1, result
    [stop] = pipe_calls(emulator, "StopDeployment")
    assert stop["params"]["autoRollbackEnabled"] is True
    assert "stopping CodeDeploy deployment" in result.output
    assert "rolls back with deployment" in result.output
    [service] = result.outputs_json["services"]
    assert service["state"] == "TIMED_OUT" and service["rollback"], service


def test_on_timeout_fail_leaves_the_deployment_to_codedeploy(scenario, emulator, blue_green):
    blue_green.next_deployment(outcome="succeed", polls_per_event=1000)
    result = deploy(scenario, WAIT_TIMEOUT="4")

    assert result.code == 1, result
    assert not pipe_calls(emulator, "StopDeployment")
    assert "did not complete within WAIT_TIMEOUT" in result.output


def test_sigterm_with_on_timeout_rollback_stops_the_deployment_with_rollback(scenario, emulator, blue_green):
    returncode, output = stopped_while_following(scenario, emulator, blue_green, ON_TIMEOUT="rollback")

    assert returncode == 143, output
    [stop] = pipe_calls(emulator, "StopDeployment")
    assert stop["params"]["autoRollbackEnabled"] is True
    assert "Cancelled (SIGTERM)" in output and "ON_TIMEOUT=rollback" in output


def test_sigterm_without_rollback_leaves_the_deployment_to_codedeploy(scenario, emulator, blue_green):
    returncode, output = stopped_while_following(scenario, emulator, blue_green)

    assert returncode == 143, output
    assert not pipe_calls(emulator, "StopDeployment")
    assert "CodeDeploy goes on with it (ON_TIMEOUT=rollback would stop it with rollback)" in output


def test_throttling_and_server_errors_are_retried_like_the_sdk(scenario, emulator, blue_green):
    # AWS_MAX_ATTEMPTS is 3 in these runs: two failed attempts of one call are absorbed.
    blue_green.next_deployment(outcome="succeed")
    emulator.add_fault("server_error", service="codedeploy", action="CreateDeployment", count=1)
    emulator.add_fault("throttle", service="codedeploy", action="GetDeployment", count=2)
    result = deploy(scenario)

    assert result.code == 0, result
    creates = pipe_calls(emulator, "CreateDeployment")
    assert [r["status"] for r in creates] == [500, 200]
    assert len(deployments(emulator)) == 1
    gets = [r["status"] for r in pipe_calls(emulator, "GetDeployment")]
    assert gets[:3] == [400, 400, 200], gets


def test_another_active_deployment_is_named(scenario, emulator, blue_green):
    blue_green.next_deployment(outcome="succeed", polls_per_event=1000)
    active = blue_green.create_deployment(blue_green.task_definition_arn)
    result = deploy(scenario)

    assert result.code == 1, result
    assert f"deployment {active} is still active in AppECS-prod-web/DgpECS-prod-web" in result.output
    assert "DeploymentLimitExceededException" in result.output


@pytest.mark.parametrize("variable", ["CODEDEPLOY_APPLICATION", "CODEDEPLOY_DEPLOYMENT_GROUP"])
def test_a_missing_application_or_group_is_refused_naming_the_variable(scenario, emulator, blue_green, variable):
    result = deploy(scenario, **{variable: "nope"})

    assert result.code == 2, result
    assert variable in result.output and "nope" in result.output
    assert not pipe_calls(emulator, "CreateDeployment")
    assert not [r for r in emulator.requests(service="ecs", action="RegisterTaskDefinition")
                if "aws-role-deploy" in (r["user_agent"] or "")], "nothing registered"


def test_custom_names_are_used(scenario, emulator):
    fixture = codedeploy_fixture(emulator, cluster=CLUSTER, service="web", application="shop",
                                 deployment_group="shop-web")
    fixture.next_deployment(outcome="succeed")
    result = deploy(scenario, CODEDEPLOY_APPLICATION="shop", CODEDEPLOY_DEPLOYMENT_GROUP="shop-web")

    assert result.code == 0, result
    [create] = pipe_calls(emulator, "CreateDeployment")
    assert (create["params"]["applicationName"], create["params"]["deploymentGroupName"]) == ("shop", "shop-web")


def test_mixed_controllers_each_deploy_their_own_way(scenario, emulator, blue_green):
    blue_green.next_deployment(outcome="succeed")
    ecs = blue_green.client("ecs")
    ecs.create_service(
        cluster=CLUSTER, serviceName="api", taskDefinition=blue_green.task_definition_arn, desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": blue_green.subnets,
                                                      "securityGroups": blue_green.security_groups}})
    emulator.ecs_rollout(CLUSTER, "api", "complete", polls=1)
    result = deploy(scenario, SERVICE_NAME="web api")

    assert result.code == 0, result
    updated = [r for r in emulator.requests(service="ecs", action="UpdateService")
               if "aws-role-deploy" in (r["user_agent"] or "")]
    assert [r["params"]["service"] for r in updated] == ["api"]
    [create] = pipe_calls(emulator, "CreateDeployment")
    assert create["params"]["deploymentGroupName"] == "DgpECS-prod-web"
    states = {s["name"]: (s["strategy"], s["state"]) for s in result.outputs_json["services"]}
    assert states["web"] == ("CODE_DEPLOY", "COMPLETED") and states["api"][1] == "COMPLETED", states


def test_one_explicit_group_for_two_code_deploy_services_is_refused(scenario, emulator, blue_green):
    codedeploy_fixture(emulator, cluster=CLUSTER, service="api")
    result = deploy(scenario, SERVICE_NAME="web api", CODEDEPLOY_DEPLOYMENT_GROUP="DgpECS-prod-web")

    assert result.code == 2, result
    assert "CODEDEPLOY_DEPLOYMENT_GROUP" in result.output and "exactly one ECS service" in result.output
    assert not pipe_calls(emulator, "CreateDeployment")


def test_dry_run_shows_the_appspec_and_creates_nothing(scenario, emulator, blue_green):
    result = deploy(scenario, DRY_RUN="true")

    assert result.code == 0, result
    assert "would create a CodeDeploy deployment of web in AppECS-prod-web/DgpECS-prod-web" in result.output
    assert '"ContainerName":"app"' in result.output and '"ContainerPort":8080' in result.output
    assert not pipe_calls(emulator, "CreateDeployment") and not deployments(emulator)


def test_rollback_refuses_code_deploy_services(scenario, emulator, blue_green):
    result = scenario.run(ACTION="rollback", CLUSTER_NAME=CLUSTER, SERVICE_NAME="web")

    assert result.code == 2, result
    assert "CODE_DEPLOY" in result.output and "TASK_DEFINITION" in result.output


def test_the_generated_permissions_suffice_and_codedeploys_are_needed(scenario, emulator, blue_green):
    base = ("--actions", "ecs-deploy", "--cluster", CLUSTER, "--services", "web")
    policy = generated_permissions(scenario, *base, "--codedeploy")
    blue_green.next_deployment(outcome="succeed")
    emulator.enforce_role_policy(scenario.role_arn, policy)
    result = deploy(scenario)

    assert result.code == 0, result
    assert not [r for r in emulator.requests() if r["status"] == 403], "nothing was refused"

    without = generated_permissions(scenario, *base)
    emulator.enforce_role_policy(scenario.role_arn, without)
    result = deploy(scenario)
    assert result.code == 3, result
    assert "codedeploy:GetDeploymentGroup" in result.output
