"""ACTION=rollback for ECS end to end: each service goes back to the revision it ran before its
latest deployment, as ECS recorded it (the source revision of its current service deployment,
described with DescribeServiceRevisions), or, where that record is missing, to the newest ACTIVE
revision of its family older than the current one; TASK_DEFINITION names the target instead.
Nothing is registered, and the rollout is followed as ecs-deploy follows one."""

import pytest

from test_ecs import CLUSTER, Ecs, ecs  # noqa: F401  (ecs: the fixture)

MUTATING = ("RegisterTaskDefinition", "UpdateService", "RunTask", "StopServiceDeployment",
            "DeregisterTaskDefinition", "CreateService", "DeleteService")


def rollback(ecs, **overrides):
    return ecs.run(ACTION="rollback", **overrides)


def deployed(ecs, revision, service="web", script=True):
    """The service updated to `revision` by someone else (a pipeline before): with a rollout
    script, ECS records the deployment (its source is what the service ran); without, moto alone
    answers and no service deployment is recorded."""
    if script:
        ecs.emulator.ecs_rollout(CLUSTER, service, "complete", polls=1)
    ecs.boto.update_service(cluster=CLUSTER, service=service, taskDefinition=revision)
    ecs.service(service)  # one poll: the rollout completes


def mutating_calls(ecs):
    return [call["action"] for call in ecs.calls() if call["action"] in MUTATING]


def revisions(ecs, *tags):
    return [ecs.ecs.register_revision(image_tag=tag) for tag in tags]


def test_a_service_goes_back_to_the_source_revision_ecs_recorded(ecs):
    web2, web3 = revisions(ecs, "2", "3")
    deployed(ecs, "web:3")  # from web:1: the family rule would pick web:2, ECS's record says web:1
    ecs.rollout("complete", polls=2)
    result = rollback(ecs)

    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back web from web:3 to web:1"), result
    assert "web: rolling back from web:3 to web:1 (the source revision of its current service deployment" in (
        result.output)
    [update] = ecs.calls("UpdateService")
    assert update["params"]["taskDefinition"] == ecs.ecs.task_definition_arn
    assert mutating_calls(ecs) == ["UpdateService"], "nothing is registered"
    assert ecs.calls("DescribeServiceRevisions"), "the service revision was described, not parsed"
    assert ecs.service()["taskDefinition"] == ecs.ecs.task_definition_arn
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_ACTION"] == "rollback"
    assert outputs["AWS_ROLE_DEPLOY_ROLLED_BACK_FROM"] == web3
    assert outputs["AWS_ROLE_DEPLOY_TASK_DEFINITION_ARN"] == ecs.ecs.task_definition_arn
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_ROLLED_BACK_FROM"] == web3
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "COMPLETED"
    assert "source revision" in outputs["AWS_ROLE_DEPLOY_SERVICES_0_CHOSEN_BY"]
    assert web2 not in result.output


def test_without_ecs_record_the_newest_older_active_revision_is_chosen_and_said(ecs):
    revisions(ecs, "2", "3", "4")
    ecs.boto.deregister_task_definition(taskDefinition="web:3")
    deployed(ecs, "web:4", script=False)  # moto alone: no service deployment names a source
    ecs.rollout("complete")
    result = rollback(ecs)

    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back web from web:4 to web:2"), result
    assert "the newest ACTIVE revision of web older than web:4" in result.output
    assert "names no source revision" in result.output, "the note says why ECS's record was not used"
    [update] = ecs.calls("UpdateService")
    assert update["params"]["taskDefinition"].endswith("task-definition/web:2")
    [listing, *_] = ecs.calls("ListTaskDefinitions")
    assert listing["params"]["sort"] == "DESC" and listing["params"]["familyPrefix"] == "web"


def test_a_source_revision_ecs_cannot_describe_falls_back_to_the_family(ecs, emulator):
    revisions(ecs, "2", "3")
    deployed(ecs, "web:3")
    emulator.ecs_forget_service_revisions(CLUSTER, "web")  # created before 25 October 2024
    ecs.rollout("complete")
    result = rollback(ecs)

    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back web from web:3 to web:2"), result
    assert "cannot describe the source revision" in result.output and "25 October 2024" in result.output
    forgotten = [c for c in ecs.calls("DescribeServiceRevisions") if c.get("scenario")]
    assert forgotten, "the scenario was met"


def test_task_definition_names_the_target(ecs):
    revisions(ecs, "2", "3")
    deployed(ecs, "web:3")
    ecs.rollout("complete")
    result = rollback(ecs, TASK_DEFINITION="web:2")

    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back web from web:3 to web:2"), result
    assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_CHOSEN_BY"] == "named by TASK_DEFINITION"
    assert ecs.calls("DescribeServiceRevisions") == [] and ecs.calls("ListTaskDefinitions") == [], "no lookup"


def test_several_services_each_go_back_to_their_own_revision(scenario, emulator):
    ecs = Ecs(scenario, emulator, services=("web", "api"))
    revisions(ecs, "2", "3")
    deployed(ecs, "web:3", service="web")
    deployed(ecs, "web:2", service="api")
    ecs.rollout("complete", polls=2)
    result = rollback(ecs)

    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back web from web:3 to web:1; api from web:2 to web:1"), result
    assert sorted(c["params"]["service"] for c in ecs.calls("UpdateService")) == ["api", "web"]


def test_the_rollback_is_followed_like_a_deploy_and_its_failure_reported(ecs):
    revisions(ecs, "2")
    deployed(ecs, "web:2")
    ecs.rollout("fail", polls=2)
    result = rollback(ecs)

    assert result.code == 1, result
    assert "circuit breaker" in result.output, result
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_ACTION"] == "rollback"
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "ROLLED_BACK"
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_ROLLED_BACK_FROM"].endswith("web:2")


def test_dry_run_says_where_each_service_would_go(ecs):
    revisions(ecs, "2")
    deployed(ecs, "web:2")
    result = rollback(ecs, DRY_RUN="true")
    assert result.code == 0, result
    assert "would roll back web from web:2 to web:1" in result.final_line, result
    assert mutating_calls(ecs) == []


# ------------------------------------------------------------------------------ bad input


def test_nothing_to_roll_back_to_says_what_was_looked_at(ecs):
    result = rollback(ecs)  # web:1 is the family's only revision, and the service's first
    assert result.code == 2, result
    assert "Nothing to roll back to" in result.output
    assert "ACTIVE revisions of web: web:1 (none older than web:1)" in result.output
    assert "names no source revision" in result.output
    assert "TASK_DEFINITION" in result.output
    assert mutating_calls(ecs) == []


@pytest.mark.parametrize("variables, said", [
    ({"FUNCTION_NAME": "api"}, "CLUSTER_NAME and FUNCTION_NAME are both set"),
    ({"CLUSTER_NAME": ""}, "rollback needs a target"),
    ({"IMAGE": "repo/app:9"}, "IMAGE: is not used by rollback"),
    ({"TASK_DEFINITION": "task.json"}, "is not a revision (family:revision or a task definition ARN)"),
    ({"SERVICE_NAME": ""}, "SERVICE_NAME: is required for rollback"),
])
def test_bad_input_is_refused_before_any_call(ecs, variables, said):
    result = rollback(ecs, **variables)
    assert result.code == 2, result
    assert said in result.output, result
    assert ecs.calls() == []


@pytest.mark.parametrize("reference", ["web:7", "nosuch:1"])
def test_a_revision_that_does_not_exist_is_refused_before_any_change(ecs, reference):
    result = rollback(ecs, TASK_DEFINITION=reference)
    assert result.code == 2, result
    assert f"Task definition {reference} not found" in result.output, result
    assert mutating_calls(ecs) == []


def test_a_named_revision_every_service_already_runs_is_nothing_to_roll_back(ecs):
    result = rollback(ecs, TASK_DEFINITION="web:1")
    assert result.code == 2, result
    assert "web already run(s) web:1" in result.output
    assert mutating_calls(ecs) == []


def test_a_deployment_ecs_already_rolled_back_is_not_taken_for_the_previous_revision(ecs):
    revisions(ecs, "2", "3")
    deployed(ecs, "web:2")  # web:1 → web:2
    ecs.emulator.ecs_rollout(CLUSTER, "web", "fail", polls=1)
    ecs.boto.update_service(cluster=CLUSTER, service="web", taskDefinition="web:3")
    for _ in range(4):
        ecs.service()  # the circuit breaker rolls web:3 back to web:2
    assert ecs.service()["taskDefinition"].endswith("web:2")
    ecs.rollout("complete")
    result = rollback(ecs)

    # ECS's record names web:2, which the service runs again: the family rule decides, and says why.
    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back web from web:2 to web:1"), result
    assert "its current service deployment started from web:2, which it runs now (that deployment was rolled back)" in (
        result.output)


def test_keep_revisions_cleans_up_after_a_rollback_too(ecs):
    revisions(ecs, "2", "3", "4")
    deployed(ecs, "web:4")  # from web:1
    ecs.rollout("complete")
    result = rollback(ecs, KEEP_REVISIONS="1")

    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back web from web:4 to web:1"), result
    # web:1 runs again and is kept; every other ACTIVE revision beyond the newest one goes.
    deregistered = result.outputs_env["AWS_ROLE_DEPLOY_DEREGISTERED_REVISIONS"].split()
    assert "web:1" not in deregistered and {"web:2", "web:3"} <= set(deregistered), result
