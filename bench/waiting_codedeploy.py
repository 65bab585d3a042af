"""Waiting on the frontier, CodeDeploy (issue 23: "same care for the CodeDeploy wait"): ecs-deploy's
follow of a CODE_DEPLOY service's deployment side by side with `aws deploy wait
deployment-successful`, in one run, on deployments whose phases end at many wall-clock moments.

Every deployment runs on the emulator's clock (test/emulator/codedeploy_clock.py): InProgress
S seconds after CreateDeployment, Install (the replacement task set starting and passing its
health checks) for I seconds, the other lifecycle events E seconds each, AfterAllowTraffic A
seconds (a hook, or none); then the original task set is kept for the termination wait T and
removed in F, and the deployment reads Succeeded. I, E, A, T and F are drawn per deployment
(seeded), so the ends fall at moments no poll schedule can be lucky about; all deployments of both
tools run at once, one service and deployment group each (a group runs one deployment at a time).
All at once (CodeDeployDefault.ECSAllAtOnce): a canary's 5-minute bake would make the run that
much longer, and the pipe looks every 10 s while it bakes, every 2 s once its last step is near.

- The pipe: a whole ecs-deploy per deployment (OIDC, DescribeServices, GetDeploymentGroup,
  register, CreateDeployment, follow), at its real pace (no AWS_ROLE_DEPLOY_TEST_TIME_SCALE). Its
  step ends when AfterAllowTraffic succeeded with all traffic on the replacement (docs/ecs-codedeploy.md):
  the termination wait is CodeDeploy's, the step does not wait it out.
- The CLI: the bench creates the deployment (boto3), then `aws deploy wait deployment-successful`
  (GetDeployment every 15 s until Succeeded), which waits out the termination wait too.

Each tool is measured from its own end: the pipe's detection delay from the moment
AfterAllowTraffic succeeded (`traffic_moved_at`) to its last CodeDeploy call for the deployment,
the CLI's from the moment the deployment read Succeeded (`completed_at`) to its last
GetDeployment (the emulator's request log: when the request came in). Calls per minute: the
tool's calls naming the deployment, over the time from CreateDeployment to that last call.
"""

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import Row

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "test"))

SECTION = "Waiting on the frontier: CodeDeploy"
CLUSTER = "bench-cd"
# Deployments per tool; the phases' ranges in seconds (see the docstring).
FULL = {"deployments": 12, "start": (1.0, 3.0), "install": (20.0, 60.0), "event": (0.5, 3.0),
        "after_allow": (1.0, 15.0), "termination": (5.0, 20.0), "finish": (1.0, 5.0), "stagger": 0.2,
        "scale": None, "cli_after_end": False}
# The smoke run proves the script works within seconds: the pipe at the tests' pace
# (AWS_ROLE_DEPLOY_TEST_TIME_SCALE) and the CLI started once its deployment ended (its first
# look ends it, instead of its second, 15 s on).
SMOKE = {"deployments": 1, "start": (0.5, 1.0), "install": (1.0, 2.0), "event": (0.1, 0.2),
         "after_allow": (0.2, 0.5), "termination": (0.5, 1.0), "finish": (0.2, 0.5), "stagger": 0.0,
         "scale": "10", "cli_after_end": True}
# Issue 23's targets, as for ECS.
TARGET_DELAY_S = 2.0
TARGET_CALLS = 15.0
CLI = "aws deploy wait deployment-successful"


def _plan(sizes, seed=23):
    """[(tool, index, timed script, termination wait s)], the tools taking turns."""
    rng = random.Random(seed)
    plans = []
    for index in range(sizes["deployments"]):
        for tool in ("pipe", "cli"):
            timed = {"start_s": rng.uniform(*sizes["start"]), "event_s": rng.uniform(*sizes["event"]),
                     "events": {"Install": rng.uniform(*sizes["install"]),
                                "AfterAllowTraffic": rng.uniform(*sizes["after_allow"])},
                     "finish_s": rng.uniform(*sizes["finish"])}
            plans.append((tool, index, timed, rng.uniform(*sizes["termination"])))
    return plans


def _lasts(timed, termination):
    """Seconds from CreateDeployment to Succeeded: the six events of event_s, Install and
    AfterAllowTraffic their own, the termination wait and the original's removal."""
    return (timed["start_s"] + 6 * timed["event_s"] + sum(timed["events"].values()) + termination
            + timed["finish_s"])


def results(base_url, binary, smoke=False):
    """[(tool, delay s, calls per minute, calls)], one per deployment."""
    from emulator.client import Emulator
    from emulator.codedeploy_scenario import codedeploy_fixture
    from pipe import TIME_SCALE, Scenario

    sizes = SMOKE if smoke else FULL
    plans = _plan(sizes)
    emu = Emulator(base_url)
    emu.reset()
    aws = Path(sys.executable).parent / "aws"
    with tempfile.TemporaryDirectory() as tmp:
        step = Scenario(emu, tmp)
        fixtures = {}
        for tool, index, timed, termination in plans:
            scn = codedeploy_fixture(emu, cluster=CLUSTER, service=f"{tool}{index}")
            scn.next_deployment(timed=timed, termination_wait=termination)
            fixtures[tool, index] = scn
        procs, waiters, ends = [], [], []
        for tool, index, timed, termination in plans:
            scn = fixtures[tool, index]
            # Started a moment apart: many clients connecting at once overflow the emulator's
            # listen queue. Each deployment's clock starts at its CreateDeployment.
            time.sleep(sizes["stagger"])
            if tool == "pipe":
                env = step.env(ACTION="ecs-deploy", CLUSTER_NAME=CLUSTER, SERVICE_NAME=scn.service,
                               IMAGE="repo/app:2", WAIT_TIMEOUT="600", DEBUG="false",
                               BITBUCKET_PIPE_SHARED_STORAGE_DIR=os.path.join(tmp, f"out-{index}"),
                               AWS_ATTEMPT_TIMEOUT=None, AWS_MAX_ATTEMPTS=None, **{TIME_SCALE: sizes["scale"]})
                procs.append(subprocess.Popen([binary], env=env, cwd=tmp, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT))
                continue
            did = scn.create_deployment(scn.register_revision(image_tag="2"))
            ends.append(time.monotonic() + _lasts(timed, termination))
            env = {**os.environ, **scn.env(), "AWS_DEFAULT_REGION": scn.region,
                   "AWS_CONFIG_FILE": os.path.join(tmp, "none"), "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "none")}
            argv = [str(aws), "--endpoint-url", base_url, "deploy", "wait", "deployment-successful",
                    "--deployment-id", did]
            if sizes["cli_after_end"]:
                waiters.append((argv, env))
            else:
                procs.append(subprocess.Popen(argv, env=env, cwd=tmp, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT))
        if waiters:
            time.sleep(max(0.0, max(ends) + 0.2 - time.monotonic()))
            procs += [subprocess.Popen(argv, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                      for argv, env in waiters]
        # The order the processes were started in.
        order = [plan for plan in plans if plan[0] == "pipe" or not waiters]
        order += [plan for plan in plans if plan[0] == "cli" and waiters]
        for proc, (tool, index, _, _) in zip(procs, order):
            output, _ = proc.communicate(timeout=900)
            if proc.returncode:
                raise SystemExit(f"{tool} waiting on deployment {index} failed (exit {proc.returncode}):\n"
                                 f"{output.decode()[-2000:]}")
    deployments = {d["application"]: d for d in emu.codedeploy_deployments()["deployments"]}
    calls = emu.requests(service="codedeploy")
    found = []
    for tool, index, _, _ in plans:
        deployment = deployments[fixtures[tool, index].application]
        end = deployment["traffic_moved_at"] if tool == "pipe" else deployment["completed_at"]
        if end is None or deployment["status"] in ("Failed", "Stopped"):
            raise SystemExit(f"deployment {tool}{index} never reached its end on the emulator's clock: {deployment}")
        mine = [r["time"] for r in calls if (r.get("params") or {}).get("deploymentId") == deployment["id"]]
        if tool == "cli":  # the bench's own reads (none) are not the waiter's; its GetDeployments are
            mine = [r["time"] for r in calls if (r.get("params") or {}).get("deploymentId") == deployment["id"]
                    and r["action"] == "GetDeployment"]
        last = max(mine)
        minutes = (last - deployment["created_at"]) / 60
        found.append((tool, last - end, len(mine) / minutes, len(mine)))
    return found


def measure(base_url, binary, smoke=False):
    """Every deployment of both tools followed at once; returns the section's rows."""
    return rows(results(base_url, binary, smoke))


def rows(found):
    """Median detection delay and calls per minute, pipe and CLI."""
    out = []
    count = len(found) // 2
    for tool, label, end in (("pipe", "pipe", "AfterAllowTraffic at 100 %"), ("cli", CLI, "Succeeded")):
        delays = [delay for t, delay, _, _ in found if t == tool]
        rates = [rate for t, _, rate, _ in found if t == tool]
        delay, rate = statistics.median(delays), statistics.median(rates)
        what = f"CodeDeploy, {label}, {count} deployments"
        spread = f"{delay:.1f} s (range {min(delays):.1f}–{max(delays):.1f})"
        if tool == "pipe":
            out.append(Row(SECTION, f"detection delay after {end}, {what} (median)", spread,
                           f"≤ {TARGET_DELAY_S:.0f} s", delay <= TARGET_DELAY_S))
            out.append(Row(SECTION, f"CodeDeploy calls per minute of waiting, {what} (median)",
                           f"{rate:.1f} (max {max(rates):.1f})", f"≤ {TARGET_CALLS:.0f}",
                           round(max(rates), 1) <= TARGET_CALLS))
        else:
            out.append(Row(SECTION, f"detection delay after {end}, {what} (median)", spread))
            out.append(Row(SECTION, f"CodeDeploy calls per minute of waiting, {what} (median)",
                           f"{rate:.1f} (max {max(rates):.1f})"))
    return out


def section():
    """BENCHMARKS.md's section on how the CodeDeploy rows of "Targets" are measured (markdown)."""
    return "\n".join([
        f"ecs-deploy's follow of a CODE_DEPLOY service against `{CLI}` (GetDeployment every",
        f"15 s until Succeeded), in one run: {FULL['deployments']} deployments for each tool, all at once, one",
        "service and deployment group each, on the emulator's clock (test/emulator/codedeploy_clock.py):",
        f"Install (the replacement task set starting) {FULL['install'][0]:.0f}–{FULL['install'][1]:.0f} s, "
        f"the other lifecycle events {FULL['event'][0]:.1f}–{FULL['event'][1]:.0f} s each,",
        f"AfterAllowTraffic {FULL['after_allow'][0]:.0f}–{FULL['after_allow'][1]:.0f} s, then the termination wait "
        f"({FULL['termination'][0]:.0f}–{FULL['termination'][1]:.0f} s) and the original's",
        f"removal ({FULL['finish'][0]:.0f}–{FULL['finish'][1]:.0f} s) before Succeeded; drawn per deployment, "
        "all at once (ECSAllAtOnce). Real seconds, no time scaling.",
        "",
        "- Each tool from its own end. The pipe's step ends when AfterAllowTraffic succeeded with all",
        "  traffic on the replacement: its delay runs from that moment to its last CodeDeploy call.",
        "  The CLI waits for Succeeded, after the termination wait the pipe does not wait out (the",
        "  group's terminationWaitTimeInMinutes, up to two days): its delay runs from Succeeded to its last",
        "  GetDeployment. The CLI's whole wait is longer by the termination wait besides.",
        "- Calls per minute: the tool's calls naming the deployment, over the time from",
        "  CreateDeployment to its last call; the pipe's target is the maximum over its deployments.",
        "- The pipe's pace (src/actions/ecs/codedeploy/pace.rs): a look is one call",
        "  (BatchGetDeploymentTargets: the lifecycle events and traffic hold the end), GetDeployment",
        "  only until the deployment starts, when the target's status changes or an event fails, and",
        "  once a minute (once in five while the end is near); every 10 s while Install runs, while a",
        "  deployment waits Ready, and during a canary's or linear shift's bake before its last step;",
        "  every 2 s after, within 15 calls a minute. Not in this run: a canary (5 minutes' bake at",
        "  least); the bake's 10 s looks are unit-tested (look.rs) and cost 6 calls a minute, so its",
        "  last step gets the saved calls.",
    ])


if __name__ == "__main__":
    # bench/waiting_codedeploy.py BINARY [--smoke]: this section alone, against a fresh emulator.
    from emulator.client import running_emulator
    from report import print_rows

    with running_emulator() as url:
        started = time.monotonic()
        found = results(url, os.path.abspath(sys.argv[1]), smoke="--smoke" in sys.argv)
        for tool, delay, rate, made in found:
            print(f"{tool}: delay {delay:.2f} s, {rate:.1f} calls/min ({made} calls)")
        print_rows(rows(found))
    print(f"({time.monotonic() - started:.0f} s)")
