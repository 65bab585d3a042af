"""Images put straight into ECR's API with boto3, for tests that need an image (or an image index)
in a repository without a registry behind it.

`seed_index(ecr, repository, tag, platforms=("linux/amd64",), attestation=True)` puts one image
manifest per platform (by digest), an attestation manifest as BuildKit writes it (platform
`unknown/unknown`, annotation `vnd.docker.reference.type: attestation-manifest`, listed first, as
the tests want the pipe to skip it rather than rely on order), and the index under `tag`. Returns
`(index_digest, {platform: digest})`.
"""

import hashlib
import json

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest_of(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _manifest(content):
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of("config " + content), "size": 10},
        "layers": [{"mediaType": OCI_LAYER, "digest": digest_of("layer " + content), "size": 20}],
        "annotations": {"content": content},
    })


def _put(ecr, repository, manifest, media_type, tag=None):
    kwargs = {"imageTag": tag} if tag else {"imageDigest": digest_of(manifest)}
    ecr.put_image(repositoryName=repository, imageManifest=manifest, imageManifestMediaType=media_type, **kwargs)
    return digest_of(manifest)


def seed_index(ecr, repository, tag, platforms=("linux/amd64",), attestation=True, content="one"):
    entries, children = [], {}
    if attestation:
        manifest = _manifest(f"attestation {content}")
        digest = _put(ecr, repository, manifest, OCI_MANIFEST)
        entries.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
                         "platform": {"architecture": "unknown", "os": "unknown"},
                         "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                         "vnd.docker.reference.digest": "sha256:" + "0" * 64}})
    for platform in platforms:
        os_, arch = platform.split("/", 1)
        manifest = _manifest(f"{platform} {content}")
        digest = _put(ecr, repository, manifest, OCI_MANIFEST)
        children[platform] = digest
        entries.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
                        "platform": {"architecture": arch, "os": os_}})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    return _put(ecr, repository, index, OCI_INDEX, tag=tag), children
