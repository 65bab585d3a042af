"""scripts/probe-aws: check what the emulator assumes about AWS against a real (sandbox) account.

Each row is one assumption of the emulator layer (test/emulator/README.md, "Behaviours beyond
moto") that one cheap call settles. The probe makes the call, and prints per row what the emulator
assumes, what AWS answered, and whether they agree:

    agrees       AWS answered as the emulator assumes
    differs      it did not: the emulator (and maybe the pipe) is wrong there
    observed     the assumption allows either answer; what AWS said is recorded
    skipped      a precondition is missing (e.g. no PROBE_AWS_LAMBDA_ROLE_ARN)
    error        the probe itself failed (permissions, quota...)

Safety:
- It touches only the account named by PROBE_AWS_ACCOUNT (or --account), never a default: it
  refuses to start when that is missing or when the caller identity is another account.
- It creates only resources it names with a unique prefix (`probe-aws-<8 hex>`, or --prefix),
  deletes them when done (also after a failure), and never touches anything else.
- It prints no secret: the ECR token and registry password stay in memory.
- `--policy` prints the least IAM policy its role needs: the calls above, on probe-aws-* only.

With --emulator URL it runs the same rows against the emulator layer (the test suite does, in
test/test_probe_aws.py, so the probe cannot rot); the rows then check that the emulator does what
it claims.

Rows whose emulator side depends on other work (a registry front answering manifest GETs without
Docker-Content-Digest, a stale currentServiceDeployment) are written against the assumption, not
against what the emulator happens to do: when the emulator does not model them, emulator mode
reports them as differing, and the suite's test lists them as "not in the emulator yet".
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join([OCI_MANIFEST, "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])


class Refused(Exception):
    """The probe will not run (no account named, another account's credentials...)."""


class Row:
    def __init__(self, row_id, assumes, source):
        self.id, self.assumes, self.source = row_id, assumes, source
        self.answered, self.verdict = "", "error"

    def as_dict(self):
        return {"id": self.id, "assumes": self.assumes, "source": self.source, "answered": self.answered,
                "verdict": self.verdict}


def error_of(exc):
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return err.get("Code"), err.get("Message") or "", status
    return type(exc).__name__, str(exc), None


class Probe:
    """Clients, the registry, and the resources to delete, for one run."""

    def __init__(self, args):
        self.account, self.region, self.prefix = args.account, args.region, args.prefix
        self.emulator = args.emulator
        self.lambda_role_arn = args.lambda_role_arn
        self.cleanup = []
        self._clients = {}
        self._registry = None

    def client(self, service, unsigned=False):
        key = (service, unsigned)
        if key not in self._clients:
            config = Config(retries={"total_max_attempts": 3, "mode": "standard"},
                            **({"signature_version": UNSIGNED} if unsigned else {}))
            kwargs = {"endpoint_url": self.emulator} if self.emulator else {}
            self._clients[key] = boto3.client(service, region_name=self.region, config=config, **kwargs)
        return self._clients[key]

    def check_identity(self):
        identity = self.client("sts").get_caller_identity()
        if identity["Account"] != self.account:
            raise Refused(f"the credentials are of account {identity['Account']}, not PROBE_AWS_ACCOUNT "
                          f"{self.account}: nothing was touched")
        return identity["Arn"]

    def later(self, what, fn):
        self.cleanup.append((what, fn))

    def clean_up(self, out):
        for what, fn in reversed(self.cleanup):
            try:
                fn()
            except (ClientError, BotoCoreError, OSError) as exc:
                code, message, _ = error_of(exc)
                print(f"cleanup: {what} failed ({code}: {message}); delete it by hand", file=out)
        self.cleanup = []

    # -------------------------------------------------------------- registry (HTTP API)

    def registry(self):
        """(endpoint, Authorization header) from GetAuthorizationToken; never printed."""
        if self._registry is None:
            [data] = self.client("ecr").get_authorization_token()["authorizationData"]
            self._registry = (data["proxyEndpoint"].rstrip("/"), "Basic " + data["authorizationToken"])
        return self._registry

    def registry_call(self, method, path_or_url, body=None, headers=None):
        endpoint, auth = self.registry()
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else endpoint + path_or_url
        request = urllib.request.Request(url, data=body, method=method,
                                         headers={"Authorization": auth, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, dict(refused.headers), refused.read()

    def upload_blob(self, repository, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, _ = self.registry_call("POST", f"/v2/{repository}/blobs/uploads/")
        if status != 202:
            raise RuntimeError(f"starting an upload to {repository} answered {status}")
        location = headers.get("Location") or headers.get("location") or ""
        separator = "&" if "?" in location else "?"
        status, _, body = self.registry_call("PUT", f"{location}{separator}digest={digest}", data,
                                             {"Content-Type": "application/octet-stream"})
        if status != 201:
            raise RuntimeError(f"uploading {digest} to {repository} answered {status}: {body[:200]!r}")
        return digest

    def push_image(self, repository, tag):
        """A one-layer image (a small text file), pushed through the registry API. -> manifest digest."""
        layer = tiny_layer(f"{self.prefix} {repository}\n".encode())
        diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
        layer_digest, config_digest = self.upload_blob(repository, layer), self.upload_blob(repository, config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                               "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}]},
                              separators=(",", ":")).encode()
        status, _, body = self.registry_call("PUT", f"/v2/{repository}/manifests/{tag}", manifest,
                                             {"Content-Type": OCI_MANIFEST})
        if status != 201:
            raise RuntimeError(f"putting the manifest of {repository}:{tag} answered {status}: {body[:200]!r}")
        return "sha256:" + hashlib.sha256(manifest).hexdigest()

    def repository(self, suffix, mutability="MUTABLE"):
        name = f"{self.prefix}-{suffix}"
        self.client("ecr").create_repository(repositoryName=name, imageTagMutability=mutability)
        self.later(f"ECR repository {name}",
                   lambda: self.client("ecr").delete_repository(repositoryName=name, force=True))
        return name


def tiny_layer(content):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("probe.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


# ------------------------------------------------------------------------------------- rows

ROWS = []


def row(row_id, assumes, source):
    def register(fn):
        ROWS.append((row_id, assumes, source, fn))
        return fn
    return register


def expect_error(fn):
    """(code, message, status) of the call's refusal, or None when it succeeded."""
    try:
        fn()
    except ClientError as exc:
        return error_of(exc)
    return None


@row("ecr-manifest-head-vs-get",
     "ECR answers HEAD /v2/<repo>/manifests/<tag> with Docker-Content-Digest, and GET without it",
     "distribution#3792, containers-roadmap#1931, Docker.Registry.DotNet#34")
def probe_manifest_headers(p):
    repository = p.repository("headers")
    pushed = p.push_image(repository, "probe")
    head = p.registry_call("HEAD", f"/v2/{repository}/manifests/probe", headers={"Accept": ACCEPT})
    get = p.registry_call("GET", f"/v2/{repository}/manifests/probe", headers={"Accept": ACCEPT})

    def digest(answer):
        return {k.lower(): v for k, v in answer[1].items()}.get("docker-content-digest")

    head_digest, get_digest = digest(head), digest(get)
    answered = (f"HEAD {head[0]} with Docker-Content-Digest {head_digest or 'absent'}; "
                f"GET {get[0]} with {get_digest or 'none'} (pushed {pushed})")
    return answered, head_digest == pushed and get_digest is None


def _put_same_image(p, mutability):
    repository = p.repository(mutability.lower(), mutability)
    p.push_image(repository, "probe")
    ecr = p.client("ecr")
    [image] = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": "probe"}],
                                  acceptedMediaTypes=[OCI_MANIFEST])["images"]
    refused = expect_error(lambda: ecr.put_image(
        repositoryName=repository, imageManifest=image["imageManifest"], imageTag="probe",
        imageManifestMediaType=image.get("imageManifestMediaType", OCI_MANIFEST)))
    return repository, refused


@row("ecr-put-image-immutable-same-image",
     "PutImage of an IMMUTABLE tag that already names the same image → ImageTagAlreadyExistsException",
     "containers-roadmap#2179, aws-cli#9328")
def probe_put_immutable(p):
    _, refused = _put_same_image(p, "IMMUTABLE")
    if refused is None:
        return "PutImage succeeded", False
    code, message, status = refused
    return f"{status} {code}: {message}", code == "ImageTagAlreadyExistsException"


@row("ecr-put-image-mutable-same-image",
     "PutImage of a MUTABLE tag that already names the same image → ImageAlreadyExistsException",
     "ECR API reference (PutImage errors); aws-sdk#750")
def probe_put_mutable(p):
    _, refused = _put_same_image(p, "MUTABLE")
    if refused is None:
        return "PutImage succeeded", False
    code, message, status = refused
    return f"{status} {code}: {message}", code == "ImageAlreadyExistsException"


@row("ecr-create-repository-exists",
     "CreateRepository of an existing repository → RepositoryAlreadyExistsException",
     "ECR API reference (CreateRepository errors)")
def probe_create_exists(p):
    name = p.repository("exists")
    refused = expect_error(lambda: p.client("ecr").create_repository(repositoryName=name))
    if refused is None:
        return "CreateRepository succeeded", False
    code, message, status = refused
    return f"{status} {code}: {message}", code == "RepositoryAlreadyExistsException"


@row("ecr-start-image-scan-once",
     "An image pushed to a repository without scan on push (basic scanning) has no scan "
     "(DescribeImageScanFindings → ScanNotFoundException) until StartImageScan, which answers IN_PROGRESS; "
     "a second StartImageScan → LimitExceededException (once per image per 24 hours)",
     "ECR API reference (StartImageScan, DescribeImageScanFindings); test/emulator/ecr_scan.py")
def probe_start_image_scan(p):
    repository = p.repository("scan")
    digest = p.push_image(repository, "probe")
    ecr = p.client("ecr")
    image = {"imageDigest": digest}
    before = expect_error(lambda: ecr.describe_image_scan_findings(repositoryName=repository, imageId=image))
    try:
        started = ecr.start_image_scan(repositoryName=repository, imageId=image)["imageScanStatus"]["status"]
    except ClientError as exc:
        code, message, status = error_of(exc)
        return f"before: {before and before[0]}; StartImageScan {status} {code}: {message}", False
    again = expect_error(lambda: ecr.start_image_scan(repositoryName=repository, imageId=image))
    answered = (f"before: {before[0] if before else 'a scan'}; StartImageScan {started}; "
                f"again: {' '.join(map(str, again)) if again else 'started again'}")
    return answered, (before is not None and before[0] == "ScanNotFoundException" and started == "IN_PROGRESS"
                      and again is not None and again[0] == "LimitExceededException")


def _ecs_service(p):
    """A cluster, a task definition and a service of 0 tasks (nothing runs, nothing is billed)."""
    if getattr(p, "ecs", None):
        return p.ecs
    ecs = p.client("ecs")
    name = f"{p.prefix}-ecs"
    ecs.create_cluster(clusterName=name)
    p.later(f"ECS cluster {name}", lambda: _delete_cluster(ecs, name))
    task = ecs.register_task_definition(
        family=name, requiresCompatibilities=["EC2"],
        containerDefinitions=[{"name": "app", "image": "public.ecr.aws/docker/library/busybox:latest",
                               "memory": 16, "essential": True}])["taskDefinition"]["taskDefinitionArn"]
    p.later(f"task definition {task}", lambda: ecs.deregister_task_definition(taskDefinition=task))
    ecs.create_service(cluster=name, serviceName=name, taskDefinition=task, desiredCount=0, launchType="EC2")
    p.later(f"ECS service {name}", lambda: ecs.delete_service(cluster=name, service=name, force=True))
    updated = ecs.update_service(cluster=name, service=name, forceNewDeployment=True)["service"]
    time.sleep(1)
    [described] = ecs.describe_services(cluster=name, services=[name])["services"]
    p.ecs = (name, updated, described)
    return p.ecs


def _delete_cluster(ecs, name):
    for _ in range(15):  # the service drains first
        try:
            ecs.delete_cluster(cluster=name)
            return
        except ClientError as exc:
            if error_of(exc)[0] not in ("ClusterContainsServicesException", "ClusterContainsTasksException"):
                raise
            time.sleep(2)
    ecs.delete_cluster(cluster=name)


@row("ecs-update-service-current-deployment",
     "UpdateService answers currentServiceDeployment, which may still name the previous service "
     "deployment; DescribeServices a second later names the new one",
     "containers-roadmap#2709 (unverified)")
def probe_current_deployment(p):
    _, updated, described = _ecs_service(p)
    answered_now, later = updated.get("currentServiceDeployment"), described.get("currentServiceDeployment")
    if not answered_now or not later:
        return (f"UpdateService currentServiceDeployment {answered_now or 'absent'}, DescribeServices "
                f"{later or 'absent'}"), False
    if answered_now == later:
        return f"UpdateService and DescribeServices 1 s later both named {later}", None
    return (f"UpdateService named {answered_now}, DescribeServices 1 s later {later}: UpdateService's answer "
            "was stale"), None


@row("ecs-describe-service-deployments-shape",
     "DescribeServiceDeployments names service revisions (targetServiceRevision.arn, "
     "sourceServiceRevisions[].arn) and a status, not task definitions",
     "ECS API reference (service revisions)")
def probe_service_deployments(p):
    deployment = _service_deployment(p)
    if deployment is None:
        return "DescribeServices named no currentServiceDeployment", False
    target = (deployment.get("targetServiceRevision") or {}).get("arn")
    sources = [s.get("arn") for s in deployment.get("sourceServiceRevisions") or []]
    shape = (f"status {deployment.get('status')}, targetServiceRevision.arn {'present' if target else 'absent'}, "
             f"{len(sources)} sourceServiceRevisions, each with an arn: {all(sources)}")
    return shape, bool(deployment.get("status") and target and all(sources))


@row("ecs-describe-service-revisions-task-definition",
     "DescribeServiceRevisions maps a service revision to its taskDefinition (what a rollback needs)",
     "ECS API reference (DescribeServiceRevisions)")
def probe_service_revisions(p):
    deployment = _service_deployment(p)
    target = ((deployment or {}).get("targetServiceRevision") or {}).get("arn")
    if not target:
        return "no service revision to describe", False
    try:
        revisions = p.client("ecs").describe_service_revisions(serviceRevisionArns=[target])["serviceRevisions"]
    except ClientError as exc:
        code, message, status = error_of(exc)
        return f"DescribeServiceRevisions: {status} {code}: {message}", False
    task = revisions[0].get("taskDefinition") if revisions else None
    return f"taskDefinition {task or 'absent'}", bool(task)


def _service_deployment(p):
    _, _, described = _ecs_service(p)
    arn = described.get("currentServiceDeployment")
    if not arn:
        return None
    [deployment] = p.client("ecs").describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    return deployment


def _function(p):
    if getattr(p, "function", None):
        return p.function
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 200\n")
    lam = p.client("lambda")
    name = f"{p.prefix}-fn"
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Role=p.lambda_role_arn,
                                  Handler="app.handler", Code={"ZipFile": raw.getvalue()}, Timeout=3)
    p.later(f"Lambda function {name}", lambda: lam.delete_function(FunctionName=name))
    for _ in range(60):
        if lam.get_function_configuration(FunctionName=name).get("State") != "Pending":
            break
        time.sleep(1)
    p.function = (name, created)
    return p.function


@row("lambda-create-function-state",
     "CreateFunction answers State Active (moto's, not patched; the pipe waits for Active anyway)",
     "test/emulator/README.md, moto quirks (Lambda); the Lambda guide says new functions start Pending")
def probe_create_state(p):
    if not p.lambda_role_arn:
        return None
    _, created = _function(p)
    return f"CreateFunction answered State {created.get('State')}", created.get("State") == "Active"


@row("lambda-publish-version-state",
     "PublishVersion of a function without SnapStart answers State Active",
     "test/emulator/lambda_versions.py (Pending only when scripted, as with SnapStart)")
def probe_version_state(p):
    if not p.lambda_role_arn:
        return None
    name, _ = _function(p)
    published = p.client("lambda").publish_version(FunctionName=name)
    return (f"PublishVersion answered version {published.get('Version')} State {published.get('State')}",
            published.get("State") == "Active")


@row("sts-assume-role-denied-shape",
     "AssumeRole of a role the caller may not assume (here: a missing one) → 403 AccessDenied "
     "\"User: <caller> is not authorized to perform: sts:AssumeRole on resource: <role ARN>\"",
     "test/emulator/README.md (AssumeRole judging); IAM troubleshooting guide")
def probe_assume_denied(p):
    role = f"arn:aws:iam::{p.account}:role/{p.prefix}-missing"
    refused = expect_error(lambda: p.client("sts").assume_role(RoleArn=role, RoleSessionName="probe"))
    if refused is None:
        return "AssumeRole succeeded", False
    code, message, status = refused
    shaped = message.startswith("User: ") and "sts:AssumeRole" in message and role in message
    return f"{status} {code}: {message}", code == "AccessDenied" and status == 403 and shaped


@row("sts-web-identity-unparseable-token",
     "AssumeRoleWithWebIdentity with a token that is not a JWT → 400 InvalidIdentityToken",
     "test/emulator/README.md (AssumeRoleWithWebIdentity judging, step 2)")
def probe_unparseable_token(p):
    role = f"arn:aws:iam::{p.account}:role/{p.prefix}-missing"
    refused = expect_error(lambda: p.client("sts", unsigned=True).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="probe", WebIdentityToken="not-a-jwt-" + uuid.uuid4().hex))
    if refused is None:
        return "AssumeRoleWithWebIdentity succeeded", False
    code, message, status = refused
    return f"{status} {code}: {message}", code == "InvalidIdentityToken" and status == 400


# ------------------------------------------------------------------------------------- policy

def policy(account, region, lambda_role_arn=None):
    """The least IAM policy the probe's role needs: only probe-aws-* resources (task definitions and
    the registry login take no narrower resource in IAM). STS rows need no permission."""
    def arn(service, resource):
        return f"arn:aws:{service}:{region}:{account}:{resource}"

    statements = [
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Sid": "EcrProbeRepositories", "Effect": "Allow",
         "Action": ["ecr:CreateRepository", "ecr:DeleteRepository", "ecr:BatchGetImage", "ecr:PutImage",
                    "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload", "ecr:DescribeImageScanFindings", "ecr:StartImageScan"],
         "Resource": arn("ecr", "repository/probe-aws-*")},
        {"Sid": "EcsTaskDefinitions", "Effect": "Allow",
         "Action": ["ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition"], "Resource": "*"},
        {"Sid": "EcsProbeCluster", "Effect": "Allow",
         "Action": ["ecs:CreateCluster", "ecs:DeleteCluster", "ecs:CreateService", "ecs:UpdateService",
                    "ecs:DescribeServices", "ecs:DeleteService", "ecs:DescribeServiceDeployments",
                    "ecs:DescribeServiceRevisions"],
         "Resource": [arn("ecs", "cluster/probe-aws-*"), arn("ecs", "service/probe-aws-*/*"),
                      arn("ecs", "service-deployment/probe-aws-*/*"), arn("ecs", "service-revision/probe-aws-*/*"),
                      arn("ecs", "task-definition/probe-aws-*:*")]},
    ]
    if lambda_role_arn:
        statements += [
            {"Sid": "LambdaProbeFunction", "Effect": "Allow",
             "Action": ["lambda:CreateFunction", "lambda:GetFunctionConfiguration", "lambda:PublishVersion",
                        "lambda:DeleteFunction"],
             "Resource": [arn("lambda", "function:probe-aws-*"), arn("lambda", "function:probe-aws-*:*")]},
            {"Sid": "PassTheExecutionRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": lambda_role_arn,
             "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}},
        ]
    return {"Version": "2012-10-17", "Statement": statements}


# ------------------------------------------------------------------------------------- main

def run(args, out=sys.stdout, only=None):
    probe = Probe(args)
    try:
        caller = probe.check_identity()
    except (ClientError, BotoCoreError) as exc:
        code, message, _ = error_of(exc)
        raise Refused(f"the caller identity could not be read ({code}: {message}): nothing was touched") from exc
    where = f"the emulator at {args.emulator}" if args.emulator else "AWS"
    print(f"probe-aws: {where}, account {args.account} ({caller}), region {args.region}, "
          f"resources named {args.prefix}-*", file=out)
    rows = []
    try:
        for row_id, assumes, source, fn in ROWS:
            if only and row_id not in only:
                continue
            result = Row(row_id, assumes, source)
            try:
                outcome = fn(probe)
                if outcome is None:
                    result.answered, result.verdict = "not run: no PROBE_AWS_LAMBDA_ROLE_ARN", "skipped"
                else:
                    result.answered, agrees = outcome
                    result.verdict = {True: "agrees", False: "differs", None: "observed"}[agrees]
            except (ClientError, BotoCoreError, OSError, RuntimeError, KeyError, ValueError) as exc:
                code, message, _ = error_of(exc)
                result.answered, result.verdict = f"the probe failed: {code}: {message}", "error"
            rows.append(result)
            print(f"\n[{result.verdict}] {row_id}\n  emulator assumes: {assumes}\n"
                  f"  {'emulator' if args.emulator else 'AWS'} answered: {result.answered}\n"
                  f"  source: {source}", file=out)
    finally:
        probe.clean_up(out)
    return rows


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="scripts/probe-aws", description=__doc__.split("\n\n")[0])
    parser.add_argument("--account", default=os.environ.get("PROBE_AWS_ACCOUNT"),
                        help="the only account the probe may touch (PROBE_AWS_ACCOUNT); required")
    parser.add_argument("--region", default=os.environ.get("PROBE_AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--prefix", default=f"probe-aws-{uuid.uuid4().hex[:8]}",
                        help="names of everything created (default: probe-aws-<8 random hex>)")
    parser.add_argument("--lambda-role-arn", default=os.environ.get("PROBE_AWS_LAMBDA_ROLE_ARN"),
                        help="an execution role for the Lambda rows (PROBE_AWS_LAMBDA_ROLE_ARN); without it they are skipped")
    parser.add_argument("--emulator", metavar="URL", help="run against the emulator layer at URL instead of AWS")
    parser.add_argument("--only", action="append", help="run only this row (repeatable)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--policy", action="store_true",
                        help="print the least IAM policy of the probe's role (for PROBE_AWS_ACCOUNT) and exit")
    args = parser.parse_args(argv)
    if not args.account or not (len(args.account) == 12 and args.account.isdigit()):
        raise Refused("name the sandbox account with PROBE_AWS_ACCOUNT (12 digits): the probe never runs against "
                      "a default account")
    if not args.region:
        raise Refused("set PROBE_AWS_REGION or AWS_DEFAULT_REGION")
    if not args.prefix.startswith("probe-aws-"):
        raise Refused("--prefix must start with probe-aws- (only such names are ever created or deleted)")
    return args


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        if args.policy:
            print(json.dumps(policy(args.account, args.region, args.lambda_role_arn), indent=2))
            return 0
        rows = run(args, only=set(args.only or ()))
    except Refused as refused:
        print(f"probe-aws: refused: {refused}", file=sys.stderr)
        return 2
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.as_dict() for r in rows], f, indent=2)
    counts = {}
    for r in rows:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    print("\nprobe-aws: " + ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())))
    return 1 if counts.get("differs") or counts.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
