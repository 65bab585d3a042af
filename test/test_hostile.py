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
