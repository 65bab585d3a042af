"""Fault injection × every AWS operation the pipe performs (issue 12).

Every operation of every action, as the code calls them (STS: AssumeRoleWithWebIdentity,
AssumeRole, GetCallerIdentity; ECS: DescribeServices, DescribeTaskDefinition,
RegisterTaskDefinition, RunTask, DescribeTasks, UpdateService, DescribeServiceDeployments,
ListTasks, StopServiceDeployment; Lambda: GetFunction, GetFunctionConfiguration,
UpdateFunctionConfiguration, UpdateFunctionCode, PublishVersion, GetAlias, CreateAlias,
UpdateAlias; S3: PutObject; ECR's API: DescribeRepositories, CreateRepository,
GetAuthorizationToken, BatchGetImage, PutImage), meets, through the emulator layer:

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

Every run has DEBUG on, and DEBUG lines name each operation as it is called: an assertion that
looks for an operation's name anywhere in the output passes whatever happened. So outcomes are
read from the lines the pipe writes for people (`said`), and each test names the line it expects.
"""

import pytest

import images
from emulator.lambda_scenario import lambda_fixture
from emulator.scenario import client_for
from test_ecr import digest_of_tag, seed_image
from test_ecs import CLUSTER, Ecs

FUNCTION = "api"
ALIAS = "live"

# Calls that change something in AWS: none may follow a failure that stops the pipe.
MUTATING = {
    "RegisterTaskDefinition", "RunTask", "UpdateService", "StopServiceDeployment",
    "UpdateFunctionConfiguration", "UpdateFunctionCode", "PublishVersion", "CreateAlias", "UpdateAlias",
    "PutObject", "CreateRepository", "PutImage",
}

TRANSIENT = ("throttle", "server_error", "unavailable", "drop", "hang")


def said(result):
    """The lines the pipe wrote for people: everything but DEBUG, which names every call."""
    return [line for line in result.lines if not line.startswith("DEBUG:")]


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


class EcrPromoteFlow:
    """A tag already in ECR given another: the repository checked, the image read, put again."""

    ops = [("ecr", "DescribeRepositories"), ("ecr", "BatchGetImage"), ("ecr", "PutImage")]

    def __init__(self, scenario, emulator):
        self.scenario = scenario
        self.ecr = client_for(emulator, "ecr", scenario.user(name="ecr-admin"))
        self.ecr.create_repository(repositoryName="team/web")
        self.digest = seed_image(self.ecr, "team/web", "sha-1")

    def run(self, **overrides):
        return self.scenario.run(ACTION="ecr-push", ECR_REPOSITORY="team/web", SOURCE_TAG="sha-1", TAGS="prod",
                                 timeout=overrides.pop("timeout", 60), **overrides)

    def succeeded(self, result):
        assert result.outputs_json["digest"] == self.digest, result
        assert digest_of_tag(self.ecr, "team/web", "prod") == self.digest


class EcrArchiveFlow:
    """An OCI archive pushed to a repository the pipe creates (CREATE_REPOSITORY=true): the
    repository looked up (not found), created, the registry token fetched, the image uploaded
    to the registry the emulator names."""

    ops = [("ecr", "DescribeRepositories"), ("ecr", "CreateRepository"), ("ecr", "GetAuthorizationToken")]
    fixtures = ("ecr_registry",)

    def __init__(self, scenario, emulator, ecr_registry):
        self.scenario = scenario
        self.registry = ecr_registry
        self.repository = f"team/new-{scenario.clone_dir.parent.name[-12:].lower()}"
        self.top, _ = images.oci_layout(scenario.clone_dir / "image")

    def run(self, **overrides):
        return self.scenario.run(ACTION="ecr-push", IMAGE_ARCHIVE="image", ECR_REPOSITORY=self.repository,
                                 TAGS="v1", CREATE_REPOSITORY="true", timeout=overrides.pop("timeout", 90),
                                 **overrides)

    def succeeded(self, result):
        assert result.outputs_json["digest"] == self.top, result
        assert self.registry.manifest(self.repository, "v1")[0] == self.top


FLOWS = {
    "assume-role": AssumeRoleFlow,
    "access-keys": AccessKeysFlow,
    "ecs-deploy": EcsFlow,
    "ecs-rollback": EcsRollbackFlow,
    "lambda-deploy": LambdaFlow,
    "lambda-s3": LambdaS3Flow,
    "ecr-promote": EcrPromoteFlow,
    "ecr-archive": EcrArchiveFlow,
}


def make_flow(request, flow_name):
    """The flow, with the session fixtures it asks for (the registry for archive pushes)."""
    flow = FLOWS[flow_name]
    extra = [request.getfixturevalue(name) for name in getattr(flow, "fixtures", ())]
    return flow(request.getfixturevalue("scenario"), request.getfixturevalue("emulator"), *extra)

# Every (flow, service, action) covered; RELIABILITY.md's table is this list.
OPERATIONS = [(name, service, action) for name, flow in FLOWS.items() for service, action in flow.ops]


def fault_args(kind):
    # A hung request is held far longer than the attempt timeout (AWS_ATTEMPT_TIMEOUT=1 below).
    return {"hang_seconds": 20} if kind == "hang" else {}


# ------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("kind", TRANSIENT)
@pytest.mark.parametrize("flow_name", FLOWS)
def test_trouble_that_passes_is_retried_on_every_operation(request, emulator, flow_name, kind):
    flow = make_flow(request, flow_name)
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
        # The very next attempt of the operation got through (an answer, maybe a refusal the
        # pipe expects: GetAlias of an alias still to be created, DescribeRepositories of a
        # repository it is asked to create).
        expected_refusal = calls[1].get("error_code") in ("ResourceNotFoundException", "RepositoryNotFoundException")
        assert calls[1]["fault"] is None, f"{service}:{action}: {seen}"
        assert calls[1]["status"] in (200, 201, 202) or expected_refusal, f"{service}:{action}: {seen}"
    assert emulator.faults() == [], "a fault was never reached: its operation is not in this flow"


# How a failure that persists must end, per operation: most operations are given up after
# AWS_MAX_ATTEMPTS, and the final line names the operation and that no answer came. Operations of
# a wait keep trying until WAIT_TIMEOUT: the final line says the deployment did not complete, and
# a WARNING line names the operation that never answered. DescribeServiceDeployments is where ECS
# says how a rollout ends: without it the pipe does not call the deployment done.
WAITS = {
    ("ecs-deploy", "ecs", "DescribeServiceDeployments"): "did not complete within WAIT_TIMEOUT",
    ("ecs-deploy", "ecs", "DescribeTasks"): "did not stop within WAIT_TIMEOUT",
    ("ecs-rollback", "ecs", "ListTasks"): "did not complete within WAIT_TIMEOUT",
    ("ecs-rollback", "ecs", "StopServiceDeployment"): "did not complete within WAIT_TIMEOUT",
}
# Lambda's writes and reads during a deployment are tried again until WAIT_TIMEOUT (the function
# may be mid-update), said once in a WARNING; the final line still names the operation.
RETRIED_UNTIL_WAIT_TIMEOUT = {
    ("lambda-deploy", "lambda", "GetAlias"), ("lambda-deploy", "lambda", "UpdateFunctionConfiguration"),
    ("lambda-deploy", "lambda", "UpdateFunctionCode"), ("lambda-deploy", "lambda", "PublishVersion"),
    ("lambda-s3", "lambda", "UpdateFunctionCode"), ("lambda-s3", "lambda", "UpdateAlias"),
}
TIMED_OUT = "did not complete within WAIT_TIMEOUT"
# The explanation printed above the final line when nothing answered: the one mapping
# (aws/failure.rs), or auth's own for STS.
NO_ANSWER_EXPLAINED = ("No answer from AWS within AWS_ATTEMPT_TIMEOUT, AWS_MAX_ATTEMPTS times.",
                       "The pipe could not get an answer from ")

# Every operation with its connection dropped for good; one operation per service held until the
# attempt timeout for good (slower: a second per attempt).
PERSISTENT = [(flow, service, action, "drop") for flow, service, action in OPERATIONS] + [
    ("access-keys", "sts", "GetCallerIdentity", "hang"),
    ("ecs-deploy", "ecs", "UpdateService", "hang"),
    ("lambda-deploy", "lambda", "PublishVersion", "hang"),
    ("lambda-s3", "s3", "PutObject", "hang"),
    ("ecr-promote", "ecr", "PutImage", "hang"),
]


@pytest.mark.parametrize("flow_name, service, action, kind", PERSISTENT,
                         ids=[f"{f}-{a}-{k}" for f, _, a, k in PERSISTENT])
def test_trouble_that_persists_ends_in_a_clear_error_and_no_change_after_it(request, emulator, flow_name,
                                                                             service, action, kind):
    flow = make_flow(request, flow_name)
    emulator.add_fault(kind, service=service, action=action, count=1000, **fault_args(kind))

    result = flow.run(AWS_MAX_ATTEMPTS="2", AWS_ATTEMPT_TIMEOUT="1", WAIT_TIMEOUT="6", timeout=60)

    assert result.code == 1, result
    result.check_invariants()
    operation_failed = f"{service}:{action} failed: no answer"
    key = (flow_name, service, action)
    warned = [line for line in said(result) if line.startswith("WARNING:") and operation_failed in line]
    if key in WAITS:
        assert WAITS[key] in result.final_line, result
        assert warned, f"no WARNING line says {operation_failed!r}\n{result}"
    else:
        assert result.final_line.startswith(f"✖ {operation_failed}"), result
        explained = [line for line in said(result) if line.startswith(NO_ANSWER_EXPLAINED)]
        assert len(explained) == 1, result
    # Every attempt the pipe made was faulted: it gave up after AWS_MAX_ATTEMPTS (2), or kept
    # trying until WAIT_TIMEOUT (and said so), never getting through.
    attempts = pipe_calls(emulator, service, action)
    assert attempts and all(call["fault"] == kind for call in attempts), attempts
    if key in RETRIED_UNTIL_WAIT_TIMEOUT:
        assert len(attempts) > 2 and any("trying again until WAIT_TIMEOUT" in line for line in warned), result
    elif key not in WAITS:
        assert len(attempts) == 2, [call["fault"] for call in attempts]
    calls = emulator.requests()
    faulted = [i for i, call in enumerate(calls) if call["fault"] == kind]
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
def test_access_denied_is_not_retried_and_names_the_action(request, emulator, flow_name, service, action):
    flow = make_flow(request, flow_name)
    emulator.add_fault("access_denied", service=service, action=action, count=1)

    result = flow.run()

    calls = emulator.requests()
    [denied] = [i for i, call in enumerate(calls) if call["fault"] == "access_denied"]
    same = [call for call in calls[denied + 1:] if call["service"] == service and call["action"] == action]
    assert same == [], f"{service}:{action} was tried again after AccessDenied"
    result.check_invariants()
    refused = f"{service}:{action}"
    if (flow_name, service, action) in DENIED_IS_NOT_FATAL:
        assert result.code == DENIED_IS_NOT_FATAL[(flow_name, service, action)], result
        # Going on without the answer is said, with the operation refused.
        warned = [line for line in said(result) if line.startswith("WARNING:") and refused in line
                  and "AccessDenied" in line]
        assert warned, f"no WARNING line says {refused} was refused\n{result}"
        return
    assert result.code == 3, result
    assert refused in result.final_line and "AccessDenied" in result.final_line, result
    if service != "sts":  # auth explains a refused role in its own words (trust, permissions)
        hint = [line for line in said(result) if f"needs the IAM permission {refused}" in line]
        assert hint, result
    later = [call["action"] for call in calls[denied + 1:] if call["action"] in MUTATING]
    assert later == [], f"changed after AccessDenied on {service}:{action}: {later}\n{result}"


# A write AWS carried out whose answer was lost on the way back (`lost_answer`: applied, then the
# connection dropped): the SDK sends it again. What must hold is AWS's own guarantee for that
# operation: RunTask carries the SDK's clientToken, so ECS starts its task once; PutImage and
# CreateRepository answer "already exists", which the pipe reads back; UpdateService to the same
# revision starts no second deployment. RegisterTaskDefinition has no idempotency token: a second,
# identical revision is registered, and the service runs the one the pipe reports. (Lambda's
# conditional writes: test_lambda.py.)
LOST = [
    ("ecs-deploy", "ecs", "RegisterTaskDefinition"),
    ("ecs-deploy", "ecs", "RunTask"),
    ("ecs-deploy", "ecs", "UpdateService"),
    ("ecr-promote", "ecr", "PutImage"),
    ("ecr-archive", "ecr", "CreateRepository"),
]


@pytest.mark.parametrize("flow_name, service, action", LOST, ids=[f"{f}-{a}" for f, _, a in LOST])
def test_a_write_applied_but_unanswered_is_carried_out_once(request, emulator, flow_name, service, action):
    flow = make_flow(request, flow_name)
    emulator.add_fault("lost_answer", service=service, action=action, count=1)

    result = flow.run(AWS_MAX_ATTEMPTS="3", timeout=90)

    calls = pipe_calls(emulator, service, action)
    assert calls and calls[0].get("answer_lost"), calls
    assert len(calls) >= 2, f"{service}:{action} was not sent again after its answer was lost"
    if action == "RegisterTaskDefinition":
        reported = result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_TASK_DEFINITION_ARN"]
        assert result.code == 0 and flow.ecs.service()["taskDefinition"] == reported, result
        return
    assert result.code == 0, result
    flow.succeeded(result)
    if action == "RunTask":
        # Every task the cluster has of the new revision, whatever its state: one.
        boto = flow.ecs.boto
        arns = [arn for status in ("RUNNING", "STOPPED")
                for arn in boto.list_tasks(cluster=CLUSTER, desiredStatus=status)["taskArns"]]
        tasks = boto.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
        one_off = [task for task in tasks if task["taskDefinitionArn"].endswith("web:2") and not task.get("group", "").startswith("service:")]
        assert len(one_off) == 1, [(task["taskArn"], task.get("group")) for task in one_off]
        assert calls[1].get("scenario", {}).get("client_token_replayed"), calls[1]


@pytest.mark.parametrize("flow_name", ["ecs-deploy", "lambda-deploy"])
def test_sessions_expiring_mid_run_are_renewed(request, emulator, flow_name):
    # Every session the emulator issues lasts 3 s; the deployment takes longer than that.
    emulator.set_credential_lifetime(3)
    flow = make_flow(request, flow_name)
    if flow_name == "ecs-deploy":
        emulator.clear_ecs_rollouts()
        flow.ecs.rollout("complete", polls=6)
    else:
        # On the clock: however fast the wait looks, the update outlasts a session.
        emulator.lambda_script(FUNCTION, in_progress_s=5, applies_to="code")

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
def test_an_unreadable_answer_is_kept_for_debug_with_its_values_masked(request, emulator, service, action, flow_name):
    from emulator.faults import GARBLED_SECRET

    flow = make_flow(request, flow_name)
    emulator.add_fault("garbled", service=service, action=action, count=1)

    result = flow.run()

    assert result.code == 1, result
    assert "could not be read (HTTP 200" in result.final_line, result
    [kept] = [line for line in result.lines if line.startswith("DEBUG:") and "values masked" in line]
    assert '"serviceName": "***"' in kept and '"environment": "***"' in kept, kept
    assert GARBLED_SECRET not in result.everything()
    changes = [call["action"] for call in pipe_calls(emulator) if call["action"] in MUTATING]
    assert changes == [], changes
