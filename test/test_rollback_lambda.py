"""ACTION=rollback for Lambda end to end: the alias goes back to the newest published version
lower than the one it points at, or to VERSION; the version is waited for until Active and, where
the alias has provisioned concurrency, until it is READY. Nothing is published."""

import pytest

from test_lambda import FUNCTION, Lambda

MUTATING = ("UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "CreateAlias", "UpdateAlias",
            "DeleteAlias", "DeleteFunction", "PutProvisionedConcurrencyConfig")


@pytest.fixture
def fn(scenario, emulator):
    return Lambda(scenario, emulator)


def rollback(fn, **overrides):
    return fn.run(ACTION="rollback", **overrides)


def publish(fn, count):
    versions = []
    for n in range(count):
        fn.boto.update_function_configuration(FunctionName=FUNCTION, Description=f"release {n}")
        fn.boto.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
        versions.append(fn.boto.publish_version(FunctionName=FUNCTION)["Version"])
    return versions


def alias_on(fn, version, name="live"):
    fn.boto.create_alias(FunctionName=FUNCTION, Name=name, FunctionVersion=version)


def points_at(fn, name="live"):
    return fn.boto.get_alias(FunctionName=FUNCTION, Name=name)["FunctionVersion"]


def mutating_calls(fn):
    return [call["action"] for call in fn.calls() if call["action"] in MUTATING]


def test_the_alias_goes_back_to_the_newest_version_lower_than_its_own(fn):
    publish(fn, 5)
    alias_on(fn, "4")  # version 5 is newer than the alias: not "before" it
    result = rollback(fn, ALIAS="live")

    assert result.code == 0, result
    assert result.final_line.endswith("Rolled back alias live of api from version 4 to version 3"), result
    assert "rolling back alias live from version 4 to version 3 (the newest published version lower than 4)" in (
        result.output)
    assert points_at(fn) == "3"
    assert mutating_calls(fn) == ["UpdateAlias"], "nothing published, nothing else changed"
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_ACTION"] == "rollback"
    assert outputs["AWS_ROLE_DEPLOY_VERSION"] == "3"
    assert outputs["AWS_ROLE_DEPLOY_ROLLED_BACK_FROM"] == "4"
    assert outputs["AWS_ROLE_DEPLOY_CHOSEN_BY"] == "the newest published version lower than 4"


def test_every_page_of_versions_is_read(fn):
    publish(fn, 53)  # Lambda answers at most 50 versions a page
    alias_on(fn, "53")
    result = rollback(fn, ALIAS="live")
    assert result.code == 0, result
    assert points_at(fn) == "52"
    assert len(fn.calls("ListVersionsByFunction")) == 2


def test_version_names_the_target(fn):
    publish(fn, 3)
    alias_on(fn, "3")
    result = rollback(fn, ALIAS="live", VERSION="1")
    assert result.code == 0, result
    assert result.final_line.endswith("from version 3 to version 1"), result
    assert result.outputs_env["AWS_ROLE_DEPLOY_CHOSEN_BY"] == "named by VERSION"
    assert fn.calls("ListVersionsByFunction") == []
    assert points_at(fn) == "1"


def test_the_version_is_waited_for_until_active(fn, emulator):
    publish(fn, 1)
    alias_on(fn, "1")
    emulator.lambda_version_state(FUNCTION, pending_polls=2)
    publish(fn, 1)  # version 2, Pending for two reads (a version below it could not have been published)
    result = rollback(fn, ALIAS="live", VERSION="2")

    assert result.code == 0, result
    assert points_at(fn) == "2"
    calls = fn.calls()
    [update] = [i for i, c in enumerate(calls) if c["action"] == "UpdateAlias"]
    reads = [i for i, c in enumerate(calls)
             if c["action"] == "GetFunctionConfiguration" and c["params"].get("Qualifier") == "2"]
    assert len(reads) >= 3 and max(reads) < update, "read until Active, before the alias moved"


def test_provisioned_concurrency_is_waited_for_until_ready(fn, emulator):
    publish(fn, 3)
    alias_on(fn, "3")
    emulator.lambda_provisioned_concurrency(FUNCTION, "live", executions=4, in_progress_polls=2)
    result = rollback(fn, ALIAS="live")

    assert result.code == 0, result
    assert points_at(fn) == "2"
    calls = fn.calls()
    [update] = [i for i, c in enumerate(calls) if c["action"] == "UpdateAlias"]
    polls = [i for i, c in enumerate(calls) if c["action"] == "GetProvisionedConcurrencyConfig"]
    assert len(polls) == 3 and polls[0] > update  # IN_PROGRESS twice, then READY
    assert "READY, 4 of 4 allocated" in result.final_line, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_PROVISIONED_CONCURRENCY"] == "READY, 4 of 4 allocated"


def test_provisioned_concurrency_that_fails_says_where_the_alias_points(fn, emulator):
    publish(fn, 2)
    alias_on(fn, "2")
    emulator.lambda_provisioned_concurrency(FUNCTION, "live", executions=4, in_progress_polls=1, outcome="FAILED")
    result = rollback(fn, ALIAS="live", WAIT_TIMEOUT="30")
    assert result.code == 1, result
    assert "Alias live now points at version 1 (it pointed at version 2 before this step)" in result.output
    assert result.outputs_env["AWS_ROLE_DEPLOY_ACTION"] == "rollback"
    assert result.outputs_env["AWS_ROLE_DEPLOY_ROLLED_BACK_FROM"] == "2"


def test_dry_run_moves_nothing(fn):
    publish(fn, 2)
    alias_on(fn, "2")
    result = rollback(fn, ALIAS="live", DRY_RUN="true")
    assert result.code == 0, result
    assert "would roll back alias live of api from version 2 to version 1" in result.final_line, result
    assert mutating_calls(fn) == []


# ------------------------------------------------------------------------------ bad input


def test_nothing_to_roll_back_to_says_what_was_looked_at(fn):
    publish(fn, 2)
    alias_on(fn, "1")
    result = rollback(fn, ALIAS="live")
    assert result.code == 2, result
    assert "Nothing to roll back to" in result.output
    assert "points at version 1; published versions of api: 1, 2 (none lower)" in result.output
    assert mutating_calls(fn) == []


def test_a_version_that_does_not_exist_is_refused_before_any_change(fn):
    publish(fn, 2)
    alias_on(fn, "2")
    result = rollback(fn, ALIAS="live", VERSION="7")
    assert result.code == 2, result
    assert "Version 7 of api does not exist" in result.output, result
    assert mutating_calls(fn) == []


def test_an_alias_that_does_not_exist_is_nothing_to_roll_back(fn):
    result = rollback(fn, ALIAS="live")
    assert result.code == 2, result
    assert "Alias live of api does not exist" in result.output
    assert mutating_calls(fn) == []


@pytest.mark.parametrize("variables, said", [
    ({"ALIAS": "live", "CLUSTER_NAME": "prod"}, "CLUSTER_NAME and FUNCTION_NAME are both set"),
    ({}, "ALIAS: is required for a Lambda rollback"),
    ({"ALIAS": "live", "ZIP_FILE": "app.zip"}, "ZIP_FILE: is not used by rollback"),
    ({"ALIAS": "live", "VERSION": "$LATEST"}, "is not a published version number"),
    ({"ALIAS": "live", "VERSION": "0"}, "is not a published version number"),
    ({"ALIAS": "live", "TRAFFIC_SHIFT": "Canary10Percent5Minutes"}, "TRAFFIC_SHIFT: is not used by rollback"),
])
def test_bad_input_is_refused_before_any_call(fn, variables, said):
    result = rollback(fn, **variables)
    assert result.code == 2, result
    assert said in result.output, result
    assert fn.calls() == []


def test_keep_versions_cleans_up_after_a_rollback_too(fn):
    publish(fn, 4)
    alias_on(fn, "4")
    result = rollback(fn, ALIAS="live", KEEP_VERSIONS="1")

    assert result.code == 0, result
    assert points_at(fn) == "3"
    # The alias's version (3) is kept whatever KEEP_VERSIONS says; 1 and 2 go.
    deleted = result.outputs_env["AWS_ROLE_DEPLOY_DELETED_VERSIONS"].split()
    assert "3" not in deleted and {"1", "2"} <= set(deleted), result
