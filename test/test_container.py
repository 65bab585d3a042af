"""The pipe's image, run the way Bitbucket runs a pipe (see bitbucket.py), against the emulator.

These tests need the Docker engine and the image test/run builds (PIPE_IMAGE); test/run
deselects them, loudly, on a machine without Docker, and CI requires them.
"""

import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bitbucket import SocketForward, _pump, docker_runner
from pipe import ACCOUNT, OTHER_ACCOUNT, SESSION_NAME, Scenario

pytestmark = pytest.mark.container


@pytest.fixture(scope="session")
def pipe_image():
    image = os.environ.get("PIPE_IMAGE")
    assert image, "PIPE_IMAGE is not set: run test/run, which builds the image with scripts/build-image"
    return image


@pytest.fixture(scope="session")
def docker_forward():
    # A free port, not 2375: other suites on the same machine may hold that one.
    forward = SocketForward(port=0)
    yield forward
    forward.close()


@pytest.fixture
def container(emulator, tmp_path, pipe_image, docker_forward):
    """A scenario whose pipe runs in the image."""
    ssh_dir = tmp_path / "ssh"
    ssh_dir.mkdir()
    return Scenario(emulator, tmp_path, runner=docker_runner(pipe_image, ssh_dir, docker_forward.port))


def test_assume_role_in_the_image(container, emulator):
    result = container.run()
    assert result.code == 0, result
    assert f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/{SESSION_NAME}" in result.output
    # The outputs landed in the clone directory on the runner, where later script lines read them.
    outputs = result.outputs_env
    assert outputs["AWS_ROLE_DEPLOY_ACCOUNT"] == ACCOUNT
    assert outputs["AWS_ROLE_DEPLOY_ROLE_ARN"] == container.role_arn
    assert "/opt/atlassian/pipelines/agent/build/.bitbucket/pipelines/generated/pipeline/pipes" in result.output
    [web_identity] = emulator.requests(service="sts", action="AssumeRoleWithWebIdentity")
    assert web_identity["params"]["RoleSessionName"] == SESSION_NAME
    # Every call names the pipe in its User-Agent, for CloudTrail.
    assert "aws-role-deploy" in web_identity["user_agent"]


def test_chained_role_with_debug_leaks_no_secret(container, emulator):
    external_id = "ext-3f9a1c77d2"
    target = container.chained_role(external_id=external_id)
    result = container.run(AWS_ROLE_ARN=target, AWS_EXTERNAL_ID=external_id, DEBUG="true")
    assert result.code == 0, result
    assert f"in account {OTHER_ACCOUNT}" in result.output
    assert "DEBUG:" in result.output
    everything = result.everything()
    for secret in emulator.secrets() + [external_id, container.token]:
        assert secret not in everything


def test_missing_oidc_token_in_the_image(container, emulator):
    result = container.run(BITBUCKET_STEP_OIDC_TOKEN=None)
    assert result.code == 2, result
    assert "oidc: true" in result.output
    assert emulator.requests() == []


def test_image_holds_only_the_binary_and_the_ca_bundle(pipe_image):
    with tempfile.TemporaryDirectory() as tmp:
        archive = os.path.join(tmp, "image.tar")
        subprocess.run(["docker", "save", "--output", archive, pipe_image], check=True)
        files = set()
        with tarfile.open(archive) as image:
            manifest = json.load(image.extractfile("manifest.json"))
            for layer in manifest[0]["Layers"]:
                with tarfile.open(fileobj=image.extractfile(layer)) as contents:
                    files |= {member.name for member in contents.getmembers() if not member.isdir()}
    assert files == {"usr/local/bin/aws-role-deploy", "etc/ssl/certs/ca-certificates.crt"}


# --------------------------------------------------------------------------- TLS and CA bundles


def _certificate_authority(tmp_path):
    """A CA and a server certificate for localhost, as PEM files."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aws-role-deploy test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    ca_path, cert_path, key_path = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca_path.write_bytes(pem(ca))
    cert_path.write_bytes(pem(cert))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


@pytest.fixture
def https_emulator(emulator, tmp_path):
    """The emulator behind a TLS terminator on 127.0.0.1 with a certificate from a private CA.
    Yields (https URL, CA PEM path)."""
    ca_path, cert_path, key_path = _certificate_authority(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    upstream = emulator.base_url.removeprefix("http://").split(":")
    stopped = threading.Event()

    def serve():
        while not stopped.is_set():
            try:
                raw, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                client = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()  # e.g. a client that does not trust the CA hangs up
                continue
            backend = socket.create_connection((upstream[0], int(upstream[1])))
            for source, sink in ((client, backend), (backend, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"https://localhost:{port}", ca_path
    stopped.set()
    listener.close()


def test_https_with_a_ca_bundle_from_the_clone_dir(container, https_emulator):
    url, ca_path = https_emulator
    (container.clone_dir / "certs").mkdir()
    (container.clone_dir / "certs" / "corporate-ca.pem").write_bytes(ca_path.read_bytes())
    # A relative SSL_CERT_FILE resolves against the clone directory, as runners behind a
    # TLS-inspecting proxy would use it.
    result = container.run(AWS_ENDPOINT_URL=url, SSL_CERT_FILE="certs/corporate-ca.pem")
    assert result.code == 0, result
    assert f"assumed-role/deploy/{SESSION_NAME}" in result.output


def test_https_is_verified_against_the_images_bundle(container, https_emulator, emulator):
    url, _ = https_emulator
    result = container.run(AWS_ENDPOINT_URL=url, AWS_MAX_ATTEMPTS="1")
    # The image's own bundle is loaded (the failure is about the issuer, not a missing store),
    # and an untrusted certificate is refused, not ignored.
    assert result.code == 1, result
    assert "UnknownIssuer" in result.output or "certificate" in result.output.lower(), result
    assert emulator.requests(service="sts") == []


def test_ecs_deploy_in_the_image(container, emulator):
    from emulator.ecs_scenario import task_definition_body
    from test_ecs import Ecs

    ecs = Ecs(container, emulator)
    ecs.rollout("complete", polls=2)
    body = task_definition_body()
    body["containerDefinitions"][0]["image"] = "repo/app:${BITBUCKET_COMMIT}"
    result = ecs.run(TASK_DEFINITION=ecs.write_task_definition(body, name="deploy/task.json"))

    assert result.code == 0, result
    assert "Deployed web:2 to web" in result.final_line
    stored = emulator.ecs_task_definition("web:2")
    assert stored["containerDefinitions"][0]["image"] == f"repo/app:{container.commit}"
    assert result.outputs_env["AWS_ROLE_DEPLOY_SERVICES_0_STATE"] == "COMPLETED"


def test_lambda_deploy_in_the_image(container, emulator):
    from test_lambda import Lambda

    fn = Lambda(container, emulator)
    fn.emulator.lambda_script("api", in_progress_polls=2, applies_to="code")
    result = fn.run(ZIP_FILE=fn.source_dir({"app.py": "def handler(e, c):\n    return 'image'\n"}), ALIAS="live")

    assert result.code == 0, result
    version = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert fn.boto.get_alias(FunctionName="api", Name="live")["FunctionVersion"] == version
    [update] = fn.calls("UpdateFunctionCode")
    assert update["params"]["ZipFile"]["sha256_b64"] == result.outputs_env["AWS_ROLE_DEPLOY_CODE_SHA256"]


@pytest.fixture
def free_docker_forward(docker_engine):
    """The step's daemon on a free loopback port (other suites may hold 2375)."""
    forward = SocketForward(port=0)
    yield forward
    forward.close()


def test_ecr_push_in_the_image_from_the_step_daemon_and_an_archive(
    emulator, tmp_path, pipe_image, ecr_registry, free_docker_forward
):
    """Bitbucket's way: DOCKER_HOST=tcp://host.docker.internal:<port> reaches the step's daemon;
    the image has no docker CLI, only the Engine API. Then the same image from a docker save
    archive in the clone directory, without the daemon."""
    import uuid

    import images
    from emulator.scenario import client_for

    ssh_dir = tmp_path / "ssh"
    ssh_dir.mkdir()
    step = Scenario(emulator, tmp_path, runner=docker_runner(pipe_image, ssh_dir, free_docker_forward.port))
    repository = f"team/boxed-{uuid.uuid4().hex[:8]}"
    client_for(emulator, "ecr", step.user(name="ecr-admin")).create_repository(repositoryName=repository)
    name = images.build_image(tmp_path / "context")
    pushed_names = [f"{ecr_registry.host}/{repository}:{tag}" for tag in ("v1", "latest")]
    try:
        result = step.run(ACTION="ecr-push", IMAGE_NAME=name, ECR_REPOSITORY=repository, TAGS="v1 latest",
                          timeout=120)
        assert result.code == 0, result
        assert f"tcp://host.docker.internal:{free_docker_forward.port}" not in result.final_line
        digest = result.outputs_env["AWS_ROLE_DEPLOY_DIGEST"]
        assert result.outputs_env["AWS_ROLE_DEPLOY_IMAGE"] == f"{ecr_registry.host}/{repository}@{digest}"
        for tag in ("v1", "latest"):
            assert ecr_registry.manifest(repository, tag)[0] == digest

        images.docker_save(name, step.clone_dir / "saved.tar")
        archived = step.run(ACTION="ecr-push", IMAGE_ARCHIVE="saved.tar", ECR_REPOSITORY=repository,
                            TAGS="from-archive", DOCKER_HOST=None, timeout=120)
        assert archived.code == 0, archived
        assert ecr_registry.manifest(repository, "from-archive")[0] == archived.outputs_env["AWS_ROLE_DEPLOY_DIGEST"]
    finally:
        images.remove_images(name, *pushed_names)


# --------------------------------------------------------------------------- trust-policy (issue 11)


def test_trust_policy_command_runs_from_the_image(pipe_image):
    """`docker run <image> trust-policy ...`, as the five-minute setup (README, docs/trust-policy.md) shows."""
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", pipe_image, "trust-policy", "--workspace", "acme",
         "--workspace-uuid", "{0a1b2c3d-0000-4000-8000-000000000001}",
         "--repository-uuid", "0a1b2c3d-0000-4000-8000-000000000002", "--account", ACCOUNT],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["identity_provider"]["audience"] == "ari:cloud:bitbucket::workspace/0a1b2c3d-0000-4000-8000-000000000001"
    assert "NOTE: Branches cannot be pinned" in done.stderr


def test_trust_policy_step_in_the_image(container, emulator):
    result = container.run(ACTION="trust-policy")
    assert result.code == 0, result
    assert f'"{container.repo_uuid}:*"' in result.output
    assert emulator.requests() == []


def test_a_deploy_in_the_image_leaves_its_report_through_the_proxy_its_hosts_file_names(
        container, emulator, authentication_proxy_port):
    """The Bitbucket way in: host.docker.internal from the container's hosts file (the agent's
    --add-host; here 127.0.0.1 with --network host), the authentication proxy on port 29418."""
    from insights import FakeInsightsProxy
    from test_ecs import Ecs

    ecs = Ecs(container, emulator)
    ecs.rollout("complete")
    try:
        proxy = FakeInsightsProxy(port=authentication_proxy_port)
    except OSError as busy:
        raise AssertionError(
            f"port {authentication_proxy_port} (the authentication proxy's) is taken on this machine: {busy}"
        ) from None
    with proxy:
        result = ecs.run(IMAGE="repo/app:2", CONTAINER_NAME="app")

    assert result.code == 0, result
    # Every pipe run in an image on this machine reports to this port (the image's hosts file
    # names the host): the other container tests' runs, in parallel under test/run, may land here
    # too. This run's own requests are those for its commit (random per scenario): exactly one.
    mine = [request for request in proxy.requests if f"/commit/{container.commit}/" in request["url"]]
    assert len(mine) == 1, proxy.requests
    [put] = mine
    assert put["method"] == "PUT"
    assert put["url"].startswith(
        f"http://api.bitbucket.org/2.0/repositories/acme/web-app/commit/{container.commit}/reports/aws-role-deploy-ecs-deploy-"
    )
    assert "authorization" not in put["headers"]
    assert put["body"]["result"] == "PASSED"
    emulator.assert_no_secrets_in(proxy.text(), more=[container.token])
    assert "Code Insights: report aws-role-deploy-ecs-deploy-" in result.output
