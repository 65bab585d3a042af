"""ecr-push's registry client against the ECR-like front (test/registry.py) where ECR's registry API
differs from the spec or a network misbehaves: no digest on a manifest GET, an upload Location
naming another origin, zero-length blobs, connections reset or stalled mid-part, a whole push
bounded by WAIT_TIMEOUT, and the Docker daemon's address and proxies that would carry a credential
in clear. Each case failed before the pipe handled it."""

import base64
import json
import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import images
from test_ecr import built_image, docker, ecr, ecr_like, push, repo_name, seed_image  # noqa: F401 (fixtures)

MIB = 1024 * 1024


def front_request(front, registry, method, path, headers=None, body=None):
    """(status, headers, body) of an authorized request through the front."""
    auth = base64.b64encode(f"AWS:{registry.password}".encode()).decode()
    request = urllib.request.Request(front.endpoint + path, method=method, data=body,
                                     headers={"Authorization": f"Basic {auth}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


class Trap:
    """An HTTP server that records every request it gets (method, path, Authorization) and answers
    202: where a foreign upload Location points."""

    def __init__(self):
        trap = self
        self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _any(self):
                trap.requests.append((self.command, self.path, self.headers.get("Authorization")))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------- manifests read with GET


def test_the_front_gives_the_digest_on_head_only_as_private_ecr_does(scenario, ecr, ecr_like, registry_process):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "image")
    assert push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1").code == 0
    accept = {"Accept": images.OCI_MANIFEST}
    status, headers, _ = front_request(ecr_like, registry_process, "HEAD", f"/v2/{repository}/manifests/v1", accept)
    assert status == 200 and headers.get("Docker-Content-Digest") == top
    status, headers, body = front_request(ecr_like, registry_process, "GET", f"/v2/{repository}/manifests/v1", accept)
    assert status == 200 and "Docker-Content-Digest" not in headers and body
    [get] = [r for r in ecr_like.requests("GET") if "/manifests/" in r["path"]]
    assert get["control"] == "no-digest-on-get" and get["digest_header"] is False
    ecr_like.digest_on_get = True
    _, headers, _ = front_request(ecr_like, registry_process, "GET", f"/v2/{repository}/manifests/v1", accept)
    assert headers.get("Docker-Content-Digest") == top


# The daemon path's read-back after an immutable refusal is a GET: test_ecr.py's
# test_daemon_rerun_to_an_immutable_tag_succeeds_and_another_image_is_refused runs it against this
# front, which now answers GET without the digest (it failed: "Tag v1 already exists").


# ------------------------------------------------------------- where the token goes


def test_a_foreign_upload_location_is_refused_before_any_credential_goes_there(scenario, ecr, ecr_like):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image")
    trap = Trap()
    try:
        ecr_like.foreign_location = trap.origin
        result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1")
        assert result.code == 1, result
        assert [(method, path) for method, path, _ in trap.requests] == []
        assert ecr_like.requests("POST", control="foreign-location"), ecr_like.log
        assert "Location" in result.final_line and trap.origin in result.final_line, result.final_line
        assert f"not {ecr_like.endpoint}" in result.final_line or ecr_like.host in result.final_line
    finally:
        trap.close()


def test_a_location_downgraded_to_plain_http_off_loopback_is_refused(scenario, ecr, ecr_like):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image")
    ecr_like.foreign_location = "http://registry.example.invalid"
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 1, result
    assert "http://registry.example.invalid" in result.final_line and "Location" in result.final_line


# ------------------------------------------------------------- zero-length blobs


def _layout_with_an_empty_blob(layout):
    """An artifact whose config is a zero-length blob (as devcontainer features are published)."""
    layout.mkdir(parents=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    empty = images._blob(layout, b"")
    layer = images._blob(layout, images._layer([3000]))
    manifest = images._blob(layout, json.dumps({
        "schemaVersion": 2, "mediaType": images.OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.devcontainers", **empty},
        "layers": [{"mediaType": images.OCI_LAYER, **layer}],
    }).encode())
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "mediaType": images.OCI_INDEX,
        "manifests": [{"mediaType": images.OCI_MANIFEST, **manifest}],
    }))
    return manifest["digest"], empty["digest"]


def test_the_front_refuses_an_empty_upload_as_ecr_does(ecr_like, registry_process):
    status, headers, _ = front_request(ecr_like, registry_process, "POST", "/v2/team/empty/blobs/uploads/", body=b"")
    assert status == 202
    location = headers["Location"]
    location = location[location.find("/v2/"):]
    digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    sep = "&" if "?" in location else "?"
    status, _, body = front_request(ecr_like, registry_process, "PUT", f"{location}{sep}digest={digest}", body=b"")
    assert status == 400, body
    error = json.loads(body)["errors"][0]
    assert error["code"] == "BLOB_UPLOAD_INVALID" and "does not have any parts" in error["message"]
    assert ecr_like.requests("PUT", control="empty-upload")


def test_a_zero_length_blob_ecr_lacks_is_refused_before_anything_is_uploaded(scenario, ecr, ecr_like):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    _, empty = _layout_with_an_empty_blob(scenario.clone_dir / "artifact")
    result = push(scenario, IMAGE_ARCHIVE="artifact", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 2, result
    assert empty in result.final_line and "IMAGE_ARCHIVE" in result.output
    assert "EmptyUploadException" in result.output
    assert ecr_like.requests("POST") == [], "nothing uploaded"


def test_a_zero_length_blob_the_repository_has_is_not_uploaded_again(scenario, ecr, ecr_like, registry_process):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, empty = _layout_with_an_empty_blob(scenario.clone_dir / "artifact")
    # Put there another way (distribution itself takes empty blobs).
    auth = {"Authorization": "Basic " + base64.b64encode(f"AWS:{registry_process.password}".encode()).decode()}
    started = urllib.request.Request(f"{registry_process.endpoint}/v2/{repository}/blobs/uploads/", method="POST",
                                     data=b"", headers=auth)
    with urllib.request.urlopen(started, timeout=10) as answer:
        location = answer.headers["Location"]
    location = location if "://" in location else registry_process.endpoint + location
    finish = urllib.request.Request(f"{location}{'&' if '?' in location else '?'}digest={empty}", method="PUT",
                                    data=b"", headers=auth)
    with urllib.request.urlopen(finish, timeout=10) as answer:
        assert answer.status == 201
    result = push(scenario, IMAGE_ARCHIVE="artifact", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 0, result
    assert registry_process.manifest(repository, "v1")[0] == top
    assert ecr_like.requests("PUT", control="empty-upload") == []


# ------------------------------------------------------------- lost and stalled connections


def test_a_part_whose_connection_is_reset_restarts_the_blob_from_a_new_session(scenario, ecr, ecr_like,
                                                                               registry_process):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "image", layer_sizes=(6 * MIB,))
    ecr_like.fault("reset", 1, "PATCH")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 0, result
    assert len(ecr_like.requests("PATCH", control="reset")) == 1
    # two blobs (config, layer), one of them started again
    assert len([r for r in ecr_like.requests("POST") if r["status"] == 202]) == 3, ecr_like.log
    assert "starting it again" in result.output
    assert registry_process.manifest(repository, "v1")[0] == top


def test_a_blob_whose_connection_keeps_breaking_fails_after_three_sessions(scenario, ecr, ecr_like):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image", layer_sizes=(6 * MIB,))
    ecr_like.fault("reset", 1000, "PATCH")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 1, result
    assert "3 upload sessions" in result.final_line, result.final_line
    assert len(ecr_like.requests("PATCH", control="reset")) <= 6


def test_blob_checks_and_manifest_puts_are_retried_after_a_lost_connection(scenario, ecr, ecr_like,
                                                                           registry_process):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "image")
    ecr_like.fault("reset", 2, "HEAD")
    ecr_like.fault("reset", 1, "PUT", path="/manifests/")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 0, result
    assert len(ecr_like.requests("HEAD", control="reset")) == 2
    [reset] = ecr_like.requests("PUT", control="reset")
    assert "/manifests/v1" in reset["path"]
    assert registry_process.manifest(repository, "v1")[0] == top


def test_a_stalled_part_is_abandoned_after_the_idle_timeout(scenario, ecr, ecr_like, registry_process):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "image", layer_sizes=(6 * MIB,))
    ecr_like.fault("stall", 1, "PATCH", seconds=100)
    # Waiting the stall out (100 s) would overrun the run's 60 s guard.
    result = scenario.run(ACTION="ecr-push", timeout=60, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository,
                          TAGS="v1", AWS_ATTEMPT_TIMEOUT="2")
    assert result.code == 0, result
    assert len(ecr_like.requests("PATCH", control="stall")) == 1
    assert registry_process.manifest(repository, "v1")[0] == top


def test_the_whole_push_is_bounded_by_wait_timeout(scenario, ecr, ecr_like):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image", layer_sizes=(6 * MIB,))
    ecr_like.fault("stall", 1000, "PATCH", seconds=100)
    # Unbounded, the stalls (100 s each) would overrun the run's 60 s guard.
    result = scenario.run(ACTION="ecr-push", timeout=60, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository,
                          TAGS="v1", WAIT_TIMEOUT="6")
    assert result.code == 1, result
    assert "WAIT_TIMEOUT" in result.final_line, result.final_line


def test_a_promotion_is_bounded_by_wait_timeout_too(scenario, ecr):
    """PutImage hanging: the SDK alone would wait AWS_ATTEMPT_TIMEOUT per attempt, AWS_MAX_ATTEMPTS
    times (30 s x 5 by default)."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    seed_image(ecr, repository, "v1")
    scenario.emulator.add_fault("hang", service="ecr", action="PutImage", count=10, hang_seconds=100)
    result = scenario.run(ACTION="ecr-push", timeout=60, SOURCE_TAG="v1", ECR_REPOSITORY=repository, TAGS="prod",
                          WAIT_TIMEOUT="5")
    assert result.code == 1, result
    assert "WAIT_TIMEOUT (5 s)" in result.final_line, result.final_line


# ------------------------------------------------------------- the Docker daemon


def test_a_daemon_that_never_answers_is_abandoned_after_the_idle_timeout(scenario, ecr):
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        repository = repo_name()
        ecr.create_repository(repositoryName=repository)
        # Abandoned after the 2 s idle timeout: a daemon that never answers is never waited out
        # (the run's 60 s guard would fail it), and the last line names that timeout.
        result = scenario.run(ACTION="ecr-push", timeout=60, IMAGE_NAME="app:1", ECR_REPOSITORY=repository,
                              DOCKER_HOST=f"tcp://127.0.0.1:{port}", AWS_ATTEMPT_TIMEOUT="2")
        assert result.code == 1, result
        assert f"tcp://127.0.0.1:{port}" in result.final_line and "2 s" in result.final_line, result.final_line
    finally:
        silent.close()


@pytest.mark.parametrize("docker_host, warned", [
    ("tcp://127.0.0.1:{port}", False),
    ("tcp://localhost:{port}", False),
    ("tcp://host.docker.internal:{port}", False),
    ("tcp://192.0.2.77:{port}", False),  # BITBUCKET_DOCKER_HOST_INTERNAL
    ("tcp://127.example.invalid:{port}", True),
    ("tcp://198.51.100.9:{port}", True),
])
def test_plain_tcp_daemons_off_the_step_are_warned_about(scenario, ecr, docker_host, warned):
    refused = socket.create_server(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()
    host = docker_host.format(port=port)
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    result = scenario.run(ACTION="ecr-push", timeout=60, IMAGE_NAME="app:1", ECR_REPOSITORY=repository,
                          DOCKER_HOST=host, AWS_ATTEMPT_TIMEOUT="2", BITBUCKET_DOCKER_HOST_INTERNAL="192.0.2.77")
    assert result.code == 1, result
    said = "registry credential travels in clear" in result.output
    assert said == warned, result.output


# ------------------------------------------------------------- proxies


def test_an_https_proxy_with_a_password_is_refused_rather_than_spoken_to_in_clear(scenario, ecr,
                                                                                  tls_registry_behind_proxy):
    registry, proxy, ca = tls_registry_behind_proxy
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image")
    proxy_url = proxy.url.replace("http://", "https://ci:px-secret-password@")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, HTTPS_PROXY=proxy_url,
                  SSL_CERT_FILE=str(ca))
    assert result.code == 2, result
    assert "HTTPS_PROXY" in result.output and "in clear" in result.output
    assert proxy.tunnels == [], proxy.tunnels


@pytest.mark.parametrize("source", [{"IMAGE_NAME": "app:1"}, {"IMAGE_ARCHIVE": "image"}], ids=["daemon", "archive"])
@pytest.mark.parametrize("credentials", ["ci:px-secret-password", "px-secret-token"], ids=["password", "token"])
def test_https_proxy_credentials_are_refused_for_every_push_that_reaches_the_registry(scenario, emulator, source,
                                                                                     credentials):
    """The daemon path reads each tag back through the registry client, which reaches its proxy
    over plain TCP too; a token alone (`https://TOKEN@proxy`) is sent as Basic `TOKEN:`."""
    images.oci_layout(scenario.clone_dir / "image")
    result = push(scenario, ECR_REPOSITORY="app", HTTPS_PROXY=f"https://{credentials}@127.0.0.1:9", **source)

    assert result.code == 2, result
    assert "HTTPS_PROXY: is an https:// proxy with credentials" in result.output, result
    assert credentials not in result.everything()
    assert emulator.requests() == []
