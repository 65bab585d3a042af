"""Run moto in-process behind the test layer.

    python test/emulator/server.py --port N [--host 127.0.0.1]

Prints `emulator ready on http://HOST:PORT` on stdout once the socket is listening
(`--port 0` picks a free port; the printed line has the real one).

Connections stay open between requests (HTTP/1.1 keep-alive), as AWS's endpoints keep them: the
AWS SDKs pool and reuse them by default ("the AWS SDK for JavaScript reuses TCP connections by
default", https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/node-reusing-connections.html;
https://aws.amazon.com/blogs/developer/http-keep-alive-is-on-by-default-in-modular-aws-sdk-for-javascript/).
werkzeug's development server closes every connection (it cannot tell where an unread request
body ends); this handler reads each body whole before the app runs, so the next request line is
always where the socket stands. Each request's connection number goes into the request log
(`"connection"`), so a test or the benchmark can count the connections a client opened. How long
AWS keeps an idle connection open is not modelled (unverified: no public figure found); here it
stays open until the client closes it.
"""

import argparse
import io
import itertools
import os
import sys

# Runnable as a script: make `emulator` importable as a package from test/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# moto would otherwise put every request in this one account; the layer relies on moto
# choosing the account from the caller's access key (assumed-role keys live in the role's
# account), as AWS does.
os.environ.pop("MOTO_ACCOUNT_ID", None)

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from emulator.layer import Layer  # noqa: E402


class LayerRequestHandler(MotoRequestHandler):
    """moto's handler, plus keep-alive (see the module docstring) and: after a fault dropped
    the connection, stop serving it.

    werkzeug calls connection_dropped() when the app raises a ConnectionError (that is
    how faults.drop_connection ends a request). Without close_connection, the keep-alive
    loop would try to read the next request from the shut-down socket.
    """

    protocol_version = "HTTP/1.1"
    # Answers go out in several writes (status and headers, then the body); with Nagle on, each
    # later write waits for the client's delayed ACK (~40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True
    _numbers = itertools.count(1)

    def setup(self):
        super().setup()
        self.connection_number = next(self._numbers)

    def make_environ(self):
        environ = super().make_environ()
        environ["emulator.connection"] = self.connection_number
        if environ.get("wsgi.input_terminated"):
            # A chunked body: read it here too, and close afterwards (a trailer after the last
            # chunk would otherwise be read as the next request line). AWS SDKs send JSON and
            # query calls with a Content-Length.
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read())
            self.close_connection = True
            return environ
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            self.close_connection = True
            return environ
        environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length > 0 else b"")
        # werkzeug reads whatever else the socket has after answering (it expects to close):
        # that would be the next request. The body is read; give it nothing until run_wsgi ends.
        self.rfile = io.BytesIO()
        return environ

    def run_wsgi(self):
        socket_reader = self.rfile
        try:
            super().run_wsgi()
        finally:
            self.rfile = socket_reader

    def send_header(self, keyword, value):
        # werkzeug adds `Connection: close` to every answer; keep the connection unless the
        # client asked to close it or this handler decided to (both set close_connection).
        if keyword.lower() == "connection" and value.lower() == "close" and not self.close_connection:
            return
        super().send_header(keyword, value)

    def connection_dropped(self, error, environ=None):
        self.close_connection = True

    def log_request(self, code="-", size="-"):
        if not os.environ.get("EMULATOR_QUIET"):
            super().log_request(code, size)


def build_app():
    moto_app = DomainDispatcherApplication(create_backend_app)
    return Layer(moto_app)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.host != "127.0.0.1":
        parser.error("the emulator only listens on 127.0.0.1")

    server = make_server(
        args.host, args.port, build_app(), threaded=True, request_handler=LayerRequestHandler
    )
    # Threads must not keep the process alive when the test session kills the server.
    server.daemon_threads = True
    print(f"emulator ready on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
