"""The emulator layer's CodeDeploy blue/green deployments of ECS services (codedeploy.py),
exercised with boto3 directly: what the pipe's CODE_DEPLOY path will meet."""

import json

import pytest
from botocore.exceptions import ClientError

from emulator.codedeploy_scenario import codedeploy_fixture

EVENTS = ["BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
          "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"]


@pytest.fixture
def scn(emulator):
    return codedeploy_fixture(emulator)


def error_of(excinfo):
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def events_of(target):
    return {e["lifecycleEventName"]: e["status"] for e in target["lifecycleEvents"]}


def task_sets(target):
    return {s["taskSetLabel"]: s for s in target["taskSetsInfo"]}


def test_a_deployment_moves_through_the_ecs_lifecycle_events_and_switches_the_service(scn, emulator):
    cd = scn.client("codedeploy")
    td2 = scn.register_revision(image_tag="2")
    did = scn.create_deployment(td2)
    assert did.startswith("d-") and len(did) == 11

    info = cd.get_deployment(deploymentId=did)["deploymentInfo"]  # poll 1: started
    assert info["status"] == "InProgress" and info["computePlatform"] == "ECS"
    assert info["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert info["deploymentOverview"]["InProgress"] == 1
    assert cd.list_deployment_targets(deploymentId=did)["targetIds"] == ["prod:web"]
    target = scn.target(did)
    assert target["targetArn"] == scn.service_arns["web"]
    assert events_of(target) == {**{e: "Pending" for e in EVENTS}, "BeforeInstall": "InProgress"}
    assert list(task_sets(target)) == ["Blue"]

    seen = []
    for _ in range(len(EVENTS)):
        cd.get_deployment(deploymentId=did)
        target = scn.target(did)
        seen.append((events_of(target), {k: (s["trafficWeight"], s["status"]) for k, s in task_sets(target).items()}))
    # Install created the replacement (Green) task set with no traffic; AllowTraffic moved it all
    assert seen[0][0]["Install"] == "InProgress" and seen[0][1]["Green"] == (0.0, "ACTIVE")
    assert seen[5][0]["AllowTraffic"] == "InProgress" and seen[5][1]["Green"][0] == 100.0
    assert seen[6][1] == {"Blue": (0.0, "ACTIVE"), "Green": (100.0, "PRIMARY")}
    assert all(s == "Succeeded" for s in seen[7][0].values())

    info = scn.wait(did)
    assert info["status"] == "Succeeded" and info["deploymentOverview"]["Succeeded"] == 1
    assert "errorInformation" not in info and info["creator"] == "user"
    service = scn.describe_service()
    assert service["taskDefinition"] == td2
    assert [(s["status"], s["taskDefinition"]) for s in service["taskSets"]] == [("PRIMARY", td2)]
    target = scn.target(did)
    green = target["taskSetsInfo"][0]
    assert green["identifer"] == service["taskSets"][0]["id"]  # sic: CodeDeploy's field name
    assert green["targetGroup"]["name"] == "web-green" and green["runningCount"] == 2


def test_the_appspec_is_recorded_and_yaml_is_read_too(scn, emulator):
    td2 = scn.register_revision(image_tag="2")
    scn.create_deployment(content=scn.appspec(td2, hooks={"AfterAllowTestTraffic": "check-green"}, fmt="yaml"))
    record = emulator.requests("codedeploy", "CreateDeployment")[-1]
    assert record["appspec"]["task_definition"] == td2
    assert record["appspec"]["container_name"] == "app" and record["appspec"]["container_port"] == 8080
    assert record["appspec"]["hooks"] == {"AfterAllowTestTraffic": "check-green"}
    assert record["appspec_failure"] is None


def test_a_code_deploy_service_refuses_a_task_definition_update_and_shows_its_task_set(scn):
    ecs = scn.client("ecs")
    td2 = scn.register_revision(image_tag="2")
    with pytest.raises(ClientError) as e:
        ecs.update_service(cluster=scn.cluster, service="web", taskDefinition=td2)
    assert error_of(e) == ("InvalidParameterException",
                           "Unable to update task definition on services with a CODE_DEPLOY deployment controller. "
                           "Use AWS CodeDeploy to trigger a new deployment.")
    with pytest.raises(ClientError) as e:
        ecs.update_service(cluster=scn.cluster, service="web", forceNewDeployment=True)
    assert error_of(e) == ("InvalidParameterException",
                           "Cannot force a new deployment on services with a CODE_DEPLOY deployment controller. "
                           "Use AWS CodeDeploy to trigger a new deployment.")
    with pytest.raises(ClientError) as e:
        ecs.update_service(cluster=scn.cluster, service="web", loadBalancers=[
            {"targetGroupArn": scn.target_groups[1], "containerName": "app", "containerPort": 8080}])
    assert error_of(e) == ("InvalidParameterException",
                           "Unable to update load balancers on services with a CODE_DEPLOY deployment controller. "
                           "Use AWS CodeDeploy to trigger a new deployment.")
    service = scn.describe_service()
    [task_set] = service["taskSets"]
    assert task_set["status"] == "PRIMARY" and task_set["taskDefinition"] == scn.task_definition_arn
    assert task_set["stabilityStatus"] == "STEADY_STATE" and task_set["runningCount"] == 2
    assert task_set["loadBalancers"][0]["targetGroupArn"] == scn.target_groups[0]
    assert ecs.update_service(cluster=scn.cluster, service="web", desiredCount=3)["service"]["desiredCount"] == 3
    [task_set] = scn.describe_service()["taskSets"]
    assert task_set["computedDesiredCount"] == 3


def test_a_failed_hook_fails_the_deployment_and_rolls_back(scn, emulator):
    cd = scn.client("codedeploy")
    td2 = scn.register_revision(image_tag="2")
    scn.next_deployment(outcome="fail", fail_at="AfterAllowTestTraffic",
                        diagnostics={"errorCode": "ScriptFailed", "message": "check-green returned 503"},
                        error={"code": "HOOK_EXECUTION_FAILURE", "message": "lifecycle hook check-green failed"})
    did = scn.create_deployment(td2)
    info = scn.wait(did)
    assert info["status"] == "Failed"
    assert info["errorInformation"] == {"code": "HOOK_EXECUTION_FAILURE", "message": "lifecycle hook check-green failed"}
    rid = info["rollbackInfo"]["rollbackDeploymentId"]
    failed = [e for e in scn.target(did)["lifecycleEvents"] if e["status"] == "Failed"]
    assert [e["lifecycleEventName"] for e in failed] == ["AfterAllowTestTraffic"]
    assert failed[0]["diagnostics"]["message"] == "check-green returned 503"

    rollback = scn.wait(rid)
    assert rollback["status"] == "Succeeded" and rollback["creator"] == "codeDeployRollback"
    assert rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == did
    service = scn.describe_service()
    assert service["taskDefinition"] == scn.task_definition_arn
    assert [s["taskDefinition"] for s in service["taskSets"]] == [scn.task_definition_arn]
    listed = cd.list_deployments(applicationName=scn.application, deploymentGroupName=scn.deployment_group,
                                 includeOnlyStatuses=["Failed"])["deployments"]
    assert listed == [did]


def test_a_failure_without_auto_rollback_leaves_the_task_sets_where_they_are(emulator):
    scn = codedeploy_fixture(emulator, auto_rollback_events=())
    td2 = scn.register_revision(image_tag="2")
    scn.next_deployment(outcome="fail", fail_at="AfterAllowTraffic")
    info = scn.wait(scn.create_deployment(td2))
    assert info["status"] == "Failed" and "rollbackInfo" not in info
    assert info["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    labels = {s["taskDefinition"]: s["status"] for s in scn.describe_service()["taskSets"]}
    assert labels == {td2: "PRIMARY", scn.task_definition_arn: "ACTIVE"}


def test_a_failure_before_install_has_nothing_to_roll_back(scn):
    scn.next_deployment(outcome="fail", fail_at="BeforeInstall")
    info = scn.wait(scn.create_deployment(scn.register_revision(image_tag="2")))
    assert info["status"] == "Failed" and "rollbackInfo" not in info
    assert len(scn.describe_service()["taskSets"]) == 1


def test_stop_with_rollback_moves_traffic_back(scn, emulator):
    cd = scn.client("codedeploy")
    td2 = scn.register_revision(image_tag="2")
    did = scn.create_deployment(td2)
    for _ in range(8):  # into AllowTraffic's end: green serves everything
        cd.get_deployment(deploymentId=did)
    assert scn.describe_service()["taskDefinition"] == td2
    answer = cd.stop_deployment(deploymentId=did, autoRollbackEnabled=True)
    assert answer["status"] == "Pending"
    held = cd.get_deployment(deploymentId=did)["deploymentInfo"]  # the stop is not done yet
    assert held["status"] == "InProgress" and "rollbackInfo" not in held
    info = cd.get_deployment(deploymentId=did)["deploymentInfo"]
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "MANUAL_STOP"
    rollback = scn.wait(info["rollbackInfo"]["rollbackDeploymentId"])
    assert rollback["status"] == "Succeeded"
    assert [s["taskDefinition"] for s in scn.describe_service()["taskSets"]] == [scn.task_definition_arn]
    assert cd.stop_deployment(deploymentId=did)["status"] == "Succeeded", "stopped: later stops say so"
    with pytest.raises(ClientError) as e:
        cd.stop_deployment(deploymentId=info["rollbackInfo"]["rollbackDeploymentId"])
    assert error_of(e)[0] == "DeploymentAlreadyCompletedException"


def test_stop_without_rollback_leaves_traffic_where_it_was(scn):
    cd = scn.client("codedeploy")
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    for _ in range(3):  # Install done: green exists, no traffic
        cd.get_deployment(deploymentId=did)
    cd.stop_deployment(deploymentId=did, autoRollbackEnabled=False)
    info = scn.wait(did)
    assert info["status"] == "Stopped" and "rollbackInfo" not in info
    assert scn.target(did)["status"] == "Failed"  # TargetStatus has no Stopped
    weights = {s["taskSetLabel"]: s["trafficWeight"] for s in scn.target(did)["taskSetsInfo"]}
    assert weights == {"Blue": 100.0, "Green": 0.0}


def test_ready_wait_holds_the_deployment_until_continue(scn):
    cd = scn.client("codedeploy")
    td2 = scn.register_revision(image_tag="2")
    scn.next_deployment(ready_wait=True)
    did = scn.create_deployment(td2)
    info = scn.wait(did)
    assert info["status"] == "Ready" and info["deploymentOverview"]["Ready"] == 1
    assert scn.target(did)["status"] == "Ready"
    for _ in range(3):  # polls change nothing while it waits
        assert cd.get_deployment(deploymentId=did)["deploymentInfo"]["status"] == "Ready"
    with pytest.raises(ClientError) as e:
        cd.continue_deployment(deploymentId=did, deploymentWaitType="TERMINATION_WAIT")
    assert error_of(e)[0] == "DeploymentIsNotInReadyStateException"
    cd.continue_deployment(deploymentId=did, deploymentWaitType="READY_WAIT")
    assert scn.wait(did)["status"] == "Succeeded"


def test_termination_wait_keeps_blue_with_the_deployment_in_progress(scn):
    cd = scn.client("codedeploy")
    td2 = scn.register_revision(image_tag="2")
    scn.next_deployment(termination_wait=True)
    did = scn.create_deployment(td2)
    for _ in range(12):
        info = cd.get_deployment(deploymentId=did)["deploymentInfo"]
    assert info["status"] == "InProgress" and info["instanceTerminationWaitTimeStarted"] is True
    assert {s["taskSetLabel"]: s["trafficWeight"] for s in scn.target(did)["taskSetsInfo"]} == {"Blue": 0.0,
                                                                                               "Green": 100.0}
    cd.continue_deployment(deploymentId=did, deploymentWaitType="TERMINATION_WAIT")
    info = cd.get_deployment(deploymentId=did)["deploymentInfo"]
    assert info["status"] == "Succeeded" and len(scn.describe_service()["taskSets"]) == 1


def test_a_canary_configuration_shifts_traffic_in_steps(emulator):
    scn = codedeploy_fixture(emulator, deployment_config="CodeDeployDefault.ECSCanary10Percent5Minutes")
    cd = scn.client("codedeploy")
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    weights = []
    for _ in range(12):
        cd.get_deployment(deploymentId=did)
        green = task_sets(scn.target(did)).get("Green")
        if green and (not weights or weights[-1] != green["trafficWeight"]):
            weights.append(green["trafficWeight"])
    assert weights == [0.0, 10.0, 100.0]


@pytest.mark.parametrize("content, code, fragment", [
    ("version: [0.0", "INVALID_REVISION", "not well-formed yaml"),
    (json.dumps({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::Lambda::Function"}}]}),
     "INVALID_REVISION", "AWS::ECS::Service"),
    ("APPSPEC_WRONG_PORT", "ECS_UPDATE_ERROR", "did not have a container port 9999 defined"),
    ("APPSPEC_UNREGISTERED", "ECS_UPDATE_ERROR", "is not registered"),
])
def test_a_bad_appspec_is_accepted_then_fails_the_deployment(scn, content, code, fragment):
    if content == "APPSPEC_WRONG_PORT":
        content = json.loads(scn.appspec(scn.task_definition_arn))
        content["Resources"][0]["TargetService"]["Properties"]["LoadBalancerInfo"]["ContainerPort"] = 9999
        content = json.dumps(content)
    elif content == "APPSPEC_UNREGISTERED":
        content = scn.appspec(scn.task_definition_arn.replace(":1", ":42"))
    info = scn.wait(scn.create_deployment(content=content))
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == code
    assert fragment in info["errorInformation"]["message"]


def test_create_deployment_refusals(scn):
    cd = scn.client("codedeploy")
    td2 = scn.register_revision(image_tag="2")
    revision = {"revisionType": "AppSpecContent", "appSpecContent": {"content": scn.appspec(td2)}}
    with pytest.raises(ClientError) as e:
        cd.create_deployment(applicationName="AppECS-nope", deploymentGroupName=scn.deployment_group,
                             revision=revision)
    assert error_of(e) == ("ApplicationDoesNotExistException", "No application found for name: AppECS-nope")
    with pytest.raises(ClientError) as e:
        cd.create_deployment(applicationName=scn.application, deploymentGroupName="DgpECS-nope", revision=revision)
    assert error_of(e) == ("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: DgpECS-nope")
    did = scn.create_deployment(td2)
    with pytest.raises(ClientError) as e:
        scn.create_deployment(td2)
    assert error_of(e) == ("DeploymentLimitExceededException",
                           f"The Deployment Group '{scn.deployment_group}' already has an active Deployment '{did}'")


def test_targets_before_the_start_and_with_bad_ids(scn):
    cd = scn.client("codedeploy")
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    with pytest.raises(ClientError) as e:
        cd.list_deployment_targets(deploymentId=did)
    assert error_of(e)[0] == "DeploymentNotStartedException"
    cd.get_deployment(deploymentId=did)
    with pytest.raises(ClientError) as e:
        cd.get_deployment_target(deploymentId=did, targetId="prod")
    assert error_of(e) == ("InvalidDeploymentTargetIdException",
                           "Invalid id prod for ECS deployment, valid Id should be in format <cluster-name>:<service-name>")
    targets = cd.batch_get_deployment_targets(deploymentId=did, targetIds=["prod:web"])["deploymentTargets"]
    assert targets[0]["deploymentTargetType"] == "ECSTarget"


def test_custom_names_and_time_driven_progress(emulator):
    scn = codedeploy_fixture(emulator, cluster="blue", service="api", application="api-app",
                             deployment_group="api-group")
    scn.next_deployment(seconds_per_event=0.01, polls_per_event=1000)
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    info = scn.wait(did, max_polls=10_000)  # the clock moves it, not the polls
    assert info["status"] == "Succeeded"
    assert info["applicationName"] == "api-app" and info["deploymentGroupName"] == "api-group"
    assert scn.target(did)["targetId"] == "blue:api"


def role_session(emulator, policy):
    """A web-identity session of a role whose permissions policy is enforced."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    from emulator.client import bitbucket_audience, bitbucket_claims, bitbucket_issuer, web_identity_trust_policy

    ws_uuid = "{0e8f4f8c-1111-4222-8333-944444444444}"
    issuer, audience = bitbucket_issuer("ws"), bitbucket_audience(ws_uuid)
    provider = emulator.create_oidc_provider(scn_account(), issuer, [audience])
    role = emulator.create_role(scn_account(), "deploy", web_identity_trust_policy(provider, issuer, audience))
    emulator.enforce_role_policy(role, policy)
    token = emulator.mint_token(bitbucket_claims(workspace="ws", workspace_uuid=ws_uuid))
    creds = boto3.client("sts", endpoint_url=emulator.base_url, region_name="us-east-1",
                         config=Config(signature_version=UNSIGNED)).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="pipe", WebIdentityToken=token)["Credentials"]
    return boto3.client("codedeploy", endpoint_url=emulator.base_url, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"], config=Config(retries={"total_max_attempts": 1}))


def scn_account():
    from emulator.ecs_scenario import ACCOUNT

    return ACCOUNT


def test_codedeploy_calls_are_judged_against_the_role_policy(scn, emulator):
    acct = scn_account()
    group = f"arn:aws:codedeploy:us-east-1:{acct}:deploymentgroup:{scn.application}/{scn.deployment_group}"
    application = f"arn:aws:codedeploy:us-east-1:{acct}:application:{scn.application}"
    config = f"arn:aws:codedeploy:us-east-1:{acct}:deploymentconfig:CodeDeployDefault.ECSAllAtOnce"
    read = ["codedeploy:GetDeployment", "codedeploy:StopDeployment", "codedeploy:ListDeploymentTargets",
            "codedeploy:BatchGetDeploymentTargets"]

    def policy(*statements):
        return {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": actions, "Resource": resources} for actions, resources in statements]}

    td2 = scn.register_revision(image_tag="2")
    revision = {"revisionType": "AppSpecContent", "appSpecContent": {"content": scn.appspec(td2)}}
    cd = role_session(emulator, policy((["codedeploy:CreateDeployment"] + read, [group]),
                                       (["codedeploy:GetDeploymentConfig"], [config])))
    with pytest.raises(ClientError) as e:
        cd.create_deployment(applicationName=scn.application, deploymentGroupName=scn.deployment_group,
                             revision=revision)
    code, message = error_of(e)
    assert code == "AccessDeniedException"
    assert f"codedeploy:RegisterApplicationRevision on resource: {application}" in message

    emulator.enforce_role_policy(f"arn:aws:iam::{acct}:role/deploy", policy(
        (["codedeploy:CreateDeployment"] + read, [group]), (["codedeploy:GetDeploymentConfig"], [config]),
        (["codedeploy:RegisterApplicationRevision"], [application])))
    did = cd.create_deployment(applicationName=scn.application, deploymentGroupName=scn.deployment_group,
                               revision=revision)["deploymentId"]
    assert cd.get_deployment(deploymentId=did)["deploymentInfo"]["status"] == "InProgress"
    assert cd.list_deployment_targets(deploymentId=did)["targetIds"] == ["prod:web"]
    with pytest.raises(ClientError) as e:
        cd.continue_deployment(deploymentId=did)
    assert error_of(e)[0] == "AccessDeniedException"
    assert f"codedeploy:ContinueDeployment on resource: {group}" in error_of(e)[1]


def test_an_alarm_stops_the_deployment_and_rolls_back_when_the_group_says_so(emulator):
    scn = codedeploy_fixture(emulator, auto_rollback_events=("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"))
    td2 = scn.register_revision(image_tag="2")
    scn.next_deployment(outcome="alarm", fail_at="AllowTraffic", alarm="web-5xx")
    did = scn.create_deployment(td2)
    info = scn.wait(did)
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert "web-5xx" in info["errorInformation"]["message"]
    assert scn.wait(info["rollbackInfo"]["rollbackDeploymentId"])["status"] == "Succeeded"
    assert scn.describe_service()["taskDefinition"] == scn.task_definition_arn


def test_batch_get_deployments_polls_and_an_ecs_group_defaults_to_all_at_once(emulator):
    scn = codedeploy_fixture(emulator, deployment_config=None)
    cd = scn.client("codedeploy")
    group = cd.get_deployment_group(applicationName=scn.application, deploymentGroupName=scn.deployment_group)
    assert group["deploymentGroupInfo"]["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    statuses = [cd.batch_get_deployments(deploymentIds=[did])["deploymentsInfo"][0]["status"] for _ in range(11)]
    assert statuses[0] == "InProgress" and statuses[-1] == "Succeeded"
    assert emulator.codedeploy_deployments()["deployments"][0]["polls"] == 11


def test_a_ready_wait_that_runs_out_stops_the_deployment(scn):
    scn.next_deployment(ready_wait=2)
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    assert scn.wait(did)["status"] == "Ready"
    info = scn.wait(did)
    assert info["status"] == "Ready"  # the wait's second tick
    info = scn.client("codedeploy").get_deployment(deploymentId=did)["deploymentInfo"]
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "TIMEOUT"


def test_get_deployment_hides_the_appspec_and_the_group_knows_its_last_deployments(scn):
    import hashlib

    cd = scn.client("codedeploy")
    td2 = scn.register_revision(image_tag="2")
    content = scn.appspec(td2)
    did = scn.create_deployment(content=content)
    info = scn.wait(did)
    assert info["revision"] == {"revisionType": "AppSpecContent",
                                "appSpecContent": {"sha256": hashlib.sha256(content.encode()).hexdigest()}}
    group = cd.get_deployment_group(applicationName=scn.application,
                                    deploymentGroupName=scn.deployment_group)["deploymentGroupInfo"]
    assert group["lastAttemptedDeployment"]["deploymentId"] == did
    assert group["lastSuccessfulDeployment"]["status"] == "Succeeded"
    assert group["targetRevision"] == info["revision"]


def test_describe_services_shows_both_task_sets_while_green_starts(scn):
    cd = scn.client("codedeploy")
    td2 = scn.register_revision(image_tag="2")
    did = scn.create_deployment(td2)
    cd.get_deployment(deploymentId=did)
    cd.get_deployment(deploymentId=did)  # Install in progress: green created, not running yet
    sets = {s["taskDefinition"]: s for s in scn.describe_service()["taskSets"]}
    assert sets[td2]["status"] == "ACTIVE" and sets[td2]["stabilityStatus"] == "STABILIZING"
    assert sets[td2]["pendingCount"] == 2 and sets[td2]["runningCount"] == 0
    assert sets[td2]["loadBalancers"][0]["targetGroupArn"] == scn.target_groups[1]
    assert sets[scn.task_definition_arn]["status"] == "PRIMARY"
    assert scn.describe_service()["taskDefinition"] == scn.task_definition_arn
    cd.get_deployment(deploymentId=did)  # Install done
    sets = {s["taskDefinition"]: s for s in scn.describe_service()["taskSets"]}
    assert sets[td2]["stabilityStatus"] == "STEADY_STATE" and sets[td2]["runningCount"] == 2


def test_a_rollback_goes_on_while_only_the_failed_deployment_is_polled(scn, emulator):
    cd = scn.client("codedeploy")
    scn.next_deployment(outcome="fail", fail_at="AfterAllowTraffic")
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    for _ in range(15):
        info = cd.get_deployment(deploymentId=did)["deploymentInfo"]
    assert info["status"] == "Failed"
    rollback = next(d for d in emulator.codedeploy_deployments()["deployments"] if d["rollback_of"] == did)
    assert rollback["status"] == "Succeeded"
    assert scn.describe_service()["taskDefinition"] == scn.task_definition_arn


def test_a_stop_takes_the_scenario_s_polls_and_no_lifecycle_progress_meanwhile(scn, emulator):
    cd = scn.client("codedeploy")
    scn.next_deployment(stop_polls=3)
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    for _ in range(3):  # Install done: green exists
        cd.get_deployment(deploymentId=did)
    before = events_of(scn.target(did))
    assert cd.stop_deployment(deploymentId=did, autoRollbackEnabled=True)["status"] == "Pending"
    assert cd.stop_deployment(deploymentId=did)["status"] == "Pending", "still stopping"
    for _ in range(3):
        info = cd.get_deployment(deploymentId=did)["deploymentInfo"]
        assert info["status"] == "InProgress" and "rollbackInfo" not in info
    assert events_of(scn.target(did)) == before, "held where it was while stopping"
    with pytest.raises(ClientError) as e:
        cd.create_deployment(applicationName=scn.application, deploymentGroupName=scn.deployment_group,
                             revision={"revisionType": "AppSpecContent",
                                       "appSpecContent": {"content": scn.appspec(scn.task_definition_arn)}})
    assert error_of(e)[0] == "DeploymentLimitExceededException", "a stopping deployment is still active"
    info = cd.get_deployment(deploymentId=did)["deploymentInfo"]
    assert info["status"] == "Stopped" and info["rollbackInfo"]["rollbackDeploymentId"]
    stop = emulator.requests("codedeploy", "StopDeployment")[0]
    assert stop["rollback_requested"] is True and stop["stopped_at_once"] is False


def test_stop_polls_zero_stops_at_once(scn):
    cd = scn.client("codedeploy")
    scn.next_deployment(stop_polls=0)
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    cd.get_deployment(deploymentId=did)
    assert cd.stop_deployment(deploymentId=did, autoRollbackEnabled=False)["status"] == "Succeeded"
    assert cd.get_deployment(deploymentId=did)["deploymentInfo"]["status"] == "Stopped"


def test_a_network_configuration_is_all_or_none(scn):
    td2 = scn.register_revision(image_tag="2")
    partial = {"AwsvpcConfiguration": {"Subnets": scn.subnets}}
    info = scn.wait(scn.create_deployment(content=scn.appspec(td2, NetworkConfiguration=partial)))
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "INVALID_REVISION"
    assert "SecurityGroups, AssignPublicIp" in info["errorInformation"]["message"]
    whole = {"AwsvpcConfiguration": {"Subnets": scn.subnets, "SecurityGroups": scn.security_groups,
                                     "AssignPublicIp": "DISABLED"}}
    assert scn.wait(scn.create_deployment(content=scn.appspec(td2, NetworkConfiguration=whole)))["status"] == "Succeeded"
