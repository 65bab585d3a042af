"""`scripts/try` in its quick mode (the debug binary instead of the image), so the try-out
newcomers run first never rots: every action's section, each pipe call succeeding but the two
meant to fail (a Lambda canary stopped by an alarm, a push stopped by the scan gate). Its ecr-push
sections need the local registry (test/registry.py): without one the try-out fails, and so does
this test; it is never skipped. The image mode (as `scripts/try` runs by default) is a container
test."""

import os
import re
import subprocess
import sys

import pytest

from pipe import BINARY, REPO_ROOT, strip_ansi


def test_the_try_out_shows_every_action():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "try.py"), "--binary", str(BINARY)],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
    )
    output = strip_ansi(done.stdout)
    assert done.returncode == 0, output + done.stderr
    for section in ["1. trust-policy", "2. assume-role", "3. assume-role", "4. ecs-deploy", "5. rollback",
                    "6. lambda-deploy", "7. rollback", "8. lambda-deploy: a linear shift stopped by an alarm",
                    "9. ecr-push: an image archive", "10. ecr-push: that image promoted",
                    "11. ecr-push with SCAN_FAIL_ON: HIGH"]:
        assert f"=== {section}" in output, section
    assert '"trust_policy"' in output
    assert "✔ Deployed web:2 to web" in output and "event: (service web) has reached a steady state." in output
    assert "✔ Rolled back web from web:2 to web:1" in output
    assert "✔ Deployed api (new code): version 2, alias live" in output
    assert "✔ Rolled back alias live of api from version 2 to version 1" in output
    # The Code Insights report each deployment left, as the fake proxy received it.
    assert "  ECS deploy to prod: PASSED" in output and "  Services: web: COMPLETED (SUCCESSFUL)" in output
    assert "  Lambda deploy of api: PASSED" in output and "  Version: 2" in output
    assert "  Lambda rollback of api: PASSED" in output and "  Version: 1" in output
    # The canary: new code shifted 10% a minute, the alarm going off at 30%, the alias put back.
    canary = output.split("=== 8. lambda-deploy", 1)[1].split("=== 9.", 1)[0]
    for percent in (10, 20, 30):
        assert f"Alias live: {percent}% to version 3, {100 - percent}% to version 1" in canary, canary
    assert "40% to version" not in canary, canary
    assert "✖ Alarm api-errors went to ALARM during the traffic shift of alias live: Threshold Crossed" in canary
    assert "The alias live is back on version 1 with no weights" in canary
    assert "AWS_ROLE_DEPLOY_STATE='PARTIAL'" in canary and "  Lambda deploy of api: FAILED" in canary
    assert '"ecr:GetAuthorizationToken"' in output and '"ecr:CreateRepository"' in output
    pushed = re.search(r"✔ Pushed (127\.0\.0\.1:\d+/team/web@sha256:[0-9a-f]{64}) as sha-[0-9a-f]{7}, latest", output)
    assert pushed, output
    assert f"✔ Tagged {pushed[1]} as prod" in output, "the pushed image, promoted"
    assert "HIGH CVE-2024-2511 openssl 3.0.2 (fixed in 3.0.13)" in output
    assert "at or above SCAN_FAIL_ON (HIGH)" in output and "stays pushed" in output
    # The SECURITY report that push left: counts, and the findings as annotations.
    assert "  ECR scan of team/api:sha-" in output and ": FAILED" in output and "  High: 1" in output
    assert "  [HIGH] CVE-2024-2511 (HIGH) in openssl 3.0.2 fixed in 3.0.13" in output
    assert "Exit codes: [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1]\n" in output + "\n", \
        "the alarm's stop of the canary and the scan gate's stop are the expected failures"
    assert "not available" not in output
    assert "try-external-id" not in output


def test_the_try_out_fails_loudly_without_its_registry(tmp_path):
    """No htpasswd on PATH (scripts/dev-setup not run): the registry cannot start, and the
    try-out says so and fails instead of leaving ecr-push out."""
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "try.py"), "--binary", str(BINARY)],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env={"PATH": str(tmp_path)},
    )
    output = strip_ansi(done.stdout)
    assert done.returncode == 1, output + done.stderr
    assert "=== 9. ecr-push: FAILED, the local registry did not start" in output, output + done.stderr
    assert "run scripts/dev-setup" in output
    assert "Exit codes: [0, 0, 0, 0, 0, 0, 0, 1, 1] (expected [0, 0, 0, 0, 0, 0, 0, 1, 0])" in output


@pytest.mark.container
def test_the_try_out_in_the_image(authentication_proxy_port):
    """`scripts/try` without --quick: the image, run the way Bitbucket runs it (PIPE_IMAGE). The
    try-out serves the fake authentication proxy on the port the fixture holds."""
    image = os.environ.get("PIPE_IMAGE")
    assert image, "PIPE_IMAGE is not set: run test/run, which builds the image with scripts/build-image"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "try.py"), "--image", image],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
    )
    output = strip_ansi(done.stdout)
    assert done.returncode == 0, output + done.stderr
    assert "Exit codes: [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1]\n" in output + "\n"
    pushed = re.search(r"✔ Pushed (127\.0\.0\.1:\d+/team/web@sha256:[0-9a-f]{64}) as sha-[0-9a-f]{7}, latest", output)
    assert pushed and f"✔ Tagged {pushed[1]} as prod" in output, output
    assert f"port {authentication_proxy_port} is taken" not in output, "the reports went unseen"
