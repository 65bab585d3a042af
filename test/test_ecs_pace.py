"""The ECS watch's pace at its real speed (no AWS_ROLE_DEPLOY_TEST_TIME_SCALE), on a rollout on
the emulator's clock (ecs.py, "Rollouts on the clock"): a look every 10 s while the new tasks
start, looks 2 s apart once they all run and the old ones drain, ECS's service deployment read
only when DescribeServices shows something it should confirm, and no more calls than the budget
(15 a minute for one service) over the wait. Detection delays are measured by bench/run, not
asserted here.
"""

from test_ecs import Ecs, ecs  # noqa: F401  (ecs: the fixture)

RUNNING_S, COMPLETE_S = 20.0, 28.0


def test_the_watch_looks_where_the_rollout_can_end_and_reads_the_service_deployment_once(ecs, emulator):
    ecs.rollout("complete", timed={"running_s": RUNNING_S, "complete_s": COMPLETE_S})
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", WAIT_TIMEOUT="120",
                     AWS_ROLE_DEPLOY_TEST_TIME_SCALE=None, timeout=150)
    assert result.code == 0, result
    assert "has reached a steady state" in result.output, result

    [rollout] = emulator.ecs_rollouts()["active"]
    [update] = ecs.calls("UpdateService")
    polls = [call["time"] for call in ecs.calls("DescribeServices") if call["time"] > update["time"]]
    started, running, completed = rollout["started_at"], rollout["started_at"] + RUNNING_S, rollout["completed_at"]
    assert completed == started + COMPLETE_S
    # Ended on the first look that showed the completion (the log has when it came in, the
    # rollout when it was answered): no look after it.
    after = [at for at in polls if at >= completed]
    assert len(after) == 1 and after[0] <= rollout["first_seen_at"], (polls, rollout)
    # While the tasks start the looks are 10 s apart (and the budget keeps the first one
    # further), once they run they come closer: more than one look while the old ones drain.
    starting = [at for at in polls if at < running]
    draining = [at for at in polls if running <= at < completed]
    assert all(b - a >= 10 for a, b in zip(starting, starting[1:])), starting
    assert len(starting) <= 1 + int(RUNNING_S // 10), starting
    assert len(draining) >= 2, (draining, polls)
    # The service deployment told nothing DescribeServices did not until the rollout completed:
    # read once, on the look that saw COMPLETED.
    reads = ecs.calls("DescribeServiceDeployments")
    assert len(reads) == 1 and abs(reads[0]["time"] - polls[-1]) < 1, (reads, polls)
    # The budget: 15 calls a minute over the wait, with room kept for one look at its most (2).
    calls = len(polls) + len(reads)
    assert calls <= 15 * (polls[-1] - polls[0]) / 60 + 2, (calls, polls)


def test_a_completion_whose_confirmation_waited_for_another_service_is_confirmed_at_the_deadline(scenario, emulator):
    """web completes at once, api never does: web's service deployment is read with the last of
    the deploy's rollouts, which never comes, so the deadline reads it: web completed, api timed
    out (not both timed out). The tests' pace (ECS_PACE_SCALE) keeps the minute's read out."""
    ecs = Ecs(scenario, emulator, services=("web", "api"))
    ecs.rollout("complete", services=["web"])
    ecs.rollout("stuck", services=["api"])
    result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app", WAIT_TIMEOUT="4", timeout=60)
    assert result.code == 1, result
    assert "The deployment to api: did not complete within WAIT_TIMEOUT" in result.output, result
    assert "The deployment to web" not in result.output, result
    assert "web: service deployment SUCCESSFUL" in result.output, result
    # One read, at the deadline, of web's alone: none while api went on.
    [read] = ecs.calls("DescribeServiceDeployments")
    assert len(read["params"]["serviceDeploymentArns"]) == 1 and "/web/" in read["params"]["serviceDeploymentArns"][0]
