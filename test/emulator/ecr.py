"""ECR as ecr-push meets it: the registry behind GetAuthorizationToken.

moto's GetAuthorizationToken answers with `https://<account>.dkr.ecr.<region>.amazonaws.com`, a
host that cannot be reached, and a password no registry knows. With a registry configured
(`POST /_layer/ecr/registry`), the layer answers instead with that registry's endpoint
(`http://127.0.0.1:<port>`, the Debian `docker-registry` the tests start) and a token carrying
that registry's real htpasswd credentials (`base64("AWS:<password>")`), expiring 12 hours out as
ECR's do. The password joins the secrets a client must never print. Each answered call is
recorded in the request log with `"registry": "<endpoint>"`.

| Endpoint | Body | Response |
| --- | --- | --- |
| `POST /_layer/ecr/registry` | `{"endpoint": "http://127.0.0.1:5000", "username": "AWS", "password": "..."}` | `{"registry": {"endpoint", "username"}}` |
| `GET /_layer/ecr/registry` | – | `{"registry": {"endpoint", "username"} or null}` |
| `DELETE /_layer/ecr/registry` | – | `{"registry": null}`: moto's own answer again |

A wrong password (for the "registry refuses the authorization" case) is configured the same way.

PutImage is judged as real ECR does where moto differs: moving a tag of an IMMUTABLE repository
(or an immutable tag of an `IMMUTABLE_WITH_EXCLUSION` / `MUTABLE_WITH_EXCLUSION` one, by its
wildcard filters) to another image is refused with `ImageTagAlreadyExistsException` and ECR's
message ("… because the tag is immutable." for the filtered modes, as kaniko users quote it:
osscontainertools/kaniko#204) (moto says
`ImageAlreadyExistsException`, which real ECR keeps for "that tag already points there"), and
an image's digest is the sha256 of its manifest (moto hashes the layer digests).
"""

import base64
import fnmatch
import hashlib
import json
import threading
import time

from .dispatch import after, control, judge, on_reset
from .protocol import aws_error

LOCK = threading.RLock()
TOKEN_LIFETIME = 12 * 3600


@on_reset
def _reset(layer):
    layer.ecr_registry = None


def _control_error(status, message):
    from .layer import ControlError  # layer imports this module: import at call time

    return ControlError(status, message)


def _shown(registry):
    return registry and {"endpoint": registry["endpoint"], "username": registry["username"]}


@control("POST", "/_layer/ecr/registry")
def c_set_registry(layer, body, query):
    endpoint, password = body.get("endpoint"), body.get("password")
    username = body.get("username", "AWS")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise _control_error(400, "endpoint must be an http:// or https:// URL")
    if not isinstance(password, str) or not password:
        raise _control_error(400, "password is required")
    with LOCK:
        layer.ecr_registry = {"endpoint": endpoint.rstrip("/"), "username": username, "password": password}
    layer.add_secret(password)
    return {"registry": _shown(layer.ecr_registry)}


@control("GET", "/_layer/ecr/registry")
def c_get_registry(layer, body, query):
    with LOCK:
        return {"registry": _shown(getattr(layer, "ecr_registry", None))}


@control("DELETE", "/_layer/ecr/registry")
def c_clear_registry(layer, body, query):
    with LOCK:
        layer.ecr_registry = None
    return {"registry": None}


@after("ecr", "GetAuthorizationToken")
def _after_token(layer, req, resp):
    with LOCK:
        registry = getattr(layer, "ecr_registry", None)
    if registry is None:
        return resp
    doc = json.loads(resp.body or b"{}")
    token = base64.b64encode(f"{registry['username']}:{registry['password']}".encode()).decode()
    layer.add_secret(token)
    doc["authorizationData"] = [
        {"authorizationToken": token, "expiresAt": time.time() + TOKEN_LIFETIME, "proxyEndpoint": registry["endpoint"]}
        for _ in doc.get("authorizationData") or [None]
    ]
    resp.body = json.dumps(doc).encode()
    req.notes["record"] = {"registry": registry["endpoint"]}
    return resp


IMMUTABLE_BY_FILTER_MESSAGE = (
    "The image tag '{tag}' already exists in the '{repository}' repository and cannot be overwritten "
    "because the tag is immutable."
)
IMMUTABLE_TAG_MESSAGE = (
    "The image tag '{tag}' already exists in the '{repository}' repository and cannot be overwritten "
    "because the repository is immutable."
)


@judge("ecr", "PutImage")
def _judge_put_image(layer, req):
    """Real ECR refuses to move a tag of an IMMUTABLE repository with
    ImageTagAlreadyExistsException (moto answers ImageAlreadyExistsException, which means "the
    tag already points at this image" in real ECR); the same image under the same tag stays
    ImageAlreadyExistsException, moto's answer."""
    from moto.ecr.models import ecr_backends
    from moto.iam.models import get_account_id_from

    params = req.params
    name, tag = params.get("repositoryName"), params.get("imageTag")
    if not name or not tag:
        return None
    account = params.get("registryId") or get_account_id_from(req.access_key_id or "")
    repository = ecr_backends[account][req.region or "us-east-1"].repositories.get(name)
    if repository is None or not tag_is_immutable(repository, tag):
        return None
    manifest = params.get("imageManifest") or ""
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    message = IMMUTABLE_TAG_MESSAGE if _setting(repository) == "IMMUTABLE" else IMMUTABLE_BY_FILTER_MESSAGE
    for image in repository.images:
        if tag in image.image_tags and image.get_image_digest() != digest:
            req.notes["record"] = {"immutable_tag": tag}
            return aws_error("ecr", 400, "ImageTagAlreadyExistsException", message.format(tag=tag, repository=name))
    return None


def _setting(repository):
    value = repository.image_tag_mutability
    return str(getattr(value, "value", value))


def tag_is_immutable(repository, tag):
    """ECR's rule (PutImageTagMutability): IMMUTABLE and MUTABLE are the whole repository;
    IMMUTABLE_WITH_EXCLUSION makes every tag immutable except those matching a wildcard filter,
    MUTABLE_WITH_EXCLUSION every tag mutable except those. (moto answers the immutable ones with
    ImageAlreadyExistsException, which would read as "the tag already points there".)"""
    setting = _setting(repository)
    filters = [f.get("filter", "") for f in (repository.image_tag_mutability_exclusion_filters or [])]
    excluded = setting.endswith("_WITH_EXCLUSION") and any(fnmatch.fnmatchcase(tag, f) for f in filters)
    return setting.startswith("IMMUTABLE") != excluded


@after("ecr", "PutImage")
def _after_put_image(layer, req, resp):
    """An image's digest is the sha256 of its manifest's bytes, as in ECR and every registry (moto
    hashes the layer digests, so two images with the same layers would share a digest)."""
    from moto.ecr.models import ecr_backends
    from moto.iam.models import get_account_id_from

    params = req.params
    manifest = params.get("imageManifest") or ""
    account = params.get("registryId") or get_account_id_from(req.access_key_id or "")
    repository = ecr_backends[account][req.region or "us-east-1"].repositories.get(params.get("repositoryName"))
    if repository is None:
        return resp
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    for image in repository.images:
        if image.image_manifest == manifest:
            image._image_digest = digest
    doc = json.loads(resp.body or b"{}")
    image_id = (doc.get("image") or {}).get("imageId")
    if isinstance(image_id, dict):
        image_id["imageDigest"] = digest
        resp.body = json.dumps(doc).encode()
    return resp
