"""Self-tests of the emulator's Lambda scenarios (test/emulator/lambda_.py), driven with boto3.

They pin down what the pipe's lambda-deploy tests rely on: updates that stay InProgress for
N polls and then succeed or fail, ResourceConflictException while they run (and scripted),
RevisionId/CodeSha256 preconditions of PublishVersion, versions that are not re-published
when nothing changed, aliases, S3 and image code, throttling, and records without packages;
and what real Lambda does beyond that (issue 8): versions with their own state (SnapStart:
Pending, then Active or Failed; Inactive), no alias on a Failed version, alias weights kept
unless cleared, DryRun, ECR image URIs, the request-size and unzipped-size limits, and
another build writing the same S3 key.
"""

import base64
import json
import os
import zlib

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from emulator.lambda_scenario import LAMBDA_TRUST_POLICY, code_sha256, lambda_fixture, make_zip

ACCOUNT = "111111111111"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:api"
IN_PROGRESS = f"The operation cannot be performed at this time. An update is in progress for resource: {ARN}"


@pytest.fixture
def scn(emulator):
    return lambda_fixture(emulator, name="api")


@pytest.fixture
def lam(scn):
    return scn.client("lambda", retries=1)  # retries off: every error reaches the test


def error_of(excinfo):
    err = excinfo.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def status(cfg):
    return cfg["State"], cfg["LastUpdateStatus"]


def new_zip(text="v2"):
    return make_zip({"app.py": f"VERSION = {text!r}\ndef handler(event, context):\n    return 200\n"})


# ---------------------------------------------------------------- update states over time


def test_update_in_progress_then_successful(emulator, scn, lam):
    before = lam.get_function_configuration(FunctionName="api")
    assert status(before) == ("Active", "Successful")
    emulator.lambda_script("api", in_progress_polls=2)

    package = new_zip()
    resp = lam.update_function_code(FunctionName="api", ZipFile=package)
    assert resp["LastUpdateStatus"] == "InProgress"
    assert resp["LastUpdateStatusReason"] == "The function is being created."
    assert resp["LastUpdateStatusReasonCode"] == "Creating"
    assert resp["CodeSha256"] == code_sha256(package) != scn.code_sha256
    assert resp["RevisionId"] != before["RevisionId"]

    polls = [lam.get_function_configuration(FunctionName="api") for _ in range(2)]
    assert [status(c) for c in polls] == [("Active", "InProgress")] * 2
    assert polls[0]["RevisionId"] == resp["RevisionId"]
    done = lam.get_function(FunctionName="api")["Configuration"]  # GetFunction polls too
    assert status(done) == ("Active", "Successful")
    assert "LastUpdateStatusReason" not in done
    # The state change gave a new revision: the update's RevisionId is stale now.
    assert done["RevisionId"] != resp["RevisionId"]
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "Successful")
    assert emulator.lambda_status()["history"][0]["outcome"] == "Successful"


def test_update_failed_with_reason_and_code(emulator, scn, lam):
    emulator.lambda_script("api", in_progress_polls=1, outcome="Failed", applies_to="configuration",
                           reason="Lambda was unable to create an ENI.", reason_code="EniLimitExceeded")
    # A code update does not take a configuration script.
    assert lam.update_function_code(FunctionName="api", ZipFile=new_zip())["LastUpdateStatus"] == "Successful"

    resp = lam.update_function_configuration(FunctionName="api", Timeout=30)
    assert resp["LastUpdateStatus"] == "InProgress"
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "InProgress")
    for _ in range(2):  # Failed stays until the next update
        failed = lam.get_function_configuration(FunctionName="api")
        assert status(failed) == ("Active", "Failed")
        assert failed["LastUpdateStatusReason"] == "Lambda was unable to create an ENI."
        assert failed["LastUpdateStatusReasonCode"] == "EniLimitExceeded"

    again = lam.update_function_configuration(FunctionName="api", Timeout=31)
    assert again["LastUpdateStatus"] == "Successful" and "LastUpdateStatusReasonCode" not in again
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "Successful")


def test_in_progress_polls_zero_and_queued_scripts(emulator, scn, lam):
    emulator.lambda_script("api", in_progress_polls=0)
    emulator.lambda_script("api", in_progress_polls=1, outcome="Failed")
    assert lam.update_function_code(FunctionName="api", ZipFile=new_zip("a"))["LastUpdateStatus"] == "InProgress"
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "Successful")
    lam.update_function_code(FunctionName="api", ZipFile=new_zip("b"))
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "InProgress")
    failed = lam.get_function_configuration(FunctionName="api")
    assert failed["LastUpdateStatus"] == "Failed"
    assert (failed["LastUpdateStatusReason"], failed["LastUpdateStatusReasonCode"]) == (
        "The function update failed.", "InternalError")
    assert emulator.lambda_status()["scripts"] == []


def test_conflict_while_in_progress(emulator, scn, lam):
    emulator.lambda_script("api", in_progress_polls=2)
    lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    for call in (
        lambda: lam.update_function_code(FunctionName="api", ZipFile=new_zip("v3")),
        lambda: lam.update_function_configuration(FunctionName=ARN, Timeout=20),
        lambda: lam.publish_version(FunctionName="api"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == (409, "ResourceConflictException", IN_PROGRESS)
    for _ in range(3):
        cfg = lam.get_function_configuration(FunctionName="api")
    assert status(cfg) == ("Active", "Successful")
    assert lam.update_function_configuration(FunctionName="api", Timeout=20)["Timeout"] == 20


def test_pending_state_then_active(emulator, scn, lam):
    emulator.lambda_state("api", "Pending", polls=2)
    pending = lam.get_function_configuration(FunctionName="api")
    assert status(pending) == ("Pending", "InProgress")
    assert (pending["StateReason"], pending["StateReasonCode"]) == ("The function is being created.", "Creating")
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    assert error_of(e) == (409, "ResourceConflictException", "The operation cannot be performed at this time. "
                           "The function is currently in the following state: Pending")
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Pending", "InProgress")
    active = lam.get_function_configuration(FunctionName="api")
    assert status(active) == ("Active", "Successful") and "StateReason" not in active
    lam.update_function_code(FunctionName="api", ZipFile=new_zip())


def test_scripted_conflicts_count_and_match(emulator, scn, lam):
    other = lam.create_function(FunctionName="other", Role=scn.role_arn, Runtime="python3.12",
                                Handler="app.handler", Code={"ZipFile": new_zip()})
    emulator.lambda_conflicts("api", count=2, action="UpdateFunctionCode")
    lam.update_function_code(FunctionName="other", ZipFile=new_zip("x"))  # another function
    lam.update_function_configuration(FunctionName="api", Timeout=9)  # another action
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            lam.update_function_code(FunctionName="api", ZipFile=new_zip())
        assert error_of(e) == (409, "ResourceConflictException", IN_PROGRESS)
    lam.update_function_code(FunctionName="api", ZipFile=new_zip())

    emulator.lambda_conflicts(other["FunctionArn"], count=1)  # "*": any call that changes it
    lam.get_function_configuration(FunctionName="other")  # reads are not conflicted
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName="other")
    assert error_of(e)[1] == "ResourceConflictException"
    assert lam.publish_version(FunctionName="other")["Version"] == "1"
    assert [r["error_code"] for r in emulator.requests("lambda", "PublishVersion")] == ["ResourceConflictException", None]


def test_generic_error_fault_also_gives_conflicts(emulator, scn, lam):
    # Without a function to match, the generic fault does the same for any function.
    emulator.add_fault("error", service="lambda", action="UpdateFunctionConfiguration", count=1,
                       status=409, code="ResourceConflictException", message=IN_PROGRESS)
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName="api", Timeout=5)
    assert error_of(e) == (409, "ResourceConflictException", IN_PROGRESS)


# ---------------------------------------------------------------- RevisionId, CodeSha256, versions


def test_revision_id_precondition(emulator, scn, lam):
    first = lam.get_function_configuration(FunctionName="api")["RevisionId"]
    updated = lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    assert updated["RevisionId"] != first
    assert lam.get_function_configuration(FunctionName="api")["RevisionId"] == updated["RevisionId"]
    message = ("The Revision Id provided does not match the latest Revision Id. "
               "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName="api", RevisionId=first)
    assert error_of(e) == (412, "PreconditionFailedException", message)
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName="api", Timeout=4, RevisionId=first)
    assert error_of(e)[:2] == (412, "PreconditionFailedException")

    version = lam.publish_version(FunctionName="api", RevisionId=updated["RevisionId"],
                                  CodeSha256=updated["CodeSha256"], Description="build 7")
    assert (version["Version"], version["Description"]) == ("1", "build 7")
    assert version["RevisionId"] != updated["RevisionId"]  # a version has its own
    assert lam.get_function_configuration(FunctionName="api", Qualifier="1")["RevisionId"] == version["RevisionId"]


def test_lost_answer_applies_the_request_and_the_retry_meets_the_precondition(emulator, scn):
    # What an SDK meets when a connection resets after Lambda did the work: it tries again with
    # the same RevisionId, which is no longer $LATEST's.
    lam = scn.client("lambda", retries=2)
    first = lam.get_function_configuration(FunctionName="api")["RevisionId"]
    emulator.add_fault("lost_answer", service="lambda", action="UpdateFunctionConfiguration")
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName="api", Timeout=7, RevisionId=first)
    assert error_of(e)[:2] == (412, "PreconditionFailedException")
    applied = lam.get_function_configuration(FunctionName="api")
    assert applied["Timeout"] == 7 and applied["RevisionId"] != first
    lost, retried = emulator.requests(service="lambda", action="UpdateFunctionConfiguration")
    assert (lost["fault"], lost["status"]) == ("lost_answer", 200)
    assert (retried["fault"], retried["status"], retried["error_code"]) == (None, 412, "PreconditionFailedException")


def test_code_sha256_precondition(emulator, scn, lam):
    current = lam.get_function_configuration(FunctionName="api")["CodeSha256"]
    stale = code_sha256(b"something else")
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName="api", CodeSha256=stale)
    assert error_of(e) == (400, "InvalidParameterValueException",
                           f"CodeSHA256 ({stale}) is different from current CodeSHA256 in $LATEST ({current}). "
                           "Please try again with the CodeSHA256 in $LATEST.")
    assert lam.publish_version(FunctionName="api", CodeSha256=current)["Version"] == "1"


def test_publish_version_returns_existing_when_nothing_was_updated(emulator, scn, lam):
    assert lam.publish_version(FunctionName="api")["Version"] == "1"
    assert lam.publish_version(FunctionName="api", Description="again")["Version"] == "1"
    # Any update, even of the same package, makes the next publish a new version
    # (getmoto/moto#8379, checked against AWS; aws-sdk-js-v3#5946).
    lam.update_function_code(FunctionName="api", ZipFile=scn.zip_bytes)  # the same package
    assert lam.publish_version(FunctionName="api")["Version"] == "2"
    assert lam.publish_version(FunctionName="api")["Version"] == "2"
    lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    assert lam.publish_version(FunctionName="api")["Version"] == "3"
    lam.update_function_configuration(FunctionName="api", MemorySize=512)
    v4 = lam.publish_version(FunctionName="api")
    assert (v4["Version"], v4["MemorySize"]) == ("4", 512)
    assert lam.publish_version(FunctionName="api")["Version"] == "4"
    versions = lam.list_versions_by_function(FunctionName=ARN)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2", "3", "4"]


def test_fixture_published_version(emulator):
    scn = lambda_fixture(emulator, name="worker", publish=True)
    lam = scn.client("lambda", retries=1)
    assert scn.published_version == "1"
    assert lam.publish_version(FunctionName="worker")["Version"] == "1"
    assert lam.get_function_configuration(FunctionName="worker", Qualifier="1")["CodeSha256"] == scn.code_sha256


def test_configuration_passed_through(emulator, scn, lam):
    body = {
        "Timeout": 42,
        "MemorySize": 1024,
        "Environment": {"Variables": {"APP_ENV": "staging"}},
        "TracingConfig": {"Mode": "Active"},
        "EphemeralStorage": {"Size": 2048},
        "LoggingConfig": {"LogFormat": "JSON", "LogGroup": "/custom/api"},
        "DeadLetterConfig": {"TargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq"},
    }
    lam.update_function_configuration(FunctionName="api", **body)
    cfg = lam.get_function_configuration(FunctionName="api")
    for key, value in body.items():
        assert cfg[key] == value, key
    assert emulator.requests("lambda", "UpdateFunctionConfiguration")[0]["params"] == {**body, "FunctionName": "api"}


# ---------------------------------------------------------------- aliases and function names


def test_alias_missing_create_update(emulator, scn, lam):
    for ref in ("api", ARN, f"{ACCOUNT}:function:api"):
        with pytest.raises(ClientError) as e:
            lam.get_alias(FunctionName=ref, Name="live")
        assert error_of(e) == (404, "ResourceNotFoundException", f"Cannot find alias arn: {ARN}:live")
    lam.publish_version(FunctionName="api")
    created = lam.create_alias(FunctionName="api", Name="live", FunctionVersion="1")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (created["AliasArn"], created["FunctionVersion"]) == (f"{ARN}:live", "1")
    with pytest.raises(ClientError) as e:
        lam.create_alias(FunctionName="api", Name="live", FunctionVersion="1")
    assert error_of(e) == (409, "ResourceConflictException", f"Alias already exists: {ARN}:live")

    lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    assert lam.publish_version(FunctionName="api")["Version"] == "2"
    got = lam.get_alias(FunctionName=f"{ACCOUNT}:function:api", Name="live")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    moved = lam.update_alias(FunctionName=ARN, Name="live", FunctionVersion="2", RevisionId=got["RevisionId"])
    assert moved["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert moved["FunctionVersion"] == "2" and moved["RevisionId"] != got["RevisionId"]
    with pytest.raises(ClientError) as e:
        lam.update_alias(FunctionName="api", Name="live", FunctionVersion="1", RevisionId=got["RevisionId"])
    assert error_of(e)[:2] == (412, "PreconditionFailedException")
    assert lam.get_alias(FunctionName="api", Name="live")["FunctionVersion"] == "2"
    assert lam.get_function_configuration(FunctionName="api:live")["Version"] == "2"


def test_function_name_forms(emulator, scn, lam):
    partial = f"{ACCOUNT}:function:api"
    for ref in ("api", ARN, partial):
        assert lam.get_function_configuration(FunctionName=ref)["FunctionArn"] == ARN
    assert lam.update_function_code(FunctionName=partial, ZipFile=new_zip())["CodeSha256"] == code_sha256(new_zip())
    assert lam.publish_version(FunctionName=partial)["Version"] == "1"
    with pytest.raises(ClientError) as e:
        lam.get_function_configuration(FunctionName="arn:aws:lambda:eu-west-1:111111111111:function:api")
    assert error_of(e) == (404, "ResourceNotFoundException",
                           "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')")
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="222222222222:function:api", ZipFile=new_zip())
    code, kind, message = error_of(e)
    assert (code, kind) == (403, "AccessDeniedException")
    assert "lambda:UpdateFunctionCode on resource: arn:aws:lambda:us-east-1:222222222222:function:api" in message
    with pytest.raises(ClientError) as e:
        lam.get_function_configuration(FunctionName="missing")
    assert error_of(e)[:2] == (404, "ResourceNotFoundException")


# ---------------------------------------------------------------- code sources


def test_s3_code_sha_and_object_version(emulator, scn, lam):
    v1, v2 = new_zip("s3-1"), new_zip("s3-2")
    first = scn.upload("builds/api.zip", v1)
    scn.upload("builds/api.zip", v2)
    resp = lam.update_function_code(FunctionName="api", S3Bucket=scn.bucket, S3Key="builds/api.zip")
    assert (resp["CodeSha256"], resp["CodeSize"]) == (code_sha256(v2), len(v2))
    resp = lam.update_function_code(FunctionName="api", S3Bucket=scn.bucket, S3Key="builds/api.zip",
                                    S3ObjectVersion=first)
    assert resp["CodeSha256"] == code_sha256(v1)
    assert lam.get_function_configuration(FunctionName="api")["CodeSha256"] == code_sha256(v1)

    for kwargs, s3_code, s3_message in (
        ({"S3Key": "builds/missing.zip"}, "NoSuchKey", "The specified key does not exist."),
        ({"S3Key": "builds/api.zip", "S3ObjectVersion": "nope"}, "NoSuchVersion", "The specified version does not exist."),
        ({"S3Bucket": "no-such-bucket", "S3Key": "x.zip"}, "NoSuchBucket", "The specified bucket does not exist"),
    ):
        with pytest.raises(ClientError) as e:
            lam.update_function_code(FunctionName="api", **{"S3Bucket": scn.bucket, **kwargs})
        assert error_of(e) == (400, "InvalidParameterValueException",
                               f"Error occurred while GetObject. S3 Error Code: {s3_code}. S3 Error Message: {s3_message}")

    puts = emulator.requests("s3", "PutObject")
    assert [(p["params"]["Bucket"], p["params"]["Key"], p["params"]["Body"]) for p in puts] == [
        (scn.bucket, "builds/api.zip", {"size": len(v1), "sha256_b64": code_sha256(v1)}),
        (scn.bucket, "builds/api.zip", {"size": len(v2), "sha256_b64": code_sha256(v2)}),
    ]


def test_s3_refuses_a_wrong_expected_bucket_owner_as_s3_does(emulator, scn):
    s3 = scn.client("s3", retries=1)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=scn.bucket, Key="pkg.zip", Body=b"zip", ExpectedBucketOwner="222222222222")
    assert error_of(e)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=scn.bucket, Key="pkg.zip")  # nothing was written
    s3.put_object(Bucket=scn.bucket, Key="pkg.zip", Body=b"zip", ExpectedBucketOwner=ACCOUNT)
    assert s3.get_object(Bucket=scn.bucket, Key="pkg.zip", ExpectedBucketOwner=ACCOUNT)["Body"].read() == b"zip"
    refused, accepted = emulator.requests(service="s3", action="PutObject")
    assert (refused["status"], refused["error_code"], refused["expected_bucket_owner"]) == (
        403, "AccessDenied", "222222222222")
    assert accepted["status"] == 200


def test_s3_put_object_aws_chunked_is_recorded_decoded(emulator, scn, lam):
    """The Rust SDK streams PutObject as aws-chunked with a checksum trailer: the record and
    moto both see the object's bytes, not the chunk framing."""
    data = make_zip({"blob.bin": os.urandom(200_000)})
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = b"".join(b"%x\r\n" % len(data[i : i + 65536]) + data[i : i + 65536] + b"\r\n"
                    for i in range(0, len(data), 65536))
    body += f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    headers = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data)), "x-amz-trailer": "x-amz-checksum-crc32"}
    signed = AWSRequest(method="PUT", url=f"{emulator.base_url}/{scn.bucket}/pkg.zip", data=body, headers=headers)
    creds = Credentials(scn.credentials["access_key_id"], scn.credentials["secret_access_key"])
    SigV4Auth(creds, "s3", "us-east-1").add_auth(signed)
    assert requests.put(signed.url, data=body, headers=dict(signed.headers), timeout=30).status_code == 200

    put = emulator.requests("s3", "PutObject")[0]["params"]
    assert put["Body"] == {"size": len(data), "sha256_b64": code_sha256(data)}
    resp = lam.update_function_code(FunctionName="api", S3Bucket=scn.bucket, S3Key="pkg.zip")
    assert (resp["CodeSha256"], resp["CodeSize"]) == (code_sha256(data), len(data))


def test_image_function(emulator):
    scn = lambda_fixture(emulator, name="web", package="image")
    lam = scn.client("lambda", retries=1)
    fn = lam.get_function(FunctionName="web")
    assert fn["Configuration"]["PackageType"] == "Image"
    assert fn["Code"]["ImageUri"] == scn.image_uri
    uri2 = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web:2"
    resp = lam.update_function_code(FunctionName="web", ImageUri=uri2)
    assert resp["CodeSha256"] != scn.code_sha256
    digest = "a" * 64
    resp = lam.update_function_code(FunctionName="web", ImageUri=f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web@sha256:{digest}")
    assert resp["CodeSha256"] == digest
    assert lam.publish_version(FunctionName="web", CodeSha256=digest)["Version"] == "1"
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="web", ZipFile=new_zip())
    assert error_of(e) == (400, "InvalidParameterValueException",
                           "Please provide ImageUri when updating a function with packageType Image.")
    zipped = lambda_fixture(emulator, name="api").client("lambda", retries=1)
    with pytest.raises(ClientError) as e:
        zipped.update_function_code(FunctionName="api", ImageUri=uri2)
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")


# ---------------------------------------------------------------- faults and records


def test_throttling_is_too_many_requests(emulator, scn, lam):
    emulator.add_fault("throttle", service="lambda", action="GetFunctionConfiguration", count=1)
    with pytest.raises(ClientError) as e:
        lam.get_function_configuration(FunctionName="api")
    assert error_of(e)[:2] == (429, "TooManyRequestsException")
    lam.get_function_configuration(FunctionName="api")
    records = emulator.requests("lambda", "GetFunctionConfiguration")
    assert [(r["status"], r["fault"]) for r in records] == [(429, "throttle"), (200, None)]


def test_throttled_poll_is_not_a_poll(emulator, scn, lam):
    emulator.lambda_script("api", in_progress_polls=1)
    lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    emulator.add_fault("throttle", service="lambda", action="GetFunctionConfiguration", count=1)
    with pytest.raises(ClientError):
        lam.get_function_configuration(FunctionName="api")
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "InProgress")
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "Successful")


def test_records_carry_operations_and_no_package(emulator, scn, lam):
    big = make_zip({"app.py": "x = 1\n", "blob.bin": os.urandom(600_000)})  # incompressible
    emulator.add_fault("throttle", service="lambda", action="UpdateFunctionCode", count=1)
    with pytest.raises(ClientError):
        lam.update_function_code(FunctionName="api", ZipFile=big)
    updated = lam.update_function_code(FunctionName=ARN, ZipFile=big)
    cfg = lam.get_function_configuration(FunctionName="api")
    lam.update_function_configuration(FunctionName="api", Description="new")
    cfg = lam.get_function(FunctionName="api")["Configuration"]
    lam.publish_version(FunctionName="api", CodeSha256=cfg["CodeSha256"], RevisionId=cfg["RevisionId"], Description="d")
    with pytest.raises(ClientError):
        lam.get_alias(FunctionName="api", Name="live")
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion="1")
    lam.update_alias(FunctionName="api", Name="live", FunctionVersion="1")

    records = emulator.requests(service="lambda")
    dumped = json.dumps(records)
    assert len(dumped) < 20000  # no package in there
    summary = {"size": len(big), "sha256_b64": code_sha256(big)}
    assert updated["CodeSha256"] == summary["sha256_b64"]
    code_calls = [r for r in records if r["action"] == "UpdateFunctionCode"]
    assert [(r["params"]["ZipFile"], r["fault"]) for r in code_calls] == [(summary, "throttle"), (summary, None)]
    assert code_calls[1]["params"]["FunctionName"] == ARN
    create = [r for r in records if r["action"] == "CreateFunction"][0]
    assert create["params"]["Code"]["ZipFile"] == {"size": len(scn.zip_bytes), "sha256_b64": scn.code_sha256}
    assert [r["action"] for r in records][-8:] == [
        "UpdateFunctionCode", "GetFunctionConfiguration", "UpdateFunctionConfiguration", "GetFunction",
        "PublishVersion", "GetAlias", "CreateAlias", "UpdateAlias"]
    publish = [r for r in records if r["action"] == "PublishVersion"][0]
    assert publish["params"] == {"FunctionName": "api", "CodeSha256": cfg["CodeSha256"],
                                 "RevisionId": cfg["RevisionId"], "Description": "d"}
    get_alias = [r for r in records if r["action"] == "GetAlias"][0]
    assert (get_alias["params"], get_alias["status"], get_alias["error_code"]) == (
        {"FunctionName": "api", "Name": "live"}, 404, "ResourceNotFoundException")
    assert [r for r in records if r["action"] == "UpdateAlias"][0]["params"] == {
        "FunctionName": "api", "Name": "live", "FunctionVersion": "1"}


def test_control_validation_and_reset(emulator, scn):
    from emulator.client import EmulatorError

    with pytest.raises(EmulatorError, match="404"):
        emulator.lambda_state("nope", "Pending", polls=1)
    with pytest.raises(EmulatorError, match="400"):
        emulator.lambda_script("api", outcome="Maybe")
    with pytest.raises(EmulatorError, match="400"):
        emulator.lambda_script("api", outcome="Failed", reason_code="NotACode")
    emulator.lambda_script("api")
    emulator.lambda_conflicts("api", count=3)
    status_doc = emulator.lambda_status()
    assert len(status_doc["scripts"]) == 1 and status_doc["conflicts"][0]["remaining"] == 3
    emulator.clear_lambda_scripts()
    assert emulator.lambda_status()["scripts"] == [] and emulator.lambda_status()["conflicts"] == []
    emulator.lambda_script("api")
    emulator.reset()
    assert emulator.lambda_status() == {"scripts": [], "conflicts": [], "version_scripts": [], "history": [],
                                       "functions": [], "provisioned": [], "provisioned_history": []}


# ---------------------------------------------------------------- version states (lambda_versions.py)


def qualified(lam, version):
    cfg = lam.get_function_configuration(FunctionName="api", Qualifier=version)
    return cfg["State"], cfg.get("LastUpdateStatus")


def test_version_pending_then_active(emulator, scn, lam):
    emulator.lambda_version_state("api", pending_polls=2)
    lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    published = lam.publish_version(FunctionName="api")
    version = published["Version"]
    assert (published["State"], published["LastUpdateStatus"], published["StateReasonCode"]) == (
        "Pending", "InProgress", "Creating")
    # Polls of $LATEST are not polls of the version.
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "Successful")
    # While it is being created, the next publish conflicts (aws-cli #6718).
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName="api")
    assert error_of(e) == (409, "ResourceConflictException", IN_PROGRESS)
    # An alias may point at a Pending version.
    lam.create_alias(FunctionName="api", Name="canary", FunctionVersion=version)
    assert qualified(lam, version) == ("Pending", "InProgress")
    assert lam.get_function(FunctionName="api", Qualifier="canary")["Configuration"]["State"] == "Pending"
    assert qualified(lam, version) == ("Active", "Successful")
    assert "StateReason" not in lam.get_function_configuration(FunctionName="api", Qualifier=version)
    [record] = emulator.lambda_status()["history"]
    assert {k: v for k, v in record.items() if k != "started_at"} == {
        "function": "api", "account": ACCOUNT, "action": "PublishVersion", "version": version,
        "outcome": "Active", "pending_polls": 2, "pending_s": None, "completes_at": None}


def test_version_that_ends_failed_cannot_take_an_alias(emulator, scn, lam):
    first = lam.publish_version(FunctionName="api")["Version"]
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=first)
    emulator.lambda_version_state("api", pending_polls=1, outcome="Failed", reason_code="FunctionError.InitTimeout",
                                  reason="The function timed out during initialization.")
    lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    version = lam.publish_version(FunctionName="api")["Version"]
    assert qualified(lam, version) == ("Pending", "InProgress")
    failed = lam.get_function_configuration(FunctionName="api", Qualifier=version)
    assert (failed["State"], failed["StateReasonCode"], failed["StateReason"]) == (
        "Failed", "FunctionError.InitTimeout", "The function timed out during initialization.")
    assert (failed["LastUpdateStatus"], failed["LastUpdateStatusReasonCode"]) == ("Failed", "FunctionError.InitTimeout")
    expected = (409, "ResourceConflictException", "The operation cannot be performed at this time. The function "
                f"version {version} is currently in the following state: 'Failed', StateReasonCode: "
                "'FunctionError.InitTimeout'")
    for call in (
        lambda: lam.update_alias(FunctionName="api", Name="live", FunctionVersion=version),
        lambda: lam.update_alias(FunctionName="api", Name="live",
                                 RoutingConfig={"AdditionalVersionWeights": {version: 0.1}}),
        lambda: lam.create_alias(FunctionName="api", Name="next", FunctionVersion=version),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == expected
    alias = lam.get_alias(FunctionName="api", Name="live")
    assert alias["FunctionVersion"] == first and not alias.get("RoutingConfig")
    # Nothing changed since: Lambda answers the failed version again, Failed.
    again = lam.publish_version(FunctionName="api")
    assert (again["Version"], again["State"]) == (version, "Failed")


def test_alias_weights_are_kept_unless_cleared(emulator, scn, lam):
    one = lam.publish_version(FunctionName="api")["Version"]
    lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    two = lam.publish_version(FunctionName="api")["Version"]
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=one,
                     RoutingConfig={"AdditionalVersionWeights": {two: 0.1}})
    assert lam.get_alias(FunctionName="api", Name="live")["RoutingConfig"] == {"AdditionalVersionWeights": {two: 0.1}}
    # Moving the primary version leaves the weights as they are...
    lam.update_function_code(FunctionName="api", ZipFile=new_zip("v3"))
    three = lam.publish_version(FunctionName="api")["Version"]
    moved = lam.update_alias(FunctionName="api", Name="live", FunctionVersion=three)
    assert moved["RoutingConfig"] == {"AdditionalVersionWeights": {two: 0.1}}
    # ...an empty RoutingConfig clears them.
    cleared = lam.update_alias(FunctionName="api", Name="live", FunctionVersion=three,
                               RoutingConfig={"AdditionalVersionWeights": {}})
    assert not cleared.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert not lam.get_alias(FunctionName="api", Name="live").get("RoutingConfig", {}).get("AdditionalVersionWeights")


def refused_routing(call):
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException", error
    return error["Message"]


def test_alias_routing_is_judged_as_lambda_judges_it(emulator, scn, lam):
    """At most one additional version, a weight from 0 to 1 on a published version, no weights
    with $LATEST, and both versions with the same execution role and dead-letter queue."""
    one = lam.publish_version(FunctionName="api")["Version"]
    lam.update_function_code(FunctionName="api", ZipFile=new_zip())
    two = lam.publish_version(FunctionName="api")["Version"]
    lam.update_function_code(FunctionName="api", ZipFile=new_zip("v3"))
    three = lam.publish_version(FunctionName="api")["Version"]
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=one)

    def route(primary, weights, **extra):
        return lambda: lam.update_alias(FunctionName="api", Name="live", FunctionVersion=primary,
                                        RoutingConfig={"AdditionalVersionWeights": weights}, **extra)

    assert "at most two versions" in refused_routing(route(one, {two: 0.1, three: 0.1}))
    assert "[0-9]+" in refused_routing(route(one, {"$LATEST": 0.1}))
    assert "between 0.0 and 1.0" in refused_routing(route(one, {two: 1.5}))
    assert "$LATEST" in refused_routing(route("$LATEST", {two: 0.1}))
    assert lam.get_alias(FunctionName="api", Name="live")["FunctionVersion"] == one
    lam.update_alias(FunctionName="api", Name="live", FunctionVersion=one,
                     RoutingConfig={"AdditionalVersionWeights": {two: 0.1}})

    # A version with another execution role, then one with a dead-letter queue.
    other_role = emulator.create_role(ACCOUNT, "api-other-execution", LAMBDA_TRUST_POLICY)
    lam.update_function_configuration(FunctionName="api", Role=other_role)
    four = lam.publish_version(FunctionName="api")["Version"]
    assert refused_routing(route(one, {four: 0.1})) == "Specified versions must be associated with the same execution role"
    lam.update_function_configuration(FunctionName="api", Role=scn.role_arn,
                                      DeadLetterConfig={"TargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:api-dlq"})
    five = lam.publish_version(FunctionName="api")["Version"]
    assert "same dead letter queue" in refused_routing(route(one, {five: 0.1}))
    assert lam.get_alias(FunctionName="api", Name="live")["RoutingConfig"] == {"AdditionalVersionWeights": {two: 0.1}}


def test_version_state_control_validation(emulator, scn):
    from emulator.client import EmulatorError

    with pytest.raises(EmulatorError, match="400"):
        emulator.lambda_version_state("api", outcome="Maybe")
    with pytest.raises(EmulatorError, match="400"):
        emulator.lambda_version_state("api", outcome="Failed", reason_code="NotACode")
    emulator.lambda_version_state("api", pending_polls=3)
    assert emulator.lambda_status()["version_scripts"][0]["pending_polls"] == 3
    emulator.clear_lambda_scripts()
    assert emulator.lambda_status()["version_scripts"] == []


# ---------------------------------------------------------------- DryRun, image URIs, request size


def test_dry_run_validates_and_changes_nothing(emulator, scn, lam):
    package = new_zip("dry")
    scn.upload("builds/api.zip", package)
    before = lam.get_function_configuration(FunctionName="api")
    emulator.lambda_script("api", in_progress_polls=3, applies_to="code")
    resp = lam.update_function_code(FunctionName="api", S3Bucket=scn.bucket, S3Key="builds/api.zip", DryRun=True)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    after = lam.get_function_configuration(FunctionName="api")
    assert (after["CodeSha256"], after["RevisionId"]) == (before["CodeSha256"], before["RevisionId"])
    assert status(after) == ("Active", "Successful")
    assert len(emulator.lambda_status()["scripts"]) == 1  # a dry run takes no script
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="api", S3Bucket=scn.bucket, S3Key="builds/missing.zip", DryRun=True)
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")
    records = emulator.requests("lambda", "UpdateFunctionCode")
    assert [(r["params"].get("DryRun"), r["status"]) for r in records] == [(True, 200), (True, 400)]


def test_image_uri_must_be_ecr_of_the_region(emulator):
    scn = lambda_fixture(emulator, name="web", package="image")
    lam = scn.client("lambda", retries=1)
    for uri in ("docker.io/library/web:2", f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/web:2",
                f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web"):
        with pytest.raises(ClientError) as e:
            lam.update_function_code(FunctionName="web", ImageUri=uri, DryRun=True)
        assert error_of(e) == (400, "InvalidParameterValueException",
                               f"Source image {uri} is not valid. Provide a valid source image.")
    ok = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web:2"
    assert lam.update_function_code(FunctionName="web", ImageUri=ok, DryRun=True)["CodeSha256"] == scn.code_sha256


def test_request_size_is_limited_not_the_zip_size(emulator, scn, lam):
    # 50 MiB of zip is within the documented 50 MB, but its base64 is not within the request limit.
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="api", ZipFile=b"PK\x03\x04" + bytes(50 * 1024 * 1024 - 4))
    assert error_of(e) == (413, "RequestEntityTooLargeException",
                           "Request must be smaller than 69905067 bytes for the UpdateFunctionCode operation")
    assert lam.get_function_configuration(FunctionName="api")["CodeSha256"] == scn.code_sha256


# ---------------------------------------------------------------- another writer of the same S3 key (s3_.py)


def test_s3_object_replaced_right_after_put(emulator):
    scn = lambda_fixture(emulator, name="api", versioned_bucket=False)
    s3, lam = scn.client("s3", retries=1), scn.client("lambda", retries=1)
    ours, theirs = new_zip("ours"), new_zip("theirs")
    emulator.s3_replace_after_put(scn.bucket, "builds/api.zip", theirs)
    put = s3.put_object(Bucket=scn.bucket, Key="builds/api.zip", Body=ours)
    assert "VersionId" not in put
    assert s3.get_object(Bucket=scn.bucket, Key="builds/api.zip")["Body"].read() == theirs
    resp = lam.update_function_code(FunctionName="api", S3Bucket=scn.bucket, S3Key="builds/api.zip")
    assert resp["CodeSha256"] == code_sha256(theirs)
    puts = emulator.requests("s3", "PutObject")
    assert [(p["user_agent"].startswith("another-build"), p["params"]["Body"]["sha256_b64"], p.get("synthetic"))
            for p in puts] == [(False, code_sha256(ours), None), (True, code_sha256(theirs), True)]
    # Once only: the next put stays.
    s3.put_object(Bucket=scn.bucket, Key="builds/api.zip", Body=ours)
    assert s3.get_object(Bucket=scn.bucket, Key="builds/api.zip")["Body"].read() == ours


def test_packages_are_unpacked_and_limited(emulator, scn, lam):
    from emulator.lambda_scenario import make_inflating_zip

    too_big = make_inflating_zip(262144000)  # exactly 250 MiB unzipped: not smaller than the limit
    assert len(too_big) < 1024 * 1024
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="api", ZipFile=too_big)
    assert error_of(e) == (400, "InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes")
    scn.upload("builds/huge.zip", too_big)
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="api", S3Bucket=scn.bucket, S3Key="builds/huge.zip", DryRun=True)
    assert error_of(e)[2] == "Unzipped size must be smaller than 262144000 bytes"
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="api", ZipFile=b"PK\x03\x04 not really a zip")
    assert error_of(e) == (400, "InvalidParameterValueException",
                           "Could not unzip uploaded file. Please check your file, then try to upload again.")
    assert lam.get_function_configuration(FunctionName="api")["CodeSha256"] == scn.code_sha256
    lam.update_function_code(FunctionName="api", ZipFile=make_inflating_zip(1024))


def test_state_of_a_published_version(emulator, scn, lam):
    from emulator.client import EmulatorError

    version = lam.publish_version(FunctionName="api")["Version"]
    emulator.lambda_state("api", "Inactive", polls=1, version=version)
    cfg = lam.get_function_configuration(FunctionName="api", Qualifier=version)
    assert (cfg["State"], cfg["StateReasonCode"], cfg["LastUpdateStatus"]) == ("Inactive", "Idle", "Successful")
    assert status(lam.get_function_configuration(FunctionName="api")) == ("Active", "Successful")  # $LATEST
    assert qualified(lam, version)[0] == "Active"
    with pytest.raises(EmulatorError, match="404"):
        emulator.lambda_state("api", "Inactive", version="9")


def test_an_image_index_is_refused_as_lambda_refuses_it(emulator):
    """Lambda takes one manifest, not an index (aws-lambda-roadmap#82): by tag or by digest of the
    index → 400 "…media type … is not supported"; the platform's own manifest is taken."""
    from emulator.ecr_scenario import seed_index

    scn = lambda_fixture(emulator, name="web", package="image")
    ecr = scn.client("ecr")
    ecr.create_repository(repositoryName="web")
    index, children = seed_index(ecr, "web", "2", platforms=("linux/amd64", "linux/arm64"))
    lam = scn.client("lambda", retries=1)
    base = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web"
    for uri in (f"{base}:2", f"{base}@{index}"):
        with pytest.raises(ClientError) as refused:
            lam.update_function_code(FunctionName="web", ImageUri=uri)
        error = refused.value.response["Error"]
        assert error["Code"] == "InvalidParameterValueException"
        assert error["Message"] == (f"The image manifest, config or layer media type for the source image {uri} "
                                    "is not supported.")
    records = emulator.requests(service="lambda", action="UpdateFunctionCode")
    assert [r["image_index"] for r in records] == ["application/vnd.oci.image.index.v1+json"] * 2
    updated = lam.update_function_code(FunctionName="web", ImageUri=f"{base}@{children['linux/amd64']}")
    assert updated["CodeSha256"] == children["linux/amd64"].split(":", 1)[1]


# ---------------------------------------------------------------- provisioned concurrency (issue 20)


def published(lam, count):
    """`count` new versions of `api`, each with other code: -> their numbers."""
    numbers = []
    for i in range(count):
        lam.update_function_code(FunctionName="api", ZipFile=new_zip(f"v{i}"))
        numbers.append(lam.publish_version(FunctionName="api")["Version"])
    return numbers


def test_provisioned_concurrency_absent_is_not_found(emulator, scn, lam):
    [v1] = published(lam, 1)
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=v1)
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier="live")
    assert error_of(e) == (404, "ProvisionedConcurrencyConfigNotFoundException",
                           "No Provisioned Concurrency Config found for this function")
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="api", Qualifier="$LATEST",
                                               ProvisionedConcurrentExecutions=1)
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="api", Qualifier="nope",
                                               ProvisionedConcurrentExecutions=1)
    assert error_of(e)[:2] == (404, "ResourceNotFoundException")


def test_provisioned_concurrency_in_progress_for_n_polls_after_the_alias_moves_then_ready(emulator, scn, lam):
    v1, v2 = published(lam, 2)
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=v1)
    emulator.lambda_provisioned_concurrency("api", "live", executions=4, in_progress_polls=3)
    ready = lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier="live")
    assert (ready["Status"], ready["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 4)

    lam.update_alias(FunctionName="api", Name="live", FunctionVersion=v2)
    seen = [lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier="live") for _ in range(4)]
    assert [s["Status"] for s in seen] == ["IN_PROGRESS"] * 3 + ["READY"]
    allocated = [s["AllocatedProvisionedConcurrentExecutions"] for s in seen]
    assert allocated == sorted(allocated) and allocated[0] < 4 and allocated[-1] == 4
    assert all(s["RequestedProvisionedConcurrentExecutions"] == 4 for s in seen)
    records = emulator.requests(service="lambda", action="GetProvisionedConcurrencyConfig")
    assert records[-1]["scenario"]["provisioned_concurrency"] == {
        "status": "READY", "allocated": 4, "requested": 4, "version": v2}
    [listed] = lam.list_provisioned_concurrency_configs(FunctionName="api")["ProvisionedConcurrencyConfigs"]
    assert listed["FunctionArn"] == f"{ARN}:live" and listed["Status"] == "READY"
    assert emulator.lambda_status()["provisioned_history"][-1]["action"] == "UpdateAlias"


def test_provisioned_concurrency_that_ends_failed_says_why(emulator, scn, lam):
    v1, v2 = published(lam, 2)
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=v1)
    emulator.lambda_provisioned_concurrency("api", "live", in_progress_polls=1, outcome="FAILED")
    lam.update_alias(FunctionName="api", Name="live", FunctionVersion=v2)
    assert lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier="live")["Status"] == "IN_PROGRESS"
    failed = lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier="live")
    assert (failed["Status"], failed["StatusReason"]) == ("FAILED", "FUNCTION_ERROR_INIT_FAILURE")


def test_provisioned_concurrency_put_and_delete_on_a_version(emulator, scn, lam):
    [v1] = published(lam, 1)
    put = lam.put_provisioned_concurrency_config(FunctionName="api", Qualifier=v1, ProvisionedConcurrentExecutions=2)
    assert (put["ResponseMetadata"]["HTTPStatusCode"], put["Status"]) == (202, "IN_PROGRESS")
    assert lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier=v1)["Status"] == "IN_PROGRESS"
    assert lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier=v1)["Status"] == "READY"
    lam.delete_provisioned_concurrency_config(FunctionName="api", Qualifier=v1)
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier=v1)
    assert error_of(e)[1] == "ProvisionedConcurrencyConfigNotFoundException"


def test_provisioned_concurrency_control_validation(emulator, scn):
    with pytest.raises(Exception, match="neither an alias"):
        emulator.lambda_provisioned_concurrency("api", "live")
    with pytest.raises(Exception, match="qualifier"):
        emulator.lambda_provisioned_concurrency("api", "$LATEST")


def test_a_version_an_alias_references_cannot_be_deleted(emulator, scn, lam):
    v1, v2, v3, v4 = published(lam, 4)
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=v1)
    lam.create_alias(FunctionName="api", Name="canary", FunctionVersion=v4,
                     RoutingConfig={"AdditionalVersionWeights": {v3: 0.1}})
    for version, alias in ((v1, "live"), (v3, "canary")):
        with pytest.raises(ClientError) as e:
            lam.delete_function(FunctionName="api", Qualifier=version)
        assert error_of(e) == (409, "ResourceConflictException",
                               f"Unable to delete version because the following aliases reference it: [{alias}]")
    lam.delete_function(FunctionName="api", Qualifier=v2)
    left = [v["Version"] for v in lam.list_versions_by_function(FunctionName="api")["Versions"]]
    assert left == ["$LATEST", v1, v3, v4]
    assert {a["Name"] for a in lam.list_aliases(FunctionName="api")["Aliases"]} == {"live", "canary"}


# ---------------------------------------------------------------- the body's members (lambda_members.py)


def raw_update_configuration(emulator, scn, body):
    """UpdateFunctionConfiguration with `body` as it is: boto3 would drop (or refuse) members its
    model lacks, as the pipe's raw body does not."""
    data = json.dumps(body).encode()
    url = f"{emulator.base_url}/2015-03-31/functions/api/configuration"
    signed = AWSRequest(method="PUT", url=url, data=data, headers={"Content-Type": "application/json"})
    creds = Credentials(scn.credentials["access_key_id"], scn.credentials["secret_access_key"])
    SigV4Auth(creds, "lambda", "us-east-1").add_auth(signed)
    return requests.put(url, data=data, headers=dict(signed.headers), timeout=30)


def test_members_the_model_lacks_are_recorded_and_refused_before_anything_else(emulator, scn, lam):
    before = lam.get_function_configuration(FunctionName="api")
    body = {"MemorySize": 1024, "Code": {"ZipFile": "x"},
            "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": ""},
            "Layers": [{"Arn": "arn:aws:lambda:us-east-1:111111111111:layer:l:1", "CodeSize": 3}],
            "Environment": {"Variables": {"ANY_NAME": "maps hold data, not members"}}}
    resp = raw_update_configuration(emulator, scn, body)

    assert resp.status_code == 400, resp.text
    assert resp.json()["__type"] == "SerializationException"
    for member in ("Code", "Layers[0] (dict, not string)", "VpcConfig.VpcId"):
        assert member in resp.json()["message"], resp.text
    [record] = emulator.requests("lambda", "UpdateFunctionConfiguration")
    assert record["unknown_members"] == ["Code", "VpcConfig.VpcId"]
    assert record["wrong_types"] == ["Layers[0] (dict, not string)"]
    after = lam.get_function_configuration(FunctionName="api")
    assert after["MemorySize"] == before["MemorySize"] and after["RevisionId"] == before["RevisionId"]


def test_members_the_model_lacks_can_be_ignored_as_moto_does(emulator, scn, lam):
    emulator.lambda_unknown_members("ignore")
    resp = raw_update_configuration(emulator, scn, {"MemorySize": 1024, "FunctionArn": "arn:x"})

    assert resp.status_code == 200, resp.text
    assert lam.get_function_configuration(FunctionName="api")["MemorySize"] == 1024
    [record] = emulator.requests("lambda", "UpdateFunctionConfiguration")
    assert record["unknown_members"] == ["FunctionArn"]
    emulator.reset()
    assert raw_update_configuration(emulator, lambda_fixture(emulator, name="api"), {"X": 1}).status_code == 400


def test_a_body_of_model_members_is_recorded_with_none_unknown(emulator, scn, lam):
    lam.update_function_configuration(FunctionName="api", Timeout=9, TracingConfig={"Mode": "Active"},
                                      VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
    [record] = emulator.requests("lambda", "UpdateFunctionConfiguration")
    assert record["unknown_members"] == [] and record["status"] == 200


@pytest.mark.parametrize("vpc, message", [
    ({"SubnetIds": [], "SecurityGroupIds": [], "Ipv6AllowedForDualStack": True},
     "Ipv6AllowedForDualStack cannot be true without subnet or security groups. "
     "Please remove Ipv6AllowedForDualStack value from your request and try again."),
    ({"SubnetIds": ["subnet-1"], "SecurityGroupIds": []}, "SubnetIds and SecurityIds must coexist or be both empty list."),
])
def test_vpc_configs_lambda_refuses(lam, vpc, message):
    with pytest.raises(ClientError) as excinfo:
        lam.update_function_configuration(FunctionName="api", VpcConfig=vpc)
    assert error_of(excinfo) == (400, "InvalidParameterValueException", message)


def publish_versions(lam, name, count):
    for n in range(count):
        lam.update_function_configuration(FunctionName=name, Description=f"release {n}")
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        lam.publish_version(FunctionName=name)


def test_list_versions_by_function_pages_as_lambda(emulator, scn, lam):
    publish_versions(lam, "api", 5)
    pages, marker = [], None
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = lam.list_versions_by_function(FunctionName="api", MaxItems=2, **kwargs)
        pages.append([v["Version"] for v in page["Versions"]])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert pages == [["$LATEST", "1"], ["2", "3"], ["4", "5"]]
    whole = lam.list_versions_by_function(FunctionName="api")
    assert [v["Version"] for v in whole["Versions"]] == ["$LATEST", "1", "2", "3", "4", "5"]
    assert "NextMarker" not in whole
