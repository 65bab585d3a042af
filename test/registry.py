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
import struct
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
    def __init__(self, workdir: Path, tls=None, ca=None):
        """`tls`: (certificate, key) PEM paths to serve HTTPS; `ca`: the CA file that signed it."""
        self.workdir = workdir
        self.ca = ca
        self.password = "reg-" + secrets.token_urlsafe(24)
        self.port = free_port()
        self.endpoint = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "registry.log"
        htpasswd = workdir / "htpasswd"
        made = subprocess.run(
            ["htpasswd", "-niB", USERNAME], input=self.password.encode(), capture_output=True, check=True
        )
        htpasswd.write_bytes(made.stdout.strip() + b"\n")
        http = {"addr": f"127.0.0.1:{self.port}", "secret": secrets.token_hex(16)}
        if tls:
            http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
        config = workdir / "config.yml"
        config.write_text(json.dumps({
            "version": 0.1,
            "log": {"level": "info", "formatter": "json", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}, "delete": {"enabled": True}},
            "http": http,
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
            except OSError:  # urllib's URLError included
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
        context = None
        if self.ca:
            import ssl

            context = ssl.create_default_context(cafile=str(self.ca))
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
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


MIN_PART = 5 * 1024 * 1024


DENIED_PRINCIPAL = "arn:aws:sts::111111111111:assumed-role/deploy/pipe"
DENIED_RESOURCE = "arn:aws:ecr:us-east-1:111111111111:repository/"


def ecr_action(method, path):
    """The ECR action a registry API request is authorized as (None: `/v2/`, which only
    needs the token)."""
    if "/manifests/" in path:
        return "ecr:PutImage" if method == "PUT" else "ecr:BatchGetImage"
    if "/blobs/uploads/" in path:
        return {"POST": "ecr:InitiateLayerUpload", "PATCH": "ecr:UploadLayerPart",
                "PUT": "ecr:CompleteLayerUpload"}.get(method)
    if "/blobs/" in path:
        return "ecr:BatchCheckLayerAvailability" if method == "HEAD" else "ecr:GetDownloadUrlForLayer"
    return None


class EcrLikeFront:
    """A proxy in front of the registry that answers chunked blob uploads the way ECR's registry
    API does, as its users report it (aws/containers-roadmap#2831, jdx/mise#11376; the design
    notes' "parts of at least 5 MiB"):

    - a `PATCH` of a part is answered `201 Created`, not the spec's `202 Accepted`;
    - its `Range` header stops advancing after the first part, though every part is stored;
    - a part smaller than 5 MiB followed by another part is refused (`400 BLOB_UPLOAD_INVALID`):
      only the last part may be small;
    - a manifest without a top-level `mediaType` (optional in OCI) is refused with
      `405 UNSUPPORTED` "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid
      JSON syntax'" (containers/image#584, opcr-io/policy#149);
    - with `token_expired` set, every request is answered as ECR answers an expired token: a
      plain-text 403 "Your authorization token has expired. Reauthenticate and try again."
    - a repository named in `immutable` refuses a manifest `PUT` under a tag it already has with
      `400 TAG_INVALID` "The image tag '<tag>' already exists in the '<repository>' repository and
      cannot be overwritten because the tag is immutable." (ECR's wording since 2025,
      GoogleContainerTools/kaniko#3481) — even when the manifest is
      the very one the tag points at (aws/containers-roadmap#2380, moby/buildkit#3776,
      GoogleContainerTools/kaniko#3481): a re-run of the same push is refused;
    - `throttle(n, method)`: the next `n` requests (of that method, if given) are answered as ECR
      answers a throttled one: `429 TOOMANYREQUESTS` "Rate exceeded" (google/go-containerregistry#750,
      containerd/containerd#10447: PutImage's 10 TPS, InitiateLayerUpload's quota).

    - an ECR action named in `denied` (the registry API's requests are authorized as ECR actions:
      `HEAD`/`GET` of a manifest is `ecr:BatchGetImage`, a blob `HEAD` `ecr:BatchCheckLayerAvailability`,
      …, a manifest `PUT` `ecr:PutImage`) is refused as ECR refuses a role without it: `403 DENIED`
      "User: … is not authorized to perform: ecr:… on resource: … because no identity-based policy
      allows the ecr:… action" (docs.aws.amazon.com/AmazonECR/latest/userguide/common-errors.html).

    - a `GET` of a manifest comes without `Docker-Content-Digest`; only `HEAD` carries it (private
      ECR: Docker.Registry.DotNet#34/#35, terraform-provider-docker#186, distribution#3792,
      aws/containers-roadmap#1931). `digest_on_get = True` gives it back (distribution's behaviour);
    - a closing `PUT` of an upload session that received no bytes at all (a zero-length blob) is
      refused as ECR refuses `CompleteLayerUpload` without parts: `400 BLOB_UPLOAD_INVALID` "The upload
      with id '<id>' … cannot be completed because it does not have any parts" (EmptyUploadException;
      devcontainers/cli#814, radius-project/radius#7887: also for a monolithic `PUT` with the digest);
    - `foreign_location = "<scheme>://<host:port>"`: the `Location` that starts an upload names that
      origin instead of the front's own (a registry, or an attacker in the middle, sending the client
      elsewhere); `fault("reset", n, "PATCH")` closes the connection (RST) of the next `n` requests of
      that method (`path=` narrows it, e.g. to "/manifests/") after reading half of their body, `fault("stall", n, "PATCH", seconds)` holds them
      without reading a byte for `seconds`, then closes. ECR keeps no partial part: the session
      cannot go on (aws/containers-roadmap#2831).

    `parts` records (upload path, size, status) of every `PATCH`, in order; `tag_refusals`
    (repository, tag) of every immutable refusal; `throttled` (method, path) of every 429;
    `denials` (action, method, path) of every 403 DENIED. `log` records every request as
    `{"method", "path", "status" (None: no answer), "control" (the behaviour above that answered it,
    or None), "authorization" (whether it carried one), "digest_header" (whether the answer had
    Docker-Content-Digest)}`.
    """

    def __init__(self, registry):
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        front = self
        self.parts = []
        self.token_expired = False
        self.immutable = set()
        self.denied = set()  # ECR actions (e.g. "ecr:BatchGetImage") the role may not perform
        self.denials = []
        self.tag_refusals = []
        self.throttled = []
        self._throttle = [0, None]  # requests left to refuse, method (None: any)
        self._sessions = {}  # upload path -> (first range header, last part size)
        self.digest_on_get = False
        self.foreign_location = None
        self.log = []
        self._faults = []  # [kind, count, method, seconds, path part]
        self._received = {}  # upload session id -> bytes received
        self._released = threading.Event()
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                """The request's body, read whole: by Content-Length, or chunk by chunk (the Docker
                daemon streams layer uploads with Transfer-Encoding: chunked)."""
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return body
                        body += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _record(self, status, digest_header=False):
                front.log.append({
                    "method": self.command, "path": self.path.split("?", 1)[0], "status": status,
                    "control": getattr(self, "control", None),
                    "authorization": "Authorization" in self.headers, "digest_header": digest_header,
                })

            def _faulted(self):
                """A pending `reset`/`stall` fault for this request: the connection ends unanswered."""
                with front._lock:
                    fault = next((f for f in front._faults if f[1] > 0 and f[2] in (None, self.command)
                                  and (f[4] is None or f[4] in self.path)), None)
                    if fault is None:
                        return False
                    fault[1] -= 1
                kind, _, _, seconds, _ = fault
                self.control = kind
                self._record(None)
                if kind == "reset":
                    length = int(self.headers.get("Content-Length") or 0)
                    self.rfile.read(length // 2)
                else:
                    front._released.wait(seconds)
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return True

            def _session_of(self, path):
                return path.rsplit("/blobs/uploads/", 1)[-1] if "/blobs/uploads/" in path else None

            def _forward(self):
                self.control = None
                if self._faulted():
                    return None
                body = self._body()
                path = self.path.split("?", 1)[0]
                session = self._session_of(path)
                if (self.command == "PUT" and session and "digest=" in self.path
                        and front._received.get(session, 0) + len(body) == 0):
                    self.control = "empty-upload"
                    repository = path[len("/v2/"):].split("/blobs/")[0]
                    doc = json.dumps({"errors": [{"code": "BLOB_UPLOAD_INVALID", "message": (
                        f"The upload with id '{session}' in the repository with name '{repository}' in registry "
                        f"with id '111111111111' cannot be completed because it does not have any parts")}]})
                    return self._answer(400, [("Content-Type", "application/json")], doc.encode())
                action = ecr_action(self.command, path)
                if action in front.denied:
                    front.denials.append((action, self.command, path))
                    doc = json.dumps({"errors": [{"code": "DENIED", "message": (
                        f"User: {DENIED_PRINCIPAL} is not authorized to perform: {action} on resource: "
                        f"{DENIED_RESOURCE}{path[len('/v2/'):].split('/blobs/')[0].split('/manifests/')[0]} "
                        f"because no identity-based policy allows the {action} action")}]})
                    return self._answer(403, [("Content-Type", "application/json")], doc.encode())
                if front.token_expired:
                    text = b"Your authorization token has expired. Reauthenticate and try again."
                    return self._answer(403, [("Content-Type", "text/plain")], text)
                with front._lock:
                    left, method = front._throttle
                    throttled = left > 0 and method in (None, self.command) and path != "/v2/"
                    if throttled:
                        front._throttle[0] -= 1
                        front.throttled.append((self.command, path))
                if throttled:
                    doc = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "Rate exceeded"}]})
                    return self._answer(429, [("Content-Type", "application/json")], doc.encode())
                if self._refused_as_immutable(path):
                    return None
                if self.command == "PUT" and "/manifests/" in path:
                    try:
                        declared = "mediaType" in json.loads(body)
                    except ValueError:
                        declared = False
                    if not declared:
                        doc = json.dumps({"errors": [{"code": "UNSUPPORTED", "message": (
                            "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")}]})
                        return self._answer(405, [("Content-Type", "application/json")], doc.encode())
                if self.command == "PATCH":
                    with front._lock:
                        first, previous = front._sessions.get(path, (None, None))
                    if previous is not None and previous < MIN_PART:
                        front.parts.append((path, len(body), 400))
                        doc = json.dumps({"errors": [{"code": "BLOB_UPLOAD_INVALID",
                                                      "message": "Layer parts must be at least 5 MiB in size"}]})
                        return self._answer(400, [("Content-Type", "application/json")], doc.encode())
                if session and self.command in ("PATCH", "PUT"):
                    with front._lock:  # bytes the registry received for the session
                        front._received[session] = front._received.get(session, 0) + len(body)
                upstream = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "transfer-encoding", "content-length")}
                headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                out = [(k, v) for k, v in response.getheaders() if k.lower() not in ("content-length", "connection")]
                status = response.status
                upstream.close()
                if self.command == "GET" and "/manifests/" in path and not front.digest_on_get:
                    self.control = "no-digest-on-get"
                    out = [(k, v) for k, v in out if k.lower() != "docker-content-digest"]
                if self.command == "POST" and path.endswith("/blobs/uploads/") and front.foreign_location:
                    self.control = "foreign-location"
                    out = [(k, front.foreign_location + v[v.find("/v2/"):] if k.lower() == "location" else v)
                           for k, v in out]
                if self.command == "PATCH" and status == 202:
                    status = 201
                    new_path = next((v for k, v in out if k.lower() == "location"), path)
                    new_path = new_path.split("://", 1)[-1]
                    new_path = new_path[new_path.find("/"):].split("?", 1)[0]
                    with front._lock:
                        first = front._sessions.get(path, (None, None))[0]
                        current = next((v for k, v in out if k.lower() == "range"), None)
                        stale = first or current
                        front._sessions[new_path] = (stale, len(body))
                    out = [(k, stale if k.lower() == "range" else v) for k, v in out]
                    front.parts.append((path, len(body), status))
                return self._answer(status, out, data)

            def _refused_as_immutable(self, path):
                """Answer as ECR does a manifest PUT under a tag an immutable repository already has."""
                if self.command != "PUT" or "/manifests/" not in path:
                    return False
                repository, reference = path[len("/v2/"):].split("/manifests/", 1)
                if repository not in front.immutable or reference.startswith("sha256:"):
                    return False
                status, _, _ = registry.request("HEAD", f"/v2/{repository}/manifests/{reference}",
                                                {"Accept": ", ".join(MANIFEST_TYPES)})
                if status != 200:
                    return False
                front.tag_refusals.append((repository, reference))
                doc = json.dumps({"errors": [{"code": "TAG_INVALID", "message": (
                    f"The image tag '{reference}' already exists in the '{repository}' repository and cannot be "
                    "overwritten because the tag is immutable.")}]})
                self._answer(400, [("Content-Type", "application/json")], doc.encode())
                return True

            def _answer(self, status, headers, data):
                self._record(status, any(k.lower() == "docker-content-digest" for k, _ in headers))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def throttle(self, count, method=None):
        with self._lock:
            self._throttle = [count, method]

    def fault(self, kind, count, method=None, seconds=30, path=None):
        """`reset` or `stall` the next `count` requests (of `method`, and whose path holds `path`,
        if given)."""
        assert kind in ("reset", "stall"), kind
        with self._lock:
            self._faults.append([kind, count, method, seconds, path])

    def requests(self, method=None, control=None):
        return [r for r in self.log if method in (None, r["method"]) and control in (None, r["control"])]

    def close(self):
        self._released.set()
        self.server.shutdown()
        self.server.server_close()


class ConnectProxy:
    """An HTTP proxy on a free loopback port that only tunnels (CONNECT), as corporate proxies
    of self-hosted runners do for HTTPS; `tunnels` records (target, Proxy-Authorization)."""

    def __init__(self):
        import threading

        self.tunnels = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import threading

        from bitbucket import _pump

        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    break
                head += chunk
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = (lines[0].split(" ") + ["", "", ""])[:3]
            auth = next((line.split(":", 1)[1].strip() for line in lines[1:]
                         if line.lower().startswith("proxy-authorization:")), None)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                client.close()
                continue
            self.tunnels.append((target, auth))
            host, port = target.rsplit(":", 1)
            try:
                upstream = socket.create_connection((host, int(port)), timeout=5)
                upstream.settimeout(None)
            except OSError:
                # A host this machine cannot reach (every real AWS host here): answered as a
                # corporate proxy does, so the client fails at once instead of waiting.
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                client.close()
                continue
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def close(self):
        self.stopped.set()
        self.listener.close()
