"""The Lambda waits' pace at its real speed (no AWS_ROLE_DEPLOY_TEST_TIME_SCALE), on waits on the
emulator's clock (lambda_.py and lambda_provisioned.py, "On the clock"): an update is looked at
every second at first and ends the wait on the first look after it completed; a
provisioned-concurrency allocation is looked at within the budget of 15 calls a minute from its
first look (10 s apart in its first minute). Detection delays are measured by bench/run (bench/waiting_lambda.py), not asserted
here.
"""

from test_lambda import FUNCTION, fn  # noqa: F401  (fn: the fixture)

UPDATE_S = 2.5
ALLOCATION_S = 14.0


def after(calls, moment):
    return [call for call in calls if call["time"] >= moment]


def test_a_short_update_is_looked_at_every_second_and_ends_the_wait_on_the_first_look_after_it(fn, emulator):
    emulator.lambda_script(FUNCTION, in_progress_s=UPDATE_S, applies_to="code")
    result = fn.run(ZIP_FILE=fn.source_dir(), PUBLISH="false", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=None, timeout=60)
    assert result.code == 0, result
    assert "after the code update: State Active, LastUpdateStatus InProgress" in result.output, result

    [update] = fn.calls("UpdateFunctionCode")
    [record] = emulator.lambda_status()["history"]
    looks = [call["time"] for call in after(fn.calls("GetFunctionConfiguration"), update["time"])]
    # The first look at once, then a second apart: a 2.5 s update is seen by the fourth.
    assert all(0.9 <= b - a for a, b in zip(looks, looks[1:])), looks
    assert len(looks) <= 4, looks
    # Ended on the first look that showed it done: none after it.
    assert len([at for at in looks if at >= record["completes_at"]]) == 1, (looks, record)


def test_a_provisioned_allocation_is_looked_at_within_the_budget(fn, emulator):
    first = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=first)
    fn.emulator.lambda_provisioned_concurrency(FUNCTION, "live", executions=4, in_progress_s=ALLOCATION_S)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=None, timeout=90)
    assert result.code == 0, result
    assert "READY, 4 of 4 allocated" in result.final_line, result

    record = emulator.lambda_status()["provisioned_history"][-1]
    looks = [call["time"] for call in fn.calls("GetProvisionedConcurrencyConfig")]
    assert looks[0] >= record["started_at"], (looks, record)
    # One look at once, then 10 s apart in the first minute (never closer than 3 s), no more
    # than 15 a minute with the first one counted.
    assert all(b - a >= 2.9 for a, b in zip(looks, looks[1:])), looks
    assert len(looks) <= 15 * (looks[-1] - looks[0]) / 60 + 1, looks
    assert len([at for at in looks if at >= record["completes_at"]]) == 1, (looks, record)
