"""Run the image twice against the emulator, as a Bitbucket step would: with the step's OIDC
token alone, then chaining into a role in a second account with an ExternalId. Prints what a
Bitbucket log would show, and the outputs file a later script line would source."""

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "test"))

from bitbucket import SocketForward, docker_runner  # noqa: E402
from emulator.client import Emulator, running_emulator  # noqa: E402
from pipe import Scenario  # noqa: E402


def show(title, result):
    print(f"\n=== {title} (exit code {result.code}) ===")
    print(result.output.rstrip())
    if result.env_file and result.env_file.exists():
        print(f"--- {result.env_file.name}, for later script lines ---")
        print(result.env_file.read_text().rstrip())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("variables", nargs="*", metavar="VAR=value", help="extra pipe variables")
    args = parser.parse_args()
    extra = dict(pair.split("=", 1) for pair in args.variables)

    with running_emulator() as base_url, tempfile.TemporaryDirectory() as tmp:
        forward = SocketForward()
        try:
            ssh_dir = Path(tmp) / "ssh"
            ssh_dir.mkdir()
            emulator = Emulator(base_url)
            emulator.reset()
            step = Scenario(emulator, tmp, runner=docker_runner(args.image, ssh_dir))
            first = step.run(**extra)
            show("OIDC: the step's token → role deploy", first)
            target = step.chained_role(external_id="try-external-id")
            chained = step.run(AWS_ROLE_ARN=target, AWS_EXTERNAL_ID="try-external-id", **extra)
            show("OIDC → role deploy → role target in a second account, with an ExternalId", chained)
        finally:
            forward.close()
    sys.exit(max(first.code, chained.code))


if __name__ == "__main__":
    main()
