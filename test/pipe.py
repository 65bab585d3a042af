"""Run the pipe the way Bitbucket runs it, against the emulator, and read what it left behind.

    def test_smoke(scenario):                     # a provider, a role, a token, a base env
        result = scenario.run(DEBUG="true")       # overrides; None removes a variable
        assert result.code == 0, result
        assert result.outputs_env["AWS_ROLE_DEPLOY_ACCOUNT"] == ACCOUNT

How the pipe is started is a strategy: `Scenario(..., runner=...)` takes any callable
`runner(env, cwd=..., outputs_dir=..., timeout=...) -> Result`. `run_binary` starts the debug
binary; a container runner only has to map the same environment onto `docker run` and build
the same `Result` with `Result.collect`.

Secrets (the token, secret keys, ExternalId) only ever travel in the child's environment,
never in an argv. The child's environment is built from scratch: nothing of this machine's
environment reaches it except PATH.
"""

import json
import os
import re
import secrets as _random
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from emulator.client import bitbucket_audience, bitbucket_claims, bitbucket_issuer, web_identity_trust_policy
from emulator.leaks import find_leak, secrets_in_env

REPO_ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("PIPE_BINARY", REPO_ROOT / "target" / "debug" / "aws-role-deploy"))

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
REGION = "us-east-1"
TIME_SCALE = "AWS_ROLE_DEPLOY_TEST_TIME_SCALE"
ECS_PACE_SCALE = 10  # see Scenario.env
# The actions whose waits are paced, and the endpoint variable of the service they wait on.
PACED_ACTIONS = {"ecs-deploy": "AWS_ENDPOINT_URL_ECS", "rollback": "AWS_ENDPOINT_URL_ECS",
                 "ecr-push": "AWS_ENDPOINT_URL_ECR", "lambda-deploy": "AWS_ENDPOINT_URL_LAMBDA"}
WORKSPACE = "acme"
ISSUER = bitbucket_issuer(WORKSPACE)
ISSUER_HOST = ISSUER[len("https://"):]
ROLE_NAME = "deploy"
REPO_SLUG = "web-app"
REPO_FULL_NAME = "acme/web-app"
BUILD_NUMBER = "42"
SESSION_NAME = f"bitbucket-{REPO_SLUG}-{BUILD_NUMBER}"
TOKEN_LIFETIME = 600
ENV_FILE = "aws-role-deploy.env"
JSON_FILE = "aws-role-deploy.json"
OUTPUTS_PREFIX = "AWS_ROLE_DEPLOY_"
# A hung pipe fails its test instead of hanging the suite.
DEFAULT_TIMEOUT = 60
# The emulator of the running test (conftest sets it): every Result is scanned for the secrets
# it issued or saw, besides those of the run's environment.
SECRETS_SOURCE = None

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text):
    return _ANSI.sub("", text)


def braced(value):
    return value if value.startswith("{") else "{" + value + "}"


def new_uuid():
    return braced(str(uuid.uuid4()))


# ------------------------------------------------------------------------------------ results


@dataclass(repr=False)
class Result:
    """What one run of the pipe produced. `output` is stdout then stderr, ANSI stripped."""

    code: int
    stdout: str
    stderr: str
    outputs_dir: Path | None = None
    elapsed: float = 0.0
    env: dict = field(default_factory=dict, repr=False)

    @classmethod
    def collect(cls, code, stdout, stderr, outputs_dir=None, elapsed=0.0, env=None):
        decode = lambda data: data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        result = cls(code, decode(stdout), decode(stderr), outputs_dir and Path(outputs_dir), elapsed, env or {})
        result.check_invariants()
        result.check_no_secrets()
        return result

    # -- text

    @property
    def output(self):
        return strip_ansi(self.stdout) + strip_ansi(self.stderr)

    @property
    def lines(self):
        return self.output.splitlines()

    def lines_starting(self, prefix):
        return [line for line in self.lines if line.startswith(prefix)]

    @property
    def final_line(self):
        """The last non-empty line of the stream that carries the outcome: stdout on success,
        stderr on failure (the pipe writes `✔` to stdout and the `✖` block to stderr)."""
        stream = self.stdout if self.code == 0 else self.stderr
        lines = [line for line in strip_ansi(stream).splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def check_invariants(self):
        """Every run, whatever it tests: never a panic's exit code, one of the documented
        codes, and the last line is the outcome (`✔` on success, `✖` on failure)."""
        assert self.code != 101, f"the pipe panicked (exit 101)\n{self}"
        assert self.code in (0, 1, 2, 3, 143), f"undocumented exit code {self.code}\n{self}"
        marker = "✔" if self.code == 0 else "✖"
        assert self.final_line.startswith(marker), (
            f"the last line is not the outcome: expected a line starting with {marker!r} last, "
            f"got {self.final_line!r}\n{self}"
        )
        other = "✖" if self.code == 0 else "✔"
        assert not any(line.startswith(other) for line in self.lines), f"{other} line in a run with exit {self.code}\n{self}"

    def check_no_secrets(self):
        """Every run, whatever it tests (SIGTERM runs too): no secret of its environment (secret
        variables, proxy and endpoint passwords) nor any the emulator issued or saw (tokens, keys,
        the registry password), in any form (emulator/leaks.py), in stdout, stderr or the outputs
        files."""
        secrets = secrets_in_env(self.env)
        if SECRETS_SOURCE is not None:
            secrets += SECRETS_SOURCE.secrets()
        leak = find_leak(self.everything(), secrets)
        assert leak is None, f"secret leaked ({leak and leak[0]}): {leak and leak[1][:6]}... found in the run's output"

    # -- outputs files

    @property
    def env_file(self):
        return self.outputs_dir / ENV_FILE if self.outputs_dir else None

    @property
    def json_file(self):
        return self.outputs_dir / JSON_FILE if self.outputs_dir else None

    @property
    def outputs_env(self):
        """The env file as a later script line sees it: `source`d by bash, then the
        AWS_ROLE_DEPLOY_* variables. None when the file does not exist."""
        if not self.env_file or not self.env_file.exists():
            return None
        script = (
            'source "$1" || exit 99\n'
            'for name in ${!AWS_ROLE_DEPLOY_@}; do printf "%s=%s\\0" "$name" "${!name}"; done\n'
        )
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script, "bash", str(self.env_file)],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            capture_output=True,
            timeout=10,
        )
        assert done.returncode == 0, f"sourcing {self.env_file} failed: {done.stderr.decode()}"
        pairs = [item.split("=", 1) for item in done.stdout.decode().split("\0") if item]
        return dict(pairs)

    @property
    def outputs_json(self):
        if not self.json_file or not self.json_file.exists():
            return None
        return json.loads(self.json_file.read_text())

    def outputs_text(self):
        """Both outputs files as written (for secret scans); empty when absent."""
        return "".join(path.read_text() for path in (self.env_file, self.json_file) if path and path.exists())

    def everything(self):
        """Every byte the run left for a human or a later script: stdout, stderr, outputs files."""
        return self.stdout + self.stderr + self.outputs_text()

    def __repr__(self):
        return str(self)

    def __str__(self):
        return (
            f"exit {self.code} after {self.elapsed:.2f}s\n"
            f"--- stdout ---\n{strip_ansi(self.stdout)}--- stderr ---\n{strip_ansi(self.stderr)}--- end ---"
        )


# ------------------------------------------------------------------------------------ runners


def run_binary(env, cwd=None, outputs_dir=None, timeout=DEFAULT_TIMEOUT, binary=BINARY):
    """Start the binary with exactly `env` (secrets included: env, never argv)."""
    assert Path(binary).is_file(), f"{binary} is missing: run `cargo build` in {REPO_ROOT}"
    started = time.monotonic()
    try:
        done = subprocess.run([str(binary)], env=env, cwd=cwd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as hung:
        partial = Result(
            -1, (hung.stdout or b"").decode("utf-8", "replace"), (hung.stderr or b"").decode("utf-8", "replace")
        )
        raise AssertionError(f"the pipe did not finish within {timeout}s (killed)\n{partial}") from None
    return Result.collect(
        done.returncode, done.stdout, done.stderr, outputs_dir, time.monotonic() - started, env
    )


def terminate(process, within):
    """SIGTERM a running pipe (as Bitbucket does when a step is stopped) and wait `within` seconds
    for it to end. Returns its stdout, stderr (bytes) and the seconds it took after the signal;
    a pipe still running then is killed, and the test fails with what it printed."""
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = process.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"SIGTERM did not end the pipe within {within} s\n{Result(-1, stdout.decode(), stderr.decode())}"
        ) from None
    return stdout, stderr, time.monotonic() - signalled


# ------------------------------------------------------------------------------------ scenario


class Scenario:
    """A Bitbucket workspace/repository/step with OIDC set up in the emulator: a provider for
    the `acme` workspace in ACCOUNT, a role `deploy` admitting this repository, a fresh step
    token, and the environment Bitbucket would give the pipe."""

    def __init__(self, emulator, tmp_path, runner=run_binary, role_max_session_duration=3600):
        self.emulator = emulator
        self.runner = runner
        self.workspace_uuid = new_uuid()
        self.repo_uuid = new_uuid()
        self.step_uuid = new_uuid()
        self.pipeline_uuid = new_uuid()
        self.audience = bitbucket_audience(self.workspace_uuid)
        self.commit = _random.token_hex(20)
        self.clone_dir = Path(tmp_path) / "build"
        self.outputs_dir = self.clone_dir / ".bitbucket" / "pipelines" / "generated" / "pipeline" / "pipes"
        self.outputs_dir.mkdir(parents=True)
        self.provider_arn = emulator.create_oidc_provider(ACCOUNT, ISSUER, [self.audience])
        self.role_arn = emulator.create_role(
            ACCOUNT,
            ROLE_NAME,
            web_identity_trust_policy(self.provider_arn, ISSUER, self.audience, sub_pattern=f"{self.repo_uuid}:*"),
            max_session_duration=role_max_session_duration,
        )
        self.token = self.mint_token()

    # -- tokens

    def claims(self, lifetime=TOKEN_LIFETIME, **overrides):
        claims = bitbucket_claims(
            workspace=WORKSPACE,
            workspace_uuid=self.workspace_uuid,
            repo_uuid=self.repo_uuid,
            step_uuid=self.step_uuid,
            branch="main",
            lifetime=lifetime,
            pipelineUuid=self.pipeline_uuid,
        )
        claims.update(overrides)
        return claims

    def mint_token(self, key="trusted", lifetime=TOKEN_LIFETIME, **overrides):
        """A step token for this repository (claims overridable), valid for `lifetime` seconds
        (negative: already expired)."""
        return self.emulator.mint_token(self.claims(lifetime=lifetime, **overrides), key=key)

    # -- more IAM

    def chained_role(self, account=OTHER_ACCOUNT, name="target", external_id=None, tag_session=True,
                     trusted=None, max_session_duration=3600):
        """A role trusting `trusted` (default: the OIDC role) with `Principal: {"AWS": ...}`,
        optionally demanding an ExternalId, with or without sts:TagSession."""
        statement = {
            "Effect": "Allow",
            "Principal": {"AWS": trusted or self.role_arn},
            "Action": ["sts:AssumeRole", "sts:TagSession"] if tag_session else "sts:AssumeRole",
        }
        if external_id is not None:
            statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        return self.emulator.create_role(account, name, policy, max_session_duration=max_session_duration)

    def user(self, account=ACCOUNT, name="ci"):
        """An IAM user with an active key: {"arn", "access_key_id", "secret_access_key"}."""
        return self.emulator.create_user(account, name)

    # -- environment and runs

    def base_env(self):
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "ACTION": "assume-role",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_OIDC_ROLE_ARN": self.role_arn,
            "BITBUCKET_STEP_OIDC_TOKEN": self.token,
            "BITBUCKET_REPO_SLUG": REPO_SLUG,
            "BITBUCKET_REPO_FULL_NAME": REPO_FULL_NAME,
            "BITBUCKET_REPO_UUID": self.repo_uuid,
            "BITBUCKET_WORKSPACE": WORKSPACE,
            "BITBUCKET_BRANCH": "main",
            "BITBUCKET_COMMIT": self.commit,
            "BITBUCKET_BUILD_NUMBER": BUILD_NUMBER,
            "BITBUCKET_STEP_UUID": self.step_uuid,
            "BITBUCKET_PIPELINE_UUID": self.pipeline_uuid,
            "BITBUCKET_CLONE_DIR": str(self.clone_dir),
            "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(self.outputs_dir),
            "AWS_ENDPOINT_URL": self.emulator.base_url,
            # Fail fast: a few attempts, short per-attempt timeout.
            "AWS_MAX_ATTEMPTS": "3",
            "AWS_ATTEMPT_TIMEOUT": "5",
            # Every scenario runs with DEBUG on, under the secrets scanner (run_env).
            "DEBUG": "true",
        }

    def env(self, **overrides):
        """The base environment with overrides; a value of None removes the variable.

        ECS runs against the emulator get the watch's pace ECS_PACE_SCALE times faster
        (AWS_ROLE_DEPLOY_TEST_TIME_SCALE, loopback endpoints only): the emulator's scripted
        rollouts move one step per DescribeServices, so a real pace (a look every 10 s while tasks
        start) would only make the tests slow. ecr-push's scan wait too (scans move one step per
        DescribeImageScanFindings; its real pace is a look every 4 s), and lambda-deploy's waits
        without TRAFFIC_SHIFT (a provisioned-concurrency allocation is looked at every 4 s; the
        scale would shorten a shift's holds too, so a shift's test sets it itself). Pass
        AWS_ROLE_DEPLOY_TEST_TIME_SCALE=None for the real pace (test_waits.py, the benchmark)."""
        env = self.base_env()
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = str(value)
        service_endpoint = PACED_ACTIONS.get(env.get("ACTION"))
        if env.get("ACTION") == "lambda-deploy" and "TRAFFIC_SHIFT" in env:
            service_endpoint = None
        if (service_endpoint and TIME_SCALE not in overrides
                and service_endpoint not in env and env.get("AWS_ENDPOINT_URL") == self.emulator.base_url):
            env[TIME_SCALE] = str(ECS_PACE_SCALE)
        return env

    def run(self, timeout=DEFAULT_TIMEOUT, **overrides):
        return self.run_env(self.env(**overrides), timeout=timeout)

    def run_env(self, env, timeout=DEFAULT_TIMEOUT):
        outputs_dir = env.get("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
        result = self.runner(env, cwd=str(self.clone_dir), outputs_dir=outputs_dir and Path(outputs_dir), timeout=timeout)
        # The secrets scanner: nothing the layer issued or saw as a secret, nor any secret
        # variable given to the pipe, in stdout, stderr or the outputs files, in any encoding.
        # (Result.collect scans too, with the test's emulator; a runner may build its Result
        # otherwise.)
        self.emulator.assert_no_secrets_in(result.everything(), more=secrets_in_env(env))
        return result

