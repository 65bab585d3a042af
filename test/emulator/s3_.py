"""S3 as lambda-deploy meets it: another writer of the same key.

Two builds that upload their package to the same `S3_KEY` race: between one build's PutObject
and its UpdateFunctionCode, the other's PutObject can land, and Lambda then takes whatever the
key holds when it reads it. moto has one writer at a time, so this module adds:

- **Bucket owner condition**: an object operation carrying `x-amz-expected-bucket-owner`
  (ExpectedBucketOwner) on a bucket of another account → 403 `AccessDenied` "Access Denied", as
  S3 answers it (moto ignores the header). Recorded with its error code.

- **Replace after put** (`POST /_layer/s3/replace-after-put`): right after the next successful
  PutObject of `bucket`/`key` (any caller, any account unless `account` is given), the layer
  writes other bytes to the same key, as another build would (a new object version in a
  versioned bucket). The write is recorded in the request log after the PutObject it follows,
  as `{"service": "s3", "action": "PutObject", "user_agent": "another-build (emulator layer)",
  "synthetic": true, "params": {"Bucket", "Key", "Body": {"size", "sha256_b64"}}}`.
"""

import base64
import copy
import threading
import time

from moto.iam.models import get_account_id_from
from moto.s3.models import s3_backends

from .dispatch import after, control, judge, on_reset
from .protocol import aws_error
from .packages import payload_summary

LOCK = threading.RLock()
OTHER_WRITER = "another-build (emulator layer)"


def replacements(layer):
    pending = getattr(layer, "s3_replacements", None)
    if pending is None:
        pending = layer.s3_replacements = []
    return pending


@on_reset
def _reset(layer):
    layer.s3_replacements = []


def _control_error(status, message):
    from .layer import ControlError  # layer imports this module: import at call time

    return ControlError(status, message)


@control("POST", "/_layer/s3/replace-after-put")
def c_replace_after_put(layer, body, query):
    bucket, key = body.get("bucket"), body.get("key")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise _control_error(400, "bucket and key are required")
    if "data_b64" in body:
        data = base64.b64decode(body["data_b64"])
    elif isinstance(body.get("text"), str):
        data = body["text"].encode()
    else:
        raise _control_error(400, "the replacement is data_b64 (bytes, base64) or text")
    spec = {"bucket": bucket, "key": key, "account": body.get("account"), "data": data,
            "remaining": int(body.get("count", 1))}
    with LOCK:
        replacements(layer).append(spec)
    shown = {k: v for k, v in spec.items() if k != "data"}
    return {"replace_after_put": {**shown, "body": payload_summary(data)}}


@control("GET", "/_layer/s3/replace-after-put")
def c_pending(layer, body, query):
    with LOCK:
        return {"pending": [{**{k: v for k, v in s.items() if k != "data"}, "body": payload_summary(s["data"])}
                            for s in copy.deepcopy(replacements(layer))]}


@after("s3", "PutObject")
def _after_put(layer, req, resp):
    bucket, key = req.params.get("Bucket"), req.params.get("Key")
    account = get_account_id_from(req.access_key_id or "")
    with LOCK:
        pending = replacements(layer)
        spec = next((s for s in pending if (s["bucket"], s["key"]) == (bucket, key)
                     and s["account"] in (None, account)), None)
        if spec is None:
            return resp
        spec["remaining"] -= 1
        if spec["remaining"] <= 0:
            pending.remove(spec)
    s3_backends[account]["aws"].put_object(bucket, key, spec["data"])
    record = {"service": "s3", "action": "PutObject",
              "params": {"Bucket": bucket, "Key": key, "Body": payload_summary(spec["data"])},
              "access_key_id": None, "user_agent": OTHER_WRITER, "status": 200, "error_code": None,
              "fault": None, "time": time.time(), "method": "PUT", "path": f"/{bucket}/{key}",
              "region": req.region, "synthetic": True}
    with layer._lock:
        layer.records.append(record)
    return resp


# S3's object operations, which all take ExpectedBucketOwner (S3 User Guide, "Verifying bucket
# ownership with bucket owner condition").
OBJECT_OPERATIONS = ("PutObject", "GetObject", "HeadObject", "CreateMultipartUpload", "UploadPart",
                     "CompleteMultipartUpload", "AbortMultipartUpload", "DeleteObject", "CopyObject")


def _expected_owner(req, bucket):
    """403 AccessDenied when the request names an owner the bucket does not have; None otherwise
    (no header, or a bucket S3 will report missing itself)."""
    expected = req.environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
    if expected is None:
        return None
    req.notes["record"] = {"expected_bucket_owner": expected}
    # moto: bucket name -> (partition, account), its one namespace of buckets.
    owner = (s3_backends.bucket_accounts.get(bucket) or (None, None))[1]
    if owner is None or owner == expected:
        return None
    return aws_error("s3", 403, "AccessDenied", "Access Denied")


for _operation in OBJECT_OPERATIONS:
    judge("s3", _operation)(lambda layer, req: _expected_owner(req, req.params.get("Bucket")))
