"""ACTION=ecr-push of archives in the shapes real `docker save` versions write (issue 18: the
reader is strict about names and links, so the legitimate shapes that use them are pinned here):
Docker 25+'s OCI layout with `manifest.json` beside it, and a pre-25 save whose repeated layer is
a relative symbolic link inside the archive. Pushed to the real docker-registry; the digest
reported is the one it serves."""

import json

import pytest

import images
from emulator.scenario import client_for


def test_a_docker_25_save_is_pushed_as_its_oci_manifest(scenario, repository, ecr_registry):
    digest = images.docker25_save(scenario.clone_dir / "image.tar")
    result = scenario.run(ACTION="ecr-push", IMAGE_ARCHIVE="image.tar", ECR_REPOSITORY=repository, timeout=120)
    assert result.code == 0, result
    assert result.outputs_json["digest"] == digest
    assert ecr_registry.manifest(repository, "latest")[0] == digest


def test_a_legacy_save_with_a_linked_repeated_layer_is_pushed(scenario, repository, ecr_registry):
    diff_ids = images.legacy_save_with_linked_layer(scenario.clone_dir / "linked.tar")
    result = scenario.run(ACTION="ecr-push", IMAGE_ARCHIVE="linked.tar", ECR_REPOSITORY=repository, timeout=120)
    assert result.code == 0, result
    served = json.loads(ecr_registry.manifest(repository, "latest")[2])
    assert [layer["digest"] for layer in served["layers"]] == diff_ids
    assert "2 blobs" in result.output  # the config and the one layer, uploaded once
