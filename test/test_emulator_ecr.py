"""Self-tests of the emulator's ECR layer (test/emulator/ecr.py), driven with boto3: what the
ecr-push tests rely on and what real ECR does where moto differs.

- GetAuthorizationToken names the test registry and carries its real credentials (moto's own
  answer points at an unreachable host), and the password joins the secrets;
- PutImage refuses an immutable tag put again with ImageTagAlreadyExistsException and ECR's text,
  whether it would move or already names the image, keeps ImageAlreadyExistsException for the same
  image under the same mutable tag, and an image's digest is the sha256 of its manifest;
- an applied PutImage/CreateRepository whose answer is lost (fault `lost_answer`): the SDK's retry
  meets it; CreateRepository losing a race to another creator (a scenario control);
- with a registry configured, ECR's API and the registry are one store: BatchGetImage finds an
  image pushed straight to the registry, PutImage tags the manifest in the registry too, and a
  manifest whose blobs the registry lacks is refused with LayersNotFoundException.
"""

import base64
import hashlib
import json
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from emulator.scenario import client_for

ACCOUNT = "111111111111"


@pytest.fixture
def ecr(emulator):
    return client_for(emulator, "ecr", emulator.create_user(ACCOUNT, f"ecr-{uuid.uuid4().hex[:6]}"), retries=1)


def manifest(content):
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "a" * 64, "size": 1},
                       "layers": [], "annotations": {"c": content}})


def test_token_is_moto_s_without_a_registry(ecr):
    [data] = ecr.get_authorization_token()["authorizationData"]
    assert data["proxyEndpoint"] == f"https://{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"


def test_token_carries_the_registry_s_credentials(ecr, emulator):
    emulator.ecr_registry("http://127.0.0.1:41999", "pw-" + uuid.uuid4().hex)
    [data] = ecr.get_authorization_token()["authorizationData"]
    assert data["proxyEndpoint"] == "http://127.0.0.1:41999"
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    assert user == "AWS" and password.startswith("pw-")
    assert password in emulator.secrets() and data["authorizationToken"] in emulator.secrets()
    [record] = emulator.requests(service="ecr", action="GetAuthorizationToken")
    assert record["registry"] == "http://127.0.0.1:41999"
    emulator.clear_ecr_registry()
    [data] = ecr.get_authorization_token()["authorizationData"]
    assert data["proxyEndpoint"].startswith("https://")


def test_digest_is_the_manifest_s_sha256(ecr):
    ecr.create_repository(repositoryName="app")
    body = manifest("x")
    put = ecr.put_image(repositoryName="app", imageManifest=body, imageTag="v1")
    expected = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    assert put["image"]["imageId"]["imageDigest"] == expected
    [image] = ecr.batch_get_image(repositoryName="app", imageIds=[{"imageTag": "v1"}])["images"]
    assert image["imageId"]["imageDigest"] == expected


def test_immutable_tags_cannot_move(ecr, emulator):
    ecr.create_repository(repositoryName="frozen", imageTagMutability="IMMUTABLE")
    ecr.put_image(repositoryName="frozen", imageManifest=manifest("old"), imageTag="prod")
    # The same image under the same immutable tag is refused too (containers-roadmap#2179).
    with pytest.raises(ClientError) as same:
        ecr.put_image(repositoryName="frozen", imageManifest=manifest("old"), imageTag="prod")
    assert same.value.response["Error"]["Code"] == "ImageTagAlreadyExistsException"
    assert same.value.response["Error"]["Message"].endswith("because the tag is immutable.")
    [_, record] = emulator.requests(service="ecr", action="PutImage")
    assert record["immutable_tag"] == "prod" and record["same_image"] is True
    with pytest.raises(ClientError) as moved:
        ecr.put_image(repositoryName="frozen", imageManifest=manifest("new"), imageTag="prod")
    error = moved.value.response["Error"]
    assert error["Code"] == "ImageTagAlreadyExistsException"
    assert error["Message"] == ("The image tag 'prod' already exists in the 'frozen' repository and cannot be "
                                "overwritten because the tag is immutable.")
    # A mutable repository moves the tag.
    ecr.create_repository(repositoryName="loose")
    ecr.put_image(repositoryName="loose", imageManifest=manifest("old"), imageTag="prod")
    ecr.put_image(repositoryName="loose", imageManifest=manifest("new"), imageTag="prod")
    # ... and says so for the same image under a mutable tag.
    with pytest.raises(ClientError) as again:
        ecr.put_image(repositoryName="loose", imageManifest=manifest("new"), imageTag="prod")
    assert again.value.response["Error"]["Code"] == "ImageAlreadyExistsException"


def test_a_lost_put_image_answer_was_applied_and_its_retry_meets_the_tag(emulator):
    """The first PutImage is applied, its answer lost; botocore's retry then meets the tag the first
    attempt put: an immutable repository refuses it although it names the same image."""
    ecr = client_for(emulator, "ecr", emulator.create_user(ACCOUNT, f"ecr-{uuid.uuid4().hex[:6]}"), retries=3)
    ecr.create_repository(repositoryName="frozen", imageTagMutability="IMMUTABLE")
    emulator.add_fault("lost_answer", service="ecr", action="PutImage")
    with pytest.raises(ClientError) as retried:
        ecr.put_image(repositoryName="frozen", imageManifest=manifest("x"), imageTag="prod")
    assert retried.value.response["Error"]["Code"] == "ImageTagAlreadyExistsException"
    first, second = emulator.requests(service="ecr", action="PutImage")
    assert first["answer_lost"] is True and first["status"] == 200  # applied, never answered
    assert second["same_image"] is True
    [image] = ecr.batch_get_image(repositoryName="frozen", imageIds=[{"imageTag": "prod"}])["images"]
    assert image["imageId"]["imageDigest"] == "sha256:" + hashlib.sha256(manifest("x").encode()).hexdigest()


def test_create_repository_race_and_lost_answer(ecr, emulator):
    emulator.ecr_create_race(image_tag_mutability="MUTABLE")
    with pytest.raises(ClientError) as raced:
        ecr.create_repository(repositoryName="team/race", imageTagMutability="IMMUTABLE")
    assert raced.value.response["Error"]["Code"] == "RepositoryAlreadyExistsException"
    other, ours = emulator.requests(service="ecr", action="CreateRepository")
    assert other["synthetic"] is True and other["user_agent"].startswith("another-step")
    assert ours["error_code"] == "RepositoryAlreadyExistsException" and ours["raced_by"]
    [repo] = ecr.describe_repositories(repositoryNames=["team/race"])["repositories"]
    assert repo["imageTagMutability"] == "MUTABLE"  # the winner's settings

    retrying = client_for(emulator, "ecr", emulator.create_user(ACCOUNT, f"ecr-{uuid.uuid4().hex[:6]}"), retries=3)
    emulator.add_fault("lost_answer", service="ecr", action="CreateRepository")
    with pytest.raises(ClientError) as retried:
        retrying.create_repository(repositoryName="team/lost")
    assert retried.value.response["Error"]["Code"] == "RepositoryAlreadyExistsException"
    first, second = emulator.requests(service="ecr", action="CreateRepository")[2:]
    assert first["answer_lost"] is True and second["status"] == 400


# ------------------------------------------------------- ECR's API and the registry, one store


def registry_push(registry, repository, tag, tmp_path):
    """An OCI image pushed to the registry's own API (blobs, then the manifest by tag), as an
    archive push does: ECR's API hears nothing of it. Returns the manifest's digest."""
    import images

    layout = tmp_path / f"layout-{uuid.uuid4().hex[:6]}"
    top, _ = images.oci_layout(layout, layer_sizes=(500,))
    body = (layout / "blobs" / "sha256" / top.split(":", 1)[1]).read_bytes()
    for blob in json.loads(body)["layers"] + [json.loads(body)["config"]]:
        data = (layout / "blobs" / "sha256" / blob["digest"].split(":", 1)[1]).read_bytes()
        status, headers, _ = registry.request("POST", f"/v2/{repository}/blobs/uploads/")
        assert status == 202, status
        location = headers["Location"].split(registry.host, 1)[-1]
        separator = "&" if "?" in location else "?"
        upload = urllib.request.Request(
            registry.endpoint + f"{location}{separator}digest={blob['digest']}", data=data, method="PUT",
            headers={"Authorization": "Basic " + base64.b64encode(f"AWS:{registry.password}".encode()).decode(),
                     "Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(upload, timeout=10) as answer:
            assert answer.status == 201
    manifest = urllib.request.Request(
        registry.endpoint + f"/v2/{repository}/manifests/{tag}", data=body, method="PUT",
        headers={"Authorization": "Basic " + base64.b64encode(f"AWS:{registry.password}".encode()).decode(),
                 "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(manifest, timeout=10) as answer:
        assert answer.status == 201
    return top, body


def test_an_image_pushed_to_the_registry_is_in_ecr(ecr, emulator, ecr_registry, tmp_path):
    repository = f"team/one-{uuid.uuid4().hex[:6]}"
    ecr.create_repository(repositoryName=repository)
    digest, body = registry_push(ecr_registry, repository, "sha-1", tmp_path)
    for image_id in ({"imageTag": "sha-1"}, {"imageDigest": digest}):
        [image] = ecr.batch_get_image(repositoryName=repository, imageIds=[image_id])["images"]
        assert image["imageId"]["imageDigest"] == digest
        assert image["imageManifest"].encode() == body
    [record, _] = emulator.requests(service="ecr", action="BatchGetImage")
    assert record["registry_import"] == "sha-1"
    missing = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": "nope"}])
    assert missing["images"] == [] and missing["failures"][0]["failureCode"] == "ImageNotFound"


def test_put_image_tags_the_manifest_in_the_registry(ecr, emulator, ecr_registry, tmp_path):
    repository = f"team/one-{uuid.uuid4().hex[:6]}"
    ecr.create_repository(repositoryName=repository)
    digest, body = registry_push(ecr_registry, repository, "sha-1", tmp_path)
    put = ecr.put_image(repositoryName=repository, imageManifest=body.decode(), imageTag="prod",
                        imageManifestMediaType="application/vnd.oci.image.manifest.v1+json")
    assert put["image"]["imageId"]["imageDigest"] == digest
    assert ecr_registry.manifest(repository, "prod")[0] == digest
    [record] = emulator.requests(service="ecr", action="PutImage")
    assert record["registry_tag"] == "prod"


def test_put_image_of_layers_the_registry_lacks_is_refused(ecr, ecr_registry):
    repository = f"team/one-{uuid.uuid4().hex[:6]}"
    ecr.create_repository(repositoryName=repository)
    with pytest.raises(ClientError) as refused:
        ecr.put_image(repositoryName=repository, imageManifest=manifest("ghost"), imageTag="prod")
    assert refused.value.response["Error"]["Code"] == "LayersNotFoundException"


def test_repository_uris_name_the_registry_s_host(ecr, emulator, ecr_registry):
    created = ecr.create_repository(repositoryName="team/uri")["repository"]
    assert created["repositoryUri"] == f"{ecr_registry.host}/team/uri"
    [found] = ecr.describe_repositories(repositoryNames=["team/uri"])["repositories"]
    assert found["repositoryUri"] == f"{ecr_registry.host}/team/uri"
    emulator.clear_ecr_registry()
    [found] = ecr.describe_repositories(repositoryNames=["team/uri"])["repositories"]
    assert found["repositoryUri"] == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/uri"
