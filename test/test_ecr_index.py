"""ACTION=ecr-push of image indexes in archives (issue 17): one digest per platform in the outputs
and the log, a warning for an index of one platform plus BuildKit attestations, and the partial
multi-platform `docker save` of the containerd image store refused before any upload, with the
command that saves one platform. The registry is the real docker-registry (test/registry.py);
every per-platform digest reported is read back from it."""

import json
import tarfile

import pytest

import images
from emulator.scenario import client_for

docker = pytest.mark.docker


def push(scenario, **variables):
    return scenario.run(ACTION="ecr-push", timeout=120, **variables)


def test_each_platform_of_an_index_is_an_output_and_a_log_line(scenario, repository, ecr_registry):
    top, children = images.oci_layout(scenario.clone_dir / "multi", platforms=["amd64", "arm64"])
    result = push(scenario, IMAGE_ARCHIVE="multi", ECR_REPOSITORY=repository, TAGS="v1")
    assert result.code == 0, result
    outputs = result.outputs_json
    assert outputs["digest"] == top
    uri = f"{ecr_registry.host}/{repository}"
    assert outputs["platforms"] == [
        {"platform": "linux/amd64", "digest": children[0], "image": f"{uri}@{children[0]}"},
        {"platform": "linux/arm64", "digest": children[1], "image": f"{uri}@{children[1]}"},
    ]
    env = result.outputs_env
    assert env["AWS_ROLE_DEPLOY_PLATFORMS_1_PLATFORM"] == "linux/arm64"
    assert env["AWS_ROLE_DEPLOY_PLATFORMS_1_IMAGE"] == f"{uri}@{children[1]}"
    for child in children:
        assert ecr_registry.manifest(repository, child)[0] == child
        assert f"INFO: platform linux/{'amd64' if child == children[0] else 'arm64'}: {uri}@{child}" in result.lines
    assert "attestation" not in result.output


def test_a_plain_image_has_no_platform_outputs(scenario, repository, ecr_registry):
    images.oci_layout(scenario.clone_dir / "one")
    result = push(scenario, IMAGE_ARCHIVE="one", ECR_REPOSITORY=repository)
    assert result.code == 0, result
    assert "platforms" not in result.outputs_json
    assert not any(name.startswith("AWS_ROLE_DEPLOY_PLATFORMS") for name in result.outputs_env)


def test_one_platform_and_attestations_is_pushed_whole_with_a_warning(scenario, repository, ecr_registry):
    top, children = images.oci_layout(scenario.clone_dir / "attested", platforms=["amd64"], attestations=True)
    result = push(scenario, IMAGE_ARCHIVE="attested", ECR_REPOSITORY=repository)
    assert result.code == 0, result
    assert result.outputs_json["digest"] == top
    [platform] = result.outputs_json["platforms"]
    assert platform["platform"] == "linux/amd64" and platform["digest"] == children[0]
    warning = [line for line in result.lines if line.startswith("WARNING:") and "attestation" in line]
    assert warning, result
    assert "Lambda refuses image indexes" in warning[0] and children[0] in warning[0], warning
    served = json.loads(ecr_registry.manifest(repository, "latest")[2])
    assert len(served["manifests"]) == 2  # the attestation too: the index is pushed as it is
    for descriptor in served["manifests"]:
        assert ecr_registry.manifest(repository, descriptor["digest"])[0] == descriptor["digest"]


def test_several_platforms_with_attestations_do_not_warn(scenario, repository, ecr_registry):
    images.oci_layout(scenario.clone_dir / "attested", platforms=["amd64", "arm64"], attestations=True)
    result = push(scenario, IMAGE_ARCHIVE="attested", ECR_REPOSITORY=repository)
    assert result.code == 0, result
    assert [p["platform"] for p in result.outputs_json["platforms"]] == ["linux/amd64", "linux/arm64"]
    assert not any(line.startswith("WARNING:") and "attestation" in line for line in result.lines), result


@pytest.mark.parametrize("lacking", ["manifest", "layers"])
def test_a_partial_containerd_save_is_refused_with_the_platform_to_save(scenario, repository, ecr_registry, emulator,
                                                                          lacking):
    """Decision (README, "IMAGE_ARCHIVE"): refuse rather than push the one complete platform under
    another digest than the archive's."""
    images.containerd_save(scenario.clone_dir / "image.tar", platforms=("amd64", "arm64", "s390x"),
                           present=("amd64",), lacking=lacking)
    before, registry_before = len(emulator.requests()), ecr_registry.log_offset()
    result = push(scenario, IMAGE_ARCHIVE="image.tar", ECR_REPOSITORY=repository)
    assert result.code == 2, result
    final = result.final_line
    assert "IMAGE_ARCHIVE" in final and "partial save of a multi-platform image" in final, result
    assert "the blobs of 2 (linux/arm64: lacks" in final and "linux/s390x: lacks" in final, result
    assert "Complete platforms: linux/amd64" in final, result
    assert "`docker save --platform linux/amd64 -o image.tar docker.io/library/app:1`" in final, result
    calls = [call["action"] for call in emulator.requests()[before:]]
    assert "GetAuthorizationToken" not in calls and "PutImage" not in calls, calls
    assert ecr_registry.requests_since(registry_before) == []


def test_a_complete_containerd_save_is_pushed(scenario, repository, ecr_registry):
    top = images.containerd_save(scenario.clone_dir / "image.tar", platforms=("amd64", "arm64"),
                                 present=("amd64", "arm64"))
    result = push(scenario, IMAGE_ARCHIVE="image.tar", ECR_REPOSITORY=repository)
    assert result.code == 0, result
    assert result.outputs_json["digest"] == top
    assert len(result.outputs_json["platforms"]) == 2


@docker
def test_a_real_docker_save_with_an_entry_leaving_it_is_refused(scenario, repository, ecr_registry, tmp_path,
                                                                docker_engine):
    """The engine's own `docker save`, then one member appended that climbs out of the archive:
    refused by name before any upload, though everything else in the archive is sound."""
    name = images.build_image(tmp_path)
    try:
        archive = images.docker_save(name, scenario.clone_dir / "saved.tar")
    finally:
        images.remove_images(name)
    result = push(scenario, IMAGE_ARCHIVE="saved.tar", ECR_REPOSITORY=repository, DRY_RUN="true")
    assert result.code == 0, result  # sound as saved
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo("../../escape")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    before = ecr_registry.log_offset()
    result = push(scenario, IMAGE_ARCHIVE="saved.tar", ECR_REPOSITORY=repository)
    assert result.code == 2, result
    assert 'tar entry "../../escape" leads outside the archive' in result.final_line, result
    assert ecr_registry.requests_since(before) == []
