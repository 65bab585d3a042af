"""Measurements of the pipe alone, on the release binary and image (bench.py composes them).

- static: the binary has no program interpreter (it starts FROM scratch);
- image size: uncompressed, as `docker image inspect` reports it;
- start-up: from just before the process is spawned to the moment its first STS request
  reaches a loopback listener (the median and worst of several runs);
- peak RSS of a whole `assume-role` run against the emulator (OIDC, then a chained role);
- lambda-deploy: zipping a 50 MB directory of mixed files against `zip -r -X`, and the peak
  RSS of the whole deploy against the package size;
- ecs-deploy to 10 services against 1: the pipe's own CPU time (the emulator's time and the
  simulated waiting excluded) and the AWS calls by operation; the poll intervals of a wait.

Timings are reported, never asserted in tests: machines are noisy.
"""

import gzip
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "test"))

from emulator.client import (  # noqa: E402
    Emulator,
    bitbucket_audience,
    bitbucket_claims,
    bitbucket_issuer,
    running_emulator,
    web_identity_trust_policy,
)

# As in the image (Dockerfile): the TLS roots come from the bundle alone. Unset, they are also
# read one file at a time from /etc/ssl/certs (~290 files on Debian), which the image does not have.
AS_IN_THE_IMAGE = {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}


def mixed_directory(root, total_mb=50):
    """Half text (compressible), half random bytes (not), in a few hundred files and folders."""
    import random

    rng = random.Random(7)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(500)]
    size, index = 0, 0
    while size < total_mb * 1024 * 1024:
        folder = os.path.join(root, f"pkg{index % 17}", f"mod{index % 5}")
        os.makedirs(folder, exist_ok=True)
        length = rng.randint(50_000, 400_000)
        if index % 2:
            data = rng.randbytes(length)
        else:
            data = b" ".join(rng.choice(words) for _ in range(length // 6))[:length]
        with open(os.path.join(folder, f"file{index}.{'bin' if index % 2 else 'txt'}"), "wb") as out:
            out.write(data)
        size += len(data)
        index += 1
    return size


def is_static(binary):
    headers = subprocess.run(["readelf", "-l", binary], capture_output=True, text=True, check=True).stdout
    return "Requesting program interpreter" not in headers


def image_size_mb(image):
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", image],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip()) / 1e6


def compressed_image_mb(image):
    """The image as it travels: gzip (level 6, as registries receive layers) of `docker save`."""
    saved = subprocess.run(["docker", "save", image], capture_output=True, check=True).stdout
    return len(gzip.compress(saved, compresslevel=6)) / 1e6


def startup_ms(binary, runs):
    """Spawn the pipe against a listener that only timestamps the first bytes it receives."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    samples = []
    token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL3guZXhhbXBsZSIsImV4cCI6NDAwMDAwMDAwMH0.c2ln"
    env = {
        "PATH": "/usr/bin:/bin",
        "ACTION": "assume-role",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_OIDC_ROLE_ARN": "arn:aws:iam::111111111111:role/deploy",
        "BITBUCKET_STEP_OIDC_TOKEN": token,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_ATTEMPT_TIMEOUT": "2",
        **AS_IN_THE_IMAGE,
    }
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn, _ = listener.accept()
        conn.recv(1)
        samples.append((time.perf_counter() - started) * 1000)
        conn.close()
        proc.kill()
        proc.wait()
    listener.close()
    return statistics.median(samples), max(samples)


def assume_role_run(binary, base_url):
    """A full chained assume-role run; returns (exit code, wall ms, peak RSS MB)."""
    emu = Emulator(base_url)
    emu.reset()
    workspace_uuid, repo_uuid = "{11111111-2222-3333-4444-555555555555}", "{66666666-7777-8888-9999-000000000000}"
    issuer, audience = bitbucket_issuer("acme"), bitbucket_audience(workspace_uuid)
    provider = emu.create_oidc_provider("111111111111", issuer, [audience])
    first = emu.create_role("111111111111", "deploy",
                            web_identity_trust_policy(provider, issuer, audience, f"{repo_uuid}:*"))
    emu.create_role("222222222222", "target", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": first}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]})
    token = emu.mint_token(bitbucket_claims(workspace="acme", workspace_uuid=workspace_uuid, repo_uuid=repo_uuid))
    with tempfile.TemporaryDirectory() as clone:
        env = {
            "PATH": "/usr/bin:/bin",
            "ACTION": "assume-role",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_OIDC_ROLE_ARN": first,
            "AWS_ROLE_ARN": "arn:aws:iam::222222222222:role/target",
            "BITBUCKET_STEP_OIDC_TOKEN": token,
            "BITBUCKET_REPO_SLUG": "web-app", "BITBUCKET_REPO_FULL_NAME": "acme/web-app",
            "BITBUCKET_BUILD_NUMBER": "1", "BITBUCKET_BRANCH": "main",
            "BITBUCKET_CLONE_DIR": clone, "BITBUCKET_PIPE_SHARED_STORAGE_DIR": f"{clone}/pipes",
            "AWS_ENDPOINT_URL": base_url,
            **AS_IN_THE_IMAGE,
        }
        # GNU time forks the pipe from its own small process and reports that child's peak.
        # Measuring from here would count this Python process: subprocess spawns with vfork,
        # and Linux keeps the pre-exec peak in the child's maxrss.
        report = os.path.join(clone, "rss")
        started = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report, binary], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = (time.perf_counter() - started) * 1000
        peak_kib = int(Path(report).read_text().split()[-1])
    return done.returncode, wall, peak_kib / 1024


def ecs_deploy_run(binary, base_url, services, rollout="complete", polls=1, wait_timeout="900", strategy=None,
                   until_first_request=False):
    """One ecs-deploy (image change) to `services` (with `strategy`, e.g. BLUE_GREEN, set on each);
    returns (exit code, CPU seconds of the pipe, the pipe's AWS calls by operation, the times of
    its DescribeServices calls, wall seconds, (user, system) CPU seconds).

    `until_first_request`: the same run, stopped when the first bytes of its first AWS request
    arrive (at a loopback listener standing in for every endpoint, which never answers); its CPU
    is what the run spends before any call (start-up: variables, the OIDC token, the clients)."""
    from emulator.ecs_scenario import ecs_fixture
    from pipe import TIME_SCALE, Scenario

    emu = Emulator(base_url)
    emu.reset()
    with tempfile.TemporaryDirectory() as tmp:
        step = Scenario(emu, tmp)
        ecs = ecs_fixture(emu, cluster="prod", services=services)
        if strategy:
            client = ecs.client("ecs")
            for service in services:
                client.update_service(cluster="prod", service=service, deploymentConfiguration={
                    "strategy": strategy, "bakeTimeInMinutes": 0, "maximumPercent": 200,
                    "minimumHealthyPercent": 100})
        for service in services:
            emu.ecs_rollout("prod", service, rollout, polls=polls)
        env = step.env(ACTION="ecs-deploy", CLUSTER_NAME="prod", SERVICE_NAME=" ".join(services),
                       IMAGE="repo/app:2", CONTAINER_NAME="app", WAIT_TIMEOUT=wait_timeout,
                       **{TIME_SCALE: None})  # the watch's real pace
        env.update(DEBUG="false", **AS_IN_THE_IMAGE)
        if until_first_request:
            return _until_first_request(binary, env, tmp)
        started = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    ours = [r for r in emu.requests() if "aws-role-deploy" in (r["user_agent"] or "")]
    calls = {}
    for record in ours:
        calls[record["action"]] = calls.get(record["action"], 0) + 1
    polls_at = [r["time"] for r in ours if r["action"] == "DescribeServices"]
    return (os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, calls, polls_at, wall,
            (usage.ru_utime, usage.ru_stime))


def _until_first_request(binary, env, cwd):
    """(user, system) CPU seconds of the pipe from exec to the first bytes of its first request."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        env = {**env, "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "1"}
        proc = subprocess.Popen([binary], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listener.settimeout(60)
        conn, _ = listener.accept()
        conn.recv(1)
        proc.kill()
        _, _, usage = os.wait4(proc.pid, 0)
        conn.close()
    return usage.ru_utime, usage.ru_stime


def staged_wait_looks(binary, base_url, services, seconds=30):
    """The watch's looks while the pipe waits on stuck blue/green deployments of `services` until
    its `seconds` time-out, from the emulator's request log: ([(seconds after its first
    UpdateService, calls)] of each look, seconds from that update to its exit). A look's calls
    are its DescribeServices and DescribeServiceDeployments after the last UpdateService; the
    calls after the wait (ListTasks for the stopped tasks) are not waiting."""
    ecs_deploy_run(binary, base_url, services, rollout="stuck", wait_timeout=str(seconds), strategy="BLUE_GREEN")
    exited = time.time()
    ours = [r for r in Emulator(base_url).requests(service="ecs") if "aws-role-deploy" in (r["user_agent"] or "")]
    updates = [r["time"] for r in ours if r["action"] == "UpdateService"]
    first = min(updates)
    looks = []
    for record in ours:
        if record["time"] <= max(updates) or record["action"] not in ("DescribeServices", "DescribeServiceDeployments"):
            continue
        at = record["time"] - first
        # One look's calls follow each other within milliseconds; looks are seconds apart.
        if looks and at - looks[-1][0] < 1.0:
            looks[-1] = (looks[-1][0], looks[-1][1] + 1)
        else:
            looks.append((at, 1))
    return looks, exited - first


def lambda_runs(binary, base_url, total_mb=50):
    """(pipe zip seconds, zip -r -X seconds, package bytes, peak RSS MB of a real deploy)."""
    from emulator.lambda_scenario import lambda_fixture
    from pipe import Scenario

    emu = Emulator(base_url)
    with tempfile.TemporaryDirectory() as tmp:
        step_dir = os.path.join(tmp, "step")
        os.makedirs(step_dir)
        source = os.path.join(step_dir, "build", "package")
        os.makedirs(source)
        mixed_directory(source, total_mb)
        reference = os.path.join(tmp, "reference.zip")
        started = time.perf_counter()
        subprocess.run(["zip", "-q", "-r", "-X", reference, "."], cwd=source, check=True)
        info_zip = time.perf_counter() - started

        pipe_times = []
        for _ in range(3):
            emu.reset()
            step = Scenario(emu, step_dir + f"/dry{len(pipe_times)}")
            lambda_fixture(emu, name="api")
            env = step.env(ACTION="lambda-deploy", FUNCTION_NAME="api", ZIP_FILE=source, DRY_RUN="true", DEBUG="false",
                           BITBUCKET_CLONE_DIR=step_dir, **AS_IN_THE_IMAGE)  # ZIP_FILE must be inside it
            started = time.perf_counter()
            done = subprocess.run([binary], env=env, capture_output=True)
            pipe_times.append(time.perf_counter() - started)
            if done.returncode:
                raise SystemExit(f"lambda dry run failed:\n{done.stdout.decode()}{done.stderr.decode()}")

        emu.reset()
        step = Scenario(emu, step_dir + "/real")
        lambda_fixture(emu, name="api")
        env = step.env(ACTION="lambda-deploy", FUNCTION_NAME="api", ZIP_FILE=source, ALIAS="live", DEBUG="false",
                       BITBUCKET_CLONE_DIR=step_dir, **AS_IN_THE_IMAGE)
        report = os.path.join(tmp, "rss")
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report, binary], env=env, capture_output=True)
        if done.returncode:
            raise SystemExit(f"lambda deploy failed:\n{done.stdout.decode()}{done.stderr.decode()}")
        package = [r for r in emu.requests(service="lambda", action="UpdateFunctionCode")][-1]["params"]["ZipFile"]["size"]
        peak = int(Path(report).read_text().split()[-1]) / 1024
    return statistics.median(pipe_times), info_zip, package, peak
