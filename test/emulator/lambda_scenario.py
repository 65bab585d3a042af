"""A Lambda function built with boto3 against the emulator, as a user's account would look
before the pipe's lambda-deploy runs.

    from emulator.lambda_scenario import lambda_fixture, make_zip, code_sha256

    scn = lambda_fixture(emulator, name="api")        # zip package, python3.12
    scn.env()                     # AWS_* variables for the pipe (the scenario's IAM user keys)
    lam = scn.client("lambda")    # boto3 client signed with the same keys
    scn.function_arn              # arn:aws:lambda:us-east-1:111111111111:function:api
    scn.code_sha256               # base64 sha256 of the deployed zip, as Lambda reports it
    scn.bucket                    # a versioned S3 bucket for packages

Credentials: an IAM user (`lambda-deployer-<random>`) with an access key in account
111111111111, created through the emulator's `/_layer/iam/user`; every call signed with it
lands in that account. Region us-east-1.
"""

import base64
import hashlib
import io
import uuid
import zipfile
from dataclasses import dataclass, field

from .scenario import REGION, AccountScenario, client_for

ACCOUNT = "111111111111"
HANDLER_SOURCE = 'def handler(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'
LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def make_zip(files=None, date_time=FIXED_DATE):
    """A zip in memory: {name: str|bytes} (default: app.py with a handler returning 200).
    Entries sorted, fixed timestamps, so the same files give the same bytes (and CodeSha256)."""
    files = files if files is not None else {"app.py": HANDLER_SOURCE}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = files[name]
            z.writestr(info, data.encode() if isinstance(data, str) else data)
    return buf.getvalue()


def make_inflating_zip(unzipped_bytes, name="model.bin"):
    """A small zip whose one entry unzips to `unzipped_bytes` zeros (streamed: the zeros never
    sit in memory), for Lambda's unzipped-size limit."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(1024 * 1024)
        with z.open(info, "w", force_zip64=True) as entry:
            left = unzipped_bytes
            while left > 0:
                entry.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
    return buf.getvalue()


def code_sha256(data):
    """Lambda's CodeSha256 of a package: base64 of the sha256 of the zip bytes."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass
class LambdaScenario(AccountScenario):
    function_name: str
    function_arn: str
    role_arn: str
    package: str  # "zip" | "image"
    code_sha256: str
    zip_bytes: bytes | None
    image_uri: str | None
    bucket: str
    published_version: str | None
    environment: dict = field(default_factory=dict)

    def upload(self, key, data):
        """PutObject into the scenario's bucket; -> the object's VersionId (None: unversioned)."""
        return self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=data).get("VersionId")

    def configuration(self):
        return self.client("lambda").get_function_configuration(FunctionName=self.function_name)


def lambda_fixture(emulator, name="api", runtime="python3.12", package="zip", account=ACCOUNT,
                   publish=False, environment=None, files=None, versioned_bucket=True):
    """Create the execution role (moto needs it), the function (zip from `files`, or image
    `<account>.dkr.ecr.<region>.amazonaws.com/<name>:1`), optionally version 1, and a
    bucket `<name>-artifacts-<random>` (versioned unless `versioned_bucket` is False)."""
    if package not in ("zip", "image"):
        raise ValueError("package must be zip or image")
    suffix = uuid.uuid4().hex[:8]
    creds = emulator.create_user(account, f"lambda-deployer-{suffix}")
    role_arn = emulator.create_role(account, f"{name}-execution-{suffix}", LAMBDA_TRUST_POLICY)
    lam = client_for(emulator, "lambda", creds)
    s3 = client_for(emulator, "s3", creds)

    environment = dict(environment if environment is not None
                       else {"APP_ENV": "production", "DB_PASSWORD": f"s3cret-{name}"})
    kwargs = dict(FunctionName=name, Role=role_arn, Description=f"{name} function", Timeout=10,
                  MemorySize=256, Environment={"Variables": environment}, Publish=publish)
    zip_bytes = image_uri = None
    if package == "zip":
        zip_bytes = make_zip(files)
        kwargs.update(Runtime=runtime, Handler="app.handler", Code={"ZipFile": zip_bytes})
    else:
        image_uri = f"{account}.dkr.ecr.{REGION}.amazonaws.com/{name}:1"
        kwargs.update(PackageType="Image", Code={"ImageUri": image_uri})
    created = lam.create_function(**kwargs)

    bucket = f"{name}-artifacts-{suffix}"
    s3.create_bucket(Bucket=bucket)
    if versioned_bucket:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    return LambdaScenario(
        emulator=emulator,
        account=account,
        region=REGION,
        credentials=creds,
        function_name=name,
        function_arn=created["FunctionArn"],
        role_arn=role_arn,
        package=package,
        code_sha256=created["CodeSha256"],
        zip_bytes=zip_bytes,
        image_uri=image_uri,
        bucket=bucket,
        published_version=created["Version"] if publish else None,
        environment=environment,
    )
