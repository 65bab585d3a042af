"""Scripted faults: the next N matching requests fail in a chosen way instead of reaching moto.

These exist to test the pipe's retry/timeout handling. They are never used to *refuse* a
request on its merits: refusals come from evaluation (sts.py).
"""

import socket
import threading

from .protocol import Response, aws_error

KINDS = ("throttle", "access_denied", "server_error", "unavailable", "error", "drop", "hang", "garbled", "lost_answer")

# Kinds after which the request still reaches moto (and the layer's judges): it is applied, and
# only its answer is lost, as when a connection resets or times out after AWS did the work.
APPLIED_KINDS = ("lost_answer",)

# What a garbled answer carries: a value a client must never print (an answer's body can hold
# environment values), in a body that is cut off halfway.
GARBLED_SECRET = "garbled-body-secret-7d3f9a1c"


class ConnectionDropped(ConnectionAbortedError):
    """Raised after the socket was shut down; werkzeug treats a ConnectionError as a
    client-side drop and writes nothing further (see LayerRequestHandler in server.py)."""


class Fault:
    def __init__(self, spec):
        self.kind = spec.get("fault")
        if self.kind not in KINDS:
            raise ValueError(f"fault must be one of {KINDS}")
        self.service = spec.get("service") or "*"
        self.action = spec.get("action") or "*"
        self.count = int(spec.get("count", 1))
        # Let this many matching requests through first: to fault a call in the middle of a
        # sequence (a poll during a wait) rather than the first one.
        self.skip = int(spec.get("skip", 0))
        self.hang_seconds = float(spec.get("hang_seconds", 30))
        # For kind "error": any error document the service could send.
        self.status = int(spec.get("status", 400))
        self.code = spec.get("code", "ValidationException")
        self.message = spec.get("message", "Injected error")

    def matches(self, req):
        return (self.service in ("*", req.service)) and (self.action in ("*", req.action))

    def describe(self):
        return {
            "service": self.service,
            "action": self.action,
            "fault": self.kind,
            "remaining": self.count,
            "skip": self.skip,
        }


class FaultQueue:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []
        # Set on reset/clear so requests held by "hang" let go at once instead of keeping
        # server threads busy into the next test.
        self._release = threading.Event()

    def add(self, spec):
        fault = Fault(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._faults = []
            self._release.set()
            self._release = threading.Event()

    def list(self):
        with self._lock:
            return [f.describe() for f in self._faults]

    def take(self, req):
        """Consume one use of the first fault matching `req`, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and fault.matches(req):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None, None
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault, self._release
        return None, None


# Services whose throttling error is not the generic 400 Throttling(Exception).
THROTTLE_BY_SERVICE = {"lambda": (429, "TooManyRequestsException"), "s3": (503, "SlowDown")}


def error_response(fault, req):
    """The response for the error-document faults (throttle, access_denied, ...)."""
    s = req.service
    if fault.kind == "throttle":
        status, code = THROTTLE_BY_SERVICE.get(s, (400, "Throttling"))
        return aws_error(s, status, code, "Rate exceeded")
    if fault.kind == "access_denied":
        return aws_error(
            s, 403, "AccessDenied", f"User is not authorized to perform: {s}:{req.action}"
        )
    if fault.kind == "server_error":
        return aws_error(s, 500, "InternalFailure", "An internal error occurred", sender=False)
    if fault.kind == "unavailable":
        return aws_error(s, 503, "ServiceUnavailable", "Service is unavailable", sender=False)
    if fault.kind == "error":
        return aws_error(s, fault.status, fault.code, fault.message)
    if fault.kind == "garbled":
        # A 200 whose body is cut off (a proxy, a broken connection): the client cannot parse it.
        body = '{"services": [{"serviceName": "web", "environment": "' + GARBLED_SECRET + '", "deploym'
        return Response(200, [("Content-Type", "application/x-amz-json-1.1"),
                              ("x-amzn-RequestId", "garbled-request-1")], body)
    return None


def drop_connection(environ):
    """Close the TCP connection without sending a byte of response.

    shutdown() acts on the descriptor at once (werkzeug still holds file objects on the
    socket, so close() alone would not) and sends FIN: the client reads EOF where a status
    line should be, i.e. "connection closed without response".
    """
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client already went away (e.g. it timed out during a hang)
    raise ConnectionDropped("dropped by fault injection")


def hang_then_drop(environ, seconds, release):
    release.wait(seconds)
    drop_connection(environ)
