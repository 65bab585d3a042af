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

With a registry configured, ECR's API and the registry are one store, as in real ECR (where
both are views of the same repository):
- BatchGetImage finds an image pushed straight to the registry (an archive or daemon push never
  calls ECR's API for its manifest): a tag or digest moto does not know is read from the registry
  (`GET /v2/<repository>/manifests/<ref>`) and stored in moto first (recorded as
  `"registry_import": "<ref>"`);
- PutImage (a promotion) also tags the manifest in the registry (`PUT /v2/<repository>/manifests/
  <tag>`, recorded as `"registry_tag": "<tag>"`), so the new tag can be pulled; a manifest whose
  blobs the registry lacks is refused as ECR refuses it, `LayersNotFoundException`.
- DescribeRepositories and CreateRepository name the repository at the registry's host
  (`repositoryUri` `127.0.0.1:<port>/<name>`), as ECR's URIs name the host its token's
  `proxyEndpoint` does (moto names an unreachable `<account>.dkr.ecr.<region>.amazonaws.com`).
Not modelled: ListImages / DescribeImages of images only in the registry.

PutImage is judged as real ECR does where moto differs: moving a tag of an IMMUTABLE repository
(or an immutable tag of an `IMMUTABLE_WITH_EXCLUSION` / `MUTABLE_WITH_EXCLUSION` one, by its
wildcard filters) to another image is refused with `ImageTagAlreadyExistsException` and ECR's
message ("… because the tag is immutable." for the filtered modes, as kaniko users quote it:
osscontainertools/kaniko#204) (moto says
`ImageAlreadyExistsException`, which real ECR keeps for "that tag already points there"), and
an image's digest is the sha256 of its manifest (moto hashes the layer digests). An IMMUTABLE
tag is not put again even when it already names this very image: ECR answers
`ImageTagAlreadyExistsException` then too (containers-roadmap#2179, aws-cli#9328, aws-sdk#750),
recorded with `"immutable_tag": <tag>, "same_image": true`; only a mutable tag that already names
the image gets `ImageAlreadyExistsException`.

Scenario controls (the races and retries ECR's callers meet):

| Endpoint | Body | Effect |
| --- | --- | --- |
| `POST /_layer/ecr/create-race` | `{"count": 1, "image_tag_mutability": optional}` | Before the next `count` CreateRepository calls, another creator (a parallel step) creates that repository, with the request's own settings unless `image_tag_mutability` is given; ECR (moto) then answers `RepositoryAlreadyExistsException`. The other creator's call is recorded just before, as `{"action": "CreateRepository", "synthetic": true, "user_agent": "another-step (emulator layer)"}`. |
| `DELETE /_layer/ecr/scenarios` | – | pending races dropped |

A PutImage or CreateRepository applied whose answer is lost (so the SDK's retry meets its effect)
is the generic fault kind `lost_answer` (`POST /_layer/faults`, see the README).
"""

import base64
import fnmatch
import hashlib
import json
import ssl
import threading
import time
import urllib.error
import urllib.request

from .dispatch import after, control, judge, on_reset
from .protocol import aws_error

LOCK = threading.RLock()
TOKEN_LIFETIME = 12 * 3600


@on_reset
def _reset(layer):
    layer.ecr_registry = None
    layer.ecr_create_races = []


OTHER_CREATOR = "another-step (emulator layer)"


@control("POST", "/_layer/ecr/create-race")
def c_create_race(layer, body, query):
    count, mutability = body.get("count", 1), body.get("image_tag_mutability")
    if not isinstance(count, int) or count < 1:
        raise _control_error(400, "count must be a positive integer")
    if mutability is not None and mutability not in ("MUTABLE", "IMMUTABLE"):
        raise _control_error(400, "image_tag_mutability must be MUTABLE or IMMUTABLE")
    with LOCK:
        layer.ecr_create_races.extend({"image_tag_mutability": mutability} for _ in range(count))
        return {"create_races": len(layer.ecr_create_races)}


@control("DELETE", "/_layer/ecr/scenarios")
def c_clear_scenarios(layer, body, query):
    with LOCK:
        layer.ecr_create_races = []
    return {"status": "ok"}


@judge("ecr", "CreateRepository")
def _judge_create_repository(layer, req):
    """A scripted race: another creator makes the repository first; moto then refuses this call
    with RepositoryAlreadyExistsException, as ECR does."""
    from moto.ecr.models import ecr_backends
    from moto.iam.models import get_account_id_from

    with LOCK:
        race = layer.ecr_create_races.pop(0) if layer.ecr_create_races else None
    if race is None:
        return None
    params = req.params
    account = params.get("registryId") or get_account_id_from(req.access_key_id or "")
    name = params.get("repositoryName") or ""
    mutability = race["image_tag_mutability"] or params.get("imageTagMutability") or "MUTABLE"
    backend = ecr_backends[account][req.region or "us-east-1"]
    if backend.repositories.get(name) is None:
        backend.create_repository(name, None, params.get("encryptionConfiguration"),
                                  params.get("imageScanningConfiguration"), mutability, [])
    record = {"service": "ecr", "action": "CreateRepository",
              "params": {"repositoryName": name, "imageTagMutability": mutability},
              "access_key_id": None, "user_agent": OTHER_CREATOR, "status": 200, "error_code": None,
              "fault": None, "time": time.time(), "method": "POST", "path": "/", "region": req.region,
              "synthetic": True}
    with layer._lock:
        layer.records.insert(len(layer.records) - 1, record)  # before the call it raced
    req.notes["record"] = {"raced_by": OTHER_CREATOR}
    return None


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
# Since 2025 ECR says "the tag is immutable" for a plain IMMUTABLE repository too (kaniko users
# quote both wordings: GoogleContainerTools/kaniko#3481, osscontainertools/kaniko#204).
IMMUTABLE_TAG_MESSAGE = IMMUTABLE_BY_FILTER_MESSAGE


@judge("ecr", "PutImage")
def _judge_put_image(layer, req):
    """Real ECR refuses to put an immutable tag again with ImageTagAlreadyExistsException, whether
    or not it already names this image (moto answers ImageAlreadyExistsException, which in real
    ECR means "this mutable tag already points at this image"); a mutable tag put again on the
    same image stays ImageAlreadyExistsException, moto's answer."""
    from moto.ecr.models import ecr_backends
    from moto.iam.models import get_account_id_from

    params = req.params
    name, tag = params.get("repositoryName"), params.get("imageTag")
    if not name or not tag:
        return None
    account = params.get("registryId") or get_account_id_from(req.access_key_id or "")
    repository = ecr_backends[account][req.region or "us-east-1"].repositories.get(name)
    if repository is None:
        return None
    manifest = params.get("imageManifest") or ""
    if tag_is_immutable(repository, tag):
        digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        message = IMMUTABLE_TAG_MESSAGE if _setting(repository) == "IMMUTABLE" else IMMUTABLE_BY_FILTER_MESSAGE
        for image in repository.images:
            # Also when the tag already names this very image (a re-run, or a retried call
            # whose first attempt was applied): ECR does not compare digests first.
            if tag in image.image_tags:
                req.notes["record"] = {"immutable_tag": tag, "same_image": image.get_image_digest() == digest}
                return aws_error("ecr", 400, "ImageTagAlreadyExistsException",
                                 message.format(tag=tag, repository=name))
    return _tag_in_registry(layer, req, name, tag, manifest, params.get("imageManifestMediaType"), account)


def _registry_call(registry, method, path, headers=None, body=None):
    """(status, headers, body) of a request to the configured registry, with its credentials.
    The layer talks only to the tests' own registry: an https one is not verified here."""
    auth = base64.b64encode(f"{registry['username']}:{registry['password']}".encode()).decode()
    request = urllib.request.Request(registry["endpoint"] + path, method=method, data=body,
                                     headers={"Authorization": f"Basic {auth}", **(headers or {})})
    context = ssl._create_unverified_context() if registry["endpoint"].startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def _tag_in_registry(layer, req, name, tag, manifest, media_type, account):
    """PutImage's other half: the tag in the registry. None (moto answers), or ECR's refusal."""
    with LOCK:
        registry = getattr(layer, "ecr_registry", None)
    if registry is None:
        return None
    if not media_type:
        try:
            media_type = json.loads(manifest).get("mediaType")
        except (ValueError, AttributeError):
            media_type = None
    status, _, body = _registry_call(registry, "PUT", f"/v2/{name}/manifests/{tag}",
                                     {"Content-Type": media_type or MANIFEST_TYPES[0]}, manifest.encode())
    if 200 <= status < 300:
        req.notes["record"] = {**req.notes.get("record", {}), "registry_tag": tag}
        return None
    text = body.decode(errors="replace")
    if "BLOB_UNKNOWN" in text:
        try:
            doc = json.loads(manifest)
            digests = [layer_["digest"] for layer_ in doc.get("layers") or []]
        except (ValueError, AttributeError, KeyError, TypeError):
            digests = []
        return aws_error("ecr", 400, "LayersNotFoundException", (
            f"Layers with digests '{digests}' required for pushing image into repository with name '{name}' "
            f"in registry with id '{account}' do not exist"))
    return aws_error("ecr", 500, "ServerException", f"the registry answered {status}: {text[:300]}")


MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@judge("ecr", "BatchGetImage")
def _judge_batch_get_image(layer, req):
    """An image pushed straight to the registry is in ECR too: read it from the registry into
    moto before moto answers. Always None: moto answers, with what it now holds."""
    from moto.ecr.models import Image, ecr_backends
    from moto.iam.models import get_account_id_from

    with LOCK:
        registry = getattr(layer, "ecr_registry", None)
    params = req.params
    name = params.get("repositoryName")
    if registry is None or not name:
        return None
    account = params.get("registryId") or get_account_id_from(req.access_key_id or "")
    repository = ecr_backends[account][req.region or "us-east-1"].repositories.get(name)
    if repository is None:
        return None
    imported = []
    for image_id in params.get("imageIds") or []:
        tag, digest = image_id.get("imageTag"), image_id.get("imageDigest")
        if any((tag and tag in image.image_tags) or (digest and image.get_image_digest() == digest)
               for image in repository.images):
            continue
        status, headers, body = _registry_call(registry, "GET", f"/v2/{name}/manifests/{digest or tag}",
                                               {"Accept": ", ".join(MANIFEST_TYPES)})
        if status != 200:
            continue
        manifest = body.decode()
        media_type = (headers.get("Content-Type") or "").split(";")[0] or None
        stored = "sha256:" + hashlib.sha256(body).hexdigest()
        with LOCK:
            if tag:
                for image in repository.images:
                    if tag in image.image_tags:
                        image.image_tags.remove(tag)
            same = next((image for image in repository.images if image.get_image_digest() == stored), None)
            if same is None:
                repository.images.append(Image(account, tag, manifest, name, media_type, stored))
            elif tag:
                same.update_tag(tag)
        imported.append(digest or tag)
    if imported:
        req.notes["record"] = {"registry_import": imported[0] if len(imported) == 1 else imported}
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


def _registry_host(layer):
    with LOCK:
        registry = getattr(layer, "ecr_registry", None)
    return registry and registry["endpoint"].split("://", 1)[1]


def _at_registry(repository, host):
    if isinstance(repository, dict) and repository.get("repositoryName"):
        repository["repositoryUri"] = f"{host}/{repository['repositoryName']}"


@after("ecr", "DescribeRepositories")
def _after_describe_repositories(layer, req, resp):
    host = _registry_host(layer)
    if host:
        doc = json.loads(resp.body or b"{}")
        for repository in doc.get("repositories") or []:
            _at_registry(repository, host)
        resp.body = json.dumps(doc).encode()
    return resp


@after("ecr", "CreateRepository")
def _after_create_repository(layer, req, resp):
    host = _registry_host(layer)
    if host:
        doc = json.loads(resp.body or b"{}")
        _at_registry(doc.get("repository"), host)
        resp.body = json.dumps(doc).encode()
    return resp
