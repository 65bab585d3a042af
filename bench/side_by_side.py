"""assume-role plus an ECS deploy (register + update, no wait), side by side, against one
emulator: the pipe binary, the pipe image under `docker run` the way Bitbucket runs it, three AWS
CLI v1 invocations (what shell-script pipes do), and a boto3 script (what the Python pipes do).

Every tool registers the same task-definition file and points the same service at it. Wall time
is from spawning the tool to its exit (the emulator's answers included, the same for all); peak
RSS is GNU time's maximum resident set of the tool's process (for the CLI: the largest of its three
invocations; for the image: not measurable from outside the container, the process inside is the
same binary as (a)).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = ROOT / ".venv" / "bin"

# A plain Fargate task definition every tool accepts (the CLI validates fields it knows).
TASK_DEFINITION = {
    "family": "web",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [{
        "name": "app",
        "image": "repo/app:2",
        "essential": True,
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
    }],
}


@dataclass
class Sample:
    wall_ms: float
    rss_mb: float | None
    calls: int
    # The emulator's own handling of the tool's requests (its request log's handled_ms): what
    # real AWS would replace with its own latency, the same for every tool.
    emulator_ms: float

    @property
    def own_ms(self):
        return self.wall_ms - self.emulator_ms


@dataclass
class Tool:
    name: str
    samples: list

    def stat(self, field):
        """(median, min, max) of a Sample field or property; None when not measured."""
        values = [getattr(s, field) for s in self.samples if getattr(s, field) is not None]
        if not values:
            return None
        return statistics.median(values), min(values), max(values)


def _timed(argv, env, cwd, report):
    """Run argv under GNU time; (exit code, wall ms, peak RSS MB, output)."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-a", "-o", report, *argv], env=env, cwd=cwd,
                          capture_output=True, text=True)
    wall = (time.perf_counter() - started) * 1000
    peaks = [int(line) for line in Path(report).read_text().split() if line.isdigit()]
    Path(report).unlink()
    return done.returncode, wall, max(peaks) / 1024 if peaks else None, done.stdout + done.stderr


class Deploy:
    """One emulator scenario (OIDC provider, role, token, cluster, service) shared by the tools."""

    def __init__(self, emulator, workdir):
        sys.path.insert(0, str(ROOT / "test"))
        from emulator.ecs_scenario import ecs_fixture
        from pipe import Scenario

        emulator.reset()
        self.emulator = emulator
        self.workdir = Path(workdir)
        self.step = Scenario(emulator, self.workdir)
        self.ecs = ecs_fixture(emulator, cluster="prod", services=["web"])
        self.clone_dir = self.step.clone_dir
        (self.clone_dir / "taskdef.json").write_text(json.dumps(TASK_DEFINITION))
        self.token_file = self.workdir / "token"
        self.token_file.touch(mode=0o600)
        self.token_file.write_text(self.step.token)
        self.home = self.workdir / "home"
        self.home.mkdir()

    def pipe_env(self):
        from measures import AS_IN_THE_IMAGE

        return self.step.env(ACTION="ecs-deploy", CLUSTER_NAME="prod", SERVICE_NAME="web",
                             TASK_DEFINITION="taskdef.json", WAIT="false", DEBUG="false", **AS_IN_THE_IMAGE)

    def alternative_env(self):
        return {
            "PATH": f"{VENV_BIN}:/usr/bin:/bin",
            "HOME": str(self.home),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(self.home / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "none"),
            "ROLE_ARN": self.step.role_arn,
            "TOKEN_FILE": str(self.token_file),
            "TASK_DEFINITION_FILE": str(self.clone_dir / "taskdef.json"),
            "CLUSTER": "prod",
            "SERVICE": "web",
            "ENDPOINT": self.emulator.base_url,
        }

    def measure(self, name, run_once, runs):
        samples = []
        for _ in range(runs):
            before = len(self.emulator.requests())
            code, wall, rss, output = run_once()
            if code != 0:
                raise SystemExit(f"{name}: the deploy failed (exit {code}):\n{output[-2000:]}")
            made = self.emulator.requests()[before:]
            samples.append(Sample(wall, rss, len(made), sum(record["handled_ms"] for record in made)))
        # Each tool registered a revision and pointed the service at it: check the last one did.
        service = self.ecs.client("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
        if not service["taskDefinition"].startswith(self.ecs.task_definition_arn.rsplit(":", 1)[0]):
            raise SystemExit(f"{name}: the service was not updated ({service['taskDefinition']})")
        return Tool(name, samples)


def run_all(emulator, binary, image, runs):
    """Measure each tool `runs` times; returns the list of Tools (the image only if given)."""
    tools = []
    with tempfile.TemporaryDirectory() as workdir:
        deploy = Deploy(emulator, workdir)
        report = os.path.join(workdir, "rss")

        def pipe_binary():
            return _timed([binary], deploy.pipe_env(), deploy.clone_dir, report)

        tools.append(deploy.measure("(a) pipe binary", pipe_binary, runs))

        if image:
            sys.path.insert(0, str(ROOT / "test"))
            from bitbucket import docker_runner

            ssh_dir = Path(workdir) / "ssh"
            ssh_dir.mkdir()
            runner = docker_runner(image, ssh_dir)

            def pipe_image():
                started = time.perf_counter()
                result = runner(deploy.pipe_env(), cwd=str(deploy.clone_dir), outputs_dir=deploy.step.outputs_dir)
                return result.code, (time.perf_counter() - started) * 1000, None, result.output

            tools.append(deploy.measure("(b) pipe image, docker run", pipe_image, runs))

        cli_script = str(BENCH / "alternatives" / "aws_cli_deploy.sh")

        def aws_cli():
            return _timed(["sh", cli_script], deploy.alternative_env(), workdir, report)

        if shutil.which("aws", path=str(VENV_BIN)):
            tools.append(deploy.measure("(c) AWS CLI v1, three invocations", aws_cli, runs))
        else:
            raise SystemExit(f"the AWS CLI is not in {VENV_BIN}: run scripts/dev-setup")

        boto3_script = str(BENCH / "alternatives" / "boto3_deploy.py")

        def boto3_run():
            return _timed([str(VENV_BIN / "python"), boto3_script], deploy.alternative_env(), workdir, report)

        tools.append(deploy.measure("(d) boto3 script", boto3_run, runs))
    return tools
