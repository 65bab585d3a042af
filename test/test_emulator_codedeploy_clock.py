"""CodeDeploy ECS deployments on the emulator's clock (codedeploy_clock.py, the scenario's
`timed`), with boto3: each phase at its own moment whoever looks, the bake between traffic
steps, and the moments a benchmark reads (AfterAllowTraffic with all traffic moved, Succeeded)."""

import pytest
from botocore.exceptions import ClientError

from emulator.client import EmulatorError
from emulator.codedeploy_scenario import codedeploy_fixture


def events(target):
    return {e["lifecycleEventName"]: e for e in target["lifecycleEvents"]}


def summary(emulator, did):
    return next(d for d in emulator.codedeploy_deployments()["deployments"] if d["id"] == did)


def seconds(moment):
    return moment.timestamp()


def test_each_event_takes_its_seconds_and_the_moments_are_recorded(emulator):
    scn = codedeploy_fixture(emulator)
    scn.next_deployment(timed={"start_s": 0.05, "event_s": 0.05, "events": {"Install": 0.3, "AfterAllowTraffic": 0.2},
                               "finish_s": 0.1}, termination_wait=0.25)
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    info = scn.wait(did, max_polls=100_000)
    assert info["status"] == "Succeeded"
    lifecycle = events(scn.target(did))
    took = {name: seconds(e["endTime"]) - seconds(e["startTime"]) for name, e in lifecycle.items()}
    assert took["Install"] == pytest.approx(0.3, abs=0.005) and took["AfterAllowTraffic"] == pytest.approx(0.2, abs=0.005)
    assert took["AllowTestTraffic"] == pytest.approx(0.05, abs=0.005), "event_s unless events says"
    # One event begins as the previous one ends (the moment it was due, not the moment of a look).
    order = list(lifecycle)
    for before, after in zip(order, order[1:]):
        assert seconds(lifecycle[after]["startTime"]) == pytest.approx(seconds(lifecycle[before]["endTime"]), abs=0.005)
    record = summary(emulator, did)
    assert record["traffic_moved_at"] == pytest.approx(seconds(lifecycle["AfterAllowTraffic"]["endTime"]), abs=0.005)
    # The termination wait (0.25 s) and the original's removal (0.1 s) before Succeeded.
    assert record["completed_at"] - record["traffic_moved_at"] == pytest.approx(0.35, abs=0.005)
    assert record["completed_at"] == pytest.approx(seconds(info["completeTime"]), abs=0.005)


def test_polls_do_not_move_a_timed_deployment(emulator):
    scn = codedeploy_fixture(emulator)
    scn.next_deployment(timed={"start_s": 0, "events": {"BeforeInstall": 0, "Install": 3600}})
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    cd = scn.client("codedeploy")
    for _ in range(20):
        cd.get_deployment(deploymentId=did)
        cd.batch_get_deployment_targets(deploymentId=did, targetIds=["prod:web"])
    lifecycle = events(scn.target(did))
    assert lifecycle["BeforeInstall"]["status"] == "Succeeded"
    assert lifecycle["Install"]["status"] == "InProgress", "an hour's Install, however often it is read"
    assert summary(emulator, did)["traffic_moved_at"] is None


def test_a_canary_holds_its_weight_for_the_interval(emulator):
    scn = codedeploy_fixture(emulator, deployment_config="CodeDeployDefault.ECSCanary10Percent5Minutes")
    scn.next_deployment(timed={"start_s": 0, "event_s": 0.02, "interval_s": 0.4, "events": {"AllowTraffic": 0.1}})
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    cd = scn.client("codedeploy")
    weights = []
    while cd.get_deployment(deploymentId=did)["deploymentInfo"]["status"] != "Succeeded":
        green = {s["taskSetLabel"]: s for s in scn.target(did)["taskSetsInfo"]}.get("Green")
        if green and (not weights or weights[-1] != green["trafficWeight"]):
            weights.append(green["trafficWeight"])
    assert weights[-2:] == [10.0, 100.0]
    allow = events(scn.target(did))["AllowTraffic"]
    # 10 % for the interval, then 100 %, then AllowTraffic's own 0.1 s.
    assert seconds(allow["endTime"]) - seconds(allow["startTime"]) == pytest.approx(0.5, abs=0.005)
    assert summary(emulator, did)["config"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"


def test_a_ready_wait_holds_until_continued_then_the_clock_goes_on(emulator):
    scn = codedeploy_fixture(emulator)
    scn.next_deployment(timed={"start_s": 0, "event_s": 0.01}, ready_wait=True)
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    assert scn.wait(did, max_polls=100_000)["status"] == "Ready"
    cd = scn.client("codedeploy")
    cd.continue_deployment(deploymentId=did, deploymentWaitType="READY_WAIT")
    assert scn.wait(did, max_polls=100_000)["status"] == "Succeeded"
    lifecycle = events(scn.target(did))
    assert seconds(lifecycle["BeforeAllowTraffic"]["startTime"]) > seconds(lifecycle["AfterAllowTestTraffic"]["endTime"])


def test_a_timed_ready_wait_that_runs_out_stops_the_deployment(emulator):
    scn = codedeploy_fixture(emulator)
    scn.next_deployment(timed={"start_s": 0, "event_s": 0.01}, ready_wait=0.2)
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    info = scn.wait(did, max_polls=100_000)
    while info["status"] == "Ready":
        info = scn.client("codedeploy").get_deployment(deploymentId=did)["deploymentInfo"]
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "TIMEOUT"


def test_a_timed_failure_rolls_back_on_the_clock_too(emulator):
    scn = codedeploy_fixture(emulator)
    scn.next_deployment(outcome="fail", fail_at="AfterAllowTestTraffic", timed={"start_s": 0, "event_s": 0.01})
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    info = scn.wait(did, max_polls=100_000)
    assert info["status"] == "Failed"
    rollback = info["rollbackInfo"]["rollbackDeploymentId"]
    assert scn.wait(rollback, max_polls=100_000)["status"] == "Succeeded"
    assert summary(emulator, rollback)["completed_at"] is not None


@pytest.mark.parametrize("script, fragment", [
    ({"timed": {"install_s": 3}}, "fields among"),
    ({"timed": {"events": {"Deploy": 3}}}, "lifecycle events"),
    ({"timed": {"event_s": -1}}, "timed.event_s"),
    ({"timed": {}, "seconds_per_event": 1}, "two clocks"),
    ({"ready_wait": 0.5}, "seconds > 0 when timed"),
])
def test_bad_timed_scenarios_are_refused(emulator, script, fragment):
    with pytest.raises(EmulatorError) as e:
        emulator.codedeploy_deployment(**script)
    assert fragment in str(e.value)


def test_a_stop_of_a_timed_deployment_holds_then_stops(emulator):
    scn = codedeploy_fixture(emulator)
    scn.next_deployment(timed={"start_s": 0, "events": {"Install": 3600}}, stop_polls=0)
    did = scn.create_deployment(scn.register_revision(image_tag="2"))
    cd = scn.client("codedeploy")
    cd.get_deployment(deploymentId=did)
    assert cd.stop_deployment(deploymentId=did, autoRollbackEnabled=False)["status"] == "Succeeded"
    info = cd.get_deployment(deploymentId=did)["deploymentInfo"]
    assert info["status"] == "Stopped" and summary(emulator, did)["traffic_moved_at"] is None
    with pytest.raises(ClientError):
        cd.continue_deployment(deploymentId=did, deploymentWaitType="READY_WAIT")
