"""SIGTERM (issue 17) is one cancellation signal: whatever the run is blocked in, the step ends
with 143 and a last line within seconds, instead of waiting for Bitbucket's SIGKILL."""

import json
import subprocess
import time

from pipe import BINARY, Result, terminate

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
# A layer ECR would still take (its limit is 52,000 MiB), sparse: reading and hashing it, which
# the pipe does on a blocking thread before anything is sent, takes minutes.
HUGE = 50 * 1024 ** 3


def stalled_archive(layout):
    """An OCI layout whose one layer is a sparse file of HUGE bytes: a read that does not end
    within the test (a stalled network file system reads the same way: a blocking read)."""
    import hashlib

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layer_digest = "ab" * 32
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    with open(layout / "blobs" / "sha256" / layer_digest, "wb") as sparse:
        sparse.truncate(HUGE)
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{layer_digest}", "size": HUGE}
    config = blob(json.dumps({"architecture": "amd64", "os": "linux",
                              "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode())
    manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                                "layers": [layer]}).encode())
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                   "manifests": [{"mediaType": OCI_MANIFEST, **manifest}]}))


def test_sigterm_while_a_blocking_read_hangs_ends_the_step_at_once(scenario, emulator):
    stalled_archive(scenario.clone_dir / "image")
    env = scenario.env(ACTION="ecr-push", IMAGE_ARCHIVE="image", ECR_REPOSITORY="app", CREATE_REPOSITORY="true")
    process = subprocess.Popen([str(BINARY)], env=env, cwd=str(scenario.clone_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not emulator.requests(service="ecr", action="CreateRepository") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert emulator.requests(service="ecr", action="CreateRepository"), "the push never got to the archive"
    time.sleep(1)  # reading the archive now
    assert process.poll() is None, "the archive was read already"
    # Ended at once: the read would go on for minutes (terminate fails after 20 s), and a run
    # that hung until CANCEL_GRACE would end with "did not stop within 8 s" instead.
    stdout, stderr, _ = terminate(process, within=20)
    result = Result.collect(process.returncode, stdout, stderr, outputs_dir=scenario.outputs_dir, env=env)
    emulator.assert_no_secrets_in(result.everything())

    assert result.code == 143, result
    assert "Cancelled (SIGTERM) during ecr-push" in result.final_line, result


def test_an_answer_to_sigterm_that_hangs_is_cut_short_with_a_last_line(scenario, emulator):
    # ecs-deploy answers SIGTERM itself: with ON_TIMEOUT=rollback it stops the deployment it
    # follows. ECS does not answer that StopServiceDeployment (a hung connection): the step still
    # ends with 143 and a last line, CANCEL_GRACE (8 s) after the signal, not when the call times out.
    from test_ecs import CLUSTER, Ecs

    ecs = Ecs(scenario, emulator)
    ecs.rollout("stuck", polls=2)
    emulator.add_fault("hang", service="ecs", action="StopServiceDeployment", count=5, hang_seconds=60)
    env = scenario.env(ACTION="ecs-deploy", CLUSTER_NAME=CLUSTER, SERVICE_NAME="web", IMAGE="repo/app:2",
                       ON_TIMEOUT="rollback", AWS_ATTEMPT_TIMEOUT="60")
    process = subprocess.Popen([str(BINARY)], env=env, cwd=str(scenario.clone_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not ecs.calls("DescribeServiceDeployments") and time.monotonic() < deadline:
        time.sleep(0.2)
    stdout, stderr, took = terminate(process, within=30)
    result = Result.collect(process.returncode, stdout, stderr, outputs_dir=scenario.outputs_dir, env=env)

    assert emulator.requests(service="ecs", action="StopServiceDeployment"), "the answer never got to the stop"
    assert result.code == 143, result
    assert "Cancelled (SIGTERM): the run did not stop within 8 s" in result.final_line, result
    # The grace was waited out (the pipe's own timer, started after the signal: a loaded machine
    # only lengthens it), and the hung call (60 s) was not: terminate fails after 30 s.
    assert took >= 8, f"took {took:.1f} s after SIGTERM\n{result}"


def test_reading_an_archive_is_bounded_by_wait_timeout(scenario, emulator):
    """Reading the archive hashes every blob before anything is sent: WAIT_TIMEOUT bounds that
    too (a 50 GiB layer on a slow disk is not read for ever). Without the bound the scenario's
    hang guard ends the run instead."""
    stalled_archive(scenario.clone_dir / "image")
    result = scenario.run(ACTION="ecr-push", IMAGE_ARCHIVE="image", ECR_REPOSITORY="app", CREATE_REPOSITORY="true",
                          WAIT_TIMEOUT="3", timeout=30)

    assert result.code == 1, result
    # Bounded, not read to its end: that would take minutes and the 30 s guard would fail the run.
    assert "did not finish within WAIT_TIMEOUT (3 s)" in result.final_line, result
    assert not emulator.requests(service="ecr", action="GetAuthorizationToken"), "the push went on"
