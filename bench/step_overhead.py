"""Step overhead (issue 23): what a Bitbucket step pays before and after AWS's own work, for this
pipe, for Atlassian's ECS pipe (modelled: a Python image running boto3, then the AWS CLI's
`ecs wait services-stable`), and for the AWS CLI run in the step's own image.

- image pull: `docker pull` from one local registry (Debian's docker-registry, loopback), of this
  image and of a ~70 MB Python pipe image built here FROM scratch (bench/python_image.py), both
  in this run. Each is pushed under a name of its own with layers no other image shares (the
  daemon skips layers it has), removed, then pulled; the median of the rounds;
- start: from `docker run` (the CLI: its process) to the first byte of the first AWS request at a
  loopback listener (the Python image imports boto3 first, as a Python pipe does);
- authentication: the OIDC exchange until the first deploy call, from the emulator's request log
  (arrival of the first ECS call − arrival of AssumeRoleWithWebIdentity), on real runs of each
  tool's assume + deploy against the emulator. It includes the emulator's handling of the STS call
  (the same for all); the CLI's includes its second start (a new process per command);
- detection delay: from ECS recording completion to the tool noticing: the median of the waiting
  bench's one-service rollouts in the same run (bench/waiting.py), the pipe's and the CLI waiter's.

Entry point for bench/bench.py: `step_overhead(binary, image, emulator, rounds, detection, full)
-> (rows, markdown)`.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import python_image
from report import Row
from side_by_side import BENCH, VENV_BIN, Deploy

ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "test"))

from registry import Registry  # noqa: E402

SECTION = "Step overhead"
# The AWS CLI's `ecs wait services-stable` (and boto3's ServicesStable waiter): DescribeServices
# every 15 s (botocore/data/ecs/2014-11-13/waiters-2.json, delay 15, maxAttempts 40). Completion at
# an arbitrary moment is noticed at the next poll: 7.5 s later in the median.
CLI_WAITER_DELAY_S = 15.0


def _pipe_copy(image, work):
    """`image` rebuilt with the same Dockerfile layout, each layer carrying a file of its own."""
    context = Path(work) / f"pipe-{uuid.uuid4().hex[:8]}"
    for layer in ("ca/etc/ssl/certs", "bin/usr/local/bin"):
        (context / layer).mkdir(parents=True)
        (context / layer / ".bench-build").write_text(uuid.uuid4().hex)
    created = subprocess.run(["docker", "create", image], capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["docker", "cp", f"{created}:/etc/ssl/certs/ca-certificates.crt",
                        str(context / "ca/etc/ssl/certs/")], check=True, capture_output=True)
        subprocess.run(["docker", "cp", f"{created}:/usr/local/bin/aws-role-deploy", str(context / "bin/usr/local/bin/")],
                       check=True, capture_output=True)
    finally:
        subprocess.run(["docker", "rm", created], capture_output=True)
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY ca/ /\nCOPY bin/ /\nENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n"
        "WORKDIR /opt/atlassian/pipelines/agent/build\nENTRYPOINT [\"/usr/local/bin/aws-role-deploy\"]\n")
    tag = f"bench-pipe-copy-{uuid.uuid4().hex[:8]}:latest"
    subprocess.run(["docker", "build", "--quiet", "--tag", tag, str(context)], check=True, capture_output=True)
    return tag


def _docker(*argv, env, check=True):
    return subprocess.run(["docker", *argv], env=env, capture_output=True, check=check)


def _pull_seconds(images, registry, work, rounds):
    """({local tag: [pull seconds]}, {local tag: MB pulled}): push each to `registry`, then
    `rounds` times (interleaved) remove it and pull it. MB pulled is the pushed manifest's
    compressed layers and config: what the registry stores and every pull transfers."""
    config = Path(tempfile.mkdtemp(dir=work))
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    subprocess.run(["docker", "login", "-u", "AWS", "--password-stdin", registry.host], env=env,
                   input=registry.password.encode(), capture_output=True, check=True)
    remote, sizes = {}, {}
    for tag in images:
        repository = f"bench/{tag.split(':')[0]}"
        remote[tag] = f"{registry.host}/{repository}:latest"
        _docker("tag", tag, remote[tag], env=env)
        _docker("push", "-q", remote[tag], env=env)
        manifest = json.loads(registry.manifest(repository, "latest")[2])
        sizes[tag] = (manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])) / 1e6
    times = {tag: [] for tag in images}
    for _ in range(rounds):
        for tag in images:
            # Every name of the image goes, so its layers go too: the pull has them all to fetch.
            _docker("rmi", "-f", tag, remote[tag], env=env, check=False)
            started = time.perf_counter()
            _docker("pull", "-q", remote[tag], env=env)
            times[tag].append(time.perf_counter() - started)
            _docker("tag", remote[tag], tag, env=env)
    for tag in images:
        _docker("rmi", "-f", remote[tag], env=env, check=False)
    return times, sizes


def _first_request_ms(argv, env, runs):
    """Median ms from spawning `argv` to the first byte of its first request at a listener whose
    URL replaces `{url}` in env values."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {name: value.replace("{url}", url) for name, value in env.items()}
    argv = [arg.replace("{url}", url) for arg in argv]
    samples = []
    listener.settimeout(120)
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn, _ = listener.accept()
        conn.recv(1)
        samples.append((time.perf_counter() - started) * 1000)
        conn.close()
        proc.wait(timeout=120)  # no answer: each tool gives up (one attempt) and exits
    listener.close()
    return statistics.median(samples)


def _docker_run(image, env, volumes=(), args=()):
    """docker run argv passing env by name (values come from the CLI's own environment)."""
    argv = ["docker", "run", "--rm", "--network=host"]
    argv += [f"--volume={volume}" for volume in volumes]
    argv += [f"--env={name}" for name in sorted(env) if name != "PATH"]
    return [*argv, image, *args]


def _auth_ms(emulator, before):
    """ms from the STS exchange's arrival to the first ECS call's, of the requests after `before`."""
    made = emulator.requests()[before:]
    sts = next(r["time"] for r in made if r["action"] == "AssumeRoleWithWebIdentity")
    ecs = next(r["time"] for r in made if r["service"] == "ecs")
    return (ecs - sts) * 1000


def _start_ms(pipe_tag, python_tag, work, runs):
    token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL3guZXhhbXBsZSIsImV4cCI6NDAwMDAwMDAwMH0.c2ln"
    (Path(work) / "token").write_text(token)
    one_attempt = {"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard", "AWS_DEFAULT_REGION": "us-east-1"}
    pipe_env = {"ACTION": "assume-role", "AWS_OIDC_ROLE_ARN": "arn:aws:iam::111111111111:role/deploy",
                "BITBUCKET_STEP_OIDC_TOKEN": token, "AWS_ENDPOINT_URL": "{url}", "AWS_ATTEMPT_TIMEOUT": "2",
                **one_attempt}
    script_env = {"ROLE_ARN": "arn:aws:iam::111111111111:role/deploy", "TOKEN_FILE": f"{work}/token",
                  "TASK_DEFINITION_FILE": f"{work}/none", "CLUSTER": "prod", "SERVICE": "web", "ENDPOINT": "{url}",
                  "HOME": str(work), "AWS_CONFIG_FILE": f"{work}/none", "AWS_SHARED_CREDENTIALS_FILE": f"{work}/none",
                  **one_attempt}
    alternatives = BENCH / "alternatives"
    cli_path = {"PATH": f"{VENV_BIN}:/usr/bin:/bin"}
    return {
        "pipe": _first_request_ms(_docker_run(pipe_tag, pipe_env), {**cli_path, **pipe_env}, runs),
        "python": _first_request_ms(
            _docker_run(python_tag, script_env, volumes=(f"{alternatives}:/bench:ro", f"{work}:{work}:ro"),
                        args=("/bench/boto3_deploy.py",)),
            {**cli_path, **script_env}, runs),
        "cli": _first_request_ms(["sh", str(alternatives / "aws_cli_deploy.sh")], {**cli_path, **script_env}, runs),
    }


def _auth(emulator, pipe_tag, python_tag, runs):
    sys.path.insert(0, str(ROOT / "test"))
    from bitbucket import docker_runner

    times = {"pipe": [], "python": [], "cli": []}
    with tempfile.TemporaryDirectory() as work:
        deploy = Deploy(emulator, work)
        ssh_dir = Path(work) / "ssh"
        ssh_dir.mkdir()
        runner = docker_runner(pipe_tag, ssh_dir)
        alternatives = BENCH / "alternatives"
        script_env = deploy.alternative_env()
        for _ in range(runs):
            before = len(emulator.requests())
            done = runner(deploy.pipe_env(), cwd=str(deploy.clone_dir), outputs_dir=deploy.step.outputs_dir)
            if done.code:
                raise SystemExit(f"the pipe image's deploy failed:\n{done.output[-2000:]}")
            times["pipe"].append(_auth_ms(emulator, before))

            before = len(emulator.requests())
            argv = _docker_run(python_tag, script_env, volumes=(f"{alternatives}:/bench:ro", f"{work}:{work}"),
                               args=("/bench/boto3_deploy.py",))
            done = subprocess.run(argv, env=script_env, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"the Python image's deploy failed:\n{done.stdout}{done.stderr}")
            times["python"].append(_auth_ms(emulator, before))

            before = len(emulator.requests())
            done = subprocess.run(["sh", str(alternatives / "aws_cli_deploy.sh")], env=script_env,
                                  capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"the AWS CLI's deploy failed:\n{done.stdout}{done.stderr}")
            times["cli"].append(_auth_ms(emulator, before))
    return {name: statistics.median(values) for name, values in times.items()}


def detection(waited, services=1):
    """Median detection delays of bench/waiting.py's results for rollouts of `services`."""
    delays = {tool: [delay for name, count, delay, _ in waited if name == tool and count == services]
              for tool in ("pipe", "cli")}
    return {"pipe": statistics.median(delays["pipe"]), "cli": statistics.median(delays["cli"]),
            "source": f"measured in this run by the waiting bench (\"Waiting on the frontier\"): the median "
                      f"over {len(delays['pipe'])} rollouts of {services} service for the pipe, and over "
                      f"{len(delays['cli'])} for `aws ecs wait services-stable`."}


def step_overhead(binary, image, emulator, rounds, detection, full=True):
    """(rows, markdown). `detection`: {"pipe": s, "cli": s, "source": text} (median delays)."""
    del binary  # the image's binary is the one measured
    with tempfile.TemporaryDirectory(dir=ROOT / "target") as work:
        python_tag = python_image.build(f"bench-python-pipe-{uuid.uuid4().hex[:8]}:latest", full=full)
        pipe_tag = _pipe_copy(image, work)
        registry = Registry(Path(tempfile.mkdtemp(dir=work)))
        try:
            pulls, pushed = _pull_seconds([pipe_tag, python_tag], registry, work, rounds)
            pull = {"pipe": statistics.median(pulls[pipe_tag]), "python": statistics.median(pulls[python_tag])}
            sizes = {"pipe": pushed[pipe_tag], "python": pushed[python_tag]}
            # A median of three at least in the real run; the smoke run only proves the path works
            # (three docker runs of the Python image, without its byte code, cost it 20 s).
            start = _start_ms(pipe_tag, python_tag, work, max(rounds, 3) if full else rounds)
            auth = _auth(emulator, pipe_tag, python_tag, rounds)
        finally:
            registry.stop()
            subprocess.run(["docker", "rmi", "-f", pipe_tag, python_tag], capture_output=True)
    return _report(sizes, pull, start, auth, detection)


def _report(sizes, pull, start, auth, detection):
    cli_delay = detection["cli"]
    totals = {
        "pipe": pull["pipe"] + (start["pipe"] + auth["pipe"]) / 1000 + detection["pipe"],
        "python": pull["python"] + (start["python"] + auth["python"]) / 1000 + cli_delay,
        "cli": (start["cli"] + auth["cli"]) / 1000 + cli_delay,
    }
    table = [
        ("image as pulled (compressed layers in the registry)", f"{sizes['pipe']:.1f} MB", f"{sizes['python']:.1f} MB",
         "— (the step's own image)"),
        ("image pull from a local registry (median)", f"{pull['pipe']:.2f} s", f"{pull['python']:.2f} s", "—"),
        ("start → first AWS request (median)", f"{start['pipe']:.0f} ms (docker run)",
         f"{start['python']:.0f} ms (docker run, import boto3)", f"{start['cli']:.0f} ms (`aws` process)"),
        ("authentication: STS exchange → first ECS call (median)", f"{auth['pipe']:.0f} ms",
         f"{auth['python']:.0f} ms", f"{auth['cli']:.0f} ms (a second `aws` process)"),
        ("detection delay: completion → noticed (median)", f"{detection['pipe']:.1f} s",
         f"{cli_delay:.1f} s (CLI waiter)", f"{cli_delay:.1f} s (CLI waiter)"),
        ("**sum**", f"**{totals['pipe']:.1f} s**", f"**{totals['python']:.1f} s**", f"**{totals['cli']:.1f} s**"),
    ]
    lines = ["| | this pipe | Atlassian's ECS pipe (model: Python image + CLI waiter) | AWS CLI in the step's image |",
             "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in table]
    markdown = "\n".join([
        "What a Bitbucket step pays around AWS's own work (the deploy calls and ECS's rollout are",
        "the same for every tool and left out). Atlassian's ECS pipe is modelled: its image is",
        f"stood in for by a {sizes['python']:.0f} MB (compressed) image built here FROM scratch with this",
        "machine's CPython 3.11, boto3 and the AWS CLI v1 (no internet here; the real pipe is ~68.5 MB),",
        "running the boto3 deploy script, and it waits as `aws ecs wait services-stable` does (a poll",
        f"every {CLI_WAITER_DELAY_S:.0f} s). Pulls are from a registry on loopback: a runner pulling over",
        "the network pays in proportion to the compressed size instead.",
        "",
        *lines,
        "",
        f"Detection delay: {detection['source']}",
    ])
    rows = [
        Row(SECTION, "step overhead, this pipe (pull + start + authentication + detection delay)",
            f"{totals['pipe']:.1f} s"),
        Row(SECTION, "step overhead, Atlassian's ECS pipe (model) / this pipe",
            f"{totals['python'] / totals['pipe']:.1f}× ({totals['python']:.1f} s)"),
        Row(SECTION, "step overhead, AWS CLI in the step / this pipe",
            f"{totals['cli'] / totals['pipe']:.1f}× ({totals['cli']:.1f} s)"),
    ]
    return rows, markdown


if __name__ == "__main__":
    print(json.dumps({"note": "run through bench/bench.py"}))
