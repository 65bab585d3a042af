"""Hostile input (issue 12): a corpus of malformed, huge and binary JSON, wrong types, unknown
actions, invalid ARNs, regions and durations, paths out of the clone directory, FIFOs, devices,
link bombs, and variables with control characters. Each one must end with the bad-input exit
code (2) and a clear error naming the variable, within seconds (the subprocess timeout is a hang
guard, not a measurement), and with no mutating AWS call, asserted from the emulator's request
log. The function and the service exist, so nothing is refused merely for a missing resource.

Each case is (kind, variables, setup): `setup(clone_dir)` makes the files it needs; a value
"@name" in the variables names a file made by setup, relative to the clone directory.
"""

import json
import os
import stat

import pytest

from emulator.lambda_scenario import lambda_fixture
from test_ecs import Ecs

MUTATING = {
    "RegisterTaskDefinition", "RunTask", "UpdateService", "StopServiceDeployment", "UpdateFunctionConfiguration",
    "UpdateFunctionCode", "PublishVersion", "CreateAlias", "UpdateAlias", "DeleteAlias", "PutObject",
    "TagResource", "DeregisterTaskDefinition",
}

ECS = {"ACTION": "ecs-deploy", "CLUSTER_NAME": "prod", "SERVICE_NAME": "web"}
LAMBDA = {"ACTION": "lambda-deploy", "FUNCTION_NAME": "api"}


def write(name, content):
    def setup(root):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


def fifo(name):
    return lambda root: os.mkfifo(root / name)


def device(name):
    # A character device like /dev/zero (1, 5), committed in the clone directory.
    return lambda root: os.mknod(root / name, stat.S_IFCHR | 0o600, os.makedev(1, 5))


def link(name, target):
    return lambda root: os.symlink(target, root / name)


def link_bomb(name, levels=16):
    """dN/a and dN/b both -> ../dN+1: 2^levels paths without a bound."""
    def setup(root):
        for level in range(levels):
            level_dir = root / name / f"d{level}"
            level_dir.mkdir(parents=True)
            (level_dir / "f").write_text("x")
            if level < levels - 1:
                os.symlink(f"../d{level + 1}", level_dir / "a")
                os.symlink(f"../d{level + 1}", level_dir / "b")
    return setup


def link_loop(name):
    def setup(root):
        (root / name).mkdir()
        (root / name / "app.py").write_text("x = 1\n")
        os.symlink("..", root / name / "up")
    return setup


def in_dir(name, make):
    """A package directory with a harmless file and something hostile (`make(dir)`) inside."""
    def setup(root):
        (root / name).mkdir()
        (root / name / "app.py").write_text("x = 1\n")
        make(root / name)
    return setup


def deep_json(depth):
    return "[" * depth + "]" * depth


def task_definition(**changes):
    body = {"family": "web", "containerDefinitions": [{"name": "app", "image": "repo/app:2", "essential": True}]}
    body.update(changes)
    return json.dumps(body)


# (id, kind, variables, setup or None, variable the error must name)
CASES = [
    # --- JSON: malformed, huge, binary, wrong types
    ("td-truncated", "malformed JSON", {**ECS, "TASK_DEFINITION": "@td.json"}, write("td.json", '{"family": "web",'), "TASK_DEFINITION"),
    ("td-empty", "malformed JSON", {**ECS, "TASK_DEFINITION": "@td.json"}, write("td.json", ""), "TASK_DEFINITION"),
    ("td-trailing-garbage", "malformed JSON", {**ECS, "TASK_DEFINITION": "@td.json"}, write("td.json", task_definition() + "}{"), "TASK_DEFINITION"),
    ("td-deep-nesting", "malformed JSON", {**ECS, "TASK_DEFINITION": "@td.json"}, write("td.json", deep_json(100_000)), "TASK_DEFINITION"),
    ("td-huge", "huge JSON", {**ECS, "TASK_DEFINITION": "@td.json"},
     write("td.json", task_definition(tags=[{"key": "k", "value": "v" * (3 * 1024 * 1024)}])), "TASK_DEFINITION"),
    ("td-binary", "binary JSON", {**ECS, "TASK_DEFINITION": "@td.json"}, write("td.json", bytes(range(256)) * 8), "TASK_DEFINITION"),
    ("td-utf16", "binary JSON", {**ECS, "TASK_DEFINITION": "@td.json"},
     write("td.json", task_definition().encode("utf-16")), "TASK_DEFINITION"),
    ("td-nul", "binary JSON", {**ECS, "TASK_DEFINITION": "@td.json"}, write("td.json", b'{"family": "web\x00"}'), "TASK_DEFINITION"),
    ("td-array", "wrong types", {**ECS, "TASK_DEFINITION": "@td.json"}, write("td.json", "[1, 2]"), "TASK_DEFINITION"),
    ("td-string", "wrong types", {**ECS, "TASK_DEFINITION": "@td.json"}, write("td.json", '"web"'), "TASK_DEFINITION"),
    ("td-containers-string", "wrong types", {**ECS, "TASK_DEFINITION": "@td.json"},
     write("td.json", task_definition(containerDefinitions="app")), "TASK_DEFINITION"),
    ("td-family-number", "wrong types", {**ECS, "TASK_DEFINITION": "@td.json"}, write("td.json", task_definition(family=5)), "TASK_DEFINITION"),
    ("td-no-containers", "wrong types", {**ECS, "TASK_DEFINITION": "@td.json"},
     write("td.json", task_definition(containerDefinitions=[])), "TASK_DEFINITION"),
    ("td-unclosed-placeholder", "malformed JSON", {**ECS, "TASK_DEFINITION": "@td.json"},
     write("td.json", task_definition(family="${FAMILY")), "TASK_DEFINITION"),
    ("fc-truncated", "malformed JSON", {**LAMBDA, "FUNCTION_CONFIGURATION": "@c.json"}, write("c.json", '{"MemorySize": '), "FUNCTION_CONFIGURATION"),
    ("fc-binary", "binary JSON", {**LAMBDA, "FUNCTION_CONFIGURATION": "@c.json"}, write("c.json", b"\xff\xfe\x00\x01" * 100), "FUNCTION_CONFIGURATION"),
    ("fc-huge", "huge JSON", {**LAMBDA, "FUNCTION_CONFIGURATION": "@c.json"},
     write("c.json", json.dumps({"Description": "d" * (2 * 1024 * 1024)})), "FUNCTION_CONFIGURATION"),
    ("fc-array", "wrong types", {**LAMBDA, "FUNCTION_CONFIGURATION": "@c.json"}, write("c.json", "[]"), "FUNCTION_CONFIGURATION"),
    ("fc-memory-string", "wrong types", {**LAMBDA, "FUNCTION_CONFIGURATION": "@c.json"},
     write("c.json", '{"MemorySize": "big"}'), "FUNCTION_CONFIGURATION"),
    ("fc-environment-list", "wrong types", {**LAMBDA, "FUNCTION_CONFIGURATION": "@c.json"},
     write("c.json", '{"Environment": {"Variables": ["A=1"]}}'), "FUNCTION_CONFIGURATION"),
    ("fc-env-value-number", "wrong types", {**LAMBDA, "FUNCTION_CONFIGURATION": "@c.json"},
     write("c.json", '{"Environment": {"Variables": {"A": 1}}}'), "FUNCTION_CONFIGURATION"),
    # --- unknown ACTION
    ("action-unknown", "unknown ACTION", {"ACTION": "deploy"}, None, "ACTION"),
    ("action-empty", "unknown ACTION", {"ACTION": ""}, None, "ACTION"),
    ("action-injection", "unknown ACTION", {"ACTION": "ecs-deploy; rm -rf /"}, None, "ACTION"),
    ("action-underscore", "unknown ACTION", {"ACTION": "ecs_deploy"}, None, "ACTION"),
    # --- ARNs, regions, durations, numbers
    ("oidc-arn-garbage", "invalid ARN", {"AWS_OIDC_ROLE_ARN": "not-an-arn"}, None, "AWS_OIDC_ROLE_ARN"),
    ("oidc-arn-short-account", "invalid ARN", {"AWS_OIDC_ROLE_ARN": "arn:aws:iam::123:role/deploy"}, None, "AWS_OIDC_ROLE_ARN"),
    ("oidc-arn-not-a-role", "invalid ARN", {"AWS_OIDC_ROLE_ARN": "arn:aws:s3:::bucket"}, None, "AWS_OIDC_ROLE_ARN"),
    ("role-arn-user", "invalid ARN", {"AWS_ROLE_ARN": "arn:aws:iam::111111111111:user/ci"}, None, "AWS_ROLE_ARN"),
    ("function-arn-other-service", "invalid ARN", {**LAMBDA, "FUNCTION_NAME": "arn:aws:s3:::bucket", "PUBLISH": "false"}, None, "FUNCTION_NAME"),
    ("cluster-arn-garbage", "invalid ARN", {**ECS, "CLUSTER_NAME": "arn:aws:ecs:nowhere", "IMAGE": "repo/app:2"}, None, "CLUSTER_NAME"),
    ("region-word", "invalid region", {"AWS_DEFAULT_REGION": "Europe"}, None, "AWS_DEFAULT_REGION"),
    ("region-path", "invalid region", {"AWS_DEFAULT_REGION": "../../etc"}, None, "AWS_DEFAULT_REGION"),
    ("region-host", "invalid region", {"AWS_DEFAULT_REGION": "evil.example.com/x"}, None, "AWS_DEFAULT_REGION"),
    ("duration-unit", "invalid duration", {"AWS_ROLE_DURATION_SECONDS": "1h"}, None, "AWS_ROLE_DURATION_SECONDS"),
    ("duration-negative", "invalid duration", {"AWS_ROLE_DURATION_SECONDS": "-900"}, None, "AWS_ROLE_DURATION_SECONDS"),
    ("duration-overflow", "invalid duration", {"AWS_ROLE_DURATION_SECONDS": "9" * 40}, None, "AWS_ROLE_DURATION_SECONDS"),
    ("wait-zero", "invalid duration", {"WAIT_TIMEOUT": "0"}, None, "WAIT_TIMEOUT"),
    ("wait-float", "invalid duration", {"WAIT_TIMEOUT": "1e3"}, None, "WAIT_TIMEOUT"),
    ("attempt-timeout-nan", "invalid duration", {"AWS_ATTEMPT_TIMEOUT": "NaN"}, None, "AWS_ATTEMPT_TIMEOUT"),
    ("max-attempts-huge", "invalid duration", {"AWS_MAX_ATTEMPTS": "100000"}, None, "AWS_MAX_ATTEMPTS"),
    ("desired-count-negative", "wrong types", {**ECS, "IMAGE": "repo/app:2", "DESIRED_COUNT": "-1"}, None, "DESIRED_COUNT"),
    ("boolean-word", "wrong types", {**ECS, "IMAGE": "repo/app:2", "WAIT": "maybe"}, None, "WAIT"),
    # --- paths outside the clone directory
    ("td-dotdot", "path outside", {**ECS, "TASK_DEFINITION": "../../etc/passwd"}, None, "TASK_DEFINITION"),
    ("td-absolute", "path outside", {**ECS, "TASK_DEFINITION": "/etc/passwd"}, None, "TASK_DEFINITION"),
    ("td-escaping-link", "path outside", {**ECS, "TASK_DEFINITION": "@td.json"}, link("td.json", "/etc/passwd"), "TASK_DEFINITION"),
    ("fc-dotdot", "path outside", {**LAMBDA, "FUNCTION_CONFIGURATION": "../../../etc/hostname"}, None, "FUNCTION_CONFIGURATION"),
    ("fc-escaping-dir-link", "path outside", {**LAMBDA, "FUNCTION_CONFIGURATION": "@etc/hostname"}, link("etc", "/etc"), "FUNCTION_CONFIGURATION"),
    ("zip-absolute", "path outside", {**LAMBDA, "ZIP_FILE": "/etc"}, None, "ZIP_FILE"),
    ("zip-dotdot", "path outside", {**LAMBDA, "ZIP_FILE": "../.."}, None, "ZIP_FILE"),
    ("zip-escaping-link", "path outside", {**LAMBDA, "ZIP_FILE": "@pkg.zip"}, link("pkg.zip", "/bin/sh"), "ZIP_FILE"),
    ("ca-dotdot", "path outside", {"SSL_CERT_FILE": "../../etc/ssl/certs/ca-certificates.crt"}, None, "SSL_CERT_FILE"),
    # --- FIFOs, devices, link bombs
    ("td-fifo", "FIFO", {**ECS, "TASK_DEFINITION": "@td.json"}, fifo("td.json"), "TASK_DEFINITION"),
    ("fc-fifo", "FIFO", {**LAMBDA, "FUNCTION_CONFIGURATION": "@c.json"}, fifo("c.json"), "FUNCTION_CONFIGURATION"),
    ("zip-fifo", "FIFO", {**LAMBDA, "ZIP_FILE": "@pkg.zip"}, fifo("pkg.zip"), "ZIP_FILE"),
    ("ca-fifo", "FIFO", {"SSL_CERT_FILE": "@ca.pem"}, fifo("ca.pem"), "SSL_CERT_FILE"),
    ("zip-dir-with-fifo", "FIFO", {**LAMBDA, "ZIP_FILE": "@pkg"}, in_dir("pkg", lambda d: os.mkfifo(d / "pipe")), "ZIP_FILE"),
    ("td-device", "device", {**ECS, "TASK_DEFINITION": "@td.json"}, device("td.json"), "TASK_DEFINITION"),
    ("td-dev-zero", "device", {**ECS, "TASK_DEFINITION": "/dev/zero"}, None, "TASK_DEFINITION"),
    ("fc-device", "device", {**LAMBDA, "FUNCTION_CONFIGURATION": "@c.json"}, device("c.json"), "FUNCTION_CONFIGURATION"),
    ("zip-device", "device", {**LAMBDA, "ZIP_FILE": "@pkg.zip"}, device("pkg.zip"), "ZIP_FILE"),
    ("zip-dir-with-device", "device", {**LAMBDA, "ZIP_FILE": "@pkg"},
     in_dir("pkg", lambda d: os.mknod(d / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))), "ZIP_FILE"),
    ("ca-dev-zero", "device", {"SSL_CERT_FILE": "/dev/zero"}, None, "SSL_CERT_FILE"),
    ("zip-link-bomb", "link bomb", {**LAMBDA, "ZIP_FILE": "@pkg"}, link_bomb("pkg"), "ZIP_FILE"),
    ("zip-link-loop", "link bomb", {**LAMBDA, "ZIP_FILE": "@pkg"}, link_loop("pkg"), "ZIP_FILE"),
    ("zip-dir-escaping-link", "path outside", {**LAMBDA, "ZIP_FILE": "@pkg"},
     in_dir("pkg", lambda d: os.symlink("/etc/passwd", d / "passwd")), "ZIP_FILE"),
    # --- control characters and newlines
    ("cluster-newline", "control characters", {**ECS, "CLUSTER_NAME": "prod\n✔ Deployed everything", "IMAGE": "repo/app:2"}, None, "CLUSTER_NAME"),
    ("service-escape", "control characters", {**ECS, "SERVICE_NAME": "web\x1b[2K\x1b[1A", "IMAGE": "repo/app:2"}, None, "SERVICE_NAME"),
    ("image-newline", "control characters", {**ECS, "IMAGE": "repo/app:2\nINFO: fake"}, None, "IMAGE"),
    ("function-tab", "control characters", {**LAMBDA, "FUNCTION_NAME": "api\tother", "PUBLISH": "false"}, None, "FUNCTION_NAME"),
    ("alias-newline", "control characters", {**LAMBDA, "ALIAS": "live\nprod"}, None, "ALIAS"),
    ("region-newline", "control characters", {"AWS_DEFAULT_REGION": "us-east-1\nINFO: fake"}, None, "AWS_DEFAULT_REGION"),
    ("external-id-newline", "control characters", {"AWS_ROLE_ARN": "arn:aws:iam::222222222222:role/target",
                                                   "AWS_EXTERNAL_ID": "abc\ndef"}, None, "AWS_EXTERNAL_ID"),
    ("s3-key-newline", "control characters", {**LAMBDA, "S3_BUCKET": "b", "S3_KEY": "k\n.zip"}, None, "S3_KEY"),
    ("version-description-cr", "control characters", {**LAMBDA, "ZIP_FILE": "@build", "VERSION_DESCRIPTION": "v1\r✔ done"},
     in_dir("build", lambda d: None), "VERSION_DESCRIPTION"),
]

KINDS = sorted({kind for _, kind, _, _, _ in CASES})


@pytest.fixture
def aws(scenario, emulator):
    """The service and the function exist: nothing below is refused for a missing resource."""
    Ecs(scenario, emulator)
    lambda_fixture(emulator, name="api")
    return scenario


@pytest.mark.parametrize("case_id, kind, variables, setup, variable", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_bad_input_within_seconds_with_no_change(aws, emulator, case_id, kind, variables, setup,
                                                                  variable):
    if setup:
        setup(aws.clone_dir)
    env = {name: (value[1:] if value.startswith("@") else value) for name, value in variables.items()}
    before = len(emulator.requests())

    # A generous hang guard, not a timed assertion: a FIFO read would block for ever.
    result = aws.run(timeout=30, **env)

    assert result.code == 2, result
    assert variable in result.output, f"the error does not name {variable}\n{result}"
    calls = emulator.requests()[before:]
    mutating = [call["action"] for call in calls if call["action"] in MUTATING]
    assert mutating == [], f"{case_id}: mutating calls {mutating}\n{result}"
    # The error is one clear block: the headline is ours, never an internal error or the
    # SDK's nested context.
    assert "Internal error" not in result.output and "DispatchFailure" not in result.output, result
    # A value with a newline cannot forge a log line of its own.
    assert not any(line.startswith(("✔", "INFO: fake")) for line in result.lines), result


# ============================================================================ ecr-push archives
# Issue 18, "archives are data, never paths": an archive given as IMAGE_ARCHIVE is untrusted data.
# Every name it uses stays inside it, its structure is bounded, its blobs are hashed before
# anything is sent; each case below is exit 2 naming IMAGE_ARCHIVE (and the entry), with no
# ECR call that changes anything, no login (the archive is refused before it), and not one
# request to the registry.

import hashlib  # noqa: E402
import io  # noqa: E402
import tarfile  # noqa: E402

import images  # noqa: E402

ECR_MUTATING = {"CreateRepository", "PutImage", "BatchDeleteImage", "InitiateLayerUpload", "UploadLayerPart",
                "CompleteLayerUpload", "PutLifecyclePolicy", "TagResource", "GetAuthorizationToken"}
ECR_REPOSITORY = "team/hostile"
PUSH = {"ACTION": "ecr-push", "ECR_REPOSITORY": ECR_REPOSITORY}


def legacy_save(name, **kwargs):
    return lambda root: images.legacy_docker_save(root / name, **kwargs)


def add_members(tar_path, members):
    """Append raw members: (name, type, linkname, data); tarfile writes whatever it is given."""
    with tarfile.open(tar_path, "a") as tar:
        for name, kind, linkname, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = linkname
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)


def tar_of(name, members):
    """A tar holding only `members` (names, links and types exactly as given)."""
    def setup(root):
        add_members(root / name, [])
        with tarfile.open(root / name, "w") as tar:
            pass
        add_members(root / name, members)
    return setup


def save_then(name, members):
    """A valid legacy docker save, with hostile members appended."""
    def setup(root):
        images.legacy_docker_save(root / name)
        add_members(root / name, members)
    return setup


def save_dir(name, config="config.json", layers=("layer.tar",), repo_tags=("app:1",), extra=None):
    """A docker save unpacked as a directory; manifest.json names what it is told to."""
    def setup(root):
        directory = root / name
        directory.mkdir()
        layer = images._layer([100])
        (directory / "layer.tar").write_bytes(layer)
        (directory / "config.json").write_text(json.dumps(
            {"architecture": "amd64", "os": "linux",
             "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}))
        (directory / "manifest.json").write_text(json.dumps(
            [{"Config": config, "RepoTags": list(repo_tags), "Layers": list(layers)}]))
        if extra:
            extra(directory)
    return setup


def oci_then(name, change):
    """A valid OCI layout directory, then `change(layout, top digest)`."""
    def setup(root):
        top, _ = images.oci_layout(root / name)
        change(root / name, top)
    return setup


def blob_path(layout, digest):
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def manifest_of(layout, top):
    return json.loads(blob_path(layout, top).read_bytes())


def rewrite_index(layout, document):
    """index.json naming `document` (written as a blob) as the image."""
    data = json.dumps(document).encode()
    descriptor = images._blob(layout, data)
    media_type = document.get("mediaType", images.OCI_MANIFEST)
    (layout / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "manifests": [{"mediaType": media_type, **descriptor}]}))


def index_bomb(count, distinct):
    """An image index listing `count` manifests (`distinct` different digests, all absent)."""
    def change(layout, top):
        size = blob_path(layout, top).stat().st_size
        manifests = [{"mediaType": images.OCI_MANIFEST, "digest": "sha256:" + f"{i % distinct:064x}", "size": size,
                      "platform": {"architecture": "amd64", "os": "linux"}} for i in range(count)]
        rewrite_index(layout, {"schemaVersion": 2, "mediaType": images.OCI_INDEX, "manifests": manifests})
    return change


def layer_size_claim(size):
    def change(layout, top):
        manifest = manifest_of(layout, top)
        manifest["layers"][0]["size"] = size
        rewrite_index(layout, manifest)
    return change


def same_size_garbage(layout, top):
    layer = manifest_of(layout, top)["layers"][0]["digest"]
    path = blob_path(layout, layer)
    path.write_bytes(b"\0" * path.stat().st_size)


def sparse(path, size):
    with open(path, "wb") as file:
        file.truncate(size)


def sparse_declared_size(name):
    """A tar whose first header declares a terabyte: the file is a few KiB."""
    def setup(root):
        images.legacy_docker_save(root / name)
        data = bytearray((root / name).read_bytes())
        header = data[:512]
        header[124:136] = b"\x80" + (1 << 40).to_bytes(11, "big")
        header[148:156] = b" " * 8
        header[148:156] = f"{sum(header):06o}\0 ".encode()
        data[:512] = header
        (root / name).write_bytes(bytes(data))
    return setup


REG, SYM, LNK, FIFO_T, LONG = tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.GNUTYPE_LONGNAME

# (id, variables, setup, variable, what the error must say)
ECR_CASES = [
    # --- IMAGE_ARCHIVE itself
    ("archive-absolute", {"IMAGE_ARCHIVE": "/etc/passwd"}, None, "IMAGE_ARCHIVE", "outside the clone directory"),
    ("archive-dotdot", {"IMAGE_ARCHIVE": "../../etc"}, None, "IMAGE_ARCHIVE", "outside the clone directory"),
    ("archive-escaping-link", {"IMAGE_ARCHIVE": "@image.tar"}, link("image.tar", "/etc/passwd"), "IMAGE_ARCHIVE",
     "outside the clone directory"),
    ("archive-fifo", {"IMAGE_ARCHIVE": "@image.tar"}, fifo("image.tar"), "IMAGE_ARCHIVE",
     "neither a regular file nor a directory"),
    ("archive-device", {"IMAGE_ARCHIVE": "@image.tar"}, device("image.tar"), "IMAGE_ARCHIVE",
     "neither a regular file nor a directory"),
    ("archive-dev-zero", {"IMAGE_ARCHIVE": "/dev/zero"}, None, "IMAGE_ARCHIVE", "outside the clone directory"),
    # --- tar entries that leave the archive
    ("tar-dotdot-entry", {"IMAGE_ARCHIVE": "@image.tar"}, save_then("image.tar", [("../evil", REG, "", b"x")]),
     "IMAGE_ARCHIVE", 'tar entry "../evil" leads outside the archive'),
    ("tar-absolute-entry", {"IMAGE_ARCHIVE": "@image.tar"}, save_then("image.tar", [("/etc/cron.d/x", REG, "", b"x")]),
     "IMAGE_ARCHIVE", 'tar entry "/etc/cron.d/x" is an absolute path'),
    ("tar-symlink-out", {"IMAGE_ARCHIVE": "@image.tar"},
     tar_of("image.tar", [("manifest.json", SYM, "/etc/passwd", b"")]), "IMAGE_ARCHIVE",
     'tar link "manifest.json" → "/etc/passwd" leads outside the archive'),
    ("tar-symlink-climbing", {"IMAGE_ARCHIVE": "@image.tar"},
     save_then("image.tar", [("id/layer.tar", SYM, "../../../etc/shadow", b"")]), "IMAGE_ARCHIVE",
     'tar link "id/layer.tar" → "../../../etc/shadow" leads outside the archive'),
    ("tar-hardlink-out", {"IMAGE_ARCHIVE": "@image.tar"},
     save_then("image.tar", [("x/config.json", LNK, "../../etc/passwd", b"")]), "IMAGE_ARCHIVE",
     'tar link "x/config.json" → "../../etc/passwd" leads outside the archive'),
    ("tar-sparse-declared-size", {"IMAGE_ARCHIVE": "@image.tar"}, sparse_declared_size("image.tar"), "IMAGE_ARCHIVE",
     "declares 1099511627776 bytes"),
    ("tar-long-name-bomb", {"IMAGE_ARCHIVE": "@image.tar"},
     save_then("image.tar", [("././@LongLink", LONG, "", b"a" * (1024 * 1024))]), "IMAGE_ARCHIVE",
     "long name of 1048576 bytes"),
    # --- names in manifest.json / index.json leaving the archive (directory archives)
    # A file next to the clone directory, which the archive's manifest.json reaches with `..`.
    ("save-config-dotdot", {"IMAGE_ARCHIVE": "@image"},
     save_dir("image", config="../../secret.json",
              extra=lambda d: (d.parent.parent / "secret.json").write_text('{"rootfs": {"diff_ids": []}}')),
     "IMAGE_ARCHIVE", 'names "../../secret.json", which leads outside the archive'),
    ("save-layer-absolute", {"IMAGE_ARCHIVE": "@image"}, save_dir("image", layers=("/etc/passwd",)),
     "IMAGE_ARCHIVE", 'names "/etc/passwd", which is an absolute path'),
    ("save-config-link-out", {"IMAGE_ARCHIVE": "@image"},
     save_dir("image", config="linked.json", extra=lambda d: os.symlink("/etc/hostname", d / "linked.json")),
     "IMAGE_ARCHIVE", "linked.json is a link leading outside the archive"),
    ("save-dir-link-out", {"IMAGE_ARCHIVE": "@image"},
     save_dir("image", layers=("etc/passwd",), extra=lambda d: os.symlink("/etc", d / "etc")),
     "IMAGE_ARCHIVE", "etc/passwd is a link leading outside the archive"),
    ("save-layer-fifo", {"IMAGE_ARCHIVE": "@image"},
     save_dir("image", layers=("pipe",), extra=lambda d: os.mkfifo(d / "pipe")), "IMAGE_ARCHIVE",
     "pipe is not a regular file"),
    ("save-layer-device", {"IMAGE_ARCHIVE": "@image"},
     save_dir("image", layers=("zero",), extra=lambda d: os.mknod(d / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))),
     "IMAGE_ARCHIVE", "zero is not a regular file"),
    ("oci-manifest-fifo", {"IMAGE_ARCHIVE": "@image"},
     oci_then("image", lambda layout, top: (blob_path(layout, top).unlink(), os.mkfifo(blob_path(layout, top)))),
     "IMAGE_ARCHIVE", "is not a regular file"),
    # --- structure: bounds, sizes, hashes
    ("index-bomb", {"IMAGE_ARCHIVE": "@image"}, oci_then("image", index_bomb(15_000, 15_000)), "IMAGE_ARCHIVE",
     "more than 1024 items"),
    ("index-huge-sparse", {"IMAGE_ARCHIVE": "@image"},
     oci_then("image", lambda layout, top: sparse(layout / "index.json", 1 << 30)), "IMAGE_ARCHIVE",
     "index.json is 1073741824 bytes, more than the 4194304"),
    ("manifest-declared-huge", {"IMAGE_ARCHIVE": "@image"},
     oci_then("image", lambda layout, top: (layout / "index.json").write_text(json.dumps({"manifests": [
         {"mediaType": images.OCI_MANIFEST, "digest": top, "size": 1 << 40}]}))), "IMAGE_ARCHIVE",
     "the descriptor naming it says 1099511627776"),
    ("layer-declared-size", {"IMAGE_ARCHIVE": "@image"}, oci_then("image", layer_size_claim(1 << 40)), "IMAGE_ARCHIVE",
     "but the manifest says 1099511627776"),
    ("layer-not-its-digest", {"IMAGE_ARCHIVE": "@image"}, oci_then("image", same_size_garbage), "IMAGE_ARCHIVE",
     "the archive is damaged or forged"),
    ("legacy-diff-id-lie", {"IMAGE_ARCHIVE": "@image.tar"}, legacy_save("image.tar", wrong_diff_id=True),
     "IMAGE_ARCHIVE", "the archive is damaged or forged"),
    # --- newlines: a tag never prints a line of its own
    ("repo-tags-newline", {"IMAGE_ARCHIVE": "@image"}, save_dir("image", repo_tags=("app:1\n✔ Pushed everything",)),
     "IMAGE_ARCHIVE", "RepoTags holds"),
    ("config-name-newline", {"IMAGE_ARCHIVE": "@image"},
     save_dir("image", config="c\nINFO: fake.json"), "IMAGE_ARCHIVE", "control character"),
    ("archive-name-newline", {"IMAGE_ARCHIVE": "image\nINFO: fake"}, None, "IMAGE_ARCHIVE", "IMAGE_ARCHIVE"),
    ("tags-newline", {"IMAGE_ARCHIVE": "@image", "TAGS": "v1\nINFO: fake"}, save_dir("image"), "TAGS", "not a valid tag"),
    ("tags-list-newline", {"IMAGE_ARCHIVE": "@image", "TAGS_COUNT": "1", "TAGS_0": "v1\n✔ Pushed"}, save_dir("image"),
     "TAGS", "not a valid tag"),
]


@pytest.fixture
def ecr_hostile(scenario, emulator, ecr_registry):
    """The repository exists, and GetAuthorizationToken would name the test registry: nothing
    below is refused for a missing resource or an unreachable registry."""
    from emulator.scenario import client_for
    client_for(emulator, "ecr", scenario.user(name="ecr-admin")).create_repository(repositoryName=ECR_REPOSITORY)
    return scenario


@pytest.mark.parametrize("case_id, variables, setup, variable, says", ECR_CASES, ids=[c[0] for c in ECR_CASES])
def test_hostile_archive_is_bad_input_before_any_upload(ecr_hostile, emulator, ecr_registry, case_id, variables,
                                                       setup, variable, says):
    if setup:
        setup(ecr_hostile.clone_dir)
    env = {name: (value[1:] if value.startswith("@") else value) for name, value in {**PUSH, **variables}.items()}
    before, registry_before = len(emulator.requests()), ecr_registry.log_offset()

    result = ecr_hostile.run(timeout=30, **env)

    assert result.code == 2, result
    assert variable in result.output, f"the error does not name {variable}\n{result}"
    assert says in result.output, f"the error does not say {says!r}\n{result}"
    calls = [call["action"] for call in emulator.requests()[before:]]
    assert not set(calls) & ECR_MUTATING, f"{case_id}: {calls}\n{result}"
    assert ecr_registry.requests_since(registry_before) == [], f"{case_id}: the registry was asked\n{result}"
    assert "Internal error" not in result.output, result
    assert not any(line.startswith(("✔", "INFO: fake")) for line in result.lines), result
