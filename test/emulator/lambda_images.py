"""Lambda takes one image manifest, never an image index.

`docker buildx` (BuildKit provenance attestations, on by default since buildx 0.10) and saves from
the containerd image store push an index (`application/vnd.oci.image.index.v1+json`, or Docker's
manifest list) even for one platform. Lambda does not look a platform up in an index: its
`UpdateFunctionCode` (and `CreateFunction`) answers 400 `InvalidParameterValueException` "The image
manifest, config or layer media type for the source image <uri> is not supported."
(aws-lambda-roadmap#82, docker/buildx#1533, terraform-aws-modules/terraform-aws-lambda#741; the
Lambda guide: "Lambda does not support multi-architecture images").

The image is looked up where ECR keeps it: moto's ECR store of the URI's account and region,
then, with a test registry configured (ecr.py), that registry. An image found in neither is not
judged (Lambda's existence check is not modelled). The refusal is recorded as
`"image_index": "<media type>"`.
"""

import json
import re

from .ecr import LOCK, MANIFEST_TYPES, _registry_call

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+)"
                 r"(?::([\w][\w.-]{0,127})|@(sha256:[0-9a-f]{64}))$")


def _media_type(manifest, declared):
    if declared:
        return declared
    try:
        return json.loads(manifest).get("mediaType")
    except (ValueError, AttributeError):
        return None


def _stored_media_type(layer, account, region, repository, tag, digest):
    from moto.ecr.models import ecr_backends

    repo = ecr_backends[account][region].repositories.get(repository)
    for image in (repo.images if repo else []):
        if (tag and tag in image.image_tags) or (digest and image.get_image_digest() == digest):
            return _media_type(image.image_manifest, image.image_manifest_media_type)
    with LOCK:
        registry = getattr(layer, "ecr_registry", None)
    if registry is None:
        return None
    status, headers, body = _registry_call(registry, "GET", f"/v2/{repository}/manifests/{digest or tag}",
                                           {"Accept": ", ".join(MANIFEST_TYPES)})
    if status != 200:
        return None
    return _media_type(body.decode(errors="replace"), (headers.get("Content-Type") or "").split(";")[0])


def index_refusal(layer, req, uri):
    """Lambda's refusal of an image index as the function's code, or None."""
    from .lambda_ import invalid_parameter

    m = URI.match(uri or "")
    if not m:
        return None
    account, region, repository, tag, digest = m.groups()
    media_type = _stored_media_type(layer, account, region, repository, tag, digest)
    if media_type not in INDEX_TYPES:
        return None
    req.notes["record"] = {**req.notes.get("record", {}), "image_index": media_type}
    return invalid_parameter(
        f"The image manifest, config or layer media type for the source image {uri} is not supported.")
