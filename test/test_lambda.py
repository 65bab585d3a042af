"""ACTION=lambda-deploy end to end: the binary, authenticated with the step's OIDC token, against
the emulator's Lambda (moto plus scripted update states and conflicts) and S3."""

import base64
import hashlib
import json
import os

import pytest

from emulator.lambda_scenario import lambda_fixture, make_zip

FUNCTION = "api"


class Lambda:
    """A function (see lambda_scenario) and a pipe step that deploys to it."""

    def __init__(self, step, emulator, **fixture):
        self.step = step
        self.emulator = emulator
        self.fn = lambda_fixture(emulator, name=FUNCTION, **fixture)
        self.boto = self.fn.client("lambda")

    def run(self, **overrides):
        variables = {"ACTION": "lambda-deploy", "FUNCTION_NAME": FUNCTION}
        variables.update(overrides)
        return self.step.run(**variables)

    def calls(self, action=None, service="lambda"):
        """The pipe's own calls (its User-Agent names it), not the fixture's."""
        return [
            call for call in self.emulator.requests(service=service, action=action)
            if "aws-role-deploy" in (call["user_agent"] or "")
        ]

    def source_dir(self, files=None, name="build"):
        root = self.step.clone_dir / name
        for relative, content in (files or {"app.py": "def handler(e, c):\n    return {'statusCode': 201}\n"}).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return name

    def write(self, name, content):
        path = self.step.clone_dir / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return name

    def configuration(self):
        return self.boto.get_function_configuration(FunctionName=FUNCTION)


@pytest.fixture
def fn(scenario, emulator):
    return Lambda(scenario, emulator)


def sha(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# ------------------------------------------------------------------------------ code sources


def test_zip_file_deploy_publishes_and_creates_the_alias(fn):
    package = make_zip({"app.py": "def handler(e, c):\n    return 202\n"})
    result = fn.run(ZIP_FILE=fn.write("app.zip", package), ALIAS="live")

    assert result.code == 0, result
    assert fn.configuration()["CodeSha256"] == sha(package)
    [publish] = fn.calls("PublishVersion")
    assert publish["params"]["CodeSha256"] == sha(package)
    assert publish["params"]["RevisionId"] == fn.configuration()["RevisionId"]
    assert publish["params"]["Description"] == "Bitbucket build 42, commit " + fn.step.commit[:12]
    version = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    alias = fn.boto.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == version
    assert len(fn.calls("CreateAlias")) == 1 and fn.calls("UpdateAlias") == []
    assert result.outputs_env["AWS_ROLE_DEPLOY_ALIAS_ARN"] == alias["AliasArn"]
    assert result.outputs_env["AWS_ROLE_DEPLOY_CODE_SHA256"] == sha(package)
    assert "alias live" in result.final_line


def test_directory_is_zipped_reproducibly(fn):
    source = fn.source_dir({"app.py": "def handler(e, c):\n    return 1\n", "lib/util.py": "X = 1\n",
                            "bin/tool": "#!/bin/sh\n"})
    os.chmod(fn.step.clone_dir / source / "bin/tool", 0o755)
    first = fn.run(ZIP_FILE=source, PUBLISH="false")
    assert first.code == 0, first
    first_sha = fn.configuration()["CodeSha256"]
    [upload] = fn.calls("UpdateFunctionCode")
    assert upload["params"]["ZipFile"]["sha256_b64"] == first_sha

    # The same files again, touched: same CodeSha256, so nothing is uploaded.
    os.utime(fn.step.clone_dir / source / "app.py")
    second = fn.run(ZIP_FILE=source, PUBLISH="false")
    assert second.code == 0, second
    assert "code is unchanged" in second.output
    assert len(fn.calls("UpdateFunctionCode")) == 1
    assert second.outputs_env["AWS_ROLE_DEPLOY_CODE_CHANGED"] == "false"
    assert second.outputs_env["AWS_ROLE_DEPLOY_CODE_SHA256"] == first_sha


def test_unchanged_code_still_publishes_and_moves_the_alias(fn):
    first = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")
    assert first.code == 0, first
    version = first.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    second = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")

    assert second.code == 0, second
    assert "skipping the upload" in second.output
    # Lambda returns the existing version when nothing changed.
    assert second.outputs_env["AWS_ROLE_DEPLOY_VERSION"] == version
    assert "already points at version" in second.output


def test_alias_is_updated_when_it_exists(fn):
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=fn.boto.publish_version(
        FunctionName=FUNCTION)["Version"])
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")

    assert result.code == 0, result
    assert fn.calls("CreateAlias") == []
    [update] = fn.calls("UpdateAlias")
    assert update["params"]["FunctionVersion"] == result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == update["params"]["FunctionVersion"]


def test_existing_s3_object(fn):
    package = make_zip({"app.py": "def handler(e, c):\n    return 's3'\n"})
    version = fn.fn.upload("builds/api.zip", package)
    result = fn.run(S3_BUCKET=fn.fn.bucket, S3_KEY="builds/api.zip", S3_OBJECT_VERSION=version, PUBLISH="false")

    assert result.code == 0, result
    [update] = fn.calls("UpdateFunctionCode")
    assert update["params"]["S3Bucket"] == fn.fn.bucket and update["params"]["S3ObjectVersion"] == version
    assert fn.configuration()["CodeSha256"] == sha(package)


def test_zip_uploaded_to_s3_first(fn):
    source = fn.source_dir()
    result = fn.run(ZIP_FILE=source, S3_BUCKET=fn.fn.bucket, S3_KEY="builds/api.zip")

    assert result.code == 0, result
    [put] = fn.calls("PutObject", service="s3")
    [update] = fn.calls("UpdateFunctionCode")
    assert "ZipFile" not in update["params"]
    assert update["params"]["S3Key"] == "builds/api.zip"
    assert fn.configuration()["CodeSha256"] == put["params"]["Body"]["sha256_b64"]


def test_container_image(scenario, emulator):
    fn = Lambda(scenario, emulator, package="image")
    uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/api@sha256:" + "ab" * 32
    result = fn.run(IMAGE_URI=uri, ALIAS="live")

    assert result.code == 0, result
    [update] = fn.calls("UpdateFunctionCode")
    assert update["params"]["ImageUri"] == uri


def test_image_uri_for_a_zip_function_is_refused_before_any_change(fn):
    result = fn.run(IMAGE_URI="repo/api:2")

    assert result.code == 2, result
    assert "package type is Zip" in result.output
    assert fn.calls("UpdateFunctionCode") == []


# ------------------------------------------------------------------------------ configuration


def test_configuration_file_is_sent_as_written(fn):
    config = {"MemorySize": 512, "Timeout": 30, "Environment": {"Variables": {
        "STAGE": "prod", "DB_PASSWORD": "${DB_PASSWORD_FOR_TEST}", "BUILD": "${BITBUCKET_BUILD_NUMBER}"}},
        "Description": "api ${BITBUCKET_BUILD_NUMBER}"}
    fn.emulator.lambda_script(FUNCTION, in_progress_polls=2, applies_to="configuration")
    memory_before = fn.configuration()["MemorySize"]
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("lambda.json", json.dumps(config)),
                    DB_PASSWORD_FOR_TEST="pa55-word-for-the-db", ZIP_FILE=fn.source_dir())

    assert result.code == 0, result
    [update] = fn.calls("UpdateFunctionConfiguration")
    sent = update["params"]
    assert sent["MemorySize"] == 512 and sent["Timeout"] == 30
    assert sent["Environment"]["Variables"] == {"STAGE": "prod", "DB_PASSWORD": "pa55-word-for-the-db", "BUILD": "42"}
    assert sent["RevisionId"]  # guards against a concurrent change
    current = fn.configuration()
    assert current["MemorySize"] == 512
    assert f"~ MemorySize: {memory_before} → 512" in result.output
    assert "~ Environment.Variables.DB_PASSWORD: changed (sha256:" in result.output
    assert "pa55-word-for-the-db" not in result.everything()
    # Code first, then configuration, then the version.
    order = [call["action"] for call in fn.calls() if call["action"].startswith(("Update", "Publish"))]
    assert order == ["UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion"]


# ------------------------------------------------------------------------------ waiting and failures


def test_waits_for_in_progress_updates(fn):
    fn.emulator.lambda_state(FUNCTION, "Pending", polls=2)
    fn.emulator.lambda_script(FUNCTION, in_progress_polls=3, applies_to="code")
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")

    assert result.code == 0, result
    assert "State Pending" in result.output and "LastUpdateStatus InProgress" in result.output
    assert "LastUpdateStatus Successful" in result.output
    statuses = [c for c in fn.calls() if c["action"] in ("UpdateFunctionCode", "PublishVersion")]
    assert [c["status"] for c in statuses] == [200, 201]  # never sent while busy


def test_failed_update_fails_with_reason_and_code(fn):
    fn.emulator.lambda_script(FUNCTION, in_progress_polls=1, outcome="Failed",
                              reason="Lambda was unable to configure your environment variables",
                              reason_code="InvalidConfiguration", applies_to="code")
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")

    assert result.code == 1, result
    assert "unable to configure your environment variables" in result.final_line
    assert "InvalidConfiguration" in result.final_line
    assert fn.calls("PublishVersion") == [] and fn.calls("CreateAlias") == []


def test_conflicts_are_retried(fn):
    fn.emulator.lambda_conflicts(FUNCTION, count=2, action="UpdateFunctionCode")
    result = fn.run(ZIP_FILE=fn.source_dir(), PUBLISH="false")

    assert result.code == 0, result
    codes = [call["error_code"] for call in fn.calls("UpdateFunctionCode")]
    assert codes == ["ResourceConflictException", "ResourceConflictException", None]


def test_throttling_is_retried(fn):
    fn.emulator.add_fault("throttle", service="lambda", action="PublishVersion", count=2)
    result = fn.run(ZIP_FILE=fn.source_dir(), AWS_MAX_ATTEMPTS="2")

    assert result.code == 0, result
    codes = [call["error_code"] for call in fn.calls("PublishVersion")]
    assert codes == ["TooManyRequestsException", "TooManyRequestsException", None]


def test_stuck_update_times_out(fn):
    fn.emulator.lambda_state(FUNCTION, "Pending", polls=None)
    result = fn.run(ZIP_FILE=fn.source_dir(), WAIT_TIMEOUT="3")

    assert result.code == 1, result
    assert "WAIT_TIMEOUT ran out" in result.final_line
    assert fn.calls("UpdateFunctionCode") == []


def test_package_over_the_direct_upload_limit_suggests_s3(fn):
    big = fn.step.clone_dir / "big.zip"
    with open(big, "wb") as out:
        out.write(b"PK\x03\x04")
        out.truncate(50 * 1024 * 1024 + 1)
    result = fn.run(ZIP_FILE="big.zip")

    assert result.code == 2, result
    assert "S3_BUCKET and S3_KEY" in result.output
    assert fn.calls() == []


def test_invalid_variables(fn):
    cases = [
        ({"PUBLISH": "false", "ALIAS": "live", "ZIP_FILE": "x"}, "ALIAS"),
        ({"ZIP_FILE": "app.zip", "IMAGE_URI": "repo/x:1"}, "IMAGE_URI"),
        ({"S3_BUCKET": "b"}, "S3_KEY"),
        ({"ZIP_FILE": "../outside.zip"}, "ZIP_FILE"),
        ({"FUNCTION_NAME": "api:prod", "ZIP_FILE": "x"}, "FUNCTION_NAME"),
        ({}, "ZIP_FILE"),
    ]
    for overrides, variable in cases:
        result = fn.run(**overrides)
        assert result.code == 2, result
        assert f"  - {variable}: " in result.output, (overrides, result)
    assert fn.calls() == []


def test_missing_function(fn):
    result = fn.run(FUNCTION_NAME="nope", ZIP_FILE=fn.source_dir())

    assert result.code == 2, result
    assert "Function nope not found" in result.output and "FUNCTION_NAME" in result.output


# ------------------------------------------------------------------------------ dry run


def test_dry_run_changes_nothing(fn):
    config = {"MemorySize": 1024, "Environment": {"Variables": {"API_KEY": "k-very-secret-1"}}}
    before = fn.configuration()
    result = fn.run(ZIP_FILE=fn.source_dir(), FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)),
                    ALIAS="live", DRY_RUN="true")

    assert result.code == 0, result
    assert "Dry run: would update the code" in result.output
    assert f"~ MemorySize: {before['MemorySize']} → 1024" in result.output
    assert "would create alias live" in result.output
    assert "k-very-secret-1" not in result.everything()
    for action in ("UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "CreateAlias", "UpdateAlias"):
        assert fn.calls(action) == [], action
    assert fn.configuration()["RevisionId"] == before["RevisionId"]


def test_a_failure_halfway_says_what_was_already_changed(fn):
    fn.emulator.lambda_script(FUNCTION, in_progress_polls=1, outcome="Failed", applies_to="configuration",
                              reason="The security group does not exist", reason_code="InvalidSecurityGroup")
    config = {"Timeout": 42}
    result = fn.run(ZIP_FILE=fn.source_dir(), FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)),
                    ALIAS="live")

    assert result.code == 1, result
    assert "InvalidSecurityGroup" in result.final_line
    assert "Already done: $LATEST has the new code; $LATEST has the new configuration." in result.output
    assert fn.calls("PublishVersion") == []


def test_configuration_already_in_place_is_not_sent_again(fn):
    current = fn.configuration()
    config = {"MemorySize": current["MemorySize"], "Timeout": current["Timeout"]}
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)), PUBLISH="false")

    assert result.code == 0, result
    assert "already in place" in result.output
    assert fn.calls("UpdateFunctionConfiguration") == []
    assert result.outputs_env["AWS_ROLE_DEPLOY_CONFIGURATION_CHANGED"] == "false"
