"""Long waits meet trouble: the session cannot be renewed, AWS answers 503 for a while. The
binary, authenticated with the step's OIDC token, against the emulator's ECS and Lambda.

A wait outlives trouble that passes (a burst of 503s longer than the SDK's own retries: the
deployment goes on regardless, so the pipe keeps following it and says so once), and stops
soon at trouble that will not pass (a renewal refused because the step's token expired: no
later poll can succeed, so waiting out WAIT_TIMEOUT would only hide the cause)."""

import re

import pytest

from test_ecs import ecs  # noqa: F401  (the fixture)
from test_lambda import FUNCTION, fn  # noqa: F401  (the fixture)

# The SDK's attempts per request (AWS_MAX_ATTEMPTS): a burst of 503s three times as long
# outlasts its retries on several polls in a row.
ATTEMPTS = 3
BURST = 3 * ATTEMPTS


def index_of(calls, action):
    [index] = [i for i, call in enumerate(calls) if call["action"] == action]
    return index


def trouble_lines(result, *words):
    """The output lines naming AWS's error (DEBUG lines, one per call, aside)."""
    return [
        line for line in result.lines
        if not line.startswith("DEBUG:") and any(word in line for word in words)
    ]


# ------------------------------------------------------------------------------ ECS


def test_renewal_refused_during_a_rollout_ends_the_wait(ecs, emulator):
    # Sessions last 10 s and the step's token only 4 s: the first AssumeRoleWithWebIdentity
    # succeeds, the renewal during the wait is refused by STS because the token has expired
    # by then. The rollout never completes.
    emulator.set_credential_lifetime(10)
    ecs.rollout("stuck")
    token = ecs.step.mint_token(lifetime=4)
    # Killed at 75 s: past the 60 s bound below, far short of WAIT_TIMEOUT.
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", WAIT_TIMEOUT="300",
                     BITBUCKET_STEP_OIDC_TOKEN=token, timeout=75)

    assert result.code == 3, result
    assert "AssumeRoleWithWebIdentity" in result.output and "ExpiredTokenException" in result.output, result
    assert re.search(r"(could not|cannot|can't|failed to) (be )?renew", result.output, re.IGNORECASE), result

    web_identity = emulator.requests(service="sts", action="AssumeRoleWithWebIdentity")
    assert web_identity[0]["error_code"] is None, web_identity
    refused = [call for call in web_identity if call["error_code"] == "ExpiredTokenException"]
    assert refused, web_identity
    first_refusal = refused[0]["time"]
    [update] = ecs.calls("UpdateService")
    assert update["time"] < first_refusal, "the renewal was refused before the wait began: not this scenario"
    # Ended within a few polls of the refusal, not at WAIT_TIMEOUT (300 s; the run is killed
    # at 75): counted in the emulator's log, not timed.
    assert len(refused) <= 3, web_identity
    later_polls = [call for call in ecs.calls("DescribeServices") if call["time"] > first_refusal]
    assert len(later_polls) <= 3, later_polls


@pytest.mark.parametrize("kind, words", [
    ("unavailable", ("ServiceUnavailable", "Service is unavailable")),
    ("drop", ("no answer", "closed")),
])
def test_a_renewal_failing_transiently_during_a_rollout_is_tried_again(ecs, emulator, kind, words):
    # Sessions last 6 s, so the wait renews the session; STS answers that renewal with 503s (or
    # not at all) longer than the SDK's own attempts (three times over), then recovers. Trouble
    # that passes: the rollout is followed to its end, not abandoned with exit 3.
    emulator.set_credential_lifetime(6)
    ecs.rollout("complete", polls=6)
    emulator.add_fault(kind, service="sts", action="AssumeRoleWithWebIdentity", count=BURST, skip=1)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", AWS_MAX_ATTEMPTS=ATTEMPTS, WAIT_TIMEOUT="90",
                     timeout=120)

    assert result.code == 0, result
    assert "Deployed web:2 to web" in result.final_line
    web_identity = emulator.requests(service="sts", action="AssumeRoleWithWebIdentity")
    faulted = [call for call in web_identity if call["fault"] == kind]
    assert len(faulted) == BURST, web_identity
    assert web_identity[0]["status"] == 200 and web_identity[-1]["status"] == 200, web_identity
    [update] = ecs.calls("UpdateService")
    assert update["time"] < faulted[0]["time"], "the renewal failed before the wait began: not this scenario"
    # Said once while it lasted, not once per attempt.
    assert len([line for line in trouble_lines(result, *words) if "renewing" in line]) == 1, "\n".join(result.lines)
    # No request went out with an expired session meanwhile.
    assert not [call for call in emulator.requests() if call["error_code"] in ("ExpiredToken", "ExpiredTokenException")]


def test_a_burst_of_503s_during_a_rollout_is_waited_out(ecs, emulator):
    ecs.rollout("complete", polls=3)
    # The first DescribeServices checks the input and the second is the first poll of the
    # wait: the burst starts after the wait has begun.
    emulator.add_fault("unavailable", service="ecs", action="DescribeServices", count=BURST, skip=2)
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", AWS_MAX_ATTEMPTS=ATTEMPTS, WAIT_TIMEOUT="40")

    assert result.code == 0, result
    assert "Deployed web:2 to web" in result.final_line
    assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "COMPLETED"
    # Said once, not once per failed poll.
    assert len(trouble_lines(result, "ServiceUnavailable", "Service is unavailable")) == 1, result

    calls = ecs.calls()
    faulted = [i for i, call in enumerate(calls) if call["fault"] == "unavailable"]
    assert len(faulted) == BURST
    assert all(calls[i]["action"] == "DescribeServices" and calls[i]["status"] == 503 for i in faulted)
    assert index_of(calls, "UpdateService") < faulted[0], "the burst came before the wait"
    after = [call for call in calls[faulted[-1] + 1:] if call["action"] == "DescribeServices"]
    assert after and all(call["status"] == 200 for call in after), after


# ------------------------------------------------------------------------------ Lambda


def test_a_burst_of_503s_while_waiting_for_a_code_update(fn, emulator):
    emulator.lambda_script(FUNCTION, in_progress_polls=1, applies_to="code")
    # One GetFunctionConfiguration (ready?) comes before the update: the burst hits the wait
    # that follows it.
    emulator.add_fault("unavailable", service="lambda", action="GetFunctionConfiguration", count=BURST, skip=1)
    result = fn.run(ZIP_FILE=fn.source_dir(), AWS_MAX_ATTEMPTS=ATTEMPTS, WAIT_TIMEOUT="40")

    assert result.code == 0, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert len(trouble_lines(result, "ServiceUnavailable", "Service is unavailable")) == 1, result

    calls = fn.calls()
    faulted = [i for i, call in enumerate(calls) if call["fault"] == "unavailable"]
    assert len(faulted) == BURST
    assert all(calls[i]["action"] == "GetFunctionConfiguration" for i in faulted)
    update, publish = index_of(calls, "UpdateFunctionCode"), index_of(calls, "PublishVersion")
    assert update < faulted[0] and faulted[-1] < publish, [(c["action"], c["fault"]) for c in calls]
    assert calls[update]["status"] == 200 and calls[publish]["status"] == 201
