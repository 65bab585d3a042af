"""The WSGI middleware in front of moto.

Every request passes through `Layer.__call__`:

    /_layer/...   -> our control API (JSON), never forwarded, never recorded
    /moto-api/... -> moto's own API, untouched
    anything else -> an AWS API call:
        1. parse it (service, action, params, access key)       protocol.AwsRequest
        2. record it (token redacted)                            self.records
        3. scripted fault?  answer with it / drop / hang         faults.py
        4. credentials check for keys this layer issued          expiry, session token
        5. judge (service, action) -> refuse, or let moto answer dispatch.JUDGES (sts.py, ecs.py)
        6. moto answers; after-handler may rewrite a 2xx        dispatch.AFTERS
        7. every secret in the response is remembered            self.secrets
"""

import json
import re
import sys
import threading
import time
import traceback
from urllib.parse import parse_qsl

from . import (  # noqa: F401  (modules register their handlers on import)
    backends,
    cloudwatch,
    codedeploy,
    codedeploy_reads,
    ecr,
    ecr_scan,
    ecs,
    ecs_service_deployments,
    ecs_service_revisions,
    lambda_,
    lambda_provisioned,
    lambda_versions,
    packages,
    permissions,
    s3_,
    sts,
)
from .dispatch import AFTERS, CONTROLS, JUDGES, RESETS
from .faults import APPLIED_KINDS, FaultQueue, drop_connection, error_response, hang_then_drop
from .oidc import TestIssuer
from .policy import UnsupportedCondition
from .protocol import AwsRequest, Response, aws_error, call_wsgi, error_code_of

# Request parameters never stored in the request log: they are credentials.
REDACTED_PARAMS = {"WebIdentityToken", "SAMLAssertion"}

# Secret values in responses, XML (STS, IAM) or JSON (ECR, later services) alike.
SECRET_PATTERNS = [
    re.compile(r"<(SecretAccessKey|SessionToken)>([^<]+)</\1>"),
    re.compile(
        r'"(secretAccessKey|SecretAccessKey|sessionToken|SessionToken|authorizationToken)"\s*:\s*"([^"]+)"'
    ),
]


# Requests whose documents carry environment entries, and the names that mark a secret one.
ENVIRONMENT_CARRIERS = {
    ("ecs", "RegisterTaskDefinition"),
    ("lambda", "CreateFunction"),
    ("lambda", "UpdateFunctionConfiguration"),
}
SECRET_NAME = re.compile(r"(?i)password|secret|token|api_?key|credential|private")


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Layer:
    def __init__(self, moto_app):
        self.moto_app = moto_app
        self.issuer = TestIssuer()  # keys survive reset
        self.faults = FaultQueue()
        self._lock = threading.RLock()
        self._reset_state()
        self.control_routes = {
            ("POST", "/_layer/reset"): self.c_reset,
            ("GET", "/_layer/health"): lambda body, q: {"ok": True},
            ("POST", "/_layer/oidc/token"): self.c_mint_token,
            ("GET", "/_layer/oidc/jwks"): lambda body, q: self.issuer.jwks(),
            ("POST", "/_layer/iam/oidc-provider"): self.c_oidc_provider,
            ("POST", "/_layer/iam/role"): self.c_role,
            ("POST", "/_layer/iam/user"): self.c_user,
            ("POST", "/_layer/faults"): self.c_add_fault,
            ("GET", "/_layer/faults"): lambda body, q: {"faults": self.faults.list()},
            ("DELETE", "/_layer/faults"): self.c_clear_faults,
            ("GET", "/_layer/requests"): self.c_requests,
            ("GET", "/_layer/secrets"): self.c_secrets,
            ("POST", "/_layer/credentials"): self.c_set_credentials,
            ("GET", "/_layer/credentials"): self.c_get_credentials,
        }
        # Endpoints of per-service modules (ecs.py...): fn(layer, body, query).
        for route, fn in CONTROLS.items():
            self.control_routes[route] = lambda body, q, fn=fn: fn(self, body, q)

    # ------------------------------------------------------------------ state

    def _reset_state(self):
        with self._lock:
            self.records = []
            self._secrets = {}  # insertion-ordered set
            self._issued = {}  # access key id -> dict (see sts._register_session)
            self.lifetime_seconds = None
            for hook in RESETS:
                hook(self)

    def add_secret(self, value):
        if value:
            with self._lock:
                self._secrets[value] = None

    def register_key(self, info):
        with self._lock:
            self._issued[info["access_key_id"]] = info
        self.add_secret(info.get("session_token"))

    def issued_key(self, access_key_id):
        with self._lock:
            return self._issued.get(access_key_id)

    # ------------------------------------------------------------------ WSGI entry

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_layer/") or path == "/_layer":
            return self.control(environ)(environ, start_response)
        if path.startswith("/moto-api"):
            return self.moto_app(environ, start_response)
        return self.aws(environ)(environ, start_response)

    def aws(self, environ):
        req = AwsRequest(environ)
        req.notes = {}
        params = {k: ("<redacted>" if k in REDACTED_PARAMS else v) for k, v in req.params.items()}
        record = {
            "service": req.service,
            "action": req.action,
            "params": params,
            "access_key_id": req.access_key_id,
            "user_agent": req.user_agent,
            "status": None,
            "error_code": None,
            "fault": None,
            "time": req.time,
            "method": req.method,
            "path": req.path,
            "region": req.region,
            # Which TCP connection (numbered by the server, server.py) carried the request.
            "connection": environ.get("emulator.connection"),
        }
        with self._lock:
            self.records.append(record)

        fault, release = self.faults.take(req)
        if fault is not None:
            record["fault"] = fault.kind
        if fault is not None and fault.kind not in APPLIED_KINDS:
            if fault.kind == "drop":
                drop_connection(environ)  # raises; nothing is sent
            if fault.kind == "hang":
                hang_then_drop(environ, fault.hang_seconds, release)
            resp = error_response(fault, req)
            record["status"], record["error_code"] = resp.status, error_code_of(resp)
            return resp

        try:
            resp = self.check_credentials(req)
            if resp is None:
                resp = self.check_permissions(req)
            if resp is None:
                judge = JUDGES.get((req.service, req.action))
                resp = judge(self, req) if judge else None
            if resp is None:
                resp = call_wsgi(self.moto_app, environ)
                handler = AFTERS.get((req.service, req.action))
                if handler and 200 <= resp.status < 300:
                    resp = handler(self, req, resp)
        except UnsupportedCondition as e:
            resp = aws_error(
                req.service, 500, "InternalFailure",
                f"emulator layer: unsupported condition operator {e} in trust policy",
            )
        except Exception:
            traceback.print_exc()
            resp = aws_error(
                req.service, 500, "InternalFailure",
                "emulator layer error: " + traceback.format_exc(limit=1).strip().splitlines()[-1],
            )
        self.collect_secrets(resp)
        self.collect_environment_secrets(req)
        record["status"], record["error_code"] = resp.status, error_code_of(resp)
        # What a scenario did to this answer (a stale read, say), for tests to see in the log.
        record.update(req.notes.get("record") or {})
        # The emulator's own share of a request, which the benchmark takes out of a tool's time.
        record["handled_ms"] = (time.time() - req.time) * 1000
        if fault is not None and fault.kind == "lost_answer":
            # Applied (moto and the scenario modules have done it all), then the connection is
            # shut before the answer: the record keeps the status the client never saw.
            record["answer_lost"] = True
            drop_connection(environ)
        return resp

    def check_credentials(self, req):
        """For keys this layer issued: the session token must come along, and not expired."""
        info = self.issued_key(req.access_key_id) if req.access_key_id else None
        if info is None:
            return None
        if req.session_token != info.get("session_token"):
            return aws_error(
                req.service, 403, "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        if time.time() >= info["expiration"]:
            # 403 (the Common Errors pages; aws-sdk-java-v2#1649 for STS, cfn-sphere#55 for IAM);
            # S3 answers its ExpiredToken with 400.
            return aws_error(
                req.service, 400 if req.service == "s3" else 403, "ExpiredToken",
                "The security token included in the request is expired",
            )
        return None

    def check_permissions(self, req):
        """A role with an enforced permissions policy (permissions.py) is refused what the
        policy does not allow, as IAM refuses it."""
        info = self.issued_key(req.access_key_id) if req.access_key_id else None
        if info is None:
            return None
        refused = permissions.enforce(self, req, info)
        if refused is None:
            return None
        action, resource = refused
        if req.service == "lambda" and action.startswith("s3:"):
            # Lambda's own words when it cannot read the code object as the caller.
            return aws_error(
                req.service, 403, "AccessDeniedException",
                f"Your access has been denied by S3, please make sure your request credentials have "
                f"permission to GetObject for {resource.split(':::', 1)[-1]}. S3 Error Code: AccessDenied. "
                f"S3 Error Message: Access Denied",
            )
        code = "AccessDenied" if req.service in ("sts", "s3", "iam") else "AccessDeniedException"
        return aws_error(
            req.service, 403, code,
            f"User: {info['arn']} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action",
        )

    def collect_environment_secrets(self, req):
        """Values of secret-looking environment entries in the documents clients send (task
        definitions, function configurations) join the secrets a client must never print."""
        def walk(value):
            if isinstance(value, dict):
                name, item = value.get("name"), value.get("value")
                if isinstance(name, str) and isinstance(item, str) and SECRET_NAME.search(name):
                    self.add_secret(item)
                variables = value.get("Variables")
                if isinstance(variables, dict):
                    for key, item in variables.items():
                        if isinstance(item, str) and SECRET_NAME.search(key):
                            self.add_secret(item)
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        if (req.service, req.action) in ENVIRONMENT_CARRIERS:
            walk(req.params)

    def collect_secrets(self, resp):
        text = resp.body.decode("utf-8", "replace")
        for pattern in SECRET_PATTERNS:
            for m in pattern.finditer(text):
                self.add_secret(m.group(2))

    # ------------------------------------------------------------------ control API

    def control(self, environ):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "").rstrip("/")
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        route = self.control_routes.get((method, path))
        if route is None:  # "/_layer/x/*" routes: the rest of the path is query["*"]
            for (m, p), fn in self.control_routes.items():
                if m == method and p.endswith("/*") and path.startswith(p[:-1]) and len(path) > len(p) - 1:
                    route, query["*"] = fn, path[len(p) - 1 :]
                    break
        if route is None:
            known = sorted({p for m, p in self.control_routes if p == path})
            status = 405 if known else 404
            return Response.json({"error": f"no control endpoint {method} {path}"}, status)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ControlError(400, "body must be a JSON object")
            return Response.json(route(body, query))
        except ControlError as e:
            return Response.json({"error": str(e)}, e.status)
        except (KeyError, ValueError, TypeError) as e:
            return Response.json({"error": f"bad request: {e!r}"}, 400)
        except Exception as e:  # moto model errors, e.g. EntityAlreadyExists
            traceback.print_exc(file=sys.stderr)
            return Response.json({"error": f"{type(e).__name__}: {e}"}, 409)

    def c_reset(self, body, query):
        backends.reset_moto()
        self.faults.clear()
        self._reset_state()
        return {"status": "ok"}

    def c_mint_token(self, body, query):
        claims = body["claims"]
        if not isinstance(claims, dict):
            raise ControlError(400, "claims must be an object")
        token = self.issuer.mint(claims, key=body.get("key", "trusted"), kid=body.get("kid"))
        self.add_secret(token)
        return {"token": token}

    def c_oidc_provider(self, body, query):
        client_ids = body.get("client_ids") or []
        if isinstance(client_ids, str):
            client_ids = [client_ids]
        arn = backends.create_oidc_provider(
            body["account"], body["url"], client_ids, body.get("thumbprints")
        )
        return {"arn": arn}

    def c_role(self, body, query):
        max_session = int(body.get("max_session_duration", 3600))
        if not 3600 <= max_session <= 43200:
            raise ControlError(400, "max_session_duration must be between 3600 and 43200 (as IAM)")
        arn = backends.create_role(
            body["account"], body["name"], body["trust_policy"], max_session, body.get("path", "/")
        )
        return {"arn": arn}

    def c_user(self, body, query):
        arn, key_id, secret = backends.create_user_with_key(body["account"], body["name"])
        self.add_secret(secret)
        return {"arn": arn, "access_key_id": key_id, "secret_access_key": secret}

    def c_add_fault(self, body, query):
        try:
            fault = self.faults.add(body)
        except ValueError as e:
            raise ControlError(400, str(e))
        return {"fault": fault.describe()}

    def c_clear_faults(self, body, query):
        self.faults.clear()
        return {"status": "ok"}

    def c_requests(self, body, query):
        with self._lock:
            records = [dict(r) for r in self.records]
        if query.get("service"):
            records = [r for r in records if r["service"] == query["service"]]
        if query.get("action"):
            records = [r for r in records if r["action"] == query["action"]]
        return {"requests": records}

    def c_secrets(self, body, query):
        with self._lock:
            return {"secrets": list(self._secrets)}

    def c_set_credentials(self, body, query):
        lifetime = body.get("lifetime_seconds")
        if lifetime is not None:
            lifetime = int(lifetime)
            if lifetime < 0:
                raise ControlError(400, "lifetime_seconds must be >= 0")
        with self._lock:
            self.lifetime_seconds = lifetime
        return {"lifetime_seconds": lifetime}

    def c_get_credentials(self, body, query):
        with self._lock:
            issued = [
                {k: v for k, v in info.items() if k != "session_token"}
                for info in self._issued.values()
            ]
            return {"lifetime_seconds": self.lifetime_seconds, "issued": issued}
