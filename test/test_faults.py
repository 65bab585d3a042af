"""Fault injection × every AWS operation the pipe performs (issue 12).

Every operation of every action, as the code calls them (STS: AssumeRoleWithWebIdentity,
AssumeRole, GetCallerIdentity; ECS: DescribeServices, DescribeTaskDefinition,
RegisterTaskDefinition, RunTask, DescribeTasks, UpdateService, DescribeServiceDeployments,
ListTasks, StopServiceDeployment; Lambda: GetFunction, GetFunctionConfiguration,
UpdateFunctionConfiguration, UpdateFunctionCode, PublishVersion, GetAlias, CreateAlias,
UpdateAlias; S3: PutObject), meets, through the emulator layer:

- trouble that passes (throttling, 500, 503, a dropped connection, an answer that never comes):
  retried, and the deployment succeeds; asserted from the request log (the faulted attempt,
  then a good one);
- the same trouble that persists: a clear error naming the operation, within the bounds set by
  AWS_MAX_ATTEMPTS, AWS_ATTEMPT_TIMEOUT and WAIT_TIMEOUT, and no change after it;
- AccessDenied: not retried, a clear error naming the missing IAM action, exit 3, no change
  after it;
- credentials expiring mid-run: renewed, no call refused for an expired session.

The transient faults are injected on every operation of a flow in one run (one fault each), so
the suite stays short; the persistent ones one operation per run.
"""

import pytest

from emulator.lambda_scenario import lambda_fixture
from test_ecs import CLUSTER, Ecs

FUNCTION = "api"
ALIAS = "live"

# Calls that change something in AWS: none may follow a failure that stops the pipe.
MUTATING = {
    "RegisterTaskDefinition", "RunTask", "UpdateService", "StopServiceDeployment",
    "UpdateFunctionConfiguration", "UpdateFunctionCode", "PublishVersion", "CreateAlias", "UpdateAlias",
    "PutObject",
}

TRANSIENT = ("throttle", "server_error", "unavailable", "drop", "hang")


def pipe_calls(emulator, service=None, action=None):
    """The pipe's own calls (its User-Agent names it), not the fixtures'."""
    return [
        call for call in emulator.requests(service=service, action=action)
        if "aws-role-deploy" in (call["user_agent"] or "")
    ]


# ------------------------------------------------------------------------------------ flows
#
# A flow sets up AWS, names the operations it performs and runs the pipe. Each op is
# (service, action); `run(**overrides)` returns the Result.


class AssumeRoleFlow:
    # A role's session names itself (AssumedRoleUser): no GetCallerIdentity here.
    ops = [("sts", "AssumeRoleWithWebIdentity"), ("sts", "AssumeRole")]

    def __init__(self, scenario, emulator):
        self.scenario = scenario
        self.target = scenario.chained_role()

    def run(self, **overrides):
        return self.scenario.run(AWS_ROLE_ARN=self.target, **overrides)

    def succeeded(self, result):
        assert result.outputs_env["AWS_ROLE_DEPLOY_ROLE_ARN"] == self.target


class AccessKeysFlow:
    """Plain keys name no account: GetCallerIdentity says who they are."""

    ops = [("sts", "GetCallerIdentity")]

    def __init__(self, scenario, emulator):
        self.scenario = scenario
        self.user = scenario.user()

    def run(self, **overrides):
        keys = {
            "AWS_OIDC_ROLE_ARN": None,
            "BITBUCKET_STEP_OIDC_TOKEN": None,
            "AWS_ACCESS_KEY_ID": self.user["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": self.user["secret_access_key"],
        }
        return self.scenario.run(**keys, **overrides)

    def succeeded(self, result):
        assert result.outputs_env["AWS_ROLE_DEPLOY_CALLER_ARN"] == self.user["arn"]


class EcsFlow:
    """IMAGE from the current revision, a one-off task, one service, followed to COMPLETED."""

    ops = [
        ("ecs", "DescribeServices"), ("ecs", "DescribeTaskDefinition"), ("ecs", "RegisterTaskDefinition"),
        ("ecs", "RunTask"), ("ecs", "DescribeTasks"), ("ecs", "UpdateService"),
        ("ecs", "DescribeServiceDeployments"),
    ]

    def __init__(self, scenario, emulator):
        self.emulator = emulator
        self.ecs = Ecs(scenario, emulator)
        emulator.ecs_run_task(polls=1, containers=[{"name": "app", "exitCode": 0}])
        self.ecs.rollout("complete", polls=1)

    def run(self, **overrides):
        return self.ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", RUN_TASK="true", **overrides)

    def succeeded(self, result):
        assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "COMPLETED", result
        assert self.ecs.service()["taskDefinition"].endswith("web:2")


class EcsRollbackFlow:
    """A deployment still running at WAIT_TIMEOUT, rolled back (ON_TIMEOUT=rollback): the stopped
    tasks are listed, the service deployment stopped. The step fails either way (exit 1); what
    the faults must not change is that the rollback happened and was said."""

    ops = [("ecs", "ListTasks"), ("ecs", "StopServiceDeployment")]

    def __init__(self, scenario, emulator):
        self.ecs = Ecs(scenario, emulator)
        self.ecs.rollout("stuck")

    def run(self, **overrides):
        overrides.setdefault("WAIT_TIMEOUT", "4")
        return self.ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", ON_TIMEOUT="rollback", **overrides)

    expected_code = 1

    def succeeded(self, result):
        assert "did not complete within WAIT_TIMEOUT" in result.output, result
        assert self.ecs.calls("StopServiceDeployment"), result
        assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_ROLLBACK"], result


class LambdaFlow:
    """Configuration, code in the request, a version, and a new alias."""

    ops = [
        ("lambda", "GetFunction"), ("lambda", "GetFunctionConfiguration"), ("lambda", "GetAlias"),
        ("lambda", "UpdateFunctionConfiguration"), ("lambda", "UpdateFunctionCode"), ("lambda", "PublishVersion"),
        ("lambda", "CreateAlias"),
    ]

    def __init__(self, scenario, emulator):
        self.scenario = scenario
        self.fn = lambda_fixture(emulator, name=FUNCTION)
        build = scenario.clone_dir / "build"
        build.mkdir(parents=True, exist_ok=True)
        (build / "app.py").write_text("def handler(e, c):\n    return {'statusCode': 201}\n")
        (scenario.clone_dir / "configuration.json").write_text('{"MemorySize": 512, "Timeout": 20}')

    def run(self, **overrides):
        return self.scenario.run(ACTION="lambda-deploy", FUNCTION_NAME=FUNCTION, ZIP_FILE="build",
                                 FUNCTION_CONFIGURATION="configuration.json", ALIAS=ALIAS, **overrides)

    def succeeded(self, result):
        assert result.outputs_env["AWS_ROLE_DEPLOY_VERSION"] == "1", result
        assert result.outputs_env["AWS_ROLE_DEPLOY_ALIAS_ARN"].endswith(f":{ALIAS}"), result
        config = self.fn.client("lambda").get_function_configuration(FunctionName=FUNCTION)
        assert config["MemorySize"] == 512


class LambdaS3Flow:
    """The package uploaded to S3 first, an existing alias moved."""

    ops = [("s3", "PutObject"), ("lambda", "UpdateFunctionCode"), ("lambda", "UpdateAlias")]

    def __init__(self, scenario, emulator):
        self.scenario = scenario
        self.fn = lambda_fixture(emulator, name=FUNCTION, publish=True)
        self.fn.client("lambda").create_alias(FunctionName=FUNCTION, Name=ALIAS, FunctionVersion="1")
        build = scenario.clone_dir / "build"
        build.mkdir(parents=True, exist_ok=True)
        (build / "app.py").write_text("def handler(e, c):\n    return {'statusCode': 202}\n")

    def run(self, **overrides):
        return self.scenario.run(ACTION="lambda-deploy", FUNCTION_NAME=FUNCTION, ZIP_FILE="build",
                                 S3_BUCKET=self.fn.bucket, S3_KEY="builds/api.zip", ALIAS=ALIAS, **overrides)

    def succeeded(self, result):
        assert result.outputs_env["AWS_ROLE_DEPLOY_VERSION"] == "2", result
        alias = self.fn.client("lambda").get_alias(FunctionName=FUNCTION, Name=ALIAS)
        assert alias["FunctionVersion"] == "2"


FLOWS = {
    "assume-role": AssumeRoleFlow,
    "access-keys": AccessKeysFlow,
    "ecs-deploy": EcsFlow,
    "ecs-rollback": EcsRollbackFlow,
    "lambda-deploy": LambdaFlow,
    "lambda-s3": LambdaS3Flow,
}

# Every (flow, service, action) covered; RELIABILITY.md's table is this list.
OPERATIONS = [(name, service, action) for name, flow in FLOWS.items() for service, action in flow.ops]


def fault_args(kind):
    # A hung request is held far longer than the attempt timeout (AWS_ATTEMPT_TIMEOUT=1 below).
    return {"hang_seconds": 20} if kind == "hang" else {}


# ------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("kind", TRANSIENT)
@pytest.mark.parametrize("flow_name", FLOWS)
def test_trouble_that_passes_is_retried_on_every_operation(scenario, emulator, flow_name, kind):
    flow = FLOWS[flow_name](scenario, emulator)
    for service, action in flow.ops:
        emulator.add_fault(kind, service=service, action=action, count=1, **fault_args(kind))

    result = flow.run(AWS_MAX_ATTEMPTS="3", AWS_ATTEMPT_TIMEOUT="1", timeout=90)

    assert result.code == getattr(flow, "expected_code", 0), result
    flow.succeeded(result)
    for service, action in flow.ops:
        calls = pipe_calls(emulator, service, action)
        seen = [(call["fault"], call["status"]) for call in calls]
        assert len(calls) >= 2, f"{service}:{action} was not retried: {seen}\n{result}"
        assert calls[0]["fault"] == kind, f"{service}:{action}: {seen}"
        # The very next attempt of the operation got through (an answer, maybe a 404 the pipe
        # expects: GetAlias of an alias still to be created).
        assert calls[1]["fault"] is None and calls[1]["status"] in (200, 201, 202, 404), f"{service}:{action}: {seen}"
    assert emulator.faults() == [], "a fault was never reached: its operation is not in this flow"


# What a failure that persists must end in, per operation: (exit code, text in the final line).
# Operations of a wait keep trying until WAIT_TIMEOUT and then say so; the others give up after
# AWS_MAX_ATTEMPTS. Operations that only add detail (DescribeServiceDeployments, ListTasks) do
# not fail a deployment that succeeds without them.
# DescribeServiceDeployments is where ECS says how a rollout ends: without it, the pipe cannot
# call the deployment done, and says at WAIT_TIMEOUT that the last checks failed.
PERSISTENT_END = {
    ("ecs-deploy", "ecs", "DescribeServiceDeployments"): (1, "did not complete within WAIT_TIMEOUT"),
    ("ecs-rollback", "ecs", "ListTasks"): (1, "did not complete within WAIT_TIMEOUT"),
}
# How the pipe says that no answer came: the one mapping (aws/failure.rs), or auth's own
# explanation for STS, or a wait that ran out.
NO_ANSWER = ("No answer from AWS", "could not get an answer", "WAIT_TIMEOUT")

# Every operation with its connection dropped for good; one operation per service held until the
# attempt timeout for good (slower: a second per attempt).
PERSISTENT = [(flow, service, action, "drop") for flow, service, action in OPERATIONS] + [
    ("access-keys", "sts", "GetCallerIdentity", "hang"),
    ("ecs-deploy", "ecs", "UpdateService", "hang"),
    ("lambda-deploy", "lambda", "PublishVersion", "hang"),
    ("lambda-s3", "s3", "PutObject", "hang"),
]


@pytest.mark.parametrize("flow_name, service, action, kind", PERSISTENT,
                         ids=[f"{f}-{a}-{k}" for f, _, a, k in PERSISTENT])
def test_trouble_that_persists_ends_in_a_clear_error_and_no_change_after_it(scenario, emulator, flow_name,
                                                                             service, action, kind):
    flow = FLOWS[flow_name](scenario, emulator)
    emulator.add_fault(kind, service=service, action=action, count=1000, **fault_args(kind))

    result = flow.run(AWS_MAX_ATTEMPTS="2", AWS_ATTEMPT_TIMEOUT="1", WAIT_TIMEOUT="6", timeout=60)

    code, said = PERSISTENT_END.get((flow_name, service, action), (1, f"{service}:{action}"))
    assert result.code == code, result
    assert said in result.final_line or said in result.output, result
    assert any(words in result.output for words in NO_ANSWER), result
    calls = emulator.requests()
    faulted = [i for i, call in enumerate(calls) if call["fault"] == kind]
    assert faulted, "the operation was never called"
    if flow_name != "ecs-rollback":  # there, the rollback after the timeout is the point
        later = [call["action"] for call in calls[faulted[-1] + 1:] if call["action"] in MUTATING]
        assert later == [], f"changed after {service}:{action} failed for good: {later}\n{result}"


# AccessDenied where the pipe goes on without the answer (and says so): the service deployments
# (the rolling judge decides), the stopped tasks of a timed-out deployment, and the rollback
# asked for after a timeout (the timeout stays the headline: exit 1, the refusal said above it).
DENIED_IS_NOT_FATAL = {
    ("ecs-deploy", "ecs", "DescribeServiceDeployments"): 0,
    ("ecs-rollback", "ecs", "ListTasks"): 1,
    ("ecs-rollback", "ecs", "StopServiceDeployment"): 1,
}


@pytest.mark.parametrize("flow_name, service, action", OPERATIONS,
                         ids=[f"{f}-{a}" for f, _, a in OPERATIONS])
def test_access_denied_is_not_retried_and_names_the_action(scenario, emulator, flow_name, service, action):
    flow = FLOWS[flow_name](scenario, emulator)
    emulator.add_fault("access_denied", service=service, action=action, count=1)

    result = flow.run()

    calls = emulator.requests()
    [denied] = [i for i, call in enumerate(calls) if call["fault"] == "access_denied"]
    same = [call for call in calls[denied + 1:] if call["service"] == service and call["action"] == action]
    assert f"{service}:{action}" in result.output, result
    assert same == [], f"{service}:{action} was tried again after AccessDenied"
    if (flow_name, service, action) in DENIED_IS_NOT_FATAL:
        assert result.code == DENIED_IS_NOT_FATAL[(flow_name, service, action)], result
        return
    assert result.code == 3, result
    assert f"needs the IAM permission {service}:{action}" in result.output or service == "sts", result
    later = [call["action"] for call in calls[denied + 1:] if call["action"] in MUTATING]
    assert later == [], f"changed after AccessDenied on {service}:{action}: {later}\n{result}"


@pytest.mark.parametrize("flow_name", ["ecs-deploy", "lambda-deploy"])
def test_sessions_expiring_mid_run_are_renewed(scenario, emulator, flow_name):
    # Every session the emulator issues lasts 3 s; the deployment takes longer than that.
    emulator.set_credential_lifetime(3)
    flow = FLOWS[flow_name](scenario, emulator)
    if flow_name == "ecs-deploy":
        emulator.clear_ecs_rollouts()
        flow.ecs.rollout("complete", polls=6)
    else:
        emulator.lambda_script(FUNCTION, in_progress_polls=5, applies_to="code")

    result = flow.run(timeout=90)

    assert result.code == 0, result
    flow.succeeded(result)
    expired = [call for call in emulator.requests() if call.get("error_code") in ("ExpiredToken", "ExpiredTokenException")]
    assert expired == [], expired
    assert len(pipe_calls(emulator, "sts", "AssumeRoleWithWebIdentity")) >= 2, "never renewed"


@pytest.mark.parametrize("service, action, flow_name", [
    ("ecs", "DescribeServices", "ecs-deploy"),
    ("lambda", "GetFunctionConfiguration", "lambda-deploy"),
])
def test_an_unreadable_answer_is_kept_for_debug_with_its_values_masked(scenario, emulator, service, action, flow_name):
    from emulator.faults import GARBLED_SECRET

    flow = FLOWS[flow_name](scenario, emulator)
    emulator.add_fault("garbled", service=service, action=action, count=1)

    result = flow.run()

    assert result.code == 1, result
    assert "could not be read (HTTP 200" in result.final_line, result
    [kept] = [line for line in result.lines if line.startswith("DEBUG:") and "values masked" in line]
    assert '"serviceName": "***"' in kept and '"environment": "***"' in kept, kept
    assert GARBLED_SECRET not in result.everything()
    changes = [call["action"] for call in pipe_calls(emulator) if call["action"] in MUTATING]
    assert changes == [], changes
