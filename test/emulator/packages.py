"""Packages as the layer sees them in requests: summaries instead of the bytes in request
records (a `ZipFile` in Lambda calls, S3 PutObject/UploadPart bodies, aws-chunked bodies
decoded first), and what a zip unpacks to.

Imported by layer.py before any request: it patches `protocol.AwsRequest.__init__` so every
request is summarised as it is parsed. `req.unzipped_sizes` lists, for a Lambda request, the
unzipped size of each `ZipFile` it carries (None: not a zip).
"""

import base64
import hashlib
import io
import zipfile

from . import protocol


def payload_summary(raw):
    return {"size": len(raw), "sha256_b64": base64.b64encode(hashlib.sha256(raw).digest()).decode()}


def zip_summary(value, sizes=None):
    """The record of a ZipFile; `sizes` (a list) gets the package's unzipped size (None: not a zip)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return {"size": None, "sha256_b64": None, "invalid_base64_chars": len(value)}
    if sizes is not None:
        sizes.append(unzipped_size(raw))
    return payload_summary(raw)


def unzipped_size(raw):
    """The sum of the entries' uncompressed sizes (from the central directory), or None when
    the bytes are not a zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None


def decode_aws_chunked(body):
    """The payload of an `aws-chunked` body (SigV4 streaming: `<hex size>[;ext]\\r\\n<data>\\r\\n`...
    `0\\r\\n<trailers>\\r\\n`)."""
    out, i = bytearray(), 0
    while True:
        j = body.index(b"\r\n", i)
        size = int(body[i:j].split(b";", 1)[0], 16)
        i = j + 2
        if size == 0:
            return bytes(out)
        out += body[i : i + size]
        i += size + 2


def summarize_payloads(req):
    """Keep packages out of request records: a ZipFile (top level, or in Code/Content) and an
    S3 object body are replaced by {"size", "sha256_b64"} of the bytes they carry."""
    if req.service == "lambda":
        req.unzipped_sizes = []
        for holder in (req.params, req.params.get("Code"), req.params.get("Content")):
            if isinstance(holder, dict) and isinstance(holder.get("ZipFile"), str):
                holder["ZipFile"] = zip_summary(holder["ZipFile"], req.unzipped_sizes)
    elif req.service == "s3" and req.action in ("PutObject", "UploadPart") and req.body:
        raw = req.body
        encoding = req.environ.get("HTTP_CONTENT_ENCODING", "") or ""
        streaming = (req.environ.get("HTTP_X_AMZ_CONTENT_SHA256", "") or "").startswith("STREAMING-")
        if "aws-chunked" in encoding or streaming:
            try:
                raw = decode_aws_chunked(raw)
            except (ValueError, IndexError):
                pass
        req.params["Body"] = payload_summary(raw)


_layer_request_init = protocol.AwsRequest.__init__


def _request_init(self, environ):
    _layer_request_init(self, environ)
    try:
        summarize_payloads(self)
    except Exception:  # a record without a summary beats a failed request
        pass


protocol.AwsRequest.__init__ = _request_init
