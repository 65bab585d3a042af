"""The benchmark's smoke mode, so the script never rots: every section is measured (tiny sizes,
one run) with the test binary and image, and BENCHMARKS.md is written in full. No timing is
asserted: machines are noisy; bench/run reports the real figures.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.container


def test_benchmark_smoke_mode_measures_every_section(tmp_path):
    image = os.environ.get("PIPE_IMAGE")
    assert image, "PIPE_IMAGE is not set: run test/run, which builds the image with scripts/build-image"
    binary = os.environ.get("PIPE_BINARY", str(ROOT / "target" / "debug" / "aws-role-deploy"))
    output = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench.py"), "--smoke", "--binary", binary, "--image", image,
         "--output", str(output)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = output.read_text()
    assert "SMOKE MODE" in report
    for heading in ("## Machine", "## Targets", "## A deploy, side by side", "## CPU per AWS call",
                    "## Waiting on the frontier", "## Waiting on the frontier: ECR scan",
                    "## Waiting on the frontier: Lambda", "## Waiting on the frontier: CodeDeploy", "## Step overhead",
                    "## What each client costs", "## Method", "## Rerun"):
        assert heading in report, heading

    # Each tool deployed and was measured: a wall time, and AWS calls counted from the emulator.
    tools = {}
    for line in report.splitlines():
        if re.match(r"\| \([abcd]\) ", line):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            tools[cells[0][:3]] = cells[1:]
    assert set(tools) == {"(a)", "(b)", "(c)", "(d)"}, report
    for name, (wall, own, rss, calls) in tools.items():
        assert re.match(r"\d+ \(", wall), (name, wall)
        assert re.match(r"-?\d+ \(", own), (name, own)
        assert int(calls.split()[0]) >= 3, (name, calls)  # assume, register, update at least
        if name != "(b)":
            assert re.match(r"\d+\.\d MB|\d+\.\d \(", rss), (name, rss)

    # The pipe's own figures: sizes, start-up, scaling, waiting, Lambda.
    for row in ("image, uncompressed", "image, compressed", "start → first AWS request", "pipe CPU per AWS call",
                "ECS calls per minute, blue/green deployment stuck for", "zipping", "peak RSS of the deploy",
                "image via the daemon / docker push", "image from its docker save archive / docker push",
                "peak RSS of the archive push", "detection delay, 1 service, pipe",
                "detection delay, 1 service, aws ecs wait services-stable", "ECS calls per minute of waiting, 2 services, pipe",
                "calls per wait, update of 0.5–2 s, 2 waits, pipe", "aws lambda wait function-updated-v2",
                "calls per minute of waiting, provisioned concurrency",
                "detection delay, ECR scan, pipe", "detection delay, ECR scan, aws ecr wait image-scan-complete",
                "scan calls per minute of waiting, ECR scan, pipe",
                "detection delay after AfterAllowTraffic at 100 %, CodeDeploy, pipe",
                "detection delay after Succeeded, CodeDeploy, aws deploy wait deployment-successful",
                "CodeDeploy calls per minute of waiting, CodeDeploy, pipe"):
        assert row in report, row
    scaling = re.findall(r"^\| (\d+) \| [\d.]+ \| [\d.]+ / [\d.]+ \| [\d.]+ \| (\d+) \| [\d.]+ \| (\d+) \| \d+ \|$", report,
                         re.M)
    assert [int(n) for n, _, _ in scaling] == [1, 3, 5], report
    # More services, more calls (one UpdateService each), but batched reads.
    assert int(scaling[-1][1]) > int(scaling[0][1])
    # The emulator keeps connections alive and the pipe reuses them: fewer connections than calls.
    assert all(int(connections) < int(calls) for _, calls, connections in scaling), scaling

    # Every missed target is explained in "Targets missed, and why", and none by a placeholder:
    # at the least, the run says what it measured and that the cause was not measured.
    missed = re.findall(r"^\| ✖ \| (.+?) \| .+ \| .+ \|$", report, re.M)
    for name in missed:
        assert re.search(rf"^- \*\*{re.escape(name)}\*\*: \S", report, re.M), name
    assert "not explained yet" not in report
