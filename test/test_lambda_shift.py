"""TRAFFIC_SHIFT (issue 21): a Lambda alias moved to the new version step by step through
RoutingConfig weights, observed in the recorded UpdateAlias calls; bad shifts refused before any
change; SIGTERM mid-shift puts the alias back.

The shift's holds are divided by AWS_ROLE_DEPLOY_TEST_TIME_SCALE, which the pipe accepts only
with a loopback endpoint (the emulator): a 5-minute canary takes half a second here."""

import subprocess
import time

import pytest

from emulator.lambda_scenario import LAMBDA_TRUST_POLICY, make_zip
from pipe import BINARY, Result, terminate
from test_lambda import FUNCTION, Lambda

MUTATING = ("UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "CreateAlias", "UpdateAlias")
FAST = "600"


@pytest.fixture
def fn(scenario, emulator):
    return Lambda(scenario, emulator)


def live_alias(fn):
    """Alias `live` on a published version `one`, as after an earlier deployment."""
    one = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=one)
    return one


def routing(call):
    """(FunctionVersion, {version: weight}) of one recorded UpdateAlias."""
    params = call["params"]
    return params["FunctionVersion"], (params.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def alias_now(fn):
    alias = fn.boto.get_alias(FunctionName=FUNCTION, Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def test_canary_sends_ten_percent_then_everything(fn):
    one = live_alias(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="Canary10Percent5Minutes",
                    AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 0, result
    new = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert [routing(call) for call in fn.calls("UpdateAlias")] == [(one, {new: 0.1}), (new, {})]
    assert alias_now(fn) == (new, {})
    assert f"10% to version {new}, 90% to version {one} (step 1 of 2); next step in 5 min" in result.output
    assert "100% to version" in result.output


def test_linear_custom_shift_step_by_step(fn):
    one = live_alias(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="linear:30%:1m",
                    AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 0, result
    new = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert [routing(call) for call in fn.calls("UpdateAlias")] == [
        (one, {new: 0.3}), (one, {new: 0.6}), (one, {new: 0.9}), (new, {})]
    # Each step carries the RevisionId the one before left: nobody else's change is overwritten.
    revisions = [call["params"].get("RevisionId") for call in fn.calls("UpdateAlias")]
    assert all(revisions) and len(set(revisions)) == 4


def test_a_new_alias_is_created_whole(fn):
    fn.boto.publish_version(FunctionName=FUNCTION)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m",
                    AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 0, result
    assert len(fn.calls("CreateAlias")) == 1 and fn.calls("UpdateAlias") == []


def test_weighted_alias_still_refused_with_a_shift(fn):
    one = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.update_function_code(FunctionName=FUNCTION, ZipFile=make_zip({"app.py": "X = 'theirs'\n"}))
    two = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=one,
                         RoutingConfig={"AdditionalVersionWeights": {two: 0.2}})
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m",
                    AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 2, result
    assert "ALIAS_CLEAR_WEIGHTS" in result.output
    for action in MUTATING:
        assert fn.calls(action) == [], action


def test_weighted_alias_cleared_by_the_first_step(fn):
    one = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.update_function_code(FunctionName=FUNCTION, ZipFile=make_zip({"app.py": "X = 'theirs'\n"}))
    two = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=one,
                         RoutingConfig={"AdditionalVersionWeights": {two: 0.2}})
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m",
                    ALIAS_CLEAR_WEIGHTS="true", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 0, result
    new = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert [routing(call) for call in fn.calls("UpdateAlias")] == [(one, {new: 0.1}), (new, {})]


def two_versions(fn):
    """Versions `one` and `two` published (other code each), alias `live` on `one`."""
    one = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.update_function_code(FunctionName=FUNCTION, ZipFile=make_zip({"app.py": "X = 'two'\n"}))
    two = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=one)
    return one, two


def test_version_is_shifted_to_step_by_step(fn):
    """VERSION with a gradual TRAFFIC_SHIFT: the canary of a version published earlier."""
    one, two = two_versions(fn)
    result = fn.run(VERSION=two, ALIAS="live", TRAFFIC_SHIFT="linear:40%:1m", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 0, result
    assert [routing(call) for call in fn.calls("UpdateAlias")] == [(one, {two: 0.4}), (one, {two: 0.8}), (two, {})]
    assert [c["action"] for c in fn.calls() if c["action"] in MUTATING] == ["UpdateAlias"] * 3
    assert alias_now(fn) == (two, {})
    assert f"40% to version {two}, 60% to version {one} (step 1 of 3)" in result.output
    assert f"Alias live of {FUNCTION} now points at version {two}; nothing else was changed" in result.final_line
    assert result.outputs_env["AWS_ROLE_DEPLOY_VERSION"] == two


def test_version_shift_stopped_by_an_alarm_goes_back(fn):
    one, two = two_versions(fn)
    alarm(fn)
    fn.emulator.alarm_goes_off("api-errors", after_update_alias=1)
    result = fn.run(VERSION=two, ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m", ALARMS="api-errors",
                    AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 1, result
    assert [routing(call) for call in fn.calls("UpdateAlias")] == [(one, {two: 0.1}), (one, {})]
    assert alias_now(fn) == (one, {})
    assert "Alarm api-errors went to ALARM during the traffic shift of alias live" in result.final_line, result
    # Said once, as a detail of the failure (it used to be logged as well: two identical lines).
    assert result.output.count(f"back on version {one} with no weights") == 1, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_STATE"] == "PARTIAL", result.outputs_env


def test_version_dry_run_says_the_shift(fn):
    one, two = two_versions(fn)
    result = fn.run(VERSION=two, ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m", DRY_RUN="true")

    assert result.code == 0, result
    assert f"would shift alias live from version {one} to version {two}: canary:10%:5m" in result.output, result
    assert [c for c in fn.calls() if c["action"] in MUTATING] == []


def test_shift_that_no_longer_fits_in_wait_timeout_leaves_the_alias(fn):
    """The shift fits WAIT_TIMEOUT when the step starts, but the deployment before it took so
    long that what is left is too short: refused before the first UpdateAlias, naming the
    variable to change. (A 1-hour canary at 1:600 holds 6 s; GetAlias before the shift hangs 5 s.)"""
    one = live_alias(fn)
    fn.emulator.add_fault("hang", service="lambda", action="GetAlias", skip=1, hang_seconds=5)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:1h", WAIT_TIMEOUT="10",
                    AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 1, result
    assert fn.calls("UpdateAlias") == [] and fn.calls("PublishVersion"), result
    new = fn.calls("PublishVersion")[0] and result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert "WAIT_TIMEOUT leaves" in result.final_line and "holds traffic split for 6 s" in result.final_line, result
    assert f"still points at version {one}" in result.final_line, result
    assert f"Version {new} is published. Raise WAIT_TIMEOUT by at least" in result.output, result
    assert alias_now(fn) == (one, {})


def other_role(fn):
    return fn.emulator.create_role(fn.fn.account, "api-other-execution", LAMBDA_TRUST_POLICY)


def test_a_new_execution_role_in_the_configuration_is_refused_before_any_change(fn):
    """Lambda splits an alias's traffic only between versions with the same execution role: a
    FUNCTION_CONFIGURATION giving the function another role cannot be shifted to (exit 2)."""
    one = live_alias(fn)
    role = other_role(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), FUNCTION_CONFIGURATION=fn.write("config.json", f'{{"Role": "{role}"}}'),
                    ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 2, result
    assert (f"version {one} runs with execution role {fn.fn.role_arn} and FUNCTION_CONFIGURATION with {role}"
            in result.final_line), result
    assert "Set TRAFFIC_SHIFT: AllAtOnce for the release that changes the role" in result.output, result
    for action in MUTATING:
        assert fn.calls(action) == [], action


def test_a_version_with_another_role_is_published_but_not_shifted_to(fn):
    """$LATEST's role changed outside the pipe: the version it publishes has that role, and the
    shift refuses the pair before the first step (exit 1), the alias left on the old version."""
    one = live_alias(fn)
    role = other_role(fn)
    fn.boto.update_function_configuration(FunctionName=FUNCTION, Role=role)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m",
                    AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 1, result
    assert fn.calls("PublishVersion") and fn.calls("UpdateAlias") == [], result
    new = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert f"version {one} runs with execution role {fn.fn.role_arn} and version {new} with {role}" in result.final_line
    assert f"still points at version {one}" in result.final_line, result
    assert f"Version {new} is published. Set TRAFFIC_SHIFT: AllAtOnce" in result.output, result
    assert alias_now(fn) == (one, {})


@pytest.mark.parametrize("dry_run", ["false", "true"])
def test_version_with_another_dead_letter_queue_is_refused_before_any_change(fn, dry_run):
    one = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=one)
    queue = f"arn:aws:sqs:us-east-1:{fn.fn.account}:api-dlq"
    fn.boto.update_function_configuration(FunctionName=FUNCTION, DeadLetterConfig={"TargetArn": queue})
    two = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    result = fn.run(VERSION=two, ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST,
                    DRY_RUN=dry_run)

    assert result.code == 2, result
    assert f"version {one} has dead-letter queue none and version {two} {queue}" in result.final_line, result
    assert "TRAFFIC_SHIFT" in result.output
    assert [c for c in fn.calls() if c["action"] in MUTATING] == []


@pytest.mark.parametrize("shift, says", [
    ("Canary10Percent7Minutes", "is not a traffic shift"),
    ("canary:0%:5m", "from 1% to 99%"),
    ("linear:100%:1m", "from 1% to 99%"),
    ("canary:10%:0s", "more than zero"),
])
def test_bad_shift_is_refused_before_any_call(fn, shift, says):
    live_alias(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT=shift)

    assert result.code == 2, result
    assert "TRAFFIC_SHIFT" in result.output and says in result.output, result
    for action in MUTATING:
        assert fn.calls(action) == [], action


def test_shift_longer_than_wait_timeout_is_refused_before_any_call(fn):
    live_alias(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="Canary10Percent30Minutes")

    assert result.code == 2, result
    assert "WAIT_TIMEOUT" in result.output and "30 min" in result.output, result
    for action in MUTATING:
        assert fn.calls(action) == [], action


def test_test_time_scale_is_refused_against_aws(scenario, emulator):
    fn = Lambda(scenario, emulator)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m",
                    AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST, AWS_ENDPOINT_URL_LAMBDA="https://lambda.example.com")

    assert result.code == 2, result
    assert "AWS_ROLE_DEPLOY_TEST_TIME_SCALE" in result.output and "loopback" in result.output, result


def run_in_background(fn, **overrides):
    variables = {"ACTION": "lambda-deploy", "FUNCTION_NAME": FUNCTION, **overrides}
    env = fn.step.env(**variables)
    process = subprocess.Popen([str(BINARY)], env=env, cwd=str(fn.step.clone_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return process, env


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


@pytest.mark.parametrize("mode", ["deploy", "version"])
def test_sigterm_mid_shift_puts_the_alias_back(fn, mode):
    if mode == "deploy":
        one = live_alias(fn)
        release = {"ZIP_FILE": fn.source_dir()}
    else:
        one, two = two_versions(fn)
        release = {"VERSION": two}
    # A 1-hour canary at 1:60: one minute split, the time to send SIGTERM.
    process, env = run_in_background(fn, ALIAS="live", TRAFFIC_SHIFT="canary:10%:1h", WAIT_TIMEOUT="300",
                                     AWS_ROLE_DEPLOY_TEST_TIME_SCALE="60", **release)
    assert wait_for(lambda: fn.calls("UpdateAlias")), "the shift never started"
    time.sleep(0.5)
    assert process.poll() is None, "the shift ended already"
    stdout, stderr, _ = terminate(process, within=20)
    result = Result.collect(process.returncode, stdout, stderr, outputs_dir=fn.step.outputs_dir, env=env)
    fn.emulator.assert_no_secrets_in(result.everything())

    assert result.code == 143, result
    updates = [routing(call) for call in fn.calls("UpdateAlias")]
    [(first_primary, first_weights), back] = updates
    assert first_primary == one and list(first_weights.values()) == [0.1], updates
    assert back == (one, {}), updates
    assert alias_now(fn) == (one, {})
    # Put back within CANCEL_GRACE: past it the last line would say "did not stop within 8 s".
    assert "Cancelled (SIGTERM) during lambda-deploy" in result.final_line, result
    assert f"back on version {one} with no weights" in result.output, result


# ------------------------------------------------------------------------------ ALARMS


def alarm(fn, name="api-errors", state=None, reason="Threshold Crossed: 1 out of the last 1 datapoints [7.0] was greater than the threshold (1.0)."):
    cloudwatch = fn.fn.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold", Dimensions=[{"Name": "FunctionName",
                                                                                        "Value": FUNCTION}])
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state or "OK", StateReason=reason)
    return name


def test_alarm_going_off_mid_shift_puts_the_alias_back(fn):
    one = live_alias(fn)
    alarm(fn)
    alarm(fn, name="api-latency")
    fn.emulator.alarm_goes_off("api-errors", after_update_alias=2,
                               reason="Threshold Crossed: 1 datapoint [9.0] was greater than the threshold (1.0).")
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="linear:30%:1m",
                    ALARMS="api-latency, api-errors", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 1, result
    new = fn.calls("PublishVersion")[0] and result.outputs_env.get("AWS_ROLE_DEPLOY_VERSION")
    updates = [routing(call) for call in fn.calls("UpdateAlias")]
    assert [primary for primary, _ in updates] == [one, one, one], updates
    assert [sorted((weights or {}).values()) for _, weights in updates] == [[0.3], [0.6], []], updates
    assert alias_now(fn) == (one, {})
    assert "Alarm api-errors went to ALARM during the traffic shift of alias live" in result.output, result
    assert "[9.0] was greater than the threshold" in result.output, result
    assert f"back on version {one} with no weights" in result.output, result
    # The alarms were read before any change, as the shift started, and during each hold.
    polls = fn.calls("DescribeAlarms", service="cloudwatch")
    assert len(polls) >= 4, polls
    assert polls[0]["time"] < fn.calls("UpdateFunctionCode")[0]["time"]
    assert polls[-1]["alarm_states"]["api-errors"] == "ALARM"
    del new


def test_canary_with_quiet_alarms_goes_through(fn):
    one = live_alias(fn)
    alarm(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="Canary10Percent5Minutes",
                    ALARMS="api-errors", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 0, result
    new = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert [routing(call) for call in fn.calls("UpdateAlias")] == [(one, {new: 0.1}), (new, {})]
    polls = fn.calls("DescribeAlarms", service="cloudwatch")
    assert len(polls) >= 3 and all(poll["alarm_states"] == {"api-errors": "OK"} for poll in polls), polls
    # The last look before the alias moved whole came after the hold.
    last_poll = max(poll["time"] for poll in polls)
    assert fn.calls("UpdateAlias")[0]["time"] < last_poll < fn.calls("UpdateAlias")[1]["time"]


def test_alarm_that_does_not_exist_is_refused_before_any_change(fn):
    live_alias(fn)
    alarm(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m",
                    ALARMS="api-errors,api-erors", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 2, result
    assert "api-erors" in result.final_line and "ALARMS" in result.output, result
    for action in MUTATING:
        assert fn.calls(action) == [], action


def test_alarm_already_in_alarm_refuses_the_shift(fn):
    live_alias(fn)
    alarm(fn, state="ALARM", reason="Threshold Crossed: errors since yesterday")
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m",
                    ALARMS="api-errors", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 1, result
    assert "api-errors is in ALARM already (Threshold Crossed: errors since yesterday)" in result.output, result
    for action in MUTATING:
        assert fn.calls(action) == [], action


def test_alarms_without_a_gradual_shift_are_refused(fn):
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", ALARMS="api-errors")

    assert result.code == 2, result
    assert "needs a gradual TRAFFIC_SHIFT" in result.output, result


def test_dry_run_says_the_shift_and_reads_the_alarms(fn):
    one = live_alias(fn)
    alarm(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m", ALARMS="api-errors",
                    DRY_RUN="true")

    assert result.code == 0, result
    assert f"would shift alias live from version {one} to the new version: canary:10%:5m (10% for 5 min" in result.output
    assert len(fn.calls("DescribeAlarms", service="cloudwatch")) == 1
    for action in MUTATING:
        assert fn.calls(action) == [], action


def test_cloudwatch_endpoint_variable_reaches_cloudwatch_only(fn):
    """AWS_ENDPOINT_URL_CLOUDWATCH sends DescribeAlarms to its host: with AWS_ENDPOINT_URL pointing
    nowhere, the canary with ALARMS goes through only if every CloudWatch call went there."""
    live_alias(fn)
    alarm(fn)
    base = fn.emulator.base_url
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="canary:10%:5m", ALARMS="api-errors",
                    AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST, AWS_MAX_ATTEMPTS="1", WAIT_TIMEOUT="30",
                    AWS_ENDPOINT_URL="http://127.0.0.1:9",  # the discard port: any call sent here fails
                    AWS_ENDPOINT_URL_STS=base, AWS_ENDPOINT_URL_LAMBDA=base, AWS_ENDPOINT_URL_CLOUDWATCH=base)

    assert result.code == 0, result
    assert len(fn.calls("DescribeAlarms", service="cloudwatch")) >= 3
    assert alias_now(fn) == (result.outputs_env["AWS_ROLE_DEPLOY_VERSION"], {})


def test_alarm_scenario_counts_update_alias_calls_from_when_it_is_set(fn):
    """The emulator's flip `after_update_alias=N` counts the UpdateAlias calls made after the
    scenario was set: earlier deployments of the same session (a try-out) do not bring it forward."""
    one = live_alias(fn)
    for _ in range(2):
        fn.boto.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=one)
    alarm(fn)
    fn.emulator.alarm_goes_off("api-errors", after_update_alias=1)
    cloudwatch = fn.fn.client("cloudwatch")

    def state():
        return cloudwatch.describe_alarms(AlarmNames=["api-errors"])["MetricAlarms"][0]["StateValue"]

    assert state() == "OK"
    fn.boto.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=one)
    assert state() == "ALARM"


def test_insufficient_data_does_not_stop_the_shift(fn):
    """Only ALARM stops a shift, as in CodeDeploy: an alarm without datapoints yet
    (INSUFFICIENT_DATA, before and during the shift) is said, and the shift goes through."""
    live_alias(fn)
    alarm(fn, state="INSUFFICIENT_DATA", reason="Insufficient Data: 1 datapoint was unknown.")
    alarm(fn, name="api-latency")
    fn.emulator.alarm_goes_off("api-latency", after_update_alias=1, state="INSUFFICIENT_DATA",
                               reason="Insufficient Data: 1 datapoint was unknown.")
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", TRAFFIC_SHIFT="linear:50%:1m",
                    ALARMS="api-errors,api-latency", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=FAST)

    assert result.code == 0, result
    assert "api-errors in INSUFFICIENT_DATA (no datapoints to judge yet): only ALARM stops the shift" in result.output
    polls = fn.calls("DescribeAlarms", service="cloudwatch")
    assert polls[-1]["alarm_states"] == {"api-errors": "INSUFFICIENT_DATA", "api-latency": "INSUFFICIENT_DATA"}, polls
    assert alias_now(fn) == (result.outputs_env["AWS_ROLE_DEPLOY_VERSION"], {})
