"""ecs-deploy against what real ECS answers and the first emulator did not: an UpdateService answer
that still names the previous service deployment (containers-roadmap#2709), blue/green without
the service deployments API, RunTask's reserved `aws:` tag keys, and answers without the item the
pipe expects. Each behaviour is a scenario of the emulator layer (test/emulator/README.md)."""

from test_ecs import CLUSTER, Ecs, ecs  # noqa: F401  (ecs: the fixture)
from test_ecs_strategies import HOOK, add_service, blue_green


def outputs_of(result):
    return result.outputs_env


# ------------------------------------------------------------------------------ stale currentServiceDeployment


def test_the_previous_service_deployment_in_the_update_answer_is_never_followed(ecs):
    # The service's creation is its current service deployment, SUCCESSFUL. ECS answers the
    # update (and the first poll) with it still; the new deployment is then rolled back by the
    # circuit breaker. Following the old ARN reads SUCCESSFUL: a false success.
    previous = ecs.service()["currentServiceDeployment"]
    ecs.rollout("fail", polls=2, current_stale_polls=1)
    result = ecs.run(IMAGE="repo/app:broken", CONTAINER_NAME="app")

    assert result.code == 1, result
    [update] = ecs.calls("UpdateService")
    assert update["scenario"] == {"current_stale": previous}, "the emulator answered the stale ARN"
    outputs = outputs_of(result)
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "ROLLED_BACK", result
    assert outputs.get("AWS_ROLE_DEPLOY_SERVICES_0_SERVICE_DEPLOYMENT_ARN") != previous
    for call in ecs.calls("DescribeServiceDeployments"):
        assert previous not in call["params"]["serviceDeploymentArns"], "the previous deployment was followed"
    assert f"the previous service deployment {previous}" in result.output, result


def test_the_new_service_deployment_is_found_once_ecs_attaches_it(ecs):
    previous = ecs.service()["currentServiceDeployment"]
    ecs.rollout("complete", polls=3, current_stale_polls=2)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    stale_polls = [call for call in ecs.calls("DescribeServices") if call.get("scenario", {}).get("current_stale")]
    assert len(stale_polls) == 2, "the emulator named the previous one for two polls"
    followed = outputs_of(result)["AWS_ROLE_DEPLOY_SERVICES_0_SERVICE_DEPLOYMENT_ARN"]
    assert followed.startswith("arn:aws:ecs:") and followed != previous
    assert outputs_of(result)["AWS_ROLE_DEPLOY_SERVICES_0_FINAL_STATUS"] == "SUCCESSFUL"
    assert "web: following service deployment " + followed in result.output, result


def test_a_stale_read_naming_the_previous_deployment_is_no_takeover(ecs):
    # ECS stops the failing deployment (no rollback configured) at poll 2, which a lagging replica
    # answers: it still names the service deployment from before the update. That is not someone
    # else's newer deployment taking over: the deployment failed.
    ecs.rollout("fail_no_rollback", polls=2, stale_polls=[2])
    result = ecs.run(IMAGE="repo/app:broken", CONTAINER_NAME="app")

    assert result.code == 1, result
    assert outputs_of(result)["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "FAILED", result
    assert "not configured to roll back" in result.output, result


def test_blue_green_waits_for_its_own_service_deployment_not_for_deployments_completed(ecs):
    # deployments[] reads COMPLETED at the first poll while traffic has not shifted yet; the new
    # service deployment is attached at the fourth poll and its lifecycle hook then fails.
    name = blue_green(ecs, lifecycleHooks=[{"hookTargetArn": HOOK, "roleArn": "arn:aws:iam::111111111111:role/hooks",
                                            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}])
    previous = ecs.service(name)["currentServiceDeployment"]
    ecs.rollout("hook_fail", polls=1, services=(name,), current_stale_polls=3)
    result = ecs.run(SERVICE_NAME=name, IMAGE="repo/app:2")

    assert result.code == 1, result
    assert outputs_of(result)["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "ROLLED_BACK", result
    assert f"lifecycle hook {HOOK} failed" in result.output, result
    for call in ecs.calls("DescribeServiceDeployments"):
        assert previous not in call["params"]["serviceDeploymentArns"]


# ------------------------------------------------------------------------------ without DescribeServiceDeployments


def deny_service_deployments(emulator):
    emulator.add_fault("access_denied", service="ecs", action="DescribeServiceDeployments", count=100)


def test_without_service_deployments_blue_green_waits_out_its_bake_time_and_sees_the_rollback(ecs, emulator):
    # deployments[] reads COMPLETED at the first poll; the lifecycle hook fails four polls later
    # and ECS rolls back. The bake time (1 min) is still running then.
    name = "web-bg"
    add_service(ecs, name, "BLUE_GREEN", bakeTimeInMinutes=1)
    deny_service_deployments(emulator)
    ecs.rollout("hook_fail", polls=1, services=(name,))
    result = ecs.run(SERVICE_NAME=name, IMAGE="repo/app:2", timeout=120)

    assert result.code == 1, result
    assert outputs_of(result)["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "ROLLED_BACK", result
    assert "waits out the bake time (60 s)" in result.output, result
    assert "Deployed" not in result.final_line


def test_without_service_deployments_a_wait_shorter_than_the_bake_time_is_no_success(ecs, emulator):
    name = "web-bg"
    add_service(ecs, name, "BLUE_GREEN", bakeTimeInMinutes=10)
    deny_service_deployments(emulator)
    ecs.rollout("complete", polls=1, services=(name,))
    result = ecs.run(SERVICE_NAME=name, IMAGE="repo/app:2", WAIT_TIMEOUT="8")

    assert result.code == 1, result
    assert outputs_of(result)["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "TIMED_OUT", result
    assert "waits out the bake time (10 min)" in result.output, result


# ------------------------------------------------------------------------------ RunTask and reserved tags


def test_the_one_off_task_leaves_out_the_tags_aws_reserves(ecs, emulator):
    # A service CloudFormation created carries aws:cloudformation:* tags; with propagateTags
    # SERVICE the pipe copies the service's tags onto the one-off task, and ECS refuses aws: keys.
    ecs.boto.create_service(
        cluster=CLUSTER, serviceName="jobs", taskDefinition=ecs.ecs.task_definition_arn, desiredCount=1,
        launchType="FARGATE", networkConfiguration=ecs.ecs.network_configuration(), propagateTags="SERVICE",
        tags=[{"key": "team", "value": "jobs"}],
    )
    stack = [{"key": "aws:cloudformation:stack-name", "value": "prod-jobs"},
             {"key": "aws:cloudformation:logical-id", "value": "JobsService"}]
    emulator.ecs_service_system_tags(CLUSTER, "jobs", stack)
    emulator.ecs_run_task(containers=[{"name": "app", "exitCode": 0}])
    ecs.rollout("complete", services=("jobs",))
    result = ecs.run(SERVICE_NAME="jobs", IMAGE="repo/app:2", RUN_TASK="true")

    assert result.code == 0, result
    [run] = ecs.calls("RunTask")
    assert run["params"]["tags"] == [{"key": "team", "value": "jobs"}], run
    assert "aws:cloudformation:stack-name" in result.output, "the pipe says which tags it left out"


def test_the_emulator_refuses_run_task_tags_aws_reserves(ecs, emulator):
    import botocore.exceptions
    import pytest

    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ecs.boto.run_task(cluster=CLUSTER, taskDefinition=ecs.ecs.task_definition_arn, launchType="FARGATE",
                          networkConfiguration=ecs.ecs.network_configuration(),
                          tags=[{"key": "aws:cloudformation:stack-name", "value": "prod"}])
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("InvalidParameterException", "Tag key must not start with aws:")
    [call] = emulator.requests(service="ecs", action="RunTask")
    assert call["scenario"] == {"reserved_tags": ["aws:cloudformation:stack-name"]}


# ------------------------------------------------------------------------------ answers without their item


def assert_names_the_operation(result, operation):
    assert result.code in (1, 2), result
    assert "panicked" not in result.output and "RUST_BACKTRACE" not in result.output, result
    assert operation in result.final_line, result


def test_describe_services_answering_no_service_and_no_failure_is_an_error(ecs, emulator):
    emulator.ecs_empty_answer("DescribeServices")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", RUN_TASK="true")

    assert_names_the_operation(result, "ecs:DescribeServices")
    assert "web" in result.final_line, result
    for action in ("RegisterTaskDefinition", "UpdateService", "RunTask"):
        assert ecs.calls(action) == [], f"{action} was called"
    [described] = [c for c in ecs.calls("DescribeServices") if c.get("scenario")]
    assert described["scenario"] == {"emptied": "services"}


def test_describe_task_definition_without_its_task_definition_is_an_error(ecs, emulator):
    emulator.ecs_empty_answer("DescribeTaskDefinition")
    result = ecs.run(TASK_DEFINITION="web:1")

    assert_names_the_operation(result, "ecs:DescribeTaskDefinition")
    assert ecs.calls("UpdateService") == []


def test_describe_task_definition_without_it_stops_an_image_update_too(ecs, emulator):
    emulator.ecs_empty_answer("DescribeTaskDefinition")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert_names_the_operation(result, "ecs:DescribeTaskDefinition")
    assert ecs.calls("RegisterTaskDefinition") == []


def test_register_task_definition_without_its_task_definition_updates_nothing(ecs, emulator):
    emulator.ecs_empty_answer("RegisterTaskDefinition")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert_names_the_operation(result, "ecs:RegisterTaskDefinition")
    assert ecs.calls("UpdateService") == []


def test_run_task_without_a_task_or_a_failure_updates_nothing(ecs, emulator):
    emulator.ecs_empty_answer("RunTask")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", RUN_TASK="true")

    assert_names_the_operation(result, "ecs:RunTask")
    assert ecs.calls("UpdateService") == []


def test_update_service_without_the_service_is_not_reported_as_not_updated(ecs, emulator):
    ecs.rollout("complete")
    emulator.ecs_empty_answer("UpdateService")
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert_names_the_operation(result, "ecs:UpdateService")
    assert "may have been updated" in result.output, result
    assert "Not updated: web" not in result.output, result


def test_a_rollback_redeploy_answered_without_the_service_is_said_not_followed(ecs, emulator):
    # ON_FAILURE=rollback deploys web:1 again; ECS answers that UpdateService without the service.
    ecs.rollout("fail_no_rollback", polls=2)
    emulator.ecs_empty_answer("UpdateService", skip=1)
    result = ecs.run(IMAGE="repo/app:broken", CONTAINER_NAME="app", ON_FAILURE="rollback")

    assert result.code == 1, result
    assert "panicked" not in result.output, result
    assert len(ecs.calls("UpdateService")) == 2
    said = [line for line in result.lines if "could not deploy web:1 again" in line]
    assert said and "ecs:UpdateService failed: ECS answered without the service web" in said[0], result


def test_empty_answers_while_waiting_are_waited_through_not_judged(ecs, emulator):
    # One DescribeTasks of the one-off task and one poll of the service come back empty: the
    # pipe neither panics nor reads them as a verdict; the next answers decide.
    emulator.ecs_run_task(polls=2, containers=[{"name": "app", "exitCode": 0}])
    emulator.ecs_empty_answer("DescribeTasks")
    ecs.rollout("complete", polls=2)
    emulator.ecs_empty_answer("DescribeServices", skip=2)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", RUN_TASK="true")

    assert result.code == 0, result
    emptied = [c["action"] for c in ecs.calls() if c.get("scenario", {}).get("emptied")]
    assert emptied == ["DescribeTasks", "DescribeServices"], emptied
    assert outputs_of(result)["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "COMPLETED"


# ------------------------------------------------------------------------------ the emulator's own controls


def test_the_emulator_answers_the_previous_service_deployment_when_scripted(ecs, emulator):
    before = ecs.service()["currentServiceDeployment"]
    [created] = ecs.boto.describe_service_deployments(serviceDeploymentArns=[before])["serviceDeployments"]
    assert created["status"] == "SUCCESSFUL"
    emulator.ecs_rollout(CLUSTER, "web", "complete", polls=2, current_stale_polls=1)
    answer = ecs.boto.update_service(cluster=CLUSTER, service="web", taskDefinition=ecs.ecs.register_revision())

    assert answer["service"]["currentServiceDeployment"] == before
    assert ecs.service()["currentServiceDeployment"] == before, "poll 1 is still stale"
    attached = ecs.service()["currentServiceDeployment"]
    assert attached != before
    listed = ecs.boto.list_service_deployments(cluster=CLUSTER, service="web")["serviceDeployments"]
    assert [d["serviceDeploymentArn"] for d in listed] == [attached, before]
    [update] = emulator.requests(service="ecs", action="UpdateService")
    assert update["scenario"] == {"current_stale": before}


def test_the_emulator_empties_an_answer_once(ecs, emulator):
    emulator.ecs_empty_answer("DescribeServices", skip=1)
    assert ecs.boto.describe_services(cluster=CLUSTER, services=["web"])["services"], "skipped"
    emptied = ecs.boto.describe_services(cluster=CLUSTER, services=["web"])
    assert emptied["services"] == [] and emptied["failures"] == []
    assert ecs.boto.describe_services(cluster=CLUSTER, services=["web"])["services"], "only once"
    records = emulator.requests(service="ecs", action="DescribeServices")
    assert [r.get("scenario") for r in records[-3:]] == [None, {"emptied": "services"}, None]


# ------------------------------------------------------------------------------ an update that changes nothing


def test_an_update_to_the_revision_already_running_is_not_waited_for(ecs):
    # TASK_DEFINITION names the revision the blue/green service already runs, nothing forced: ECS
    # starts no deployment ("use forceNewDeployment to start a new deployment with no service
    # definition changes", UpdateService API reference), so the service deployment it names stays
    # the one from before, and it is already this revision's. Waiting for a new one ran to
    # WAIT_TIMEOUT.
    name = blue_green(ecs)
    running = ecs.service(name)["taskDefinition"]
    previous = ecs.service(name)["currentServiceDeployment"]
    result = ecs.run(SERVICE_NAME=name, TASK_DEFINITION=running, WAIT_TIMEOUT="20")

    assert result.code == 0, result
    assert outputs_of(result)["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "COMPLETED", result
    assert ecs.service(name)["currentServiceDeployment"] == previous, "the emulator started a deployment"
    assert "already runs" in result.output, result
