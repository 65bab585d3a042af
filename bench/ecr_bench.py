"""ecr-push's numbers (issue 10), against the same local registry as the tests (Debian's
docker-registry with htpasswd auth, a fresh one per measurement so no push finds blobs another
one left, and the daemon has no mount source cached for it):

- pushing a 200 MB image (4 layers of random bytes) through the daemon, against `docker push`
  of the same image (the CLI logged in through a throw-away DOCKER_CONFIG);
- pushing the same image from its `docker save` archive, against `docker push`;
- peak RSS of the archive push (GNU time), for that image and for one 200 MB layer;
- the pipe's image size.

Entry point for bench/bench.py: `ecr_results(binary, image) -> [(name, value, target, ok)]`.
Standalone: `.venv/bin/python bench/ecr_bench.py --binary <release binary> --image <tag>`.
Timings are reported, never asserted in tests.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "test"))

import images  # noqa: E402
from emulator.client import (  # noqa: E402
    Emulator,
    bitbucket_audience,
    bitbucket_claims,
    bitbucket_issuer,
    running_emulator,
    web_identity_trust_policy,
)
from emulator.scenario import client_for  # noqa: E402
from registry import Registry  # noqa: E402

TARGETS = {"daemon_vs_docker": 1.2, "archive_vs_docker": 1.0, "archive_rss_mb": 64.0, "image_mb": 15.0}
ACCOUNT = "111111111111"
LAYER_MB = 50
LAYERS = 4
ROUNDS = 3


def _step(emu, base_url, clone):
    """An OIDC step in ACCOUNT that may push: (base env, boto3 ECR client)."""
    emu.reset()
    workspace_uuid, repo_uuid = "{11111111-2222-3333-4444-555555555555}", "{66666666-7777-8888-9999-000000000000}"
    issuer, audience = bitbucket_issuer("acme"), bitbucket_audience(workspace_uuid)
    provider = emu.create_oidc_provider(ACCOUNT, issuer, [audience])
    role = emu.create_role(ACCOUNT, "deploy", web_identity_trust_policy(provider, issuer, audience, f"{repo_uuid}:*"))
    token = emu.mint_token(bitbucket_claims(workspace="acme", workspace_uuid=workspace_uuid, repo_uuid=repo_uuid))
    env = {
        "PATH": "/usr/bin:/bin", "ACTION": "ecr-push", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_OIDC_ROLE_ARN": role, "BITBUCKET_STEP_OIDC_TOKEN": token,
        "BITBUCKET_REPO_SLUG": "web-app", "BITBUCKET_BUILD_NUMBER": "1",
        "BITBUCKET_CLONE_DIR": str(clone), "AWS_ENDPOINT_URL": base_url, "WAIT_TIMEOUT": "3600",
    }
    ecr = client_for(emu, "ecr", emu.create_user(ACCOUNT, "bench-admin"))
    return env, ecr


def _pipe(binary, env, rss_report=None):
    """Run the pipe; (wall seconds, peak RSS MB or None)."""
    argv = [binary] if rss_report is None else ["/usr/bin/time", "-f", "%M", "-o", str(rss_report), binary]
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ecr-push failed ({done.returncode}):\n{done.stdout.decode()}\n{done.stderr.decode()}")
    peak = int(Path(rss_report).read_text().split()[-1]) / 1024 if rss_report else None
    return wall, peak


def _fresh_registry(work, emu):
    registry = Registry(Path(tempfile.mkdtemp(dir=work)))
    emu.ecr_registry(registry.endpoint, registry.password)
    return registry


def _docker_push(work, registry, image, repository):
    """`docker push` of `image` to a fresh registry, logged in through a throw-away config."""
    config = Path(tempfile.mkdtemp(dir=work))
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    subprocess.run(["docker", "login", "-u", "AWS", "--password-stdin", registry.host], env=env,
                   input=registry.password.encode(), capture_output=True, check=True)
    target = f"{registry.host}/{repository}:bench"
    subprocess.run(["docker", "tag", image, target], check=True)
    started = time.perf_counter()
    subprocess.run(["docker", "push", "-q", target], env=env, capture_output=True, check=True)
    wall = time.perf_counter() - started
    images.remove_images(target)
    return wall


def ecr_results(binary, image, layer_mb=LAYER_MB, layers=LAYERS, rounds=ROUNDS):
    """The ecr-push rows of the benchmark table (smaller `layer_mb`/`rounds` for the smoke mode)."""
    results = []
    size = int(subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", image],
                              capture_output=True, text=True, check=True).stdout) / 1e6
    results.append(("image size, uncompressed (ecr-push built in)", f"{size:.1f} MB", f"≤ {TARGETS['image_mb']} MB",
                    size <= TARGETS["image_mb"]))
    with tempfile.TemporaryDirectory() as work, running_emulator() as base_url:
        work = Path(work)
        clone = work / "build"
        clone.mkdir()
        emu = Emulator(base_url)
        env, ecr = _step(emu, base_url, clone)
        name = images.build_image(work, sizes=[layer_mb * 1024 * 1024] * layers)
        registries = []
        try:
            repository = "bench/app"
            ecr.create_repository(repositoryName=repository)
            docker_times, daemon_times, archive_times, archive_rss = [], [], [], []
            images.docker_save(name, clone / "image.tar")
            for _ in range(rounds):
                registries.append(registry := _fresh_registry(work, emu))
                docker_times.append(_docker_push(work, registry, name, repository))
                registries.append(_fresh_registry(work, emu))
                tag = f"d{uuid.uuid4().hex[:6]}"
                wall, _ = _pipe(binary, {**env, "IMAGE_NAME": name, "ECR_REPOSITORY": repository, "TAGS": tag})
                daemon_times.append(wall)
                images.remove_images(f"{registries[-1].host}/{repository}:{tag}")
                registries.append(_fresh_registry(work, emu))
                wall, peak = _pipe(binary, {**env, "IMAGE_ARCHIVE": "image.tar", "ECR_REPOSITORY": repository},
                                   rss_report=work / "rss")
                archive_times.append(wall)
                archive_rss.append(peak)
            # Interleaved rounds and medians: this machine is shared, and a daemon push is mostly the
            # daemon's own work (compressing and uploading), the same for both.
            docker_push = statistics.median(docker_times)
            daemon = statistics.median(daemon_times)
            archive = statistics.median(archive_times)
            mb = layer_mb * layers
            results.append((f"ecr-push, {mb} MB image via the daemon / docker push",
                            f"{daemon / docker_push:.2f} ({daemon:.1f} s vs {docker_push:.1f} s)",
                            f"≤ {TARGETS['daemon_vs_docker']}", daemon / docker_push <= TARGETS["daemon_vs_docker"]))
            results.append((f"ecr-push, {mb} MB image from its docker save archive / docker push",
                            f"{archive / docker_push:.2f} ({archive:.1f} s vs {docker_push:.1f} s)",
                            f"≤ {TARGETS['archive_vs_docker']}", archive / docker_push <= TARGETS["archive_vs_docker"]))
            peak = max(archive_rss)
            results.append((f"ecr-push, peak RSS of the archive push ({layers} × {layer_mb} MB layers)",
                            f"{peak:.1f} MB", f"< {TARGETS['archive_rss_mb']} MB", peak < TARGETS["archive_rss_mb"]))
            images.oci_layout(clone / "one-layer", layer_sizes=(mb * 1024 * 1024,))
            registries.append(_fresh_registry(work, emu))
            _, peak = _pipe(binary, {**env, "IMAGE_ARCHIVE": "one-layer", "ECR_REPOSITORY": repository},
                            rss_report=work / "rss")
            results.append((f"ecr-push, peak RSS of the archive push (one {mb} MB layer)", f"{peak:.1f} MB",
                            f"< {TARGETS['archive_rss_mb']} MB", peak < TARGETS["archive_rss_mb"]))
        finally:
            images.remove_images(name)
            for registry in registries:
                registry.stop()
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--image", required=True)
    args = parser.parse_args()
    results = ecr_results(os.path.abspath(args.binary), args.image)
    width = max(len(name) for name, *_ in results)
    for name, value, target, ok in results:
        print(f"{'✔' if ok else '✖'} {name:<{width}}  {value:<24} target {target}")
    sys.exit(0 if all(ok for *_, ok in results) else 1)


if __name__ == "__main__":
    main()
