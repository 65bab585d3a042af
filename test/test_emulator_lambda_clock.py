"""Self-tests of the emulator's Lambda waits on the clock (test/emulator/lambda_.py,
lambda_versions.py, lambda_provisioned.py), driven with boto3: an update, a function state, a
published version and a provisioned-concurrency allocation that end a set number of seconds
after what started them, however often anyone looks, and keep the moment they ended for the
benchmark (bench/waiting_lambda.py)."""

import time

import pytest
import requests
from botocore.exceptions import ClientError

from emulator.lambda_scenario import lambda_fixture, make_zip

IN_PROGRESS = "An update is in progress for resource"


@pytest.fixture
def scn(emulator):
    return lambda_fixture(emulator, name="api")


@pytest.fixture
def lam(scn):
    return scn.client("lambda", retries=1)  # retries off: every error reaches the test


def status(cfg):
    return cfg["State"], cfg.get("LastUpdateStatus")


def sleep_until(moment, margin=0.05):
    time.sleep(max(0.0, moment - time.time()) + margin)


def test_an_update_on_the_clock_ends_at_its_moment_whoever_looks(emulator, scn, lam):
    emulator.lambda_script("api", in_progress_s=1.0, applies_to="code")
    before = time.time()
    answered = lam.update_function_code(FunctionName="api", ZipFile=make_zip({"app.py": "V = 2\n"}))
    assert answered["LastUpdateStatus"] == "InProgress"
    # Polls do not move it: ten looks at once still see it InProgress.
    looks = [lam.get_function_configuration(FunctionName="api") for _ in range(10)]
    assert {status(cfg) for cfg in looks} == {("Active", "InProgress")}
    with pytest.raises(ClientError) as conflict:
        lam.publish_version(FunctionName="api")
    assert conflict.value.response["Error"]["Code"] == "ResourceConflictException"
    assert IN_PROGRESS in conflict.value.response["Error"]["Message"]

    [record] = emulator.lambda_status()["history"]
    assert record["in_progress_s"] == 1.0 and record["action"] == "UpdateFunctionCode"
    assert before <= record["started_at"] <= time.time()
    assert record["completes_at"] == pytest.approx(record["started_at"] + 1.0)
    sleep_until(record["completes_at"])
    # No look in between, and it is over: the first read (here a PublishVersion's judge) sees it done.
    assert lam.publish_version(FunctionName="api")["Version"] == "1"
    assert status(lam.get_function(FunctionName="api")["Configuration"]) == ("Active", "Successful")


def test_a_failed_update_on_the_clock_fails_at_its_moment(emulator, scn, lam):
    emulator.lambda_script("api", in_progress_s=0.5, outcome="Failed", reason_code="EniLimitExceeded",
                           reason="The ENI limit was reached.")
    lam.update_function_configuration(FunctionName="api", Timeout=20)
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "InProgress")
    sleep_until(emulator.lambda_status()["history"][0]["completes_at"])
    failed = lam.get_function_configuration(FunctionName="api")
    assert (failed["LastUpdateStatus"], failed["LastUpdateStatusReasonCode"]) == ("Failed", "EniLimitExceeded")


def test_a_state_on_the_clock_holds_until_its_seconds_are_up(emulator, scn, lam):
    started = time.time()
    emulator.lambda_state("api", "Pending", seconds=0.6)
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Pending", "InProgress")
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Pending", "InProgress")
    sleep_until(started + 0.6)
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "Successful")


def test_a_version_pending_on_the_clock_then_active(emulator, scn, lam):
    emulator.lambda_version_state("api", pending_s=0.8)
    lam.update_function_code(FunctionName="api", ZipFile=make_zip({"app.py": "V = 3\n"}))
    version = lam.publish_version(FunctionName="api")["Version"]
    for _ in range(5):
        assert lam.get_function_configuration(FunctionName="api", Qualifier=version)["State"] == "Pending"
    [record] = emulator.lambda_status()["history"]
    assert record["pending_s"] == 0.8 and record["completes_at"] == pytest.approx(record["started_at"] + 0.8)
    sleep_until(record["completes_at"])
    assert lam.get_function_configuration(FunctionName="api", Qualifier=version)["State"] == "Active"


def test_a_provisioned_allocation_on_the_clock_rises_then_is_ready_at_its_moment(emulator, scn, lam):
    lam.update_function_code(FunctionName="api", ZipFile=make_zip({"app.py": "V = 1\n"}))
    first = lam.publish_version(FunctionName="api")["Version"]
    lam.update_function_code(FunctionName="api", ZipFile=make_zip({"app.py": "V = 2\n"}))
    second = lam.publish_version(FunctionName="api")["Version"]
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=first)
    emulator.lambda_provisioned_concurrency("api", "live", executions=4, in_progress_s=1.2)
    lam.update_alias(FunctionName="api", Name="live", FunctionVersion=second)
    record = emulator.lambda_status()["provisioned_history"][-1]
    assert (record["action"], record["in_progress_s"]) == ("UpdateAlias", 1.2)
    assert record["completes_at"] == pytest.approx(record["started_at"] + 1.2)

    seen = []
    while time.time() < record["completes_at"] - 0.1:
        config = lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier="live")
        seen.append((config["Status"], config["AllocatedProvisionedConcurrentExecutions"]))
        time.sleep(0.1)
    assert {s for s, _ in seen} == {"IN_PROGRESS"}
    allocated = [a for _, a in seen]
    assert allocated == sorted(allocated) and max(allocated) < 4
    sleep_until(record["completes_at"])
    listed = lam.list_provisioned_concurrency_configs(FunctionName="api")["ProvisionedConcurrencyConfigs"]
    assert [(c["Status"], c["AllocatedProvisionedConcurrentExecutions"]) for c in listed] == [("READY", 4)]


@pytest.mark.parametrize("path,body", [
    ("lambda/script", {"function": "api", "in_progress_s": -1}),
    ("lambda/script", {"function": "api", "in_progress_s": "2"}),
    ("lambda/state", {"function": "api", "seconds": True}),
    ("lambda/version-state", {"function": "api", "pending_s": -0.5}),
])
def test_durations_on_the_clock_are_checked(emulator, scn, path, body):
    done = requests.post(f"{emulator.base_url}/_layer/{path}", json=body)
    assert done.status_code == 400 and "seconds >= 0" in done.text, done.text
