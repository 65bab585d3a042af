"""Shared fixtures: one emulator server per test session, reset before each test.

    def test_something(emulator):          # emulator: emulator.client.Emulator, freshly reset
        emulator.create_role(...)
        boto3.client("sts", endpoint_url=emulator.base_url, region_name="us-east-1", ...)
"""

import fcntl
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from emulator.client import Emulator
import pipe
from pipe import Scenario

TEST_DIR = Path(__file__).resolve().parent
SERVER = TEST_DIR / "emulator" / "server.py"
READY = "emulator ready on "


@pytest.fixture(scope="session")
def emulator_process(tmp_path_factory):
    """Start test/emulator/server.py on a free port; yield the process, with `.base_url`
    and `.log_dir` (server stdout/stderr); kill it at the end.

    Output goes to files, not pipes, so a chatty server can never block on a full pipe;
    the files are shown if startup fails. Set EMULATOR_VERBOSE=1 to log every request.
    """
    logdir = tmp_path_factory.mktemp("emulator")
    out_path, err_path = logdir / "stdout.log", logdir / "stderr.log"
    env = dict(os.environ)
    env.pop("MOTO_ACCOUNT_ID", None)
    if not os.environ.get("EMULATOR_VERBOSE"):
        env["EMULATOR_QUIET"] = "1"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        # --port 0: the server binds a free port itself and reports it, so no race
        # between choosing a port here and binding it there.
        proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--port", "0", "--host", "127.0.0.1"],
            stdout=out,
            stderr=err,
            env=env,
        )
    base_url = None
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        for line in out_path.read_text().splitlines():
            if line.startswith(READY):
                base_url = line[len(READY):].strip()
        if base_url:
            break
        time.sleep(0.05)
    if base_url is None:
        proc.kill()
        proc.wait()
        raise RuntimeError(
            f"emulator did not start:\n{out_path.read_text()}\n{err_path.read_text()}"
        )
    proc.base_url = base_url
    proc.log_dir = logdir
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def emulator(emulator_process):
    """The control client, with moto and the layer reset for this test."""
    client = Emulator(emulator_process.base_url)
    client.reset()
    # Every pipe run of the test (pipe.Result.collect) is scanned for what this emulator issued.
    pipe.SECRETS_SOURCE = client
    yield client
    pipe.SECRETS_SOURCE = None


@pytest.fixture
def scenario(emulator, tmp_path):
    """A Bitbucket step with OIDC set up in the emulator (see pipe.py), running the binary."""
    return Scenario(emulator, tmp_path)


@pytest.fixture(scope="session")
def registry_process(tmp_path_factory):
    """Debian's docker-registry on a free loopback port with htpasswd auth (test/registry.py).
    Missing or failing: a skip on a developer machine, a failure under REQUIRE_DOCKER=1 (CI)."""
    import registry

    try:
        started = registry.start_registry(tmp_path_factory.mktemp("registry"))
    except (OSError, RuntimeError, subprocess.CalledProcessError) as failed:
        if registry.required():
            pytest.fail(f"the test registry could not start (REQUIRE_DOCKER=1): {failed}")
        pytest.skip(f"NO TEST REGISTRY (run scripts/dev-setup): {failed}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def ecr_registry(emulator, registry_process):
    """The registry, with the emulator's GetAuthorizationToken answering with its credentials."""
    emulator.ecr_registry(registry_process.endpoint, registry_process.password)
    return registry_process


@pytest.fixture(scope="session")
def docker_engine():
    """The Docker engine, for tests that push from a daemon. Missing: a skip, or a failure under
    REQUIRE_DOCKER=1 (CI)."""
    import images
    import registry

    if not images.docker_available():
        if registry.required():
            pytest.fail("the Docker engine is not reachable (REQUIRE_DOCKER=1)")
        pytest.skip("NO DOCKER ENGINE: daemon push tests skipped")
    return True


@pytest.fixture
def tls_registry_behind_proxy(tmp_path, emulator):
    """A registry served over TLS by a CA of its own (its certificate in `ca`, for SSL_CERT_FILE),
    named by the emulator's GetAuthorizationToken, and a CONNECT proxy in front of it, as on a
    self-hosted runner behind a corporate proxy. Yields (registry, proxy, ca)."""
    from registry import ConnectProxy, Registry
    from test_container import _certificate_authority

    ca, cert, key = _certificate_authority(tmp_path)
    (tmp_path / "tls-registry").mkdir()
    registry = Registry(tmp_path / "tls-registry", tls=(cert, key), ca=ca)
    proxy = ConnectProxy()
    try:
        emulator.ecr_registry(registry.endpoint, registry.password)
        yield registry, proxy, ca
    finally:
        proxy.close()
        registry.stop()


@pytest.fixture
def repository(scenario, emulator):
    """A new ECR repository in the scenario's account (made by an admin user, not the pipe)."""
    import uuid

    from emulator.scenario import client_for

    name = f"team/app-{uuid.uuid4().hex[:8]}"
    admin = scenario.user(name=f"ecr-admin-{uuid.uuid4().hex[:6]}")
    client_for(emulator, "ecr", admin).create_repository(repositoryName=name)
    return name


# Where the image finds Bitbucket's authentication proxy (host.docker.internal, its hosts file).
AUTHENTICATION_PROXY_PORT = 29418


@pytest.fixture
def authentication_proxy_port():
    """Port 29418, held by this test alone for its duration. test/run runs the suite in several
    processes (pytest-xdist), and the tests that serve the fake proxy on that fixed port (the image
    reaches it there, as in Bitbucket) would otherwise take it from each other: an exclusive lock
    on a file in the system's temporary directory, which every worker (and a concurrent run on the
    same machine) sees, makes them take turns. The lock goes with the process, whatever happens."""
    with open(Path(tempfile.gettempdir()) / f"aws-role-deploy-port-{AUTHENTICATION_PROXY_PORT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield AUTHENTICATION_PROXY_PORT
