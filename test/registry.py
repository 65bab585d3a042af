"""A real registry for ecr-push tests: Debian's `docker-registry` (distribution 2.8) on loopback,
on a free port, with htpasswd basic auth (user `AWS`, as ECR's) and storage in a temporary
directory. Its JSON log records every request, which the tests count (blob uploads).

The password is made here, fed to `htpasswd` on stdin (never an argv), and handed to the emulator
layer, which puts it in the ECR token it issues and in its secrets registry.
"""

import base64
import hashlib
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REGISTRY_BINARY = "/usr/bin/docker-registry"
USERNAME = "AWS"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Registry:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.password = "reg-" + secrets.token_urlsafe(24)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "registry.log"
        htpasswd = workdir / "htpasswd"
        made = subprocess.run(
            ["htpasswd", "-niB", USERNAME], input=self.password.encode(), capture_output=True, check=True
        )
        htpasswd.write_bytes(made.stdout.strip() + b"\n")
        config = workdir / "config.yml"
        config.write_text(json.dumps({
            "version": 0.1,
            "log": {"level": "info", "formatter": "json", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
            "auth": {"htpasswd": {"realm": "ecr-test", "path": str(htpasswd)}},
        }))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log_path.read_text()}")
            try:
                self.request("GET", "/v2/")
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer on {self.endpoint}: {self.log_path.read_text()}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def request(self, method, path, headers=None):
        """(status, headers, body) of an authorized request to the registry's own API."""
        auth = base64.b64encode(f"{USERNAME}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            self.endpoint + path, method=method, headers={"Authorization": f"Basic {auth}", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as refused:
            return refused.code, dict(refused.headers), refused.read()

    def manifest(self, repository, reference):
        """The manifest the registry serves: (Docker-Content-Digest, sha256 of the body, body)."""
        status, headers, body = self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", {"Accept": ", ".join(MANIFEST_TYPES)}
        )
        assert status == 200, (status, body)
        return headers.get("Docker-Content-Digest"), "sha256:" + hashlib.sha256(body).hexdigest(), body

    def log_offset(self):
        return self.log_path.stat().st_size

    def requests_since(self, offset):
        """(method, uri, status) of each request the registry answered since `offset`."""
        seen = []
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            for line in log:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                method = entry.get("http.request.method")
                if method and "http.response.status" in entry:
                    seen.append((method, entry.get("http.request.uri", ""), entry["http.response.status"]))
        return seen

    def blob_uploads_since(self, offset):
        """Upload sessions started (POST …/blobs/uploads/) since `offset`."""
        return [r for r in self.requests_since(offset) if r[0] == "POST" and "/blobs/uploads/" in r[1]]


def start_registry(workdir):
    return Registry(Path(workdir))


def required():
    """CI (REQUIRE_DOCKER=1) fails instead of skipping when the engine or registry is missing."""
    return os.environ.get("REQUIRE_DOCKER") == "1"
