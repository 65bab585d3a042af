"""ACTION=lambda-deploy end to end: the binary, authenticated with the step's OIDC token, against
the emulator's Lambda (moto plus scripted update states and conflicts) and S3."""

import base64
import hashlib
import json
import os

import pytest

from emulator.lambda_scenario import lambda_fixture, make_zip
from emulator.scenario import client_for

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
    # Only into a bucket of the role's account: S3 refuses the upload otherwise.
    assert put["expected_bucket_owner"] == "111111111111", put


def other_accounts_bucket(emulator, name):
    """A bucket of account 222222222222 (a mistyped name, a deleted bucket's name taken over)."""
    other = emulator.create_user("222222222222", "someone-else")
    client_for(emulator, "s3", other).create_bucket(Bucket=name)
    return other


def test_a_bucket_of_another_account_is_refused_by_s3_before_the_package_lands(fn, emulator):
    other_accounts_bucket(emulator, "artifacts-of-someone-else")
    result = fn.run(ZIP_FILE=fn.source_dir(), S3_BUCKET="artifacts-of-someone-else", S3_KEY="builds/api.zip")

    assert result.code == 3, result
    [put] = fn.calls("PutObject", service="s3")
    assert (put["status"], put["error_code"], put["expected_bucket_owner"]) == (403, "AccessDenied", "111111111111")
    assert "s3://artifacts-of-someone-else/builds/api.zip" in result.final_line, result
    assert "S3_BUCKET_OWNER" in result.output and "111111111111" in result.output, result
    assert fn.calls("UpdateFunctionCode") == [] and fn.calls("PublishVersion") == []


def test_s3_bucket_owner_names_the_account_of_a_bucket_shared_on_purpose(fn, emulator):
    other_accounts_bucket(emulator, "central-artifacts")
    result = fn.run(ZIP_FILE=fn.source_dir(), S3_BUCKET="central-artifacts", S3_KEY="builds/api.zip",
                    S3_BUCKET_OWNER="222222222222")

    [put] = fn.calls("PutObject", service="s3")
    assert (put["status"], put["expected_bucket_owner"]) == (200, "222222222222"), put
    # (Lambda reading another account's object needs that bucket's policy; the emulator does not
    # model bucket policies, so here it simply reads it.)
    assert result.code == 0, result
    assert fn.configuration()["CodeSha256"] == put["params"]["Body"]["sha256_b64"]


def test_container_image(scenario, emulator):
    fn = Lambda(scenario, emulator, package="image")
    uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/api@sha256:" + "ab" * 32
    result = fn.run(IMAGE_URI=uri, ALIAS="live")

    assert result.code == 0, result
    [update] = fn.calls("UpdateFunctionCode")
    assert update["params"]["ImageUri"] == uri


def image_index(fn, platforms):
    """An index (BuildKit provenance: an attestation manifest beside the platforms) tagged `2`."""
    from emulator.ecr_scenario import seed_index

    ecr = fn.fn.client("ecr")
    ecr.create_repository(repositoryName=FUNCTION)
    index, children = seed_index(ecr, FUNCTION, "2", platforms=platforms)
    return f"111111111111.dkr.ecr.us-east-1.amazonaws.com/{FUNCTION}", index, children


def test_image_index_deploys_the_image_of_the_functions_architecture(scenario, emulator):
    """Lambda refuses an image index (aws-lambda-roadmap#82, docker/buildx#1533): the pipe deploys
    the index's image for the function's architecture (x86_64: linux/amd64), by digest, and says so,
    skipping the attestation manifest listed first."""
    fn = Lambda(scenario, emulator, package="image")
    base, index, children = image_index(fn, ("linux/arm64", "linux/amd64"))
    result = fn.run(IMAGE_URI=f"{base}:2", ALIAS="live")

    assert result.code == 0, result
    [update] = fn.calls("UpdateFunctionCode")
    assert update["params"]["ImageUri"] == f"{base}@{children['linux/amd64']}"
    assert "image index" in result.output and "linux/amd64" in result.output and "x86_64" in result.output
    index_read, child_read = fn.calls("BatchGetImage", service="ecr")  # the index, then that its image is there
    assert index_read["params"]["repositoryName"] == FUNCTION and index_read["params"]["registryId"] == "111111111111"
    assert child_read["params"]["imageIds"] == [{"imageDigest": children["linux/amd64"]}]
    assert fn.configuration()["CodeSha256"] == children["linux/amd64"].split(":", 1)[1]


def test_image_index_without_the_functions_platform_is_refused_before_any_change(scenario, emulator):
    fn = Lambda(scenario, emulator, package="image")
    base, index, _ = image_index(fn, ("linux/arm64",))
    result = fn.run(IMAGE_URI=f"{base}@{index}")

    assert result.code == 2, result
    assert "no linux/amd64 image" in result.final_line and "x86_64" in result.final_line
    assert "--provenance=false" in result.output and "IMAGE_URI" in result.output
    assert fn.calls("UpdateFunctionCode") == []


def test_image_index_naming_an_image_never_pushed_is_refused_before_any_change(scenario, emulator):
    """containerd-store saves may hold only some platforms' images (moby#49473): the index names a
    linux/amd64 image the repository does not have, which Lambda could not pull."""
    import json

    from emulator.ecr_scenario import OCI_INDEX, OCI_MANIFEST

    fn = Lambda(scenario, emulator, package="image")
    ecr = fn.fn.client("ecr")
    ecr.create_repository(repositoryName=FUNCTION)
    missing = "sha256:" + "e" * 64
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": missing, "size": 400, "platform": {"architecture": "amd64", "os": "linux"}}]})
    ecr.put_image(repositoryName=FUNCTION, imageManifest=index, imageManifestMediaType=OCI_INDEX, imageTag="2")
    result = fn.run(IMAGE_URI=f"111111111111.dkr.ecr.us-east-1.amazonaws.com/{FUNCTION}:2")

    assert result.code == 2, result
    assert f"linux/amd64 image {missing} is not in the repository" in result.final_line
    assert "--platform linux/amd64" in result.output
    assert fn.calls("UpdateFunctionCode") == []


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
    # Configuration first, then code, then the version.
    order = [call["action"] for call in fn.calls() if call["action"].startswith(("Update", "Publish"))]
    assert order == ["UpdateFunctionConfiguration", "UpdateFunctionCode", "PublishVersion"]


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


# A conditional write (RevisionId) whose answer is lost after Lambda applied it: the SDK sends
# it again, and Lambda refuses the retry (412 PreconditionFailedException), since the first one
# changed the RevisionId. The pipe reads the function back and carries on when it holds what was
# sent.


def test_a_code_update_applied_but_unanswered_is_recognised_on_the_retry(fn):
    fn.emulator.add_fault("lost_answer", service="lambda", action="UpdateFunctionCode")
    package = make_zip({"app.py": "def handler(e, c):\n    return 203\n"})
    result = fn.run(ZIP_FILE=fn.write("app.zip", package), ALIAS="live")

    assert result.code == 0, result
    lost, retried = fn.calls("UpdateFunctionCode")
    assert (lost["fault"], lost["status"]) == ("lost_answer", 200), lost
    assert (retried["status"], retried["error_code"]) == (412, "PreconditionFailedException"), retried
    assert retried["params"]["RevisionId"] == lost["params"]["RevisionId"]
    assert fn.configuration()["CodeSha256"] == sha(package)
    assert "PreconditionFailedException" in result.output and "already has" in result.output, result
    [publish] = fn.calls("PublishVersion")
    assert publish["status"] == 201 and publish["params"]["CodeSha256"] == sha(package)
    assert fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == result.outputs_env[
        "AWS_ROLE_DEPLOY_VERSION"]


def test_a_configuration_update_applied_but_unanswered_is_recognised_on_the_retry(fn):
    config = {"MemorySize": 640, "Environment": {"Variables": {"STAGE": "prod"}}}
    fn.emulator.add_fault("lost_answer", service="lambda", action="UpdateFunctionConfiguration")
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("lambda.json", json.dumps(config)), PUBLISH="false")

    assert result.code == 0, result
    lost, retried = fn.calls("UpdateFunctionConfiguration")
    assert (lost["fault"], lost["status"]) == ("lost_answer", 200), lost
    assert (retried["status"], retried["error_code"]) == (412, "PreconditionFailedException"), retried
    current = fn.configuration()
    assert current["MemorySize"] == 640 and current["Environment"]["Variables"] == {"STAGE": "prod"}
    assert "already has" in result.output, result


@pytest.mark.parametrize("service, action", [
    ("lambda", "PublishVersion"), ("lambda", "CreateAlias"), ("lambda", "UpdateAlias"), ("s3", "PutObject"),
])
def test_every_write_of_a_deploy_applied_but_unanswered_still_deploys_once(fn, service, action):
    if action == "UpdateAlias":
        fn.boto.publish_version(FunctionName=FUNCTION)
        fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    fn.emulator.add_fault("lost_answer", service=service, action=action)
    result = fn.run(ZIP_FILE=fn.source_dir(), S3_BUCKET=fn.fn.bucket, S3_KEY="builds/api.zip", ALIAS="live")

    assert result.code == 0, result
    lost = [call for call in fn.calls(service=service) if call["fault"] == "lost_answer"]
    assert len(lost) == 1 and lost[0]["action"] == action, fn.calls(service=service)
    version = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    versions = [v["Version"] for v in fn.boto.list_versions_by_function(FunctionName=FUNCTION)["Versions"]]
    assert versions[-1] == version and versions.count(version) == 1, versions
    assert fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == version


def test_an_image_update_applied_but_unanswered_is_recognised_by_its_uri(scenario, emulator):
    fn = Lambda(scenario, emulator, package="image")
    uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/api@sha256:" + "cd" * 32
    emulator.add_fault("lost_answer", service="lambda", action="UpdateFunctionCode")
    result = fn.run(IMAGE_URI=uri, ALIAS="live")

    assert result.code == 0, result
    lost, retried = fn.calls("UpdateFunctionCode")
    assert (lost["fault"], retried["error_code"]) == ("lost_answer", "PreconditionFailedException")
    assert f"already has the image this step sent ({uri})" in result.output, result
    assert fn.boto.get_function(FunctionName=FUNCTION)["Code"]["ImageUri"] == uri


def test_a_real_precondition_failure_says_someone_else_changed_the_function(fn):
    # Lambda refuses the write (someone changed the function since the pipe read it) and the
    # function does not hold the new code: a conflict, not an applied retry.
    fn.emulator.add_fault("error", service="lambda", action="UpdateFunctionCode", status=412,
                          code="PreconditionFailedException",
                          message="The Revision Id provided does not match the latest Revision Id. "
                                  "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
    before = fn.configuration()["CodeSha256"]
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")

    assert result.code == 1, result
    assert "changed" in result.final_line and "PreconditionFailedException" in result.output, result
    assert "Run the step again" in result.output
    assert fn.configuration()["CodeSha256"] == before
    assert fn.calls("PublishVersion") == [] and fn.calls("CreateAlias") == []


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
        ({"ZIP_FILE": "x", "S3_BUCKET": "b", "S3_KEY": "k", "S3_BUCKET_OWNER": "2222"}, "S3_BUCKET_OWNER"),
        ({"S3_BUCKET": "b", "S3_KEY": "k", "S3_BUCKET_OWNER": "222222222222"}, "S3_BUCKET_OWNER"),
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
    # The configuration goes first: its failure leaves the code as it was.
    assert "Already done: $LATEST has the new configuration." in result.output
    assert fn.calls("UpdateFunctionCode") == [] and fn.calls("PublishVersion") == []


def test_configuration_already_in_place_is_not_sent_again(fn):
    current = fn.configuration()
    config = {"MemorySize": current["MemorySize"], "Timeout": current["Timeout"]}
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)), PUBLISH="false")

    assert result.code == 0, result
    assert "already in place" in result.output
    assert fn.calls("UpdateFunctionConfiguration") == []
    assert result.outputs_env["AWS_ROLE_DEPLOY_CONFIGURATION_CHANGED"] == "false"


# ------------------------------------------------------------------------------ what real Lambda does (issue 8)


def actions(calls):
    return [call["action"] for call in calls]


def test_configuration_goes_before_the_code_each_with_its_wait(fn):
    fn.emulator.lambda_script(FUNCTION, in_progress_polls=2, applies_to="configuration")
    fn.emulator.lambda_script(FUNCTION, in_progress_polls=2, applies_to="code")
    result = fn.run(ZIP_FILE=fn.source_dir(), FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps({"Timeout": 33})),
                    ALIAS="live")

    assert result.code == 0, result
    changes = [c for c in fn.calls() if c["action"] in (
        "UpdateFunctionConfiguration", "UpdateFunctionCode", "PublishVersion", "GetFunctionConfiguration")]
    order = actions(changes)
    config_at, code_at, publish_at = (order.index(a) for a in (
        "UpdateFunctionConfiguration", "UpdateFunctionCode", "PublishVersion"))
    assert config_at < code_at < publish_at
    # Each update is followed by its wait: the function is polled until Successful in between.
    assert order[config_at + 1:code_at].count("GetFunctionConfiguration") >= 3
    assert order[code_at + 1:publish_at].count("GetFunctionConfiguration") >= 3
    assert all(c["status"] in (200, 201) for c in changes), changes  # never sent while busy


def test_snapstart_version_pending_then_active_before_the_alias_moves(fn):
    fn.emulator.lambda_version_state(FUNCTION, pending_polls=3)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")

    assert result.code == 0, result
    version = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    calls = fn.calls()
    version_polls = [i for i, c in enumerate(calls) if c["action"] == "GetFunctionConfiguration"
                     and c["params"].get("Qualifier") == version]
    [create] = [i for i, c in enumerate(calls) if c["action"] == "CreateAlias"]
    assert len(version_polls) == 4  # Pending three times, then Active
    assert version_polls[-1] < create
    assert f"version {version}: State Pending" in result.output
    assert fn.boto.get_function_configuration(FunctionName=FUNCTION, Qualifier=version)["State"] == "Active"


def test_version_that_ends_failed_leaves_the_alias_where_it_was(fn):
    first = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=first)
    fn.emulator.lambda_version_state(FUNCTION, pending_polls=1, outcome="Failed", reason_code="FunctionError.InitTimeout",
                                     reason="The function timed out during initialization.")
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", WAIT_TIMEOUT="20")

    assert result.code == 1, result
    assert "timed out during initialization" in result.final_line
    assert "FunctionError.InitTimeout" in result.final_line
    assert f"alias live still points at version {first}" in result.output
    assert fn.calls("UpdateAlias") == []
    assert fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == first

    # The same package again: Lambda answers the failed version again, and the alias stays.
    again = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", WAIT_TIMEOUT="20")
    assert again.code == 1, again
    assert "FunctionError.InitTimeout" in again.final_line
    assert "running the step again gives this version again" in again.output
    assert fn.calls("UpdateAlias") == []
    assert fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == first


def test_get_function_configuration_output_deploys_in_one_run(fn):
    """What `aws lambda get-function-configuration` prints: the read-only fields left out with one
    note, the printed shapes (layer objects, VpcId, SnapStart's status) made the request's."""
    config = {"FunctionName": FUNCTION, "FunctionArn": "arn:aws:lambda:us-east-1:111111111111:function:api",
              "MemorySize": 512, "Timeout": 30, "CodeSha256": "abc=", "CodeSize": 300, "State": "Active",
              "LastModified": "2026-01-01T00:00:00.000+0000", "Version": "$LATEST", "RevisionId": "r-1",
              "LastUpdateStatus": "Successful", "PackageType": "Zip", "Architectures": ["x86_64"],
              "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": ""},
              "TracingConfig": {"Mode": "Active"}, "EphemeralStorage": {"Size": 1024},
              "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
              "RuntimeVersionConfig": {"RuntimeVersionArn": "arn:aws:lambda:us-east-1::runtime:abc"}}
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)), ZIP_FILE=fn.source_dir())

    assert result.code == 0, result
    [note] = [line for line in result.lines if "left out what Lambda only reports" in line]
    for key in ("Architectures", "CodeSha256", "CodeSize", "FunctionArn", "LastModified", "LastUpdateStatus",
                "PackageType", "RevisionId", "RuntimeVersionConfig", "SnapStart.OptimizationStatus", "State",
                "Version", "VpcConfig.VpcId"):
        assert key in note, (key, note)
    assert "MemorySize" not in note
    [update] = fn.calls("UpdateFunctionConfiguration")
    assert update["unknown_members"] == [] and update["wrong_types"] == []  # as the emulator judges the body
    sent = dict(update["params"])
    assert sent.pop("FunctionName") == FUNCTION and sent.pop("RevisionId") != "r-1"
    assert sent == {"MemorySize": 512, "Timeout": 30, "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []},
                    "TracingConfig": {"Mode": "Active"}, "EphemeralStorage": {"Size": 1024},
                    "SnapStart": {"ApplyOn": "None"}}
    assert fn.configuration()["MemorySize"] == 512


def test_get_function_output_applies_its_configuration_and_says_what_it_does_not_apply(fn):
    described = {"Configuration": {"FunctionName": FUNCTION, "MemorySize": 640, "Version": "$LATEST"},
                 "Code": {"RepositoryType": "S3", "Location": "https://awslambda-us-east-1-tasks.s3.amazonaws.com/x"},
                 "Tags": {"team": "payments"}, "Concurrency": {"ReservedConcurrentExecutions": 5}}
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(described)), PUBLISH="false")

    assert result.code == 0, result
    [note] = [line for line in result.lines if "get-function" in line]
    assert "Code, Concurrency, Tags are not applied" in note, note
    [update] = fn.calls("UpdateFunctionConfiguration")
    assert {k: v for k, v in update["params"].items() if k not in ("FunctionName", "RevisionId")} == {"MemorySize": 640}
    assert fn.configuration()["MemorySize"] == 640
    assert fn.calls("TagResource") == [] and fn.calls("PutFunctionConcurrency") == []


@pytest.mark.parametrize("named, deployed, accepted", [
    ("api", "arn", True),
    ("{account}:function:api", "api", True),
    ("arn:aws:lambda:us-east-1:{account}:function:api", "arn", True),
    ("210987654321:function:api", "arn", False),  # another account's function of that name
    ("arn:aws:lambda:eu-west-1:{account}:function:api", "arn", False),  # another region's
])
def test_function_name_is_accepted_when_it_names_the_deployed_function(fn, named, deployed, accepted):
    account = fn.fn.account
    config = {"FunctionName": named.format(account=account), "Timeout": 21}
    function = f"arn:aws:lambda:us-east-1:{account}:function:{FUNCTION}" if deployed == "arn" else FUNCTION
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)), PUBLISH="false",
                    FUNCTION_NAME=function)

    if not accepted:
        assert result.code == 2, result
        assert fn.calls() == []
        return
    assert result.code == 0, result
    assert fn.configuration()["Timeout"] == 21


def test_another_functions_configuration_is_refused_before_any_change(fn):
    config = {"FunctionName": "web", "Timeout": 21}
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)), ZIP_FILE=fn.source_dir())

    assert result.code == 2, result
    [problem] = [line for line in result.lines if "FUNCTION_CONFIGURATION:" in line]
    assert '"web"' in problem and "FUNCTION_NAME" in problem, problem
    assert fn.calls() == []


def test_unknown_configuration_keys_are_refused_by_name_before_any_change(fn):
    config = {"MemorySize": 512, "SomeNewLambdaField": {"Mode": "On"}, "TracingConfig": {"Mode": "Active", "Sampled": 1}}
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)), ZIP_FILE=fn.source_dir())

    assert result.code == 2, result
    problems = [line for line in result.lines if "FUNCTION_CONFIGURATION:" in line]
    assert any('"SomeNewLambdaField"' in line for line in problems), problems
    assert any('TracingConfig."Sampled"' in line for line in problems), problems
    assert not any('"MemorySize"' in line for line in problems), problems
    assert fn.calls() == []


def test_a_body_lambda_cannot_read_is_refused_as_the_files_fault(fn):
    """A member type the pipe does not check itself (DurableConfig's), wrong: Lambda answers
    400 SerializationException (the emulator judges the whole body against the model), and the
    step ends with exit 2 naming FUNCTION_CONFIGURATION; the function is not changed."""
    before = fn.configuration()
    config = {"Timeout": 44, "DurableConfig": {"ExecutionTimeout": "one hour"}}
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)), PUBLISH="false")

    assert result.code == 2, result
    assert "FUNCTION_CONFIGURATION" in result.final_line and "SerializationException" in result.final_line, result
    [update] = fn.calls("UpdateFunctionConfiguration")
    assert update["status"] == 400 and update["wrong_types"] == ["DurableConfig.ExecutionTimeout (str, not integer)"]
    assert fn.configuration()["RevisionId"] == before["RevisionId"]


def test_a_file_with_nothing_settable_is_said_never_a_silent_update(fn):
    printed = {"FunctionArn": "arn:aws:lambda:us-east-1:111111111111:function:api", "State": "Active"}
    alone = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(printed)), PUBLISH="false")

    assert alone.code == 2, alone
    [problem] = [line for line in alone.lines if "FUNCTION_CONFIGURATION:" in line]
    assert "no field UpdateFunctionConfiguration takes" in problem and "nothing to deploy" in problem, problem
    assert not any("ZIP_FILE" in line for line in alone.lines), alone.output  # one refusal, not two
    assert fn.calls() == []

    with_code = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(printed)), ZIP_FILE=fn.source_dir(),
                       PUBLISH="false")
    assert with_code.code == 0, with_code
    [warning] = [line for line in with_code.lines if "no field UpdateFunctionConfiguration takes" in line]
    assert "left as it is" in warning
    assert fn.calls("UpdateFunctionConfiguration") == []


def weighted_alias(fn):
    one = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.update_function_code(FunctionName=FUNCTION, ZipFile=make_zip({"app.py": "X = 'canary'\n"}))
    two = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=one,
                         RoutingConfig={"AdditionalVersionWeights": {two: 0.1}})
    return one, two


def test_weighted_alias_is_refused_before_any_change(fn):
    one, two = weighted_alias(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")

    assert result.code == 2, result
    assert "ALIAS_CLEAR_WEIGHTS" in result.output
    assert f"version {two}" in result.output and "10%" in result.output
    for action in ("UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "UpdateAlias"):
        assert fn.calls(action) == [], action
    alias = fn.boto.get_alias(FunctionName=FUNCTION, Name="live")
    assert (alias["FunctionVersion"], alias["RoutingConfig"]) == (one, {"AdditionalVersionWeights": {two: 0.1}})


def test_weighted_alias_cleared_with_alias_clear_weights(fn):
    one, two = weighted_alias(fn)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", ALIAS_CLEAR_WEIGHTS="true")

    assert result.code == 0, result
    version = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    assert any("ALIAS_CLEAR_WEIGHTS" in line and "WARN" in line.upper() for line in result.lines), result
    [update] = fn.calls("UpdateAlias")
    assert update["params"]["FunctionVersion"] == version
    assert update["params"]["RoutingConfig"] == {"AdditionalVersionWeights": {}}
    alias = fn.boto.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == version
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_s3_object_replaced_between_upload_and_update_is_not_published(scenario, emulator):
    fn = Lambda(scenario, emulator, versioned_bucket=False)
    theirs = make_zip({"app.py": "def handler(e, c):\n    return 'another build'\n"})
    emulator.s3_replace_after_put(fn.fn.bucket, "builds/api.zip", theirs)
    result = fn.run(ZIP_FILE=fn.source_dir(), S3_BUCKET=fn.fn.bucket, S3_KEY="builds/api.zip", ALIAS="live")

    assert result.code == 1, result
    [put] = fn.calls("PutObject", service="s3")
    ours = put["params"]["Body"]["sha256_b64"]
    assert ours in result.output and sha(theirs) in result.output
    assert "S3_KEY" in result.output
    assert fn.calls("PublishVersion") == [] and fn.calls("CreateAlias") == []
    # The log shows the other writer between our upload and our update.
    order = [(c["service"], c["action"], c.get("synthetic", False)) for c in emulator.requests()
             if c["action"] in ("PutObject", "UpdateFunctionCode")]
    assert order == [("s3", "PutObject", False), ("s3", "PutObject", True), ("lambda", "UpdateFunctionCode", False)]


def test_s3_object_replaced_in_a_versioned_bucket_deploys_our_own(fn):
    theirs = make_zip({"app.py": "def handler(e, c):\n    return 'another build'\n"})
    fn.emulator.s3_replace_after_put(fn.fn.bucket, "builds/api.zip", theirs)
    result = fn.run(ZIP_FILE=fn.source_dir(), S3_BUCKET=fn.fn.bucket, S3_KEY="builds/api.zip")

    assert result.code == 0, result
    [put] = fn.calls("PutObject", service="s3")
    assert fn.configuration()["CodeSha256"] == put["params"]["Body"]["sha256_b64"] != sha(theirs)
    [update] = fn.calls("UpdateFunctionCode")
    assert update["params"]["S3ObjectVersion"]


def test_directory_over_the_unzipped_limit_is_refused_before_zipping(fn):
    root = fn.step.clone_dir / "huge"
    root.mkdir()
    (root / "app.py").write_text("def handler(e, c):\n    return 1\n")
    for name in ("model-a.bin", "model-b.bin"):  # sparse: 130 MB each on paper, nothing on disk
        with open(root / name, "wb") as out:
            out.truncate(130 * 1024 * 1024)
    before = sorted(p.name for p in fn.step.clone_dir.rglob("*"))
    result = fn.run(ZIP_FILE="huge")

    assert result.code == 2, result
    assert "250 MB" in result.output and "ZIP_FILE" in result.output
    assert fn.calls() == [], "refused before any Lambda call"
    assert sorted(p.name for p in fn.step.clone_dir.rglob("*")) == before  # no zip written


def test_direct_upload_limit_is_on_the_encoded_request(fn):
    # Exactly 50 MiB of zip: within "50 MB", but its base64 is above Lambda's request limit.
    with open(fn.step.clone_dir / "edge.zip", "wb") as out:
        out.write(b"PK\x03\x04")
        out.truncate(50 * 1024 * 1024)
    result = fn.run(ZIP_FILE="edge.zip")

    assert result.code == 2, result
    assert "base64" in result.output and "S3_BUCKET and S3_KEY" in result.output
    assert fn.calls() == []


def test_dry_run_validates_the_code_source_with_lambda(fn):
    package = make_zip({"app.py": "def handler(e, c):\n    return 'dry'\n"})
    fn.fn.upload("builds/api.zip", package)
    before = fn.configuration()
    result = fn.run(S3_BUCKET=fn.fn.bucket, S3_KEY="builds/api.zip", DRY_RUN="true", ALIAS="live")

    assert result.code == 0, result
    [dry] = fn.calls("UpdateFunctionCode")
    assert dry["params"]["DryRun"] is True and dry["status"] == 200
    assert "Lambda accepts the code source" in result.output
    after = fn.configuration()
    assert (after["CodeSha256"], after["RevisionId"]) == (before["CodeSha256"], before["RevisionId"])
    for action in ("UpdateFunctionConfiguration", "PublishVersion", "CreateAlias", "UpdateAlias"):
        assert fn.calls(action) == [], action

    missing = fn.run(S3_BUCKET=fn.fn.bucket, S3_KEY="builds/missing.zip", DRY_RUN="true")
    assert missing.code == 2, missing
    assert "NoSuchKey" in missing.output and "S3_KEY" in missing.output
    assert fn.configuration()["RevisionId"] == before["RevisionId"]

    # A role that may not update the code (a read-only role for previews) loses only the check.
    fn.emulator.add_fault("access_denied", service="lambda", action="UpdateFunctionCode", count=1)
    read_only = fn.run(S3_BUCKET=fn.fn.bucket, S3_KEY="builds/api.zip", DRY_RUN="true")
    assert read_only.code == 0, read_only
    assert any("could not check the code source" in line and "WARN" in line.upper() for line in read_only.lines)


def test_dry_run_validates_the_image_uri(scenario, emulator):
    fn = Lambda(scenario, emulator, package="image")
    result = fn.run(IMAGE_URI="docker.io/library/api:2", DRY_RUN="true")

    assert result.code == 2, result
    assert "Source image docker.io/library/api:2 is not valid" in result.output and "IMAGE_URI" in result.output
    [dry] = fn.calls("UpdateFunctionCode")
    assert dry["params"]["DryRun"] is True


def test_zip_file_over_the_unzipped_limit_is_refused_before_any_change(fn):
    from emulator.lambda_scenario import make_inflating_zip

    fn.write("huge.zip", make_inflating_zip(260 * 1024 * 1024))
    result = fn.run(ZIP_FILE="huge.zip", FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps({"Timeout": 31})))

    assert result.code == 2, result
    assert "250 MB" in result.output and "ZIP_FILE" in result.output
    assert fn.calls("UpdateFunctionConfiguration") == [] and fn.calls("UpdateFunctionCode") == []


def test_inactive_version_published_again_still_takes_the_alias(fn):
    # A SnapStart version unused for 14 days is Inactive; with nothing changed, Lambda answers it
    # again. It serves once invoked, so it is not waited for.
    version = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.emulator.lambda_state(FUNCTION, "Inactive", polls=None, version=version)
    result = fn.run(ZIP_FILE=fn.write("same.zip", fn.fn.zip_bytes), ALIAS="live", WAIT_TIMEOUT="20")

    assert result.code == 0, result
    assert result.outputs_env["AWS_ROLE_DEPLOY_VERSION"] == version
    assert f"version {version}: State Inactive" in result.output
    assert fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == version


def test_version_still_pending_at_the_deadline_leaves_the_alias(fn):
    first = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=first)
    fn.emulator.lambda_version_state(FUNCTION, pending_polls=10_000)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", WAIT_TIMEOUT="4")

    assert result.code == 1, result
    assert "still not Active (State Pending) when WAIT_TIMEOUT ran out" in result.final_line
    assert f"alias live still points at version {first}" in result.output
    assert fn.calls("UpdateAlias") == []


def test_an_environment_over_lambdas_4_kb_is_refused_before_any_change_without_printing_it(fn, emulator):
    # Lambda's own refusal quotes every value ("String measured: {...}"); the pipe checks first.
    secret = "s3cr3t-" + "x" * 40
    variables = {f"VAR_{i}": f"{secret}-{i}" for i in range(80)}
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("big.json", json.dumps({"Environment": {"Variables": variables}})),
                    DEBUG="true")

    assert result.code == 2, result
    assert "more than Lambda's 4 KB" in result.output, result
    assert secret not in result.everything()
    assert emulator.requests(service="lambda", action="UpdateFunctionConfiguration") == []


def test_values_filled_from_repository_variables_are_masked_wherever_they_appear(fn):
    token = "repo-variable-token-1234567890"
    config = {"Environment": {"Variables": {"API_TOKEN": "${API_TOKEN}"}}, "Description": "uses ${API_TOKEN}"}
    result = fn.run(FUNCTION_CONFIGURATION=fn.write("c.json", json.dumps(config)), API_TOKEN=token, DRY_RUN="true")

    assert result.code == 0, result
    assert token not in result.everything(), result


MUTATING = ("UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "CreateAlias", "UpdateAlias",
            "DeleteFunction", "DeleteAlias", "PutProvisionedConcurrencyConfig")


@pytest.mark.parametrize("make", ["fifo", "device", "bomb"])
def test_hostile_packages_are_refused_within_seconds_before_any_change(fn, emulator, make):
    if make == "fifo":
        os.mkfifo(fn.step.clone_dir / "package.zip")
        zip_file = "package.zip"
    elif make == "device":
        zip_file = "/dev/zero"
    else:
        # Committed links that double the tree at each level: 2^14 paths without a bound.
        for level in range(14):
            level_dir = fn.step.clone_dir / "pkg" / f"d{level}"
            level_dir.mkdir(parents=True)
            (level_dir / "f").write_text("x")
            if level < 13:
                os.symlink(f"../d{level + 1}", level_dir / "a")
                os.symlink(f"../d{level + 1}", level_dir / "b")
        zip_file = "pkg"
    result = fn.run(ZIP_FILE=zip_file, timeout=20)

    assert result.code == 2, result
    assert "ZIP_FILE" in result.output, result
    mutating = [r for r in emulator.requests(service="lambda") if r["action"] in MUTATING]
    assert mutating == [], mutating


# ------------------------------------------------------------------------------ provisioned concurrency (issue 20)


def provisioned_alias(fn, **script):
    """Alias live on version 1, with provisioned concurrency (READY) whose next allocation is `script`."""
    first = fn.boto.publish_version(FunctionName=FUNCTION)["Version"]
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=first)
    fn.emulator.lambda_provisioned_concurrency(FUNCTION, "live", executions=4, **script)
    return first


def test_provisioned_concurrency_in_progress_is_waited_for_until_ready(fn):
    provisioned_alias(fn, in_progress_polls=3)
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")

    assert result.code == 0, result
    version = result.outputs_env["AWS_ROLE_DEPLOY_VERSION"]
    calls = fn.calls()
    [update] = [i for i, c in enumerate(calls) if c["action"] == "UpdateAlias"]
    polls = [i for i, c in enumerate(calls) if c["action"] == "GetProvisionedConcurrencyConfig"]
    assert len(polls) == 4 and polls[0] > update  # IN_PROGRESS three times, then READY
    assert [calls[i]["scenario"]["provisioned_concurrency"]["status"] for i in polls] == ["IN_PROGRESS"] * 3 + ["READY"]
    assert f"alias live (version {version}): IN_PROGRESS, 1 of 4 allocated" in result.output
    assert "READY, 4 of 4 allocated" in result.final_line
    assert result.outputs_env["AWS_ROLE_DEPLOY_PROVISIONED_CONCURRENCY"] == "READY, 4 of 4 allocated"


def test_provisioned_concurrency_that_fails_exits_1_saying_where_the_alias_points(fn):
    first = provisioned_alias(fn, in_progress_polls=1, outcome="FAILED")
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live", WAIT_TIMEOUT="30")

    assert result.code == 1, result
    version = fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"]
    assert version != first
    assert "FUNCTION_ERROR_INIT_FAILURE" in result.final_line
    assert f"Alias live now points at version {version} (it pointed at version {first} before this step)" in result.output
    assert result.outputs_env["AWS_ROLE_DEPLOY_STATE"] == "PARTIAL"
    assert "still points" not in result.output


def test_an_alias_without_provisioned_concurrency_is_not_waited_for(fn):
    result = fn.run(ZIP_FILE=fn.source_dir(), ALIAS="live")

    assert result.code == 0, result
    assert len(fn.calls("GetProvisionedConcurrencyConfig")) == 1  # answered ProvisionedConcurrencyConfigNotFound
    assert "provisioned concurrency" not in result.final_line.lower()


# ------------------------------------------------------------------------------ VERSION: an alias to an existing version (issue 20)


def published_versions(fn, count):
    """`count` versions of the function, each with other code: -> their numbers."""
    numbers = []
    for i in range(count):
        fn.boto.update_function_code(FunctionName=FUNCTION, ZipFile=make_zip({"app.py": f"V = {i}\n"}))
        numbers.append(fn.boto.publish_version(FunctionName=FUNCTION)["Version"])
    return numbers


def test_version_moves_the_alias_to_an_existing_version_and_changes_nothing_else(fn):
    first, second = published_versions(fn, 2)
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=second)
    fn.emulator.lambda_provisioned_concurrency(FUNCTION, "live", executions=2, in_progress_polls=1)
    result = fn.run(VERSION=first, ALIAS="live")

    assert result.code == 0, result
    assert fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == first
    assert [c["action"] for c in fn.calls() if c["action"] in MUTATING] == ["UpdateAlias"]
    assert f"Alias live: version {second} → {first}" in result.output
    assert f"Alias live of {FUNCTION} now points at version {first}" in result.final_line
    assert "READY, 2 of 2 allocated" in result.final_line
    assert result.outputs_env["AWS_ROLE_DEPLOY_VERSION"] == first
    assert result.outputs_env["AWS_ROLE_DEPLOY_CODE_CHANGED"] == "false"


def test_version_creates_a_missing_alias(fn):
    [first] = published_versions(fn, 1)
    result = fn.run(VERSION=first, ALIAS="live")

    assert result.code == 0, result
    assert fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == first
    assert [c["action"] for c in fn.calls() if c["action"] in MUTATING] == ["CreateAlias"]


@pytest.mark.parametrize("extra, message", [
    ({"ZIP_FILE": "app.zip"}, "cannot be combined with a code source"),
    ({"IMAGE_URI": "111111111111.dkr.ecr.us-east-1.amazonaws.com/api:2"}, "cannot be combined with a code source"),
    ({"FUNCTION_CONFIGURATION": "config.json"}, "cannot be combined with a code source"),
    ({"ALIAS": ""}, "needs ALIAS"),
    ({"VERSION": "$LATEST"}, "not a published version number"),
    ({"VERSION": "live"}, "not a published version number"),
])
def test_version_with_a_code_source_or_without_alias_is_refused_before_any_call(fn, extra, message):
    fn.write("app.zip", make_zip())
    fn.write("config.json", '{"MemorySize": 512}')
    variables = {"VERSION": "1", "ALIAS": "live", **extra}
    result = fn.run(**variables)

    assert result.code == 2, result
    assert message in result.output
    assert "VERSION" in result.output or "ALIAS" in result.output
    assert fn.calls() == []


def test_a_version_that_does_not_exist_is_refused_with_zero_mutating_calls(fn):
    [first] = published_versions(fn, 1)
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=first)
    result = fn.run(VERSION="9", ALIAS="live")

    assert result.code == 2, result
    assert "Version 9 of api does not exist" in result.final_line
    assert "VERSION" in result.output
    assert [c for c in fn.calls() if c["action"] in MUTATING] == []
    assert fn.boto.get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == first


def test_version_dry_run_says_where_the_alias_would_go(fn):
    first, second = published_versions(fn, 2)
    fn.boto.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=second)
    result = fn.run(VERSION=first, ALIAS="live", DRY_RUN="true")

    assert result.code == 0, result
    assert f"would move alias live from version {second} to version {first}" in result.output
    assert [c for c in fn.calls() if c["action"] in MUTATING] == []
