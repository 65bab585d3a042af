"""What the layer needs to understand about AWS wire protocols.

- `AwsRequest`: one incoming request, with the service/action/params/access key worked out
  the way AWS would (SigV4 credential scope first; unsigned calls inferred from the body).
- `Response`: a fully buffered WSGI response, so handlers can inspect and rewrite it.
- `aws_error(...)`: an error document in the service's own protocol, so SDK clients parse
  the code and message exactly as they would from AWS.
"""

import functools
import io
import json
import re
import time
import uuid
from urllib.parse import parse_qsl

# X-Amz-Target prefixes of the JSON services the pipe talks to. Only needed for unsigned
# JSON calls: signed requests name their service in the credential scope.
TARGET_PREFIXES = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "Logs_20140328": "logs",
    "GraniteServiceVersion20100801": "cloudwatch",
    "CodeDeploy_20141006": "codedeploy",
}

# Query-protocol actions that are unsigned (no credential scope to read the service from).
UNSIGNED_QUERY_ACTIONS = {
    "AssumeRoleWithWebIdentity": "sts",
    "AssumeRoleWithSAML": "sts",
}

# Signing names that differ from the botocore/moto service name.
SIGNING_ALIASES = {"eventbridge": "events", "monitoring": "cloudwatch"}

# Services whose botocore model prefers another protocol (CloudWatch, CodeDeploy: CBOR) than the
# one the pipe and boto3 speak to them (AWS JSON 1.0 / 1.1): errors are answered in that one.
PROTOCOL_OVERRIDES = {"cloudwatch": "json", "codedeploy": "json"}

_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")


@functools.lru_cache(maxsize=None)
def service_metadata(service):
    """botocore's metadata for a service (protocol, xmlNamespace...), {} if unknown."""
    try:
        from moto.core.utils import get_service_model

        return dict(get_service_model(service).metadata)
    except Exception:
        return {}


def protocol_of(service):
    if service in PROTOCOL_OVERRIDES:
        return PROTOCOL_OVERRIDES[service]
    return service_metadata(service).get("protocol", "query") if service else "query"


class AwsRequest:
    """The parts of an AWS API request the layer judges, records and matches faults on."""

    def __init__(self, environ):
        self.environ = environ
        self.time = time.time()
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "")
        self.query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        self.content_type = environ.get("CONTENT_TYPE", "") or ""
        self.user_agent = environ.get("HTTP_USER_AGENT")
        self.body = self._read_body(environ)
        self.params = self._parse_params()

        auth = environ.get("HTTP_AUTHORIZATION", "") or ""
        m = _CREDENTIAL_RE.search(auth) or _CREDENTIAL_RE.search(
            "Credential=" + self.query.get("X-Amz-Credential", "")
        )
        self.signed = bool(m)
        self.access_key_id = m.group(1) if m else None
        self.region = m.group(3) if m else None
        scope_service = m.group(4).lower() if m else None
        self.session_token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN") or self.query.get(
            "X-Amz-Security-Token"
        )
        self.target = environ.get("HTTP_X_AMZ_TARGET")

        self.service = SIGNING_ALIASES.get(scope_service, scope_service) or self._unsigned_service()
        self.protocol = protocol_of(self.service)
        self.action = self._action()

    @staticmethod
    def _read_body(environ):
        # Read the whole body once and put it back: we judge on it, moto parses it again.
        stream = environ.get("wsgi.input")
        body = b""
        if stream is not None:
            length = environ.get("CONTENT_LENGTH")
            if length:
                try:
                    body = stream.read(int(length))
                except ValueError:
                    body = b""
            elif environ.get("wsgi.input_terminated"):
                body = stream.read()
        environ["wsgi.input"] = io.BytesIO(body)
        if body and not environ.get("CONTENT_LENGTH"):
            environ["CONTENT_LENGTH"] = str(len(body))
        return body

    def forward_json(self, doc):
        """Hand moto `doc` as the JSON body instead of what the client sent (the request log
        keeps what was sent): for answers moto gets wrong only because of how it was asked."""
        data = json.dumps(doc).encode("utf-8")
        self.environ["wsgi.input"] = io.BytesIO(data)
        self.environ["CONTENT_LENGTH"] = str(len(data))

    def _parse_params(self):
        params = dict(self.query)
        if self.body:
            text = self.body.decode("utf-8", "replace")
            if self.content_type.startswith("application/x-www-form-urlencoded"):
                params.update(parse_qsl(text, keep_blank_values=True))
            elif "json" in self.content_type:
                try:
                    doc = json.loads(text)
                    if isinstance(doc, dict):
                        params.update(doc)
                except ValueError:
                    pass
        return params

    def _unsigned_service(self):
        if self.target:
            prefix = self.target.split(".", 1)[0]
            if prefix in TARGET_PREFIXES:
                return TARGET_PREFIXES[prefix]
        action = self.params.get("Action")
        if action in UNSIGNED_QUERY_ACTIONS:
            return UNSIGNED_QUERY_ACTIONS[action]
        if self.params.get("Version") == "2011-06-15":
            return "sts"
        # Last resort: a real AWS hostname (sts.amazonaws.com, ecs.us-east-1.amazonaws.com).
        host = (self.environ.get("HTTP_HOST") or "").split(":")[0]
        if host.endswith(".amazonaws.com"):
            return host.split(".")[0]
        return None

    def _action(self):
        if "Action" in self.params and isinstance(self.params["Action"], str):
            return self.params["Action"]
        if self.target:
            return self.target.split(".")[-1]
        if self.service and self.protocol in ("rest-json", "rest-xml"):
            # Lambda & co: the operation is encoded in method + path; let moto's router
            # (built from the botocore model) name it.
            try:
                from moto.core.request import Request
                from moto.core.routing import get_service_router

                env = dict(self.environ)
                env["wsgi.input"] = io.BytesIO(self.body)
                op, uri_params = get_service_router(self.service).match(Request(env))
                # Path parameters (e.g. Lambda's FunctionName) recorded like body params.
                for name, value in uri_params.items():
                    self.params.setdefault(name, value)
                return op.name
            except Exception:
                return None
        return None


class Response:
    """A buffered WSGI response."""

    def __init__(self, status, headers=None, body=b""):
        self.status = int(status)
        self.reason = ""
        self.headers = list(headers or [])
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))

    def __call__(self, environ, start_response):
        # A HEAD answer keeps the length of the body it describes.
        if not (environ.get("REQUEST_METHOD") == "HEAD" and self.header("Content-Length")):
            self.set_header("Content-Length", str(len(self.body)))
        reason = self.reason or _REASONS.get(self.status, "")
        start_response(f"{self.status} {reason}".strip(), self.headers)
        return [self.body]

    @classmethod
    def json(cls, doc, status=200):
        return cls(status, [("Content-Type", "application/json")], json.dumps(doc))


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def call_wsgi(app, environ):
    """Run a WSGI app and buffer its response (moto's responses are small, complete documents)."""
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status
        captured["headers"] = list(headers)
        return lambda data: captured.setdefault("written", []).append(data)

    app_iter = app(environ, start_response)
    try:
        chunks = list(captured.get("written", [])) + list(app_iter)
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()
    code, _, reason = captured["status"].partition(" ")
    # The body is re-sent whole, with its own Content-Length (see Response.__call__).
    headers = [(k, v) for k, v in captured["headers"] if k.lower() != "transfer-encoding"]
    resp = Response(int(code), headers, b"".join(chunks))
    resp.reason = reason
    return resp


def xml_escape(text):
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


# Error codes whose spelling differs between the query protocol (STS, IAM) and the JSON
# protocols (ECS, ECR, Lambda): AWS's own front end uses these names.
_JSON_CODE = {
    "ExpiredToken": "ExpiredTokenException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "Throttling": "ThrottlingException",
    "AccessDenied": "AccessDeniedException",
    "InternalFailure": "InternalFailure",
}


def aws_error(service, status, code, message, sender=None):
    """An AWS error response in the protocol of `service`."""
    request_id = str(uuid.uuid4())
    protocol = protocol_of(service)
    if protocol in ("json", "rest-json"):
        code = _JSON_CODE.get(code, code)
        ctype = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
        body = json.dumps({"__type": code, "message": message})
        return Response(
            status,
            [
                ("Content-Type", ctype),
                ("x-amzn-ErrorType", code),
                ("x-amzn-RequestId", request_id),
            ],
            body,
        )
    if protocol == "rest-xml" and service == "s3":
        # S3's own error document: <Error> at the root, the request id inside it.
        body = (
            f"<Error><Code>{xml_escape(code)}</Code><Message>{xml_escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        return Response(
            status, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body
        )
    # query / rest-xml / unknown: the STS/IAM style XML error document.
    ns = service_metadata(service).get("xmlNamespace") if service else None
    if sender is None:
        sender = status < 500
    xmlns = f' xmlns="{ns}"' if ns else ""
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>{'Sender' if sender else 'Receiver'}</Type>"
        f"<Code>{xml_escape(code)}</Code><Message>{xml_escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Response(
        status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
    )


_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")


def error_code_of(resp):
    """The AWS error code a response carries (XML <Code>, JSON __type or x-amzn-ErrorType),
    so tests can assert what a refused request was refused with; None for successes."""
    if resp.status < 400:
        return None
    header = resp.header("x-amzn-ErrorType")
    if header:
        return header.split(":")[0]
    found = _XML_CODE.search(resp.body)
    if found:
        return found.group(1).decode()
    try:
        kind = json.loads(resp.body).get("__type")
    except (ValueError, AttributeError):
        return None
    return kind.rsplit("#", 1)[-1] if kind else None
