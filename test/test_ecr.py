"""ACTION=ecr-push end to end: the binary against the emulator (ECR's API, moto + layer) and a
real registry (Debian's docker-registry with htpasswd auth), the layer's GetAuthorizationToken
pointing at that registry with its real credentials. Daemon pushes use this machine's Docker
engine (marked `docker`); archive pushes and promotions need no daemon.

Every digest the pipe reports is compared with what the registry itself serves.
"""

import json
import uuid

import pytest

import images
from emulator.scenario import client_for
from pipe import ACCOUNT
from registry import free_port

docker = pytest.mark.docker


def repo_name():
    return f"team/app-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def ecr(scenario, emulator):
    """boto3 ECR in the scenario's account, for setting up and reading back repositories."""
    return client_for(emulator, "ecr", scenario.user(name=f"ecr-admin-{uuid.uuid4().hex[:6]}"))


@pytest.fixture
def built_image(tmp_path, docker_engine):
    name = images.build_image(tmp_path)
    yield name
    images.remove_images(name)


def push(scenario, **variables):
    return scenario.run(ACTION="ecr-push", timeout=120, **variables)


def assert_pushed(result, registry, repository, tags):
    """The run succeeded, and every tag serves the digest it reported, in log and outputs."""
    assert result.code == 0, result
    outputs = result.outputs_json
    digest = outputs["digest"]
    assert outputs["registry"] == registry.host
    assert outputs["repository_uri"] == f"{registry.host}/{repository}"
    assert outputs["image"] == f"{registry.host}/{repository}@{digest}"
    assert outputs["tags"] == list(tags)
    env = result.outputs_env
    assert env["AWS_ROLE_DEPLOY_IMAGE"] == outputs["image"]
    assert env["AWS_ROLE_DEPLOY_TAGS_0"] == tags[0]
    assert f"image: {outputs['image']}" in result.output
    for tag in tags:
        served, body_digest, _ = registry.manifest(repository, tag)
        assert served == digest == body_digest, (tag, served, body_digest, digest)
    return digest


# ----------------------------------------------------------------------------- archive pushes


def test_oci_layout_directory_push_with_several_tags(scenario, ecr, ecr_registry, tmp_path):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    layout = scenario.clone_dir / "image-oci"
    top, _ = images.oci_layout(layout)
    result = push(scenario, IMAGE_ARCHIVE="image-oci", ECR_REPOSITORY=repository, TAGS="v1 latest")
    digest = assert_pushed(result, ecr_registry, repository, ["v1", "latest"])
    assert digest == top
    [token_call] = scenario.emulator.requests(service="ecr", action="GetAuthorizationToken")
    assert token_call["registry"] == ecr_registry.endpoint


def test_oci_layout_tar_push_skips_blobs_the_registry_has(scenario, ecr, ecr_registry, tmp_path):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    layout = tmp_path / "layout"
    top, _ = images.oci_layout(layout, layer_sizes=(2000, 6 * 1024 * 1024 + 123))
    images.tar_directory(layout, scenario.clone_dir / "image.tar")

    before = ecr_registry.log_offset()
    first = push(scenario, IMAGE_ARCHIVE="image.tar", ECR_REPOSITORY=repository, TAGS="v1")
    assert assert_pushed(first, ecr_registry, repository, ["v1"]) == top
    # Two layers and a config; the 6 MiB layer travels in one part (parts are 16 MiB).
    assert len(ecr_registry.blob_uploads_since(before)) == 3, ecr_registry.requests_since(before)

    before = ecr_registry.log_offset()
    second = push(scenario, IMAGE_ARCHIVE="image.tar", ECR_REPOSITORY=repository, TAGS="v2")
    assert assert_pushed(second, ecr_registry, repository, ["v2"]) == top
    assert ecr_registry.blob_uploads_since(before) == [], ecr_registry.requests_since(before)
    assert "3 already in the registry" in second.output


def test_a_large_layer_is_uploaded_in_parts_of_at_least_5_mib(scenario, ecr, ecr_registry, tmp_path):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "big", layer_sizes=(40 * 1024 * 1024,))
    before = ecr_registry.log_offset()
    result = push(scenario, IMAGE_ARCHIVE="big", ECR_REPOSITORY=repository)
    assert assert_pushed(result, ecr_registry, repository, ["latest"]) == top
    patches = [r for r in ecr_registry.requests_since(before) if r[0] == "PATCH"]
    assert len(patches) == 4, patches  # 40 MiB + the config: 16 + 16 + 8 MiB, and 1 small part


def test_multi_platform_index_is_pushed_whole(scenario, ecr, ecr_registry):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, children = images.oci_layout(scenario.clone_dir / "multi", platforms=["amd64", "arm64"])
    result = push(scenario, IMAGE_ARCHIVE="multi", ECR_REPOSITORY=repository, TAGS="v1")
    assert assert_pushed(result, ecr_registry, repository, ["v1"]) == top
    served = json.loads(ecr_registry.manifest(repository, "v1")[2])
    assert [m["digest"] for m in served["manifests"]] == children
    for child in children:
        assert ecr_registry.manifest(repository, child)[0] == child


@docker
def test_docker_save_archive_push(scenario, ecr, ecr_registry, built_image):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.docker_save(built_image, scenario.clone_dir / "saved.tar")
    result = push(scenario, IMAGE_ARCHIVE="saved.tar", ECR_REPOSITORY=repository, TAGS="a b c")
    digest = assert_pushed(result, ecr_registry, repository, ["a", "b", "c"])
    manifest = json.loads(ecr_registry.manifest(repository, "a")[2])
    assert len(manifest["layers"]) == 2
    assert digest.startswith("sha256:")


# ------------------------------------------------------------------------------ daemon pushes


@docker
def test_daemon_push_with_several_tags(scenario, ecr, ecr_registry, built_image):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    try:
        result = push(scenario, IMAGE_NAME=built_image, ECR_REPOSITORY=repository, TAGS="1.0 latest")
        assert_pushed(result, ecr_registry, repository, ["1.0", "latest"])
        # One line per layer state, not a progress flood.
        layer_lines = [line for line in result.lines if line.startswith("INFO:   ") and ": Push" in line]
        assert 0 < len(layer_lines) <= 2 * 2 * 3, layer_lines
    finally:
        images.remove_images(*(f"{ecr_registry.host}/{repository}:{tag}" for tag in ("1.0", "latest")))


@docker
def test_daemon_push_defaults_repository_to_the_image_name(scenario, ecr, ecr_registry, built_image):
    repository = built_image.split(":")[0]
    ecr.create_repository(repositoryName=repository)
    try:
        result = push(scenario, IMAGE_NAME=built_image)
        assert_pushed(result, ecr_registry, repository, ["latest"])
    finally:
        images.remove_images(f"{ecr_registry.host}/{repository}:latest")


@docker
def test_missing_image_is_named(scenario, ecr, ecr_registry, docker_engine):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    result = push(scenario, IMAGE_NAME="no-such-image-here:1", ECR_REPOSITORY=repository)
    assert result.code == 2, result
    assert '"no-such-image-here:1" is not in the Docker daemon' in result.output
    assert "IMAGE_NAME" in result.output


def test_daemon_down_hints_at_the_docker_service(scenario, ecr, ecr_registry):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    result = push(scenario, IMAGE_NAME="app:1", ECR_REPOSITORY=repository,
                  DOCKER_HOST=f"tcp://127.0.0.1:{free_port()}")
    assert result.code == 1, result
    assert "cannot be reached" in result.final_line
    assert "services: [docker]" in result.output and "IMAGE_ARCHIVE" in result.output


# ------------------------------------------------------------------------------------ refusals


def test_wrong_registry_credentials_are_refused(scenario, ecr, ecr_registry, emulator):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image")
    emulator.ecr_registry(ecr_registry.endpoint, "wrong-password-" + uuid.uuid4().hex)
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository)
    assert result.code == 3, result
    assert "refused the authorization" in result.final_line


def test_broken_archive_says_what_was_found(scenario, ecr, ecr_registry):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    (scenario.clone_dir / "notes").mkdir()
    (scenario.clone_dir / "notes" / "README.txt").write_text("hello")
    result = push(scenario, IMAGE_ARCHIVE="notes", ECR_REPOSITORY=repository)
    assert result.code == 2, result
    assert "neither an OCI index.json nor a docker save manifest.json" in result.output
    assert "README.txt" in result.output
    (scenario.clone_dir / "image.tar").write_bytes(b"this is not a tar" * 100)
    result = push(scenario, IMAGE_ARCHIVE="image.tar", ECR_REPOSITORY=repository)
    assert result.code == 2, result
    assert "is not a tar archive" in result.output


def test_missing_repository_hints_at_create_repository(scenario, ecr_registry):
    images.oci_layout(scenario.clone_dir / "image")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repo_name())
    assert result.code == 2, result
    assert "RepositoryNotFoundException" in result.output
    assert "CREATE_REPOSITORY: true" in result.output


def test_repository_created_with_its_settings(scenario, ecr, ecr_registry):
    repository = repo_name()
    top, _ = images.oci_layout(scenario.clone_dir / "image")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, CREATE_REPOSITORY="true",
                  IMAGE_TAG_MUTABILITY="IMMUTABLE", SCAN_ON_PUSH="true")
    assert assert_pushed(result, ecr_registry, repository, ["latest"]) == top
    assert result.outputs_json["created_repository"] is True
    [repo] = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}


@pytest.mark.parametrize("how", ["race", "lost-answer"])
def test_repository_created_meanwhile_is_used(scenario, ecr, ecr_registry, how):
    """CreateRepository answering RepositoryAlreadyExistsException: a parallel step created the
    repository first, or this run's own first attempt was applied and its answer lost. The pipe
    describes the repository again and pushes."""
    repository = repo_name()
    top, _ = images.oci_layout(scenario.clone_dir / "image")
    if how == "race":
        scenario.emulator.ecr_create_race(image_tag_mutability="MUTABLE")
    else:
        scenario.emulator.add_fault("lost_answer", service="ecr", action="CreateRepository")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, CREATE_REPOSITORY="true",
                  IMAGE_TAG_MUTABILITY="IMMUTABLE")
    assert assert_pushed(result, ecr_registry, repository, ["latest"]) == top
    assert "RepositoryAlreadyExistsException" in result.output
    ours = [r["action"] for r in scenario.emulator.requests(service="ecr")
            if "aws-role-deploy" in (r["user_agent"] or "")]
    creates = ["CreateRepository"] * (2 if how == "lost-answer" else 1)
    assert ours[:len(creates) + 2] == ["DescribeRepositories", *creates, "DescribeRepositories"], ours
    if how == "race":
        # The winner made it MUTABLE: said, not silently taken for the IMMUTABLE asked for.
        assert result.outputs_json["created_repository"] is False
        assert "tags MUTABLE, not IMMUTABLE" in result.output


def test_exactly_one_source(scenario):
    result = push(scenario, IMAGE_NAME="app", SOURCE_TAG="v1")
    assert result.code == 2, result
    assert "exactly one of IMAGE_NAME, IMAGE_ARCHIVE and SOURCE_TAG" in result.output


# ---------------------------------------------------------------------------------- promotion


def seed_image(ecr, repository, tag, content="one"):
    """An image put straight into ECR's API (the registry is not involved in promotion)."""
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": images.OCI_MANIFEST,
        "config": {"mediaType": images.OCI_CONFIG, "digest": "sha256:" + "a" * 64, "size": 10},
        "layers": [{"mediaType": images.OCI_LAYER, "digest": "sha256:" + "b" * 64, "size": len(content)}],
        "annotations": {"content": content},
    })
    put = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag,
                        imageManifestMediaType=images.OCI_MANIFEST)
    return put["image"]["imageId"]["imageDigest"]


def digest_of_tag(ecr, repository, tag):
    [image] = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": tag}])["images"]
    return image["imageId"]["imageDigest"]


def test_promote_by_tag_without_moving_bytes(scenario, ecr, emulator):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    digest = seed_image(ecr, repository, "sha-9fceb02")
    result = push(scenario, SOURCE_TAG="sha-9fceb02", ECR_REPOSITORY=repository, TAGS="prod stable")
    assert result.code == 0, result
    assert result.outputs_json["digest"] == digest
    assert result.outputs_json["image"].endswith(f"/{repository}@{digest}")
    for tag in ("prod", "stable", "sha-9fceb02"):
        assert digest_of_tag(ecr, repository, tag) == digest
    calls = [r["action"] for r in emulator.requests(service="ecr") if "aws-role-deploy" in (r["user_agent"] or "")]
    assert "GetAuthorizationToken" not in calls
    assert calls.count("PutImage") == 2


def test_promote_by_digest_and_again_is_fine(scenario, ecr):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    digest = seed_image(ecr, repository, "build-7")
    for _ in range(2):  # the second time the tag already points there
        result = push(scenario, SOURCE_TAG=digest, ECR_REPOSITORY=repository, TAGS="prod")
        assert result.code == 0, result
    assert "already points at" in result.output
    assert digest_of_tag(ecr, repository, "prod") == digest


def test_immutable_tag_conflict_names_the_tag(scenario, ecr):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository, imageTagMutability="IMMUTABLE")
    seed_image(ecr, repository, "prod", content="old")
    seed_image(ecr, repository, "sha-new", content="new")
    result = push(scenario, SOURCE_TAG="sha-new", ECR_REPOSITORY=repository, TAGS="prod")
    assert result.code == 1, result
    assert "Tag prod already exists" in result.final_line and "immutable" in result.final_line
    assert "ImageTagAlreadyExistsException" in result.final_line
    assert "Change TAGS" in result.output
    [refused] = [r for r in scenario.emulator.requests(service="ecr", action="PutImage") if r["status"] == 400]
    assert refused["error_code"] == "ImageTagAlreadyExistsException"


@pytest.mark.parametrize("mutability, immutable, mutable", [
    ("IMMUTABLE_WITH_EXCLUSION", "prod", "dev-7"),
    ("MUTABLE_WITH_EXCLUSION", "dev-7", "prod"),
])
def test_tag_mutability_exclusions_are_honoured(scenario, ecr, mutability, immutable, mutable):
    """ECR's tag mutability with exclusion filters: tags matching `dev-*` are the exception.
    Moving an immutable one is refused (ECR: ImageTagAlreadyExistsException, "the tag is
    immutable"); a mutable one moves."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository, imageTagMutability=mutability,
                          imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}])
    seed_image(ecr, repository, immutable, content="old")
    seed_image(ecr, repository, mutable, content="old")
    digest = seed_image(ecr, repository, "sha-new", content="new")
    moved = push(scenario, SOURCE_TAG="sha-new", ECR_REPOSITORY=repository, TAGS=mutable)
    assert moved.code == 0, moved
    assert digest_of_tag(ecr, repository, mutable) == digest
    refused = push(scenario, SOURCE_TAG="sha-new", ECR_REPOSITORY=repository, TAGS=immutable)
    assert refused.code == 1, refused
    assert f"Tag {immutable} already exists" in refused.final_line and "immutable" in refused.final_line
    assert digest_of_tag(ecr, repository, immutable) != digest
    [error] = [r for r in scenario.emulator.requests(service="ecr", action="PutImage") if r["status"] == 400]
    assert error["error_code"] == "ImageTagAlreadyExistsException"


def test_immutable_tag_that_already_names_the_image_is_left_as_it_is(scenario, ecr):
    """ECR refuses an immutable tag put again even on the same image (ImageTagAlreadyExistsException,
    containers-roadmap#2179): a re-run of the same promotion reads the tag back and succeeds."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository, imageTagMutability="IMMUTABLE")
    digest = seed_image(ecr, repository, "sha-new", content="new")
    for _ in range(2):
        result = push(scenario, SOURCE_TAG="sha-new", ECR_REPOSITORY=repository, TAGS="prod")
        assert result.code == 0, result
    assert f"tag prod already points at {digest}" in result.output and "immutable" in result.output
    assert result.outputs_json["tags"] == ["prod"] and result.outputs_json["digest"] == digest
    refused = [r for r in scenario.emulator.requests(service="ecr", action="PutImage") if r["status"] == 400]
    assert [r["error_code"] for r in refused] == ["ImageTagAlreadyExistsException"] and refused[0]["same_image"]
    assert digest_of_tag(ecr, repository, "prod") == digest


def test_a_put_image_applied_but_unanswered_is_not_a_failure(scenario, ecr):
    """The first PutImage is applied and its answer lost; the SDK's retry meets the immutable tag the
    first attempt put, and the pipe reads it back instead of failing."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository, imageTagMutability="IMMUTABLE")
    digest = seed_image(ecr, repository, "sha-new", content="new")
    scenario.emulator.add_fault("lost_answer", service="ecr", action="PutImage")
    result = push(scenario, SOURCE_TAG="sha-new", ECR_REPOSITORY=repository, TAGS="prod")
    assert result.code == 0, result
    puts = [r for r in scenario.emulator.requests(service="ecr", action="PutImage")
            if "aws-role-deploy" in (r["user_agent"] or "")]
    assert [r.get("answer_lost") for r in puts] == [True, None]
    assert puts[1]["error_code"] == "ImageTagAlreadyExistsException"
    assert digest_of_tag(ecr, repository, "prod") == digest == result.outputs_json["digest"]


def test_tags_pushed_before_a_refusal_are_in_the_outputs(scenario, ecr):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository, imageTagMutability="IMMUTABLE")
    seed_image(ecr, repository, "prod", content="old")
    digest = seed_image(ecr, repository, "sha-new", content="new")
    result = push(scenario, SOURCE_TAG="sha-new", ECR_REPOSITORY=repository, TAGS="candidate prod")
    assert result.code == 1, result
    assert "Tag prod already exists" in result.final_line
    assert f"Already pushed: candidate → {digest}" in result.output
    assert result.outputs_json["tags"] == ["candidate"]
    assert result.outputs_json["image"].endswith(f"@{digest}")
    assert digest_of_tag(ecr, repository, "candidate") == digest


def test_promote_of_a_missing_tag_is_named(scenario, ecr):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    result = push(scenario, SOURCE_TAG="nope", ECR_REPOSITORY=repository, TAGS="prod")
    assert result.code == 2, result
    assert "tag nope is not in the repository" in result.output


def test_an_archive_pushed_then_promoted_is_one_image(scenario, ecr, ecr_registry):
    """The push of one step, promoted by a later one (the way scripts/try shows it): the tag the
    archive push wrote to the registry is found through ECR's API, and the promoted tag is served
    by the registry with the same digest."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "image")
    pushed = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="sha-9fceb02")
    assert assert_pushed(pushed, ecr_registry, repository, ["sha-9fceb02"]) == top
    promoted = push(scenario, SOURCE_TAG="sha-9fceb02", ECR_REPOSITORY=repository, TAGS="prod")
    assert promoted.code == 0, promoted
    assert promoted.outputs_json["digest"] == top
    assert promoted.outputs_json["image"] == pushed.outputs_json["image"]
    assert ecr_registry.manifest(repository, "prod")[0] == top


# --------------------------------------------------------------- ECR's own upload behaviour


@pytest.fixture
def ecr_like(emulator, registry_process):
    """The registry behind a front that answers part uploads as ECR does (test/registry.py)."""
    from registry import EcrLikeFront

    front = EcrLikeFront(registry_process)
    emulator.ecr_registry(front.endpoint, registry_process.password)
    yield front
    front.close()


def test_parts_answered_as_ecr_does(scenario, ecr, ecr_like, registry_process):
    """ECR answers each part 201 with a stale Range, and refuses small parts but the last."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "big", layer_sizes=(40 * 1024 * 1024 + 7,))
    result = push(scenario, IMAGE_ARCHIVE="big", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 0, result
    assert result.outputs_json["digest"] == top
    assert result.outputs_json["repository_uri"] == f"{ecr_like.host}/{repository}"
    assert registry_process.manifest(repository, "v1")[0] == top
    statuses = {status for _, _, status in ecr_like.parts}
    assert statuses == {201}, ecr_like.parts
    big = [size for _, size, _ in ecr_like.parts if size > 1024]
    assert big[:-1] and all(size >= 5 * 1024 * 1024 for size in big[:-1]), ecr_like.parts


def test_manifest_without_media_type_is_refused_with_a_warning(scenario, ecr, ecr_like):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "bare", declare_media_type=False)
    result = push(scenario, IMAGE_ARCHIVE="bare", ECR_REPOSITORY=repository)
    assert result.code == 1, result
    assert "has no top-level mediaType" in result.output
    assert "UNSUPPORTED: Invalid parameter at 'ImageManifest'" in result.final_line


def test_expired_token_is_an_authorization_refusal(scenario, ecr, ecr_like):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image")
    ecr_like.token_expired = True
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository)
    assert result.code == 3, result
    assert "Your authorization token has expired" in result.final_line


def test_rerun_of_an_archive_push_to_an_immutable_repository_succeeds(scenario, ecr, ecr_like, registry_process):
    """A re-run of the push step (same archive, same tags): ECR refuses every tag with TAG_INVALID,
    though each already points at this very image. The pipe reads the tag back and counts it done."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository, imageTagMutability="IMMUTABLE")
    ecr_like.immutable.add(repository)
    top, _ = images.oci_layout(scenario.clone_dir / "image")
    first = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1 stable")
    assert first.code == 0, first
    assert ecr_like.tag_refusals == []
    again = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1 stable")
    assert again.code == 0, again
    assert ecr_like.tag_refusals == [(repository, "v1"), (repository, "stable")]
    assert again.outputs_json["digest"] == top and again.outputs_json["tags"] == ["v1", "stable"]
    assert "tag v1 already points at " + top in again.output
    assert registry_process.manifest(repository, "stable")[0] == top


def test_immutable_tag_of_another_image_names_the_tag(scenario, ecr, ecr_like, registry_process):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository, imageTagMutability="IMMUTABLE")
    ecr_like.immutable.add(repository)
    one, _ = images.oci_layout(scenario.clone_dir / "one")
    two, _ = images.oci_layout(scenario.clone_dir / "two", layer_sizes=(4000, 60_000))
    assert push(scenario, IMAGE_ARCHIVE="one", ECR_REPOSITORY=repository, TAGS="v1").code == 0
    result = push(scenario, IMAGE_ARCHIVE="two", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 1, result
    assert ecr_like.tag_refusals == [(repository, "v1")]
    assert "Tag v1 already exists" in result.final_line and "TAG_INVALID" in result.final_line
    assert "Change TAGS" in result.output
    assert registry_process.manifest(repository, "v1")[0] == one != two


def test_throttled_registry_requests_are_retried(scenario, ecr, ecr_like, registry_process):
    """ECR throttles its registry API with 429 TOOMANYREQUESTS "Rate exceeded"; a few of them
    (blob checks, the manifest PUT) do not fail the push."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "image")
    ecr_like.throttle(2)
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 0, result
    assert len(ecr_like.throttled) == 2, ecr_like.throttled
    ecr_like.throttle(1, "PUT")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v2")
    assert result.code == 0, result
    assert ecr_like.throttled[-1][0] == "PUT" and "/manifests/" in ecr_like.throttled[-1][1]
    assert registry_process.manifest(repository, "v2")[0] == top


def test_a_registry_that_keeps_throttling_fails_with_its_answer(scenario, ecr, ecr_like):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image")
    ecr_like.throttle(1000, "POST")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository)
    assert result.code == 1, result
    assert "TOOMANYREQUESTS: Rate exceeded" in result.final_line
    assert "ECR throttled the registry API" in result.output
    assert len(ecr_like.throttled) >= 5, ecr_like.throttled  # the first try and four more, per upload


@docker
def test_daemon_push_without_batch_get_image_reports_the_daemons_digest(scenario, ecr, ecr_like, registry_process,
                                                                         built_image):
    """A role with issue 10's push permissions but not ecr:BatchGetImage (listed there for
    promotion): the push itself works on ECR; reading the tag back is DENIED. That is a warning
    naming the permission, not a failed step after the image is in the registry."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    ecr_like.denied.add("ecr:BatchGetImage")
    try:
        result = push(scenario, IMAGE_NAME=built_image, ECR_REPOSITORY=repository, TAGS="v1")
        assert result.code == 0, result
        assert [action for action, _, _ in ecr_like.denials] == ["ecr:BatchGetImage"], ecr_like.denials
        assert "ecr:BatchGetImage" in result.output and "WARN" in result.output
        served, _, _ = registry_process.manifest(repository, "v1")
        assert result.outputs_json["digest"] == served
        assert result.outputs_json["repository_uri"] == f"{ecr_like.host}/{repository}"
    finally:
        images.remove_images(f"{ecr_like.host}/{repository}:v1")


@docker
def test_daemon_push_denied_by_ecr_names_the_action(scenario, ecr, ecr_like, built_image):
    """The daemon passes ECR's 403 DENIED on as "denied: User: … is not authorized to perform:
    ecr:InitiateLayerUpload …": an authorization failure that names the missing permission."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    ecr_like.denied.add("ecr:InitiateLayerUpload")
    try:
        result = push(scenario, IMAGE_NAME=built_image, ECR_REPOSITORY=repository, TAGS="v1")
        assert result.code == 3, result
        assert {action for action, _, _ in ecr_like.denials} == {"ecr:InitiateLayerUpload"}
        assert "not authorized to perform: ecr:InitiateLayerUpload" in result.final_line
    finally:
        images.remove_images(f"{ecr_like.host}/{repository}:v1")


@docker
def test_daemon_rerun_to_an_immutable_tag_succeeds_and_another_image_is_refused(scenario, ecr, ecr_like, built_image,
                                                                               tmp_path):
    """ECR's TAG_INVALID, as the daemon passes it on ("tag invalid: …"), comes even for the same
    image: the tag is read back, and if it is the daemon's image the step succeeds with its digest.
    Another image under that tag stays refused, naming the tag."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository, imageTagMutability="IMMUTABLE")
    ecr_like.immutable.add(repository)
    other = images.build_image(tmp_path, sizes=(5000,))
    try:
        first = push(scenario, IMAGE_NAME=built_image, ECR_REPOSITORY=repository, TAGS="v1")
        assert first.code == 0, first
        again = push(scenario, IMAGE_NAME=built_image, ECR_REPOSITORY=repository, TAGS="v1")
        assert again.code == 0, again
        assert ecr_like.tag_refusals == [(repository, "v1")]
        assert again.outputs_json["digest"] == first.outputs_json["digest"]
        assert "already points at " + first.outputs_json["digest"] in again.output
        refused = push(scenario, IMAGE_NAME=other, ECR_REPOSITORY=repository, TAGS="v1")
        assert refused.code == 1, refused
        assert ecr_like.tag_refusals == [(repository, "v1")] * 2
        assert "Tag v1 already exists" in refused.final_line and "immutable" in refused.final_line
    finally:
        images.remove_images(other, f"{ecr_like.host}/{repository}:v1")


def test_archive_push_denied_by_ecr_names_the_action(scenario, ecr, ecr_like):
    """ECR's 403 DENIED for a role without ecr:PutImage: an authorization failure (exit 3) quoting
    ECR, which names the missing action."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image")
    ecr_like.denied.add("ecr:PutImage")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository)
    assert result.code == 3, result
    assert [action for action, _, _ in ecr_like.denials] == ["ecr:PutImage"]
    assert "DENIED: User: " in result.final_line and "perform: ecr:PutImage" in result.final_line


def test_registry_id_names_the_registry_in_every_ecr_call(scenario, ecr, ecr_registry):
    """REGISTRY_ID goes to DescribeRepositories and to GetAuthorizationToken's registryIds, which
    decides the registry its proxyEndpoint names (terraform-provider-aws#45754: the CLI and API
    answer with that registry's endpoint). The emulator answers with its one local registry, so
    which endpoint real ECR would give is not tested here, only that it is asked for."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.oci_layout(scenario.clone_dir / "image")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, REGISTRY_ID=ACCOUNT)
    assert_pushed(result, ecr_registry, repository, ["latest"])
    [token] = scenario.emulator.requests(service="ecr", action="GetAuthorizationToken")
    assert token["params"].get("registryIds") == [ACCOUNT], token["params"]
    [describe] = scenario.emulator.requests(service="ecr", action="DescribeRepositories")
    assert describe["params"].get("registryId") == ACCOUNT, describe["params"]


def test_legacy_docker_save_layers_are_pushed_under_their_diff_ids(scenario, ecr, ecr_registry):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    diff_ids = images.legacy_docker_save(scenario.clone_dir / "legacy.tar")
    result = push(scenario, IMAGE_ARCHIVE="legacy.tar", ECR_REPOSITORY=repository)
    assert_pushed(result, ecr_registry, repository, ["latest"])
    manifest = json.loads(ecr_registry.manifest(repository, "latest")[2])
    assert [layer["digest"] for layer in manifest["layers"]] == diff_ids


def test_a_layer_that_is_not_what_the_archive_says_is_refused(scenario, ecr, ecr_registry):
    """The digests come from the archive's configuration, and every blob is hashed before any is
    sent: a layer that is not what the configuration says is refused as bad input, nothing
    uploaded (issue 18; the registry used to be the one to find out)."""
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    images.legacy_docker_save(scenario.clone_dir / "lying.tar", wrong_diff_id=True)
    before = ecr_registry.log_offset()
    result = push(scenario, IMAGE_ARCHIVE="lying.tar", ECR_REPOSITORY=repository)
    assert result.code == 2, result
    assert "the archive is damaged or forged" in result.final_line, result
    assert ecr_registry.requests_since(before) == []


def test_dry_run_reads_the_archive_and_pushes_nothing(scenario, ecr, ecr_registry, emulator):
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "image")
    before = ecr_registry.log_offset()
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, DRY_RUN="true")
    assert result.code == 0, result
    assert result.final_line.startswith("✔ Dry run: nothing was pushed")
    assert result.outputs_json["digest"] == top and result.outputs_json["dry_run"] is True
    assert ecr_registry.requests_since(before) == []
    assert emulator.requests(service="ecr", action="GetAuthorizationToken") == []


def test_archive_push_to_an_https_registry_through_https_proxy(scenario, ecr, tls_registry_behind_proxy,
                                                                registry_process):
    """A self-hosted runner behind a proxy: the registry is reached through a CONNECT tunnel
    (with the proxy's credentials), its certificate checked against SSL_CERT_FILE."""
    registry, proxy, ca = tls_registry_behind_proxy
    repository = repo_name()
    ecr.create_repository(repositoryName=repository)
    top, _ = images.oci_layout(scenario.clone_dir / "image")
    proxy_password = "px-" + uuid.uuid4().hex
    proxy_url = proxy.url.replace("http://", f"http://ci:{proxy_password}@")
    result = push(scenario, IMAGE_ARCHIVE="image", ECR_REPOSITORY=repository, TAGS="v1",
                  HTTPS_PROXY=proxy_url, SSL_CERT_FILE=str(ca))
    assert result.code == 0, result
    assert proxy_password not in result.everything()
    assert result.outputs_json["digest"] == top == registry.manifest(repository, "v1")[0]
    assert proxy.tunnels and {target for target, _ in proxy.tunnels} == {registry.host}, proxy.tunnels
    assert all(auth and auth.startswith("Basic ") for _, auth in proxy.tunnels), proxy.tunnels
