"""`scripts/try` in its quick mode (the debug binary instead of the image), so the try-out
newcomers run first never rots: every action's section, each pipe call succeeding."""

import subprocess
import sys

from pipe import BINARY, REPO_ROOT, strip_ansi


def test_the_try_out_shows_every_action():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "try.py"), "--binary", str(BINARY)],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
    )
    output = strip_ansi(done.stdout)
    assert done.returncode == 0, output + done.stderr
    for section in ["1. trust-policy", "2. assume-role", "3. assume-role", "4. ecs-deploy", "5. lambda-deploy",
                    "6. ecr-push: not available"]:
        assert f"=== {section}" in output, section
    assert '"trust_policy"' in output
    assert "✔ Deployed web:2 to web" in output and "event: (service web) has reached a steady state." in output
    assert "✔ Deployed api (new code): version 1, alias live" in output
    assert "try-external-id" not in output
    assert "Exit codes: [0, 0, 0, 0, 0]" in output
