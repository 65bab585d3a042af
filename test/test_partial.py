"""Nothing half-finishes silently (issue 12): a deploy that fails after changing something says
exactly what was done and what was not, and the outputs files record that partial state
(`STATE=PARTIAL`, `DONE_n`, `NOT_DONE_n`), so later script lines can act on it. Each step of
each action is failed in turn with a fault the pipe does not retry (AccessDenied)."""

import pytest

from emulator.lambda_scenario import lambda_fixture
from test_ecs import Ecs

FUNCTION = "api"


def listed(outputs, prefix):
    keys = sorted((key for key in outputs if key.startswith(prefix)), key=lambda key: int(key.rsplit("_", 1)[1]))
    return [outputs[key] for key in keys]


# ------------------------------------------------------------------------------------ Lambda

LAMBDA_STEPS = {
    # failing operation: (said done, said not done, outputs: configuration changed, code changed, version)
    "UpdateFunctionCode": (
        ["$LATEST has the new configuration"],
        ["the code was not updated", "no version was published", "the alias live still points at version 1"],
        "true", "false", "",
    ),
    "PublishVersion": (
        ["$LATEST has the new configuration", "$LATEST has the new code"],
        ["no version was published", "the alias live still points at version 1"],
        "true", "true", "",
    ),
    "UpdateAlias": (
        ["$LATEST has the new configuration", "$LATEST has the new code", "version 2 is published"],
        ["the alias live still points at version 1"],
        "true", "true", "2",
    ),
}


@pytest.mark.parametrize("failing", LAMBDA_STEPS)
def test_a_lambda_deploy_failing_halfway_says_and_records_what_was_done(scenario, emulator, failing):
    fn = lambda_fixture(emulator, name=FUNCTION, publish=True)
    fn.client("lambda").create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    (scenario.clone_dir / "build").mkdir()
    (scenario.clone_dir / "build" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (scenario.clone_dir / "c.json").write_text('{"Timeout": 42}')
    emulator.add_fault("access_denied", service="lambda", action=failing, count=1)

    result = scenario.run(ACTION="lambda-deploy", FUNCTION_NAME=FUNCTION, ZIP_FILE="build",
                          FUNCTION_CONFIGURATION="c.json", ALIAS="live")

    done, not_done, configuration_changed, code_changed, version = LAMBDA_STEPS[failing]
    assert result.code == 3, result
    assert f"lambda:{failing}" in result.final_line, result
    assert f"Already done: {'; '.join(done)}." in result.output, result
    assert f"Not done: {'; '.join(not_done)}." in result.output, result
    outputs = result.outputs_env
    assert outputs is not None, "no outputs files for a step that changed something"
    assert outputs["AWS_ROLE_DEPLOY_STATE"] == "PARTIAL"
    assert listed(outputs, "AWS_ROLE_DEPLOY_DONE_") == done
    assert listed(outputs, "AWS_ROLE_DEPLOY_NOT_DONE_") == not_done
    assert outputs["AWS_ROLE_DEPLOY_CONFIGURATION_CHANGED"] == configuration_changed
    assert outputs["AWS_ROLE_DEPLOY_CODE_CHANGED"] == code_changed
    assert outputs.get("AWS_ROLE_DEPLOY_VERSION", "") == version
    assert result.outputs_json["state"] == "PARTIAL"
    assert fn.client("lambda").get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == "1"


def test_a_lambda_deploy_failing_before_any_change_writes_no_outputs(scenario, emulator):
    lambda_fixture(emulator, name=FUNCTION)
    (scenario.clone_dir / "c.json").write_text('{"Timeout": 42}')
    emulator.add_fault("access_denied", service="lambda", action="UpdateFunctionConfiguration", count=1)

    result = scenario.run(ACTION="lambda-deploy", FUNCTION_NAME=FUNCTION, FUNCTION_CONFIGURATION="c.json")

    assert result.code == 3, result
    assert "Already done" not in result.output
    assert result.outputs_env is None, "nothing was changed: no outputs to act on"


def test_a_successful_lambda_deploy_says_deployed(scenario, emulator):
    lambda_fixture(emulator, name=FUNCTION)
    (scenario.clone_dir / "c.json").write_text('{"Timeout": 42}')

    result = scenario.run(ACTION="lambda-deploy", FUNCTION_NAME=FUNCTION, FUNCTION_CONFIGURATION="c.json")

    assert result.code == 0, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_STATE"] == "DEPLOYED"


# ------------------------------------------------------------------------------------ ECS


def test_an_ecs_deploy_refused_at_update_records_the_registered_revision(scenario, emulator):
    ecs = Ecs(scenario, emulator, services=("web", "api"))
    ecs.rollout("complete")
    emulator.add_fault("access_denied", service="ecs", action="UpdateService", count=1)

    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 3, result
    assert "Registered or chosen: web:2." in result.output, result
    outputs = result.outputs_env
    assert outputs is not None, "no outputs files although a revision was registered"
    assert outputs["AWS_ROLE_DEPLOY_REGISTERED"] == "true"
    assert outputs["AWS_ROLE_DEPLOY_TASK_DEFINITION_ARN"].endswith(":task-definition/web:2")
    states = {outputs[f"AWS_ROLE_DEPLOY_SERVICES_{i}_NAME"]: outputs[f"AWS_ROLE_DEPLOY_SERVICES_{i}_STATE"]
              for i in range(2)}
    # One update was refused, the other went through (its deployment goes on without the pipe).
    assert sorted(states.values()) == ["IN_PROGRESS", "NOT_UPDATED"], states


def test_an_ecs_deploy_whose_one_off_task_fails_records_the_registered_revision(scenario, emulator):
    ecs = Ecs(scenario, emulator)
    emulator.ecs_run_task(polls=1, containers=[{"name": "app", "exitCode": 1}])

    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", RUN_TASK="true")

    assert result.code == 1, result
    assert ecs.calls("UpdateService") == []
    outputs = result.outputs_env
    assert outputs is not None, "no outputs files although a revision was registered"
    assert outputs["AWS_ROLE_DEPLOY_REGISTERED"] == "true"
    assert outputs["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "NOT_UPDATED"
    assert "web:2" in result.output and "web not updated" in result.output, result


# ------------------------------------------------------------------------------------ SIGTERM


def test_sigterm_during_a_lambda_deploy_says_what_was_done_and_in_flight(scenario, emulator):
    import signal
    import subprocess
    import time

    from pipe import BINARY, Result

    fn = lambda_fixture(emulator, name=FUNCTION)
    (scenario.clone_dir / "build").mkdir()
    (scenario.clone_dir / "build" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (scenario.clone_dir / "c.json").write_text('{"Timeout": 42}')
    # The code update stays InProgress: the pipe is waiting on it when the step is stopped.
    emulator.lambda_script(FUNCTION, in_progress_polls=10_000, applies_to="code")
    env = scenario.env(ACTION="lambda-deploy", FUNCTION_NAME=FUNCTION, ZIP_FILE="build",
                       FUNCTION_CONFIGURATION="c.json", ALIAS="live", WAIT_TIMEOUT="120")
    process = subprocess.Popen([str(BINARY)], env=env, cwd=str(scenario.clone_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not emulator.requests(service="lambda", action="UpdateFunctionCode") and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    result = Result.collect(process.returncode, stdout, stderr, outputs_dir=scenario.outputs_dir, env=env)
    emulator.assert_no_secrets_in(result.everything())

    assert result.code == 143, result
    assert "Cancelled (SIGTERM) during lambda-deploy" in result.final_line, result
    assert "In flight: UpdateFunctionCode" in result.output, result
    assert "Already done: $LATEST has the new configuration; $LATEST has the new code." in result.output, result
    assert "Not done: no version was published; the alias live was not created." in result.output, result
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_STATE"] == "PARTIAL", outputs
    assert emulator.requests(service="lambda", action="PublishVersion") == []
    assert fn.client("lambda").list_aliases(FunctionName=FUNCTION)["Aliases"] == []


@pytest.mark.parametrize("action", ["assume-role", "ecs-deploy"])
def test_sigterm_before_an_action_follows_anything_is_answered_too(scenario, emulator, action):
    # The pipe is PID 1 of its container, where an unhandled SIGTERM is ignored: it must answer
    # it in every phase, here while authenticating (a hung STS call).
    import signal
    import subprocess
    import time

    from pipe import BINARY, Result

    emulator.add_fault("hang", service="sts", action="AssumeRoleWithWebIdentity", count=1, hang_seconds=20)
    env = scenario.env(ACTION=action, CLUSTER_NAME="prod", SERVICE_NAME="web", IMAGE="repo/app:2",
                       AWS_ATTEMPT_TIMEOUT="30")
    process = subprocess.Popen([str(BINARY)], env=env, cwd=str(scenario.clone_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not emulator.requests(service="sts", action="AssumeRoleWithWebIdentity") and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=15)
    result = Result.collect(process.returncode, stdout, stderr, outputs_dir=scenario.outputs_dir, env=env)
    emulator.assert_no_secrets_in(result.everything())

    assert result.code == 143, result
    assert f"Cancelled (SIGTERM) during {action}" in result.final_line, result
