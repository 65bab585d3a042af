"""A fake Bitbucket Pipelines authentication proxy in front of a fake Code Insights API, started by
the tests on loopback: it takes what the pipe sends as an HTTP proxy would (requests in absolute
form, `PUT http://api.bitbucket.org/2.0/... HTTP/1.1`), records every request, and answers as
Bitbucket's reports API does (200 with the stored report or annotations), or with the status a
test scripts (`answer_with(403)`), or not at all for a while (`delay`).

    with FakeInsightsProxy() as proxy:          # a free port on 127.0.0.1
        env["AWS_ROLE_DEPLOY_TEST_INSIGHTS_PROXY"] = proxy.address
        ...
        proxy.requests    # [{"method", "url", "path", "headers", "body"}]
        proxy.reports     # {report id: the last report body PUT}
        proxy.annotations # {report id: [annotation, ...]} in the order received

The reports API (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-reports/):
PUT .../commit/<commit>/reports/<id> creates or replaces a report; POST .../annotations adds up to
100 annotations per request, 1000 per report (more: 400).
"""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = "http://api.bitbucket.org"
REPORT = re.compile(r"^/2\.0/repositories/([^/]+)/([^/]+)/commit/([^/]+)/reports/([^/]+)(/annotations)?$")
TEST_PROXY_VARIABLE = "AWS_ROLE_DEPLOY_TEST_INSIGHTS_PROXY"


class FakeInsightsProxy:
    def __init__(self, port=0, host="127.0.0.1"):
        self.requests = []
        self.reports = {}
        self.annotations = {}
        self.status = None
        self.delay = 0.0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_PUT(self):
                fake.handle(self)

            def do_POST(self):
                fake.handle(self)

            def do_GET(self):
                fake.handle(self)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def answer_with(self, status):
        """Answer every request with `status` (None: as the API would)."""
        self.status = status

    def handle(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        url = handler.path
        path = url[len(API):] if url.startswith(API) else url
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self.lock:
            self.requests.append({
                "method": handler.command, "url": url, "path": path,
                "headers": {name.lower(): value for name, value in handler.headers.items()},
                "body": body, "raw": raw.decode("utf-8", "replace"),
            })
        if self.delay:
            time.sleep(self.delay)
        status, answer = self.answer(handler.command, url, path, body)
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def answer(self, method, url, path, body):
        if self.status is not None:
            return self.status, {"type": "error", "error": {"message": f"scripted answer {self.status}"}}
        match = REPORT.match(path)
        # A proxy is asked for absolute URLs; anything else is not what the pipe should send.
        if not url.startswith(API + "/") or not match:
            return 400, {"type": "error", "error": {"message": f"unexpected request {method} {url}"}}
        report_id, annotations = match.group(4), match.group(5)
        with self.lock:
            if method == "PUT" and not annotations:
                self.reports[report_id] = body
                # Replacing a report drops its annotations, as the API does.
                self.annotations[report_id] = []
                return 200, {"type": "report", "external_id": report_id, **(body or {})}
            if method == "POST" and annotations:
                if report_id not in self.reports:
                    return 404, {"type": "error", "error": {"message": "report not found"}}
                if not isinstance(body, list) or len(body) > 100:
                    return 400, {"type": "error", "error": {"message": "up to 100 annotations per request"}}
                stored = self.annotations.setdefault(report_id, [])
                if len(stored) + len(body) > 1000:
                    return 400, {"type": "error", "error": {"message": "a report holds up to 1000 annotations"}}
                stored.extend(body)
                return 200, [{"type": "report_annotation", **annotation} for annotation in body]
        return 405, {"type": "error", "error": {"message": f"{method} not supported here"}}

    def text(self):
        """Everything received, as text, for the secrets scanner."""
        with self.lock:
            return "\n".join(
                f"{r['method']} {r['url']}\n{json.dumps(r['headers'])}\n{r['raw']}" for r in self.requests
            )
