"""ecs-deploy follows each rollout as ECS tracks it (service deployments), for every strategy:
rolling, blue/green, linear, canary; rolls back on request; and says what it leaves running when
the step is cancelled. The emulator's service deployments move poll by poll with its rollout
simulation (test/emulator/ecs_service_deployments.py)."""

import signal
import subprocess
import time

import pytest

from pipe import BINARY, Result
from test_ecs import CLUSTER, Ecs, ecs  # noqa: F401  (ecs: the fixture)

HOOK = "arn:aws:lambda:us-east-1:111111111111:function:check-green"


def add_service(ecs, name, strategy="BLUE_GREEN", **config):
    """A service with its own deployment configuration (the fixture's are rolling)."""
    configuration = {
        "strategy": strategy,
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        **config,
    }
    ecs.boto.create_service(
        cluster=CLUSTER, serviceName=name, taskDefinition=ecs.ecs.task_definition_arn, desiredCount=2,
        launchType="FARGATE", networkConfiguration=ecs.ecs.network_configuration(),
        deploymentConfiguration=configuration,
    )


def blue_green(ecs, name="web-bg", **config):
    add_service(ecs, name, "BLUE_GREEN", bakeTimeInMinutes=0, **config)
    return name


def stage_lines(result, service):
    return [line for line in result.lines if line.startswith(f"INFO: {service}: service deployment ")]


def stop_calls(ecs):
    return ecs.calls("StopServiceDeployment")


# ------------------------------------------------------------------------------ strategies


def test_blue_green_is_followed_through_every_stage_not_just_the_tasks(ecs):
    name = blue_green(ecs, lifecycleHooks=[{"hookTargetArn": HOOK, "roleArn": "arn:aws:iam::111111111111:role/hooks",
                                            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}])
    # The tasks are up after two polls; traffic shifts and bakes for nine stages after that.
    ecs.rollout("complete", polls=2, services=(name,))
    result = ecs.run(SERVICE_NAME=name, IMAGE="repo/app:2")

    assert result.code == 0, result
    assert f"INFO: {name}: deploying with BLUE_GREEN" in result.output, result
    stages = []
    for line in stage_lines(result, name):
        stage = line.split("stage ")[-1].split(" ")[0] if "stage " in line else None
        if stage and stage not in stages:
            stages.append(stage)
    assert stages == ["PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
                      "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"], result
    assert stage_lines(result, name)[-1].endswith("SUCCESSFUL, stage CLEAN_UP")
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_STRATEGY"] == "BLUE_GREEN"
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_FINAL_STATUS"] == "SUCCESSFUL"
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_SERVICE_DEPLOYMENT_ARN"].startswith("arn:aws:ecs:")
    # deployments[] said COMPLETED at the second poll; the pipe kept waiting for ECS's verdict.
    assert len(ecs.calls("DescribeServices")) > 9
    assert stop_calls(ecs) == []


@pytest.mark.parametrize("strategy, config, shown", [
    ("LINEAR", {"linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1}},
     "LINEAR, 50% of traffic per step, 60 s between steps"),
    ("CANARY", {"canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 2}},
     "CANARY, 10% canary for 2 min"),
])
def test_linear_and_canary_deployments_complete_when_ecs_says_so(ecs, strategy, config, shown):
    add_service(ecs, "web-shift", strategy, **config)
    ecs.rollout("complete", polls=1, services=("web-shift",))
    result = ecs.run(SERVICE_NAME="web-shift", IMAGE="repo/app:2")

    assert result.code == 0, result
    assert shown in result.output, result
    assert any("PRODUCTION_TRAFFIC_SHIFT" in line for line in stage_lines(result, "web-shift"))
    assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_FINAL_STATUS"] == "SUCCESSFUL"


def test_a_bake_time_longer_than_wait_timeout_is_warned_about_at_the_start(ecs):
    name = blue_green(ecs)
    ecs.boto.update_service(cluster=CLUSTER, service=name, deploymentConfiguration={
        "strategy": "BLUE_GREEN", "bakeTimeInMinutes": 30, "maximumPercent": 200, "minimumHealthyPercent": 100})
    ecs.rollout("complete", polls=1, services=(name,))
    result = ecs.run(SERVICE_NAME=name, IMAGE="repo/app:2", WAIT_TIMEOUT="600")

    warnings = [line for line in result.lines if line.startswith("WARNING:") and "bake times add up to" in line]
    assert len(warnings) == 1 and "Raise WAIT_TIMEOUT" in warnings[0], result


# ------------------------------------------------------------------------------ what ECS rolls back


def test_a_failed_lifecycle_hook_fails_the_step_with_the_hook_named(ecs):
    name = blue_green(ecs)
    ecs.rollout("hook_fail", polls=2, services=(name,))
    result = ecs.run(SERVICE_NAME=name, IMAGE="repo/app:2")

    assert result.code == 1, result
    assert "rolled back" in result.final_line and f"lifecycle hook {HOOK} failed" in result.output, result
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "ROLLED_BACK"
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_FINAL_STATUS"] == "ROLLBACK_SUCCESSFUL"
    assert stop_calls(ecs) == [], "ECS rolled back by itself"


def test_an_alarm_during_bake_time_fails_the_step_with_the_alarm_named(ecs):
    name = blue_green(ecs, alarms={"alarmNames": ["web-5xx-errors"], "enable": True, "rollback": True})
    ecs.rollout("alarm", polls=2, services=(name,))
    result = ecs.run(SERVICE_NAME=name, IMAGE="repo/app:2")

    assert result.code == 1, result
    assert "alarms in ALARM: web-5xx-errors" in result.output, result
    assert any("stage BAKE_TIME" in line for line in stage_lines(result, name))


def test_rolling_circuit_breaker_rollback_reports_the_failure_count(ecs):
    ecs.rollout("fail", polls=2)
    result = ecs.run(IMAGE="repo/app:broken", CONTAINER_NAME="app")

    assert result.code == 1, result
    assert "circuit breaker: 3 failed task(s), threshold 3" in result.output, result


# ------------------------------------------------------------------------------ rolling back on request


def test_on_timeout_rollback_stops_the_deployment_and_follows_the_rollback(ecs):
    ecs.rollout("stuck", polls=2)
    result = ecs.run(IMAGE="repo/app:2", WAIT_TIMEOUT="4", ON_TIMEOUT="rollback")

    assert result.code == 1, result
    [stop] = stop_calls(ecs)
    assert stop["params"]["stopType"] == "ROLLBACK"
    assert stop["params"]["serviceDeploymentArn"] == result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_SERVICE_DEPLOYMENT_ARN"]
    assert "rolled back on request (ON_TIMEOUT=rollback): ROLLBACK_SUCCESSFUL" in result.output, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_FINAL_STATUS"] == "ROLLBACK_SUCCESSFUL"
    assert ecs.service()["taskDefinition"].endswith("web:1")


def test_by_default_a_timed_out_deployment_is_left_running_and_said_so(ecs):
    ecs.rollout("stuck", polls=2)
    result = ecs.run(IMAGE="repo/app:2", WAIT_TIMEOUT="3")

    assert result.code == 1, result
    assert stop_calls(ecs) == []
    assert "left running" in result.output and "ON_TIMEOUT=rollback" in result.output, result


@pytest.mark.parametrize("on_failure, updates", [("rollback", 2), ("fail", 1)])
def test_on_failure_rolls_back_a_failure_ecs_stopped_without_rolling_back(ecs, on_failure, updates):
    # Rollback not configured: ECS stops the failing deployment where it is (STOPPED). Stopping it
    # again is refused, so the pipe deploys the previous revision again and follows that.
    ecs.rollout("fail_no_rollback", polls=2)
    ecs.rollout("complete", polls=1)  # the redeploy of web:1
    result = ecs.run(IMAGE="repo/app:broken", CONTAINER_NAME="app", ON_FAILURE=on_failure)

    assert result.code == 1, result
    assert "not configured to roll back" in result.output, result
    assert stop_calls(ecs) == []
    calls = ecs.calls("UpdateService")
    assert len(calls) == updates
    if on_failure == "rollback":
        assert calls[1]["params"]["taskDefinition"].endswith("web:1") and calls[1]["params"]["forceNewDeployment"]
        assert "rolled back on request (ON_FAILURE=rollback): web:1 deployed again, completed" in result.output
        assert ecs.service()["taskDefinition"].endswith("web:1")


def test_a_service_deployment_attached_after_the_update_answered_is_found(ecs):
    name = blue_green(ecs)
    ecs.rollout("complete", polls=2, services=(name,), current_late=True)
    result = ecs.run(SERVICE_NAME=name, IMAGE="repo/app:2")

    assert result.code == 0, result
    assert f"{name}: following service deployment arn:aws:ecs:" in result.output, result
    assert any("stage BAKE_TIME" in line for line in stage_lines(result, name)), "followed as blue/green"
    assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_SERVICE_DEPLOYMENT_ARN"].startswith("arn:aws:ecs:")


# ------------------------------------------------------------------------------ fallback and batching


def test_without_the_service_deployments_api_the_rolling_judge_decides(ecs, emulator):
    emulator.add_fault("access_denied", service="ecs", action="DescribeServiceDeployments", count=50)
    ecs.rollout("complete", polls=2)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    said = [line for line in result.lines if "Service deployments cannot be read" in line]
    assert len(said) == 1 and "ecs:DescribeServiceDeployments" in said[0], result
    assert len(ecs.calls("DescribeServiceDeployments")) == 1, "asked once, then not again"


def test_describes_stay_batched_for_many_services(scenario, emulator):
    names = [f"svc{i}" for i in range(12)]
    ecs = Ecs(scenario, emulator, services=names)
    ecs.rollout("complete", polls=2)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    described = ecs.calls("DescribeServiceDeployments")
    assert described and all(len(call["params"]["serviceDeploymentArns"]) <= 20 for call in described)
    polls = [call for call in ecs.calls("DescribeServices") if len(call["params"]["services"]) == 10]
    # One DescribeServiceDeployments per poll for twelve services, two DescribeServices.
    assert len(described) <= len(polls)


# ------------------------------------------------------------------------------ cancelled


def start(step, **variables):
    env = step.env(ACTION="ecs-deploy", CLUSTER_NAME=CLUSTER, **variables)
    process = subprocess.Popen([str(BINARY)], env=env, cwd=str(step.clone_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.pipe_env = env  # for the secrets scan of its Result
    return process


@pytest.mark.parametrize("on_timeout, stops", [("fail", 0), ("rollback", 1)])
def test_sigterm_mid_wait_says_what_is_left_and_rolls_back_only_when_asked(ecs, on_timeout, stops):
    ecs.rollout("stuck", polls=2)
    process = start(ecs.step, SERVICE_NAME="web", IMAGE="repo/app:2", ON_TIMEOUT=on_timeout)
    deadline = time.monotonic() + 30
    while not ecs.calls("DescribeServiceDeployments") and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    result = Result.collect(process.returncode, stdout, stderr, env=process.pipe_env)

    assert result.code == 143, result
    assert "Cancelled (SIGTERM)" in result.final_line, result
    assert "service deployment arn:aws:ecs:" in result.output and "web: web:2" in result.output, result
    assert len(stop_calls(ecs)) == stops
