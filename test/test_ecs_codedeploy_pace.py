"""The CodeDeploy follow's pace at its real speed (no AWS_ROLE_DEPLOY_TEST_TIME_SCALE), on a
deployment on the emulator's clock (codedeploy_clock.py): a look every 10 s while the replacement
task set starts (Install), looks 2 s apart after it, one call a look (the target) with
GetDeployment read only when the target cannot say enough, the step ended by the first look that
shows AfterAllowTraffic succeeded with all traffic moved, and no more calls than the budget (15 a
minute). Detection delays are measured by bench/run, not asserted here."""

from test_ecs_codedeploy import blue_green, deploy, pipe_calls  # noqa: F401  (blue_green: the fixture)

START_S, INSTALL_S, EVENT_S, AFTER_ALLOW_S = 1.0, 20.0, 0.5, 15.0


def test_the_follow_reads_the_target_and_looks_where_the_end_can_come(scenario, emulator, blue_green):
    blue_green.next_deployment(termination_wait=True, timed={
        "start_s": START_S, "event_s": EVENT_S, "events": {"Install": INSTALL_S, "AfterAllowTraffic": AFTER_ALLOW_S}})
    result = deploy(scenario, WAIT_TIMEOUT="120", AWS_ROLE_DEPLOY_TEST_TIME_SCALE=None, timeout=150)
    assert result.code == 0, result
    assert "AfterAllowTraffic Succeeded" in result.output, result

    [deployment] = emulator.codedeploy_deployments()["deployments"]
    assert deployment["status"] == "InProgress", "the termination wait is not waited out"
    [create] = pipe_calls(emulator, "CreateDeployment")
    calls = [c for c in pipe_calls(emulator) if c["time"] > create["time"]]
    looks = [c["time"] for c in calls if c["action"] == "BatchGetDeploymentTargets"]
    moved, created = deployment["traffic_moved_at"], deployment["created_at"]
    installed = created + START_S + EVENT_S + INSTALL_S
    # Ended on the first look that showed the traffic moved: no look after it.
    assert len([at for at in looks if at >= moved]) == 1, (looks, deployment)
    # While the replacement starts the looks are 10 s apart; after Install, closer.
    installing = [at for at in looks if at < installed]
    assert all(b - a >= 10 for a, b in zip(installing, installing[1:])), installing
    assert len([at for at in looks if installed <= at < moved]) >= 2, (looks, installed, moved)
    # The target is listed once; GetDeployment until it started and never again (nothing the
    # target showed asked for it, and the wait was under a minute).
    assert [c["action"] for c in calls].count("ListDeploymentTargets") == 1
    reads = [c["time"] for c in calls if c["action"] == "GetDeployment"]
    assert len(reads) <= 2 and all(at < looks[0] + 1 for at in reads), (reads, looks)
    # The budget: 15 calls a minute over the wait, with room kept for one look at its most (3).
    span = calls[-1]["time"] - create["time"]
    assert len(calls) <= 15 * span / 60 + 3, (len(calls), span)
