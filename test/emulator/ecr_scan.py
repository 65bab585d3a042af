"""ECR image scans as `SCAN_FAIL_ON` meets them: DescribeImageScanFindings and StartImageScan
answered by the layer from a scenario, in both scanners' shapes.

moto's own scans: StartImageScan marks the image scanned, then DescribeImageScanFindings answers
COMPLETE at once with one fixed HIGH finding (CVE-9999-9999), or results queued through moto's
API; before StartImageScan, ScanNotFoundException. It knows nothing of scan on push, of a scan
in progress, of FAILED or UNSUPPORTED_IMAGE, of enhanced scanning's shape and statuses, and only
of images put through its own API (not those pushed straight to the tests' registry).

With a scenario set (`POST /_layer/ecr/scan`), the layer answers both calls itself, for every
repository and image, with the scenario's scan:

| Field | Default | Meaning |
| --- | --- | --- |
| `kind` | `"basic"` | `basic`: `findings[]` with `attributes` (`package_name`, `package_version`), in-progress status `IN_PROGRESS`, final `COMPLETE`; `enhanced` (Amazon Inspector): `enhancedFindings[]` with `packageVulnerabilityDetails.vulnerablePackages[].fixedInVersion`, in-progress `PENDING`, final `ACTIVE` (continuous scanning). |
| `on_push` | `true` | The scan starts by itself when the image is pushed (scan on push, or a registry scanning rule). `false`: ScanNotFoundException until StartImageScan starts one. |
| `not_found_polls` | `0` | The first N DescribeImageScanFindings of an image answer ScanNotFoundException although a scan will come (right after a push, before the scan exists). |
| `in_progress_polls` | `0` | Then N answers with the in-progress status and no findings. |
| `status` | `COMPLETE` / `ACTIVE` | The final status: also `FAILED`, `UNSUPPORTED_IMAGE`, `FINDINGS_UNAVAILABLE`, `SCAN_ELIGIBILITY_EXPIRED`, `LIMIT_EXCEEDED`. |
| `description` | ECR's wording for the status | `imageScanStatus.description`. |
| `findings` | `[]` | `[{"name": "CVE-2024-1", "severity": "HIGH", "package": "openssl", "version": "3.0.2", "fixed_in": "3.0.13", "description": "...", "uri": "..."}]`; `findingSeverityCounts` are counted from them (enhanced: `UNTRIAGED` for an unrated one, basic: `UNDEFINED`). |
| `start` | `"allowed"` | StartImageScan: `allowed` (basic scanning: starts a scan once per image per 24 hours; a second, or one after a scan on push, is LimitExceededException), `disabled` (enhanced / continuous scanning: ValidationException "This feature is disabled"). |
| `timed` | none | `{"found_s": F, "complete_s": C}` (0 <= F < C, seconds; `found_s` defaults to 0): the scan moves on the clock instead of per call (see below); not with `not_found_polls` / `in_progress_polls`. |
| `images` | `{}` | Per image digest, fields that override the ones above (one platform of an index with other findings, or its own `timed`). |

**Scans on the clock.** With `timed`, an image's scan starts at its trigger and moves with time,
as ECR's own do: ScanNotFoundException until F seconds after it, the in-progress status until C,
then the final status (and `imageScanCompletedAt` is that moment). The trigger is StartImageScan
(without scan on push), or else the first scan call that names the image: a push straight to the
registry never reaches ECR's API here, and a pusher that waits for the scan asks right after its
push, so that first call stands for the push's end. The clock goes by when each call came in (the
request log's `time`). `GET /_layer/ecr/scans` lists every image's scan: `started_at`,
`completed_at` (once the clock passed it), `first_seen_at` (when the first DescribeImageScanFindings
answered with the final status came in) and `polls`: how the benchmark measures a poller's
detection delay. How long real scans take: AWS publishes no estimate
(https://github.com/aws/containers-roadmap/issues/1600 asks for one); users report an enhanced scan
on push COMPLETE after four or five looks 5 s apart (https://github.com/aws/aws-sdk/issues/289),
basic scans that took around 20 minutes on bad days
(https://github.com/alexjurkiewicz/ecr-scan-image/issues/24), and enhanced scans that seem stuck
"Scanning" past the CLI waiter's five minutes (https://github.com/aws/aws-sdk/issues/288). No
progress is shown while a scan runs: the status is all a poller sees.

Findings are paged as ECR pages them (`maxResults`, default 100; `nextToken`). Each answer is
recorded with `"scan": "<status>"` (or `"scan": "not_found"`), StartImageScan with
`"scan_started": true` or its refusal. With enhanced scanning, DescribeImageScanFindings also needs
`inspector2:ListFindings` of the caller (permissions.py enforces it: ECR reads the findings from
Inspector as the caller). `DELETE /_layer/ecr/scan` (or a reset) returns to moto's own scans.
"""

import hashlib
import threading
import time

from .dispatch import control, judge, on_reset
from .protocol import Response, aws_error

LOCK = threading.RLock()

STATUSES = ("COMPLETE", "ACTIVE", "FAILED", "UNSUPPORTED_IMAGE", "FINDINGS_UNAVAILABLE",
            "SCAN_ELIGIBILITY_EXPIRED", "LIMIT_EXCEEDED")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED", "UNTRIAGED")
DESCRIPTIONS = {
    "COMPLETE": "The scan was completed successfully.",
    "ACTIVE": "Continuous scan is selected for image.",
    "IN_PROGRESS": "The scan is in progress.",
    "PENDING": "The scan is pending.",
    "FAILED": "Scan failed due to an internal error.",
    "UNSUPPORTED_IMAGE": "UnsupportedImageError: The operating system and/or package manager are not supported.",
    "FINDINGS_UNAVAILABLE": "Findings are unavailable for this image.",
    "SCAN_ELIGIBILITY_EXPIRED": "The image is no longer eligible for continuous scanning.",
    "LIMIT_EXCEEDED": "The image exceeds the scanning limits.",
}
FIELDS = ("kind", "on_push", "not_found_polls", "in_progress_polls", "status", "description", "findings",
          "start", "timed")


@on_reset
def _reset(layer):
    with LOCK:
        layer.ecr_scan = None
        layer.ecr_scan_images = {}


def _control_error(message):
    from .layer import ControlError  # layer imports this module: import at call time

    return ControlError(400, message)


def _check(fields, where):
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise _control_error(f"{where}: unknown fields {sorted(unknown)}")
    if fields.get("kind", "basic") not in ("basic", "enhanced"):
        raise _control_error(f"{where}: kind must be basic or enhanced")
    if fields.get("status") is not None and fields["status"] not in STATUSES:
        raise _control_error(f"{where}: status must be one of {', '.join(STATUSES)}")
    if fields.get("start", "allowed") not in ("allowed", "disabled"):
        raise _control_error(f"{where}: start must be allowed or disabled")
    for key in ("not_found_polls", "in_progress_polls"):
        if not isinstance(fields.get(key, 0), int) or fields.get(key, 0) < 0:
            raise _control_error(f"{where}: {key} must be a whole number")
    for finding in fields.get("findings") or []:
        if not isinstance(finding, dict) or not finding.get("name") or finding.get("severity") not in SEVERITIES:
            raise _control_error(f"{where}: each finding needs a name and a severity of {', '.join(SEVERITIES)}")
    if fields.get("timed") is not None:
        _check_timed(fields, where)


def _check_timed(fields, where):
    timed = fields["timed"]
    if not isinstance(timed, dict) or set(timed) - {"found_s", "complete_s"}:
        raise _control_error(f"{where}: timed must be an object {{found_s, complete_s}}")
    found, complete = timed.get("found_s", 0), timed.get("complete_s")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (found, complete)):
        raise _control_error(f"{where}: timed needs complete_s (and found_s), in seconds")
    if not 0 <= found < complete:
        raise _control_error(f"{where}: timed needs 0 <= found_s < complete_s")
    if fields.get("not_found_polls") or fields.get("in_progress_polls"):
        raise _control_error(f"{where}: a timed scan moves on the clock, not per call: drop the *_polls fields")


@control("POST", "/_layer/ecr/scan")
def c_scan(layer, body, query):
    _check({k: v for k, v in body.items() if k != "images"}, "scan")
    images = body.get("images") or {}
    if not isinstance(images, dict):
        raise _control_error("images must map image digests to fields")
    for digest, fields in images.items():
        _check(fields, digest)
    with LOCK:
        layer.ecr_scan = dict(body)
        layer.ecr_scan_images = {}
    return {"scan": layer.ecr_scan}


@control("GET", "/_layer/ecr/scans")
def c_scans(layer, body, query):
    """Every image's scan so far: when it started, completed (timed scans, once the clock passed
    it) and was first answered complete."""
    now = time.time()
    with LOCK:
        states = list((getattr(layer, "ecr_scan_images", None) or {}).items())
    out = []
    for (account, repository, digest), state in states:
        completes = state.get("completes_at")
        out.append({"account": account, "repository": repository, "digest": digest, "polls": state["polls"],
                    "started_at": state.get("started_at"),
                    "completed_at": completes if completes is not None and completes <= now else None,
                    "first_seen_at": state.get("first_seen_at")})
    return {"scans": out}


@control("DELETE", "/_layer/ecr/scan")
def c_clear_scan(layer, body, query):
    with LOCK:
        layer.ecr_scan = None
        layer.ecr_scan_images = {}
    return {"scan": None}


def scenario_of(layer, digest):
    """The scan of `digest` as the scenario sets it (None: moto's own scans)."""
    with LOCK:
        scan = getattr(layer, "ecr_scan", None)
        if scan is None:
            return None
        merged = {k: v for k, v in scan.items() if k != "images"}
        merged.update((scan.get("images") or {}).get(digest) or {})
    kind = merged.get("kind", "basic")
    merged.setdefault("kind", kind)
    merged.setdefault("on_push", True)
    merged.setdefault("not_found_polls", 0)
    merged.setdefault("in_progress_polls", 0)
    merged.setdefault("status", "ACTIVE" if kind == "enhanced" else "COMPLETE")
    merged.setdefault("start", "allowed")
    merged.setdefault("findings", [])
    merged.setdefault("timed", None)
    if merged["timed"] is not None:
        merged["timed"] = {"found_s": float(merged["timed"].get("found_s", 0)),
                           "complete_s": float(merged["timed"]["complete_s"])}
    return merged


def is_enhanced(layer):
    with LOCK:
        scan = getattr(layer, "ecr_scan", None)
    return bool(scan) and scan.get("kind") == "enhanced"


def _image_digest(layer, req, repository, account):
    """The digest the request names (by digest or tag), or None when the image is unknown to
    both moto and the tests' registry."""
    from .ecr import MANIFEST_TYPES, _registry_call

    image_id = req.params.get("imageId") or {}
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    for image in repository.images:
        if (digest and image.get_image_digest() == digest) or (tag and tag in image.image_tags):
            return image.get_image_digest()
    registry = getattr(layer, "ecr_registry", None)
    if registry is None or not (digest or tag):
        return None
    status, headers, body = _registry_call(registry, "HEAD" if digest else "GET",
                                           f"/v2/{repository.name}/manifests/{digest or tag}",
                                           {"Accept": ", ".join(MANIFEST_TYPES)})
    if status != 200:
        return None
    return digest or headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()


def _target(layer, req):
    """(account, repository, digest, error response)."""
    from moto.ecr.models import ecr_backends
    from moto.iam.models import get_account_id_from

    params = req.params
    account = params.get("registryId") or get_account_id_from(req.access_key_id or "")
    name = params.get("repositoryName") or ""
    repository = ecr_backends[account][req.region or "us-east-1"].repositories.get(name)
    if repository is None:
        return account, None, None, aws_error("ecr", 400, "RepositoryNotFoundException", (
            f"The repository with name '{name}' does not exist in the registry with id '{account}'"))
    digest = _image_digest(layer, req, repository, account)
    if digest is None:
        image_id = params.get("imageId") or {}
        shown = f"{{imageDigest:'{image_id.get('imageDigest') or 'null'}', imageTag:'{image_id.get('imageTag') or 'null'}'}}"
        return account, repository, None, aws_error("ecr", 400, "ImageNotFoundException", (
            f"The image with imageId {shown} does not exist within the repository with name '{name}' "
            f"in the registry with id '{account}'"))
    return account, repository, digest, None


def _state(layer, account, name, digest, scan, now):
    """The image's scan; one on push starts with the first call that names the image (`now`: when
    that call came in)."""
    key = (account, name, digest)
    with LOCK:
        state = layer.ecr_scan_images.get(key)
        if state is None:
            state = layer.ecr_scan_images[key] = {"polls": 0, "started": False, "scans": 0}
            if scan["on_push"]:
                _start(state, scan, now)
        return state


def _start(state, scan, now):
    """The scan begins `now` (its clock, when timed)."""
    timed = scan["timed"]
    state.update(started=True, scans=1, polls=0, started_at=now,
                 completes_at=now + timed["complete_s"] if timed else None, first_seen_at=None)


def _status_now(state, scan, poll, now):
    """Where the image's scan is at this call (its `poll`-th look, come in at `now`): not_found,
    in_progress or final. A timed scan goes by when the call came in, as the request log has it."""
    if not state["started"]:
        return "not_found"
    timed = scan["timed"]
    if timed:
        elapsed = now - state["started_at"]
        if elapsed < timed["found_s"]:
            return "not_found"
        return "in_progress" if elapsed < timed["complete_s"] else "final"
    if poll <= scan["not_found_polls"]:
        return "not_found"
    return "in_progress" if poll <= scan["not_found_polls"] + scan["in_progress_polls"] else "final"


def _json(doc):
    import json

    return Response(200, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(doc))


@judge("ecr", "StartImageScan")
def _judge_start(layer, req):
    if getattr(layer, "ecr_scan", None) is None:
        return None
    account, repository, digest, refused = _target(layer, req)
    if refused:
        return refused
    scan = scenario_of(layer, digest)
    if scan["start"] == "disabled":
        req.notes["record"] = {"scan_started": False}
        return aws_error("ecr", 400, "ValidationException", "This feature is disabled")
    state = _state(layer, account, repository.name, digest, scan, req.time)
    with LOCK:
        if state["scans"] >= 1:
            req.notes["record"] = {"scan_started": False}
            return aws_error("ecr", 400, "LimitExceededException",
                             "The scan quota per image has been exceeded. Wait and try again.")
        _start(state, scan, req.time)
    req.notes["record"] = {"scan_started": True}
    status = "PENDING" if scan["kind"] == "enhanced" else "IN_PROGRESS"
    return _json({"registryId": account, "repositoryName": repository.name, "imageId": {"imageDigest": digest},
                  "imageScanStatus": {"status": status}})


@judge("ecr", "DescribeImageScanFindings")
def _judge_describe(layer, req):
    if getattr(layer, "ecr_scan", None) is None:
        return None
    account, repository, digest, refused = _target(layer, req)
    if refused:
        return refused
    scan = scenario_of(layer, digest)
    state = _state(layer, account, repository.name, digest, scan, req.time)
    with LOCK:
        state["polls"] += 1 if state["started"] else 0
        where = _status_now(state, scan, state["polls"], req.time)
        if where == "final" and state.get("first_seen_at") is None:
            state["first_seen_at"] = req.time
    base = {"registryId": account, "repositoryName": repository.name, "imageId": {"imageDigest": digest}}
    if where == "not_found":
        req.notes["record"] = {"scan": "not_found"}
        return aws_error("ecr", 400, "ScanNotFoundException", (
            f"Image scan does not exist for the image with '{{imageDigest:'{digest}', imageTag:'null'}}' "
            f"in the repository with name '{repository.name}' in the registry with id '{account}'"))
    enhanced = scan["kind"] == "enhanced"
    if where == "in_progress":
        status = "PENDING" if enhanced else "IN_PROGRESS"
        req.notes["record"] = {"scan": status}
        return _json({**base, "imageScanStatus": {"status": status, "description": DESCRIPTIONS[status]}})
    status = scan["status"]
    req.notes["record"] = {"scan": status}
    answer = {**base, "imageScanStatus": {"status": status,
                                          "description": scan.get("description") or DESCRIPTIONS[status]}}
    if status not in ("COMPLETE", "ACTIVE"):
        return _json(answer)
    findings = [(_enhanced if enhanced else _basic)(f, account, req.region or "us-east-1", repository.name, digest)
                for f in scan["findings"]]
    counts = {}
    for finding in scan["findings"]:
        severity = finding["severity"]
        if severity in ("UNDEFINED", "UNTRIAGED"):
            severity = "UNTRIAGED" if enhanced else "UNDEFINED"
        counts[severity] = counts.get(severity, 0) + 1
    size = int(req.params.get("maxResults") or 100)
    start = int(req.params.get("nextToken") or 0)
    page = findings[start:start + size]
    completed = state.get("completes_at") or time.time() - 5
    body = {"findingSeverityCounts": counts, "imageScanCompletedAt": completed,
            "vulnerabilitySourceUpdatedAt": time.time() - 3600}
    body["enhancedFindings" if enhanced else "findings"] = page
    answer["imageScanFindings"] = body
    if start + size < len(findings):
        answer["nextToken"] = str(start + size)
    return _json(answer)


def _basic(finding, account, region, repository, digest):
    attributes = [{"key": "package_name", "value": finding["package"]}] if finding.get("package") else []
    if finding.get("version"):
        attributes.insert(0, {"key": "package_version", "value": finding["version"]})
    attributes.append({"key": "CVSS2_SCORE", "value": "7.5"})
    return {"name": finding["name"], "description": finding.get("description", ""),
            "uri": finding.get("uri") or f"https://security-tracker.debian.org/tracker/{finding['name']}",
            "severity": finding["severity"] if finding["severity"] != "UNTRIAGED" else "UNDEFINED",
            "attributes": attributes}


def _enhanced(finding, account, region, repository, digest):
    now = time.time()
    package = {"name": finding.get("package") or "unknown", "version": finding.get("version") or "",
               "packageManager": "OS", "arch": "X86_64", "epoch": 0, "release": "",
               # Inspector says NotAvailable when no version fixes it.
               "fixedInVersion": finding.get("fixed_in") or "NotAvailable"}
    severity = finding["severity"] if finding["severity"] != "UNDEFINED" else "UNTRIAGED"
    return {
        "awsAccountId": account,
        "description": finding.get("description", ""),
        "findingArn": f"arn:aws:inspector2:{region}:{account}:finding/"
                      + hashlib.md5(f"{digest}{finding['name']}".encode()).hexdigest(),
        "firstObservedAt": now - 60, "lastObservedAt": now, "updatedAt": now,
        "packageVulnerabilityDetails": {
            "cvss": [], "referenceUrls": [], "relatedVulnerabilities": [], "source": "NVD",
            "sourceUrl": finding.get("uri") or f"https://nvd.nist.gov/vuln/detail/{finding['name']}",
            "vendorSeverity": severity, "vulnerabilityId": finding["name"], "vulnerablePackages": [package],
        },
        "remediation": {"recommendation": {"text": "None Provided"}},
        "resources": [{"id": f"arn:aws:ecr:{region}:{account}:repository/{repository}/{digest}",
                       "type": "AWS_ECR_CONTAINER_IMAGE",
                       "details": {"awsEcrContainerImage": {"imageHash": digest, "repositoryName": repository,
                                                            "registry": account}}}],
        "score": 7.5, "severity": severity, "status": "ACTIVE", "fixAvailable": "YES" if finding.get("fixed_in") else "NO",
        "title": f"{finding['name']} - {finding.get('package') or 'unknown'}", "type": "PACKAGE_VULNERABILITY",
    }
