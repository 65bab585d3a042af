"""Self-tests of the emulator's ECS scenarios (test/emulator/ecs.py), driven with boto3.

They pin down what the pipe's ecs-deploy tests rely on: task definitions that round-trip
with unknown fields, rollouts that progress one DescribeServices poll at a time in the
sequences ECS uses, stopped tasks with reasons and exit codes, one-off tasks, deployment
controllers, faults and request records.
"""

import json

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.client import bitbucket_audience, bitbucket_claims, bitbucket_issuer, web_identity_trust_policy
from emulator.ecs_scenario import (
    UNKNOWN_FIELD,
    UNKNOWN_VALUE,
    ecs_fixture,
    register_task_definition_raw,
    task_definition_body,
)

ACCOUNT = "111111111111"
TD = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition"


@pytest.fixture
def scn(emulator):
    return ecs_fixture(emulator, cluster="prod", services=("web",), family="web", desired=2)


def raw_responses(client):
    """The JSON bodies as received, by operation (botocore drops unknown fields)."""
    seen = {}

    def keep(operation_model, response_dict, **_):
        seen[operation_model.name] = json.loads(response_dict["body"] or b"{}")

    client.meta.events.register("before-parse.ecs", keep)
    return seen


def describe(ecs, service="web", cluster="prod"):
    return ecs.describe_services(cluster=cluster, services=[service])["services"][0]


def states(svc):
    return [(d["status"], d["rolloutState"], d["taskDefinition"].rsplit("/", 1)[-1]) for d in svc["deployments"]]


def deploy(scn, ecs, outcome, polls, **script):
    """Register web:2, script the rollout, update the service; -> (update response, ids)."""
    new_arn = scn.register_revision()
    scn.emulator.ecs_rollout("prod", "web", outcome, polls=polls, **script)
    svc = ecs.update_service(cluster="prod", service="web", taskDefinition="web:2")["service"]
    ours, previous = svc["deployments"]
    return svc, new_arn, ours["id"], previous["id"]


def messages(svc):
    return [e["message"] for e in svc["events"]]


# ---------------------------------------------------------------- task definitions


def test_unknown_fields_round_trip(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    raw = raw_responses(ecs)
    body = task_definition_body("web", ("app", "envoy"), image_tag="7")
    body["containerDefinitions"][0]["futureContainerField"] = ["a"]
    arn = register_task_definition_raw(ecs, body)["taskDefinition"]["taskDefinitionArn"]
    assert arn == f"{TD}/web:2"
    assert raw["RegisterTaskDefinition"]["taskDefinition"][UNKNOWN_FIELD] == UNKNOWN_VALUE

    # The body exactly as registered, and the record of the call with the same params.
    assert emulator.ecs_task_definition("web:2") == body
    assert emulator.ecs_task_definition("web:1") == scn.task_definition_body
    record = emulator.requests(service="ecs", action="RegisterTaskDefinition")[-1]
    assert record["params"] == body

    for ref in (arn, "web:2", "web"):
        ecs.describe_task_definition(taskDefinition=ref)
        td = raw["DescribeTaskDefinition"]["taskDefinition"]
        assert td[UNKNOWN_FIELD] == UNKNOWN_VALUE
        assert td["runtimePlatform"] == body["runtimePlatform"]
        assert td["ephemeralStorage"] == {"sizeInGiB": 21}
        assert td["containerDefinitions"][0]["futureContainerField"] == ["a"]
        assert td["containerDefinitions"][0]["image"] == "repo/app:7"
        assert td["containerDefinitions"][1]["name"] == "envoy"
        assert td["revision"] == 2

    # `family` alone is the latest ACTIVE revision.
    ecs.deregister_task_definition(taskDefinition="web:2")
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 1
    assert ecs.describe_task_definition(taskDefinition="web:2")["taskDefinition"]["status"] == "INACTIVE"

    missing = requests.get(f"{emulator.base_url}/_layer/ecs/task-definitions/web:9")
    assert missing.status_code == 404


def test_describe_shape_with_tags(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    raw = raw_responses(ecs)
    out = ecs.describe_task_definition(taskDefinition="web:1", include=["TAGS"])
    td = raw["DescribeTaskDefinition"]["taskDefinition"]
    assert out["tags"] == [{"key": "team", "value": "platform"}]
    assert raw["DescribeTaskDefinition"]["tags"] == out["tags"]
    assert "failures" not in raw["DescribeTaskDefinition"]
    assert td["taskDefinitionArn"] == f"{TD}/web:1"
    assert (td["revision"], td["status"]) == (1, "ACTIVE")
    assert isinstance(td["requiresAttributes"], list)
    assert td["compatibilities"] == ["EC2", "FARGATE"]
    assert isinstance(td["registeredAt"], float)
    assert td["registeredBy"] == scn.credentials["arn"]
    assert "tags" not in td
    # ECS's defaults where the user wrote nothing.
    assert td["containerDefinitions"][0]["cpu"] == 0 and td["volumes"] == []

    ecs.describe_task_definition(taskDefinition="web:1")
    assert "tags" not in raw["DescribeTaskDefinition"]


def test_nulls_are_members_not_set_and_recorded(emulator, scn):
    """ECS never answers a null: one sent is a member not set (moto stored and answered it)."""
    ecs = scn.client("ecs", retries=1)
    raw = raw_responses(ecs)
    body = task_definition_body("web", ("app",), image_tag="3")
    body["cpu"] = None
    body["volumes"] = None
    body["containerDefinitions"][0].update(user=None, logConfiguration={"logDriver": "awslogs", "secretOptions": None,
                                                                         "options": {"awslogs-group": "/ecs/web"}})
    body["containerDefinitions"][0]["environment"].append(None)
    register_task_definition_raw(ecs, body)
    record = emulator.requests(service="ecs", action="RegisterTaskDefinition")[-1]
    assert record["params"] == body, "the log keeps what was sent"
    assert record["scenario"]["null_paths"] == [
        "cpu", "containerDefinitions[0].environment[2]", "containerDefinitions[0].user",
        "containerDefinitions[0].logConfiguration.secretOptions", "volumes",
    ]
    td = raw["RegisterTaskDefinition"]["taskDefinition"]
    assert "user" not in td["containerDefinitions"][0] and "cpu" not in td
    assert td["containerDefinitions"][0]["logConfiguration"] == {"logDriver": "awslogs",
                                                                 "options": {"awslogs-group": "/ecs/web"}}
    assert len(td["containerDefinitions"][0]["environment"]) == 2
    stored = emulator.ecs_task_definition("web:2")
    assert "cpu" not in stored and "user" not in stored["containerDefinitions"][0]
    # A body without nulls records none.
    register_task_definition_raw(ecs, task_definition_body())
    assert "scenario" not in emulator.requests(service="ecs", action="RegisterTaskDefinition")[-1]


@pytest.mark.parametrize("tags, member", [
    ({"team": "web"}, "'tags', found an object"),
    ("team=web", "'tags', found a string"),
    (["team"], "'tags[0]', found a string"),
    ([{"key": "team", "value": 3}], "'tags[0].value', found a number"),
])
def test_tags_of_another_shape_do_not_deserialise(emulator, scn, tags, member):
    ecs = scn.client("ecs", retries=1)
    body = task_definition_body("web", ("app",), image_tag="3")
    body["tags"] = tags
    with pytest.raises(ClientError) as refused:
        register_task_definition_raw(ecs, body)
    error = refused.value.response["Error"]
    assert error["Code"] == "SerializationException"
    assert member in error["Message"]
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 1


def test_json_requests_recorded_with_params(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    ecs.describe_services(cluster="prod", services=["web"], include=["TAGS"])
    (record,) = emulator.requests(service="ecs", action="DescribeServices")
    assert record["params"] == {"cluster": "prod", "services": ["web"], "include": ["TAGS"]}
    assert record["access_key_id"] == scn.credentials["access_key_id"]
    assert record["status"] == 200
    (create,) = emulator.requests(service="ecs", action="CreateService")
    assert create["params"]["deploymentController"] == {"type": "ECS"}


# ---------------------------------------------------------------- rollouts


def test_rollout_completes_after_polls(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    svc, new_arn, ours, previous = deploy(scn, ecs, "complete", polls=3)
    assert svc["taskDefinition"] == new_arn
    assert states(svc) == [("PRIMARY", "IN_PROGRESS", "web:2"), ("ACTIVE", "COMPLETED", "web:1")]
    new, old = svc["deployments"]
    assert ours.startswith("ecs-svc/") and len(ours) == len("ecs-svc/") + 19 and ours[8:].isdigit()
    assert (new["desiredCount"], new["runningCount"], new["pendingCount"]) == (2, 0, 2)
    assert new["rolloutStateReason"] == f"ECS deployment {ours} in progress."
    assert (old["id"], old["runningCount"]) == (previous, 2)

    svc = describe(ecs)  # poll 1
    assert states(svc) == [("PRIMARY", "IN_PROGRESS", "web:2"), ("ACTIVE", "COMPLETED", "web:1")]
    assert messages(svc)[0].startswith("(service web) has started 2 tasks: (task ")
    svc = describe(ecs)  # poll 2
    assert states(svc)[0] == ("PRIMARY", "IN_PROGRESS", "web:2")
    assert svc["deployments"][0]["runningCount"] == 1
    svc = describe(ecs)  # poll 3
    assert states(svc) == [("PRIMARY", "COMPLETED", "web:2")]
    dep = svc["deployments"][0]
    assert (dep["id"], dep["runningCount"], dep["pendingCount"]) == (ours, 2, 0)
    assert (svc["runningCount"], svc["pendingCount"], svc["taskDefinition"]) == (2, 0, new_arn)
    assert messages(svc)[:2] == [
        "(service web) has reached a steady state.",
        f"(service web) (deployment {ours}) deployment completed.",
    ]
    # Events newest first, unique ids; the steady state stays.
    times = [e["createdAt"] for e in svc["events"]]
    assert times == sorted(times, reverse=True)
    assert len({e["id"] for e in svc["events"]}) == len(svc["events"])
    again = describe(ecs)
    assert states(again) == states(svc) and again["events"] == svc["events"]
    assert emulator.ecs_rollouts()["active"][0]["polled"] == 4
    # The state was written into moto's model: once the layer lets go, moto answers the same.
    emulator.clear_ecs_rollouts()
    frozen = describe(ecs)
    assert states(frozen) == states(svc) and frozen["deployments"][0]["id"] == ours
    assert [e["message"] for e in frozen["events"]] == messages(svc)
    assert (frozen["runningCount"], frozen["taskDefinition"]) == (2, new_arn)


def test_rollout_fails_with_circuit_breaker_rollback(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    _, new_arn, ours, previous = deploy(
        scn, ecs, "fail", polls=2, events=["(service web) failed container health checks."]
    )
    svc = describe(ecs)
    assert states(svc) == [("PRIMARY", "IN_PROGRESS", "web:2"), ("ACTIVE", "COMPLETED", "web:1")]
    assert "(service web) failed container health checks." in messages(svc)

    svc = describe(ecs)  # poll 2: circuit breaker trips
    assert states(svc) == [("PRIMARY", "IN_PROGRESS", "web:1"), ("ACTIVE", "FAILED", "web:2")]
    failed = svc["deployments"][1]
    assert failed["id"] == ours
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert failed["failedTasks"] >= 1
    assert svc["deployments"][0]["id"] == previous
    assert svc["taskDefinition"] == f"{TD}/web:1"
    assert messages(svc)[:2] == [
        f"(service web) rolling back to deployment {previous}.",
        f"(service web) (deployment {ours}) deployment failed: tasks failed to start.",
    ]

    svc = describe(ecs)  # poll 3: rolled back
    assert states(svc) == [("PRIMARY", "COMPLETED", "web:1")]
    assert svc["deployments"][0]["id"] == previous
    assert messages(svc)[:2] == [
        "(service web) has reached a steady state.",
        f"(service web) (deployment {previous}) deployment completed.",
    ]


def test_rollout_superseded_by_another_revision(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    _, new_arn, ours, _ = deploy(scn, ecs, "superseded", polls=2)
    assert states(describe(ecs))[0] == ("PRIMARY", "IN_PROGRESS", "web:2")
    svc = describe(ecs)
    assert states(svc)[:2] == [("PRIMARY", "IN_PROGRESS", "web:3"), ("ACTIVE", "IN_PROGRESS", "web:2")]
    assert svc["deployments"][1]["id"] == ours
    assert svc["taskDefinition"] == f"{TD}/web:3"
    # The other pipeline's revision is a real one, with our body.
    assert emulator.ecs_task_definition("web:3")["containerDefinitions"][0]["image"] == "repo/app:2"
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 3

    svc = describe(ecs)
    assert states(svc) == [("PRIMARY", "COMPLETED", "web:3")]
    assert ours not in {d["id"] for d in svc["deployments"]}


def test_rollout_stuck_never_completes(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    deploy(scn, ecs, "stuck", polls=2)
    seen = [describe(ecs) for _ in range(8)]
    for svc in seen:
        assert states(svc)[0] == ("PRIMARY", "IN_PROGRESS", "web:2")
        assert svc["deployments"][0]["runningCount"] < 2
    unable = "(service web) is unable to consistently start tasks successfully."
    assert unable not in messages(seen[0])
    assert messages(seen[1])[0] == unable
    assert messages(seen[-1]).count(unable) == 2  # polls 2 and 7


def test_stopped_tasks_listed_and_described(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    stopped = [
        {
            "stoppedReason": "Essential container in task exited",
            "stopCode": "EssentialContainerExited",
            "containers": [{"name": "app", "exitCode": 1, "reason": "panic: no DB"}],
        },
        {
            "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
            "stopCode": "TaskFailedToStart",
            "containers": [{"name": "app", "exitCode": None, "reason": "CannotPullContainerError"}],
        },
    ]
    _, new_arn, ours, _ = deploy(scn, ecs, "fail", polls=3, stopped_tasks=stopped)
    assert ecs.list_tasks(cluster="prod", serviceName="web", desiredStatus="STOPPED")["taskArns"] == []
    describe(ecs)  # first poll
    arns = ecs.list_tasks(cluster="prod", serviceName="web", desiredStatus="STOPPED")["taskArns"]
    assert len(arns) == 2
    assert ecs.list_tasks(cluster="prod", serviceName="other", desiredStatus="STOPPED")["taskArns"] == []
    assert ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"] == []  # RUNNING by default

    out = ecs.describe_tasks(cluster="prod", tasks=arns + ["0123456789abcdef0123456789abcdef"])
    assert out["failures"] == [{"arn": "0123456789abcdef0123456789abcdef", "reason": "MISSING"}]
    first, second = out["tasks"]
    for task in (first, second):
        assert task["taskDefinitionArn"] == new_arn
        assert (task["lastStatus"], task["desiredStatus"]) == ("STOPPED", "STOPPED")
        assert (task["startedBy"], task["group"]) == (ours, "service:web")
    assert (first["stoppedReason"], first["stopCode"]) == ("Essential container in task exited", "EssentialContainerExited")
    assert first["containers"] == [
        {**first["containers"][0], "name": "app", "exitCode": 1, "reason": "panic: no DB", "lastStatus": "STOPPED"}
    ]
    assert first["containers"][0]["image"] == "repo/app:2"
    assert second["stopCode"] == "TaskFailedToStart"
    assert "exitCode" not in second["containers"][0]
    # The started-tasks event names the tasks that then stopped.
    assert first["taskArn"].rsplit("/", 1)[-1] in messages(describe(ecs))[-1]


def test_force_new_deployment_and_several_services(emulator):
    scn = ecs_fixture(emulator, services=("web", "api"), desired=1)
    ecs = scn.client("ecs", retries=1)
    emulator.ecs_rollout("prod", "web", "complete", polls=2)
    emulator.ecs_rollout("prod", "api", "fail", polls=1)
    web = ecs.update_service(cluster="prod", service="web", forceNewDeployment=True)["service"]
    assert states(web) == [("PRIMARY", "IN_PROGRESS", "web:1"), ("ACTIVE", "COMPLETED", "web:1")]
    ecs.update_service(cluster="prod", service="api", taskDefinition=scn.register_revision())
    both = ecs.describe_services(cluster="prod", services=["web", "api"])["services"]
    assert [states(s)[0][1] for s in both] == ["IN_PROGRESS", "IN_PROGRESS"]
    assert states(both[1])[1] == ("ACTIVE", "FAILED", "web:2")
    both = ecs.describe_services(cluster="prod", services=["web", "api"])["services"]
    assert states(both[0]) == [("PRIMARY", "COMPLETED", "web:1")]
    assert states(both[1]) == [("PRIMARY", "COMPLETED", "web:1")]
    assert emulator.ecs_rollouts()["pending"] == []

    # More than 10 services per call: refused as ECS does.
    with pytest.raises(ClientError) as err:
        ecs.describe_services(cluster="prod", services=[f"s{i}" for i in range(11)])
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_without_script_moto_behaviour_and_clearing(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    scn.register_revision()
    emulator.ecs_rollout("prod", "web", "complete")
    emulator.ecs_rollout("prod", "other", "complete")
    emulator.clear_ecs_rollouts()
    assert emulator.ecs_rollouts() == {"pending": [], "active": []}
    svc = ecs.update_service(cluster="prod", service="web", taskDefinition="web:2")["service"]
    assert svc["taskDefinition"] == f"{TD}/web:2"  # an ARN, not moto's "web:2"
    for _ in range(3):
        svc = describe(ecs)
        assert [d["rolloutState"] for d in svc["deployments"]] == ["IN_PROGRESS"]
        assert svc["events"] == []

    emulator.ecs_rollout("prod", "web", "stuck")
    emulator.reset()
    assert emulator.ecs_rollouts() == {"pending": [], "active": []}


def test_bad_rollout_scripts_refused(emulator):
    for body in (
        {"cluster": "c", "service": "web", "outcome": "maybe"},
        {"cluster": "c", "outcome": "complete"},
        {"cluster": "c", "service": "web", "outcome": "complete", "polls": 0},
    ):
        resp = requests.post(f"{emulator.base_url}/_layer/ecs/rollout", json=body)
        assert resp.status_code == 400, body


# ---------------------------------------------------------------- RunTask


def run_task(scn, ecs, **extra):
    return ecs.run_task(
        cluster="prod",
        taskDefinition="web",
        launchType="FARGATE",
        networkConfiguration=scn.network_configuration(),
        overrides={"containerOverrides": [{"name": "app", "command": ["sh", "-c", "./migrate"]}]},
        startedBy="bitbucket-pipe",
        **extra,
    )


def test_run_task_succeeds(emulator):
    scn = ecs_fixture(emulator, containers=("app", "envoy"))
    ecs = scn.client("ecs", retries=1)
    emulator.ecs_run_task(polls=2, containers=[
        {"name": "app", "exitCode": 0, "reason": None},
        {"name": "envoy", "exitCode": 137},
    ])
    out = run_task(scn, ecs)
    (task,) = out["tasks"]
    assert out["failures"] == []
    assert task["lastStatus"] == "PROVISIONING"
    assert task["overrides"]["containerOverrides"][0]["command"] == ["sh", "-c", "./migrate"]
    assert task["startedBy"] == "bitbucket-pipe"
    seen = [ecs.describe_tasks(cluster="prod", tasks=[task["taskArn"]])["tasks"][0] for _ in range(3)]
    assert [t["lastStatus"] for t in seen] == ["PROVISIONING", "RUNNING", "STOPPED"]
    stopped = seen[-1]
    assert (stopped["desiredStatus"], stopped["stoppedReason"], stopped["stopCode"]) == (
        "STOPPED", "Essential container in task exited", "EssentialContainerExited"
    )
    assert [(c["name"], c["exitCode"], c["lastStatus"]) for c in stopped["containers"]] == [
        ("app", 0, "STOPPED"), ("envoy", 137, "STOPPED")
    ]
    assert "reason" not in stopped["containers"][0]
    assert ecs.list_tasks(cluster="prod", desiredStatus="STOPPED")["taskArns"] == [task["taskArn"]]

    # Unscripted: moto's own behaviour (no exit codes), also with a capacity provider strategy.
    plain = ecs.run_task(
        cluster="prod", taskDefinition=scn.task_definition_arn,
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
        networkConfiguration=scn.network_configuration(),
    )["tasks"][0]
    assert plain["taskDefinitionArn"] == scn.task_definition_arn


def test_run_task_fails(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    emulator.ecs_run_task(
        polls=1, stopped_reason="Task failed to start", stop_code="TaskFailedToStart",
        containers=[{"name": "app", "exitCode": None, "reason": "CannotPullContainerError: not found"}],
    )
    arn = run_task(scn, ecs)["tasks"][0]["taskArn"]
    assert ecs.describe_tasks(cluster="prod", tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING"
    task = ecs.describe_tasks(cluster="prod", tasks=[arn.rsplit("/", 1)[-1]])["tasks"][0]
    assert (task["lastStatus"], task["stoppedReason"], task["stopCode"]) == (
        "STOPPED", "Task failed to start", "TaskFailedToStart"
    )
    (container,) = task["containers"]
    assert "exitCode" not in container
    assert container["reason"] == "CannotPullContainerError: not found"


def test_run_task_failures(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    failure = {"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:container-instance/prod/abc", "reason": "RESOURCE:MEMORY"}
    emulator.ecs_run_task(failures=[failure])
    out = run_task(scn, ecs)
    assert (out["tasks"], out["failures"]) == ([], [failure])
    assert ecs.list_tasks(cluster="prod")["taskArns"] == []
    # Only the next RunTask was scripted.
    assert len(run_task(scn, ecs)["tasks"]) == 1


# ---------------------------------------------------------------- controllers, faults


@pytest.mark.parametrize("controller", ["CODE_DEPLOY", "EXTERNAL"])
def test_deployment_controller_visible(emulator, controller):
    scn = ecs_fixture(emulator, services=("bluegreen",), controller=controller)
    ecs = scn.client("ecs", retries=1)
    svc = describe(ecs, "bluegreen")
    assert svc["deploymentController"] == {"type": controller}
    with pytest.raises(ClientError) as err:
        ecs.update_service(cluster="prod", service="bluegreen", taskDefinition=scn.register_revision())
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert controller in err.value.response["Error"]["Message"]


def test_throttled_describe_services_is_not_a_poll(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    deploy(scn, ecs, "complete", polls=1)
    emulator.add_fault("throttle", service="ecs", action="DescribeServices", count=1)
    with pytest.raises(ClientError) as err:
        describe(ecs)
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert emulator.ecs_rollouts()["active"][0]["polled"] == 0
    assert states(describe(scn.client("ecs")))[0] == ("PRIMARY", "COMPLETED", "web:2")
    records = emulator.requests(service="ecs", action="DescribeServices")
    assert [(r["fault"], r["status"]) for r in records] == [("throttle", 400), (None, 200)]
    assert records[0]["params"]["services"] == ["web"]


def test_pipe_like_session_from_web_identity(emulator, scn):
    """The pipe's own credentials (an assumed-role session) see the same scenario: the
    account of every lookup is the session's, and registeredBy is the session ARN."""
    ws_uuid = "{0e8f4f8c-1111-4222-8333-944444444444}"
    issuer, audience = bitbucket_issuer("ws"), bitbucket_audience(ws_uuid)
    provider = emulator.create_oidc_provider(ACCOUNT, issuer, [audience])
    role = emulator.create_role(ACCOUNT, "deploy", web_identity_trust_policy(provider, issuer, audience))
    token = emulator.mint_token(bitbucket_claims(workspace="ws", workspace_uuid=ws_uuid))
    creds = boto3.client(
        "sts", endpoint_url=emulator.base_url, region_name="us-east-1",
        config=Config(signature_version=UNSIGNED),
    ).assume_role_with_web_identity(RoleArn=role, RoleSessionName="pipe", WebIdentityToken=token)["Credentials"]
    ecs = boto3.client(
        "ecs", endpoint_url=emulator.base_url, region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], config=Config(retries={"total_max_attempts": 1}),
    )
    raw = raw_responses(ecs)
    body = task_definition_body("web", image_tag="9")
    register_task_definition_raw(ecs, body)
    assert raw["RegisterTaskDefinition"]["taskDefinition"]["registeredBy"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/pipe"
    )
    emulator.ecs_rollout("prod", "web", "fail", polls=1, stopped_tasks=[{"containers": [{"name": "app", "exitCode": 2}]}])
    ecs.update_service(cluster="prod", service="web", taskDefinition="web:2")
    assert states(describe(ecs))[1] == ("ACTIVE", "FAILED", "web:2")
    (arn,) = ecs.list_tasks(cluster="prod", serviceName="web", desiredStatus="STOPPED")["taskArns"]
    assert f":{ACCOUNT}:task/prod/" in arn
    task = ecs.describe_tasks(cluster="prod", tasks=[arn])["tasks"][0]
    assert task["containers"][0]["exitCode"] == 2


# ---------------------------------------------------------------- service revisions


def test_service_deployments_name_opaque_service_revisions_that_describe_to_task_definitions(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    created = describe(ecs)["currentServiceDeployment"]
    [creation] = ecs.describe_service_deployments(serviceDeploymentArns=[created])["serviceDeployments"]
    assert creation["sourceServiceRevisions"] == []  # a service's creation ran nothing before

    svc, new_arn, _, _ = deploy(scn, ecs, "complete", polls=1)
    current = describe(ecs)["currentServiceDeployment"]
    [deployment] = ecs.describe_service_deployments(serviceDeploymentArns=[current])["serviceDeployments"]
    [source] = deployment["sourceServiceRevisions"]
    target = deployment["targetServiceRevision"]["arn"]
    # Opaque, as ECS's: nothing in the ARN says which task definition it runs.
    prefix = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service-revision/prod/web/"
    for arn in (source["arn"], target):
        assert arn.startswith(prefix) and arn[len(prefix):].isdigit(), arn
    assert creation["targetServiceRevision"]["arn"] == source["arn"], "one revision per service and task definition"
    answer = ecs.describe_service_revisions(serviceRevisionArns=[source["arn"], target, prefix + "1"])
    by_arn = {r["serviceRevisionArn"]: r for r in answer["serviceRevisions"]}
    assert by_arn[source["arn"]]["taskDefinition"] == scn.task_definition_arn
    assert by_arn[target]["taskDefinition"] == new_arn
    assert by_arn[target]["serviceArn"] == scn.service_arns["web"]
    assert answer["failures"] == [{"arn": prefix + "1", "reason": "MISSING"}]

    with pytest.raises(ClientError) as refused:
        ecs.describe_service_revisions(serviceRevisionArns=[target] * 21)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"

    # Revisions from before 25 October 2024 cannot be described.
    emulator.ecs_forget_service_revisions("prod", "web")
    answer = ecs.describe_service_revisions(serviceRevisionArns=[source["arn"]])
    assert answer["serviceRevisions"] == []
    assert answer["failures"] == [{"arn": source["arn"], "reason": "MISSING"}]
    [record] = emulator.requests(service="ecs", action="DescribeServiceRevisions")[-1:]
    assert record["scenario"] == {"forgotten_revisions": [source["arn"]]}


def test_list_task_definitions_sorts_and_pages_as_ecs(emulator, scn):
    ecs = scn.client("ecs", retries=1)
    for tag in "2345":
        scn.register_revision(image_tag=tag)
    register_task_definition_raw(ecs, task_definition_body("web-worker"))
    listed = ecs.list_task_definitions(familyPrefix="web", sort="DESC", maxResults=2)
    assert [a.rsplit("/", 1)[-1] for a in listed["taskDefinitionArns"]] == ["web:5", "web:4"]
    following = ecs.list_task_definitions(familyPrefix="web", sort="DESC", maxResults=2,
                                          nextToken=listed["nextToken"])
    assert [a.rsplit("/", 1)[-1] for a in following["taskDefinitionArns"]] == ["web:3", "web:2"]
    last = ecs.list_task_definitions(familyPrefix="web", sort="DESC", maxResults=2, nextToken=following["nextToken"])
    assert [a.rsplit("/", 1)[-1] for a in last["taskDefinitionArns"]] == ["web:1"] and "nextToken" not in last
    ascending = ecs.list_task_definitions()["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[-1] for a in ascending] == ["web:1", "web:2", "web:3", "web:4", "web:5", "web-worker:1"]


def test_a_timed_rollout_moves_with_the_clock_and_keeps_when_it_completed(emulator, scn):
    """Tasks start over running_s, the old ones go until complete_s; any read catches up, and the
    moment ECS completed it and the first DescribeServices that showed it are kept."""
    import time

    ecs = scn.client("ecs", retries=1)
    svc, _, ours, previous = deploy(scn, ecs, "complete", 1, timed={"running_s": 1.0, "complete_s": 3.0})
    seen = []
    while True:
        svc = describe(ecs)
        mine = next(d for d in svc["deployments"] if d["id"] == ours)
        seen.append((mine["runningCount"], mine["rolloutState"], len(svc["deployments"])))
        if mine["rolloutState"] == "COMPLETED" or mine["runningCount"] == 2:
            break
        time.sleep(0.1)
    assert seen[0][1] == "IN_PROGRESS" and seen[0][2] == 2
    assert [count for count, _, _ in seen] == sorted(count for count, _, _ in seen), "tasks only start"
    # Before the end: the new tasks all run, the old deployment is still there (draining).
    if seen[-1][1] == "IN_PROGRESS":
        assert seen[-1] == (2, "IN_PROGRESS", 2)
    sd_arn = svc["currentServiceDeployment"]
    active = emulator.ecs_rollouts()["active"][0]
    assert active["completed_at"] is None and active["first_seen_at"] is None
    time.sleep(max(0.0, active["started_at"] + 3.0 - time.time()) + 0.2)
    # DescribeServiceDeployments alone sees it complete, at the scripted moment.
    described = ecs.describe_service_deployments(serviceDeploymentArns=[sd_arn])["serviceDeployments"][0]
    assert described["status"] == "SUCCESSFUL"
    active = emulator.ecs_rollouts()["active"][0]
    assert active["completed_at"] == active["started_at"] + 3.0
    assert described["finishedAt"].timestamp() == pytest.approx(active["completed_at"], abs=0.001)
    assert active["first_seen_at"] is None, "a service-deployment read is not a DescribeServices poll"
    svc = describe(ecs)
    assert states(svc) == [("PRIMARY", "COMPLETED", "web:2")]
    assert messages(svc)[0].endswith("has reached a steady state.")
    assert svc["events"][0]["createdAt"].timestamp() == pytest.approx(active["completed_at"], abs=0.01)
    first_seen = emulator.ecs_rollouts()["active"][0]["first_seen_at"]
    assert first_seen >= active["completed_at"]
    describe(ecs)
    assert emulator.ecs_rollouts()["active"][0]["first_seen_at"] == first_seen, "the first answer, kept"
    assert previous not in [d["id"] for d in svc["deployments"]]


@pytest.mark.parametrize("script,error", [
    ({"outcome": "fail", "timed": {"running_s": 1, "complete_s": 2}}, "outcome complete only"),
    ({"timed": {"running_s": 2, "complete_s": 2}}, "0 <= running_s < complete_s"),
    ({"timed": {"running_s": "1", "complete_s": 2}}, "in seconds"),
])
def test_timed_rollout_scripts_are_checked(emulator, script, error):
    done = requests.post(f"{emulator.base_url}/_layer/ecs/rollout",
                         json={"cluster": "prod", "service": "web", **script})
    assert done.status_code == 400 and error in done.text, done.text
