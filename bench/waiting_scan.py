"""Waiting on the frontier, ECR's image scan (issue 23: "same care for the scan wait"): ecr-push's
SCAN_FAIL_ON wait side by side with `aws ecr wait image-scan-complete`, in one run, on scans that
finish at many wall-clock moments.

Every scan runs on the emulator's clock (test/emulator/ecr_scan.py, "Scans on the clock"): a basic
scan IN_PROGRESS from the first call that names the image (the push's end: a pusher asks right
after it) until C seconds later, when ECR records it COMPLETE. C is drawn per image (seeded) from
a range of basic scans (AWS gives no estimate; users report tens of seconds to minutes, see
ecr_scan.py), so the completions fall at moments no poll schedule can be lucky about; all waits of
both tools run at once, so one run measures both on the same machine state.

- The pipe: a whole ecr-push per image (OIDC, a promotion of a seeded tag: BatchGetImage and
  PutImage, then the scan gate with SCAN_FAIL_ON), at its real pace (no
  AWS_ROLE_DEPLOY_TEST_TIME_SCALE).
- The CLI: `aws ecr wait image-scan-complete` on the image's digest (botocore's ImageScanComplete
  waiter: DescribeImageScanFindings every 5 s, done at COMPLETE). It has no acceptor for
  ScanNotFoundException (its first look right after a push fails the wait) nor for enhanced
  scanning's ACTIVE (it waits until it gives up: aws/aws-sdk#288), so the scans here are basic and
  exist from the first look; the pipe handles both.

Detection delay: from the moment ECR completed the scan to the tool's DescribeImageScanFindings
that first answered COMPLETE (the emulator's request log: when the request came in). Calls per
minute: the tool's scan calls for the image (DescribeImageScanFindings, StartImageScan) up to that
look, over the time from the scan's start to that look. Real seconds, no time scaling.
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

SECTION = "Waiting on the frontier: ECR scan"
REPOSITORY = "bench/scanned"
# Scans per tool, and the range of their durations in seconds.
FULL = {"scans": 30, "complete": (10.0, 120.0), "stagger": 0.5}
SMOKE = {"scans": 2, "complete": (2.0, 5.0), "stagger": 0.0}
# Issue 23's targets, as for ECS.
TARGET_DELAY_S = 2.0
TARGET_CALLS = 15.0
SCAN_CALLS = ("DescribeImageScanFindings", "StartImageScan")
CLI = "aws ecr wait image-scan-complete"


def _plan(sizes, seed=23):
    """[(tool, index, seconds to complete)], the tools taking turns (each scan its own draw)."""
    rng = random.Random(seed)
    return [(tool, index, rng.uniform(*sizes["complete"])) for index in range(sizes["scans"])
            for tool in ("pipe", "cli")]


def _seed(ecr, plans):
    """One single-platform image per scan, tagged `<tool>-<index>`: {(tool, index): digest}."""
    from emulator.ecr_scenario import OCI_MANIFEST, _manifest, _put

    ecr.create_repository(repositoryName=REPOSITORY, imageScanningConfiguration={"scanOnPush": True})
    return {(tool, index): _put(ecr, REPOSITORY, _manifest(f"{tool} {index} {time.time()}"), OCI_MANIFEST,
                                tag=f"{tool}-{index}")
            for tool, index, _ in plans}


def measure(base_url, binary, smoke=False):
    """Every scan of both tools waited on at once; returns the section's rows."""
    return rows(results(base_url, binary, smoke))


def results(base_url, binary, smoke=False):
    """[(tool, delay s, calls per minute, calls)], one per scan."""
    from emulator.client import Emulator
    from emulator.scenario import client_for
    from pipe import ACCOUNT, REGION, TIME_SCALE, Scenario

    sizes = SMOKE if smoke else FULL
    plans = _plan(sizes)
    emu = Emulator(base_url)
    emu.reset()
    user = emu.create_user(ACCOUNT, "bench-scans")
    digests = _seed(client_for(emu, "ecr", user), plans)
    emu.ecr_scan(findings=[], images={digests[tool, index]: {"timed": {"complete_s": seconds}}
                                      for tool, index, seconds in plans})
    aws = Path(sys.executable).parent / "aws"
    with tempfile.TemporaryDirectory() as tmp:
        step = Scenario(emu, tmp)
        cli_env = {**os.environ, "AWS_ACCESS_KEY_ID": user["access_key_id"],
                   "AWS_SECRET_ACCESS_KEY": user["secret_access_key"], "AWS_DEFAULT_REGION": REGION,
                   "AWS_CONFIG_FILE": os.path.join(tmp, "none"), "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "none")}
        procs = []
        for tool, index, _ in plans:
            # Started a moment apart: sixty clients connecting at once overflow the emulator's
            # listen queue (dropped SYNs, retried a second or more later). Each scan's clock
            # starts at its tool's first look, so the stagger moves no completion.
            time.sleep(sizes["stagger"])
            if tool == "pipe":
                env = step.env(ACTION="ecr-push", ECR_REPOSITORY=REPOSITORY, SOURCE_TAG=f"pipe-{index}",
                               TAGS=f"promoted-{index}", SCAN_FAIL_ON="CRITICAL", WAIT_TIMEOUT="400", DEBUG="false",
                               BITBUCKET_PIPE_SHARED_STORAGE_DIR=os.path.join(tmp, f"out-{index}"),
                               AWS_ATTEMPT_TIMEOUT=None, AWS_MAX_ATTEMPTS=None, **{TIME_SCALE: None})
                argv = [binary]
            else:
                env = cli_env
                argv = [str(aws), "--endpoint-url", base_url, "ecr", "wait", "image-scan-complete",
                        "--repository-name", REPOSITORY, "--image-id", f"imageDigest={digests[tool, index]}"]
            procs.append(subprocess.Popen(argv, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        for proc, (tool, index, _) in zip(procs, plans):
            output, _ = proc.communicate(timeout=900)
            if proc.returncode:
                raise SystemExit(f"{tool} waiting on scan {index} failed (exit {proc.returncode}):\n"
                                 f"{output.decode()[-2000:]}")
    scans = {scan["digest"]: scan for scan in emu.ecr_scans()}
    calls = [r for r in emu.requests(service="ecr") if r["action"] in SCAN_CALLS]
    found = []
    for tool, index, _ in plans:
        digest = digests[tool, index]
        scan = scans[digest]
        if scan["completed_at"] is None:
            raise SystemExit(f"scan {tool}-{index} never completed on the emulator's clock")
        mine = [r for r in calls if (r.get("params") or {}).get("imageId", {}).get("imageDigest") == digest]
        ended = next(r["time"] for r in mine if r.get("scan") == "COMPLETE")
        made = [r for r in mine if r["time"] <= ended]
        minutes = (ended - scan["started_at"]) / 60
        found.append((tool, ended - scan["completed_at"], len(made) / minutes, len(made)))
    return found


def rows(found):
    """Median detection delay and calls per minute, pipe and CLI."""
    out = []
    count = len(found) // 2
    for tool, label in (("pipe", "pipe"), ("cli", CLI)):
        delays = [delay for t, delay, _, _ in found if t == tool]
        rates = [rate for t, _, rate, _ in found if t == tool]
        delay, rate = statistics.median(delays), statistics.median(rates)
        what = f"ECR scan, {label}, {count} scans"  # as _name() spells it
        # The mean too: it moves less with where the drawn completions fall between looks.
        spread = f"{delay:.1f} s (mean {statistics.mean(delays):.1f}, range {min(delays):.1f}–{max(delays):.1f})"
        if tool == "pipe":
            out.append(Row(SECTION, f"detection delay, {what} (median)", spread, f"≤ {TARGET_DELAY_S:.0f} s",
                           delay <= TARGET_DELAY_S))
            # Compared as shown: the pipe keeps its budget from when its wait began, a few ms
            # before its first look came in, where the wait is measured from here.
            out.append(Row(SECTION, f"scan calls per minute of waiting, {what} (median)",
                           f"{rate:.1f} (max {max(rates):.1f})", f"≤ {TARGET_CALLS:.0f}",
                           round(max(rates), 1) <= TARGET_CALLS))
        else:
            out.append(Row(SECTION, f"detection delay, {what} (median)", spread))
            out.append(Row(SECTION, f"scan calls per minute of waiting, {what} (median)",
                           f"{rate:.1f} (max {max(rates):.1f})"))
    return out


def _name(measure, tool="pipe", sizes=FULL):
    return f"{measure}, ECR scan, {tool}, {sizes['scans']} scans (median)"


# Why a target is missed (bench.py shows it only when the run misses it): the pace sits on the
# target's own point, so a full run reads either side of it by chance.
MISSED = {
    _name("detection delay"): (
        "the scan wait spends its 15 calls a minute evenly, a look every 4 s, because a scan shows no "
        "progress that would say where its end is near (IN_PROGRESS until it ends); an end at a moment "
        "nothing predicts is noticed half a pause late on average, so 15 calls a minute is a 2 s median "
        "exactly, the target's own value. The median of 30 such delays depends on where the seeded "
        "completions fall between looks: replaying the pipe's schedule (0, 8, 12, 16 ... s) against 200 "
        "seeds of this draw, 90% of the medians lie between 1.4 and 2.5 s (this seed's: 2.3 s; the CLI's "
        "5 s schedule: 1.9 to 3.2 s, this seed's 3.3 s), so the mean beside it says more. A lower median "
        "would need more calls a minute, or a sign of the end that ECR does not give."
    ),
    _name("scan calls per minute of waiting"): (
        "the pipe keeps 15 calls a minute counted from when its wait began; measured here from when its "
        "first look came in, which on a loaded machine comes later (the pause after it is then shorter, "
        "as the budget allows), so the figure reads above 15 by that lag. Compare the median."
    ),
}


def section():
    """BENCHMARKS.md's section on how the ECR scan rows of "Targets" are measured (markdown)."""
    return "\n".join([
        f"ecr-push's scan wait (`SCAN_FAIL_ON`) against `{CLI}` (botocore's",
        f"ImageScanComplete waiter: DescribeImageScanFindings every 5 s), in one run: {FULL['scans']} scans for",
        "each tool, all at once, on the emulator's clock: each basic scan is IN_PROGRESS from the",
        f"tool's first look (the push's end) until C seconds later (C from {FULL['complete'][0]:.0f} to "
        f"{FULL['complete'][1]:.0f} s, drawn per",
        "scan), then ECR records it COMPLETE. Real seconds, no time scaling.",
        "",
        "- Detection delay: from ECR completing the scan to the tool's DescribeImageScanFindings",
        "  that first answered COMPLETE (the emulator's request log); median over the scans, with",
        "  the mean, which moves less with where the seeded completions fall between looks.",
        "- Calls per minute: the tool's scan calls for the image up to that look, over the time",
        "  from the scan's start; the pipe's target is the maximum over its scans.",
        "- The pipe spends the budget evenly (src/actions/ecr/scan/wait.rs): a look at once (an",
        "  image pushed before was scanned then), the next 8 s on, then one every 4 s. A scan shows",
        "  no progress while it runs, so no schedule can notice the end sooner for the same calls:",
        "  15 calls a minute is a 2 s median delay, the target's own point; the CLI's 5 s is 12",
        "  calls a minute and 2.5 s.",
        "- Not compared: the CLI waiter fails at once on ScanNotFoundException (a scan not there",
        "  yet right after a push) and never ends on enhanced scanning's ACTIVE (aws/aws-sdk#288);",
        "  the pipe waits through the first and ends on the second, at the same pace.",
    ])


if __name__ == "__main__":
    # bench/waiting_scan.py BINARY [--smoke]: this section alone, against a fresh emulator.
    from emulator.client import running_emulator
    from report import print_rows

    with running_emulator() as url:
        started = time.monotonic()
        found = measure(url, os.path.abspath(sys.argv[1]), smoke="--smoke" in sys.argv)
    print_rows(found)
    print(f"({time.monotonic() - started:.0f} s)")
