"""Run moto in-process behind the test layer.

    python test/emulator/server.py --port N [--host 127.0.0.1]

Prints `emulator ready on http://HOST:PORT` on stdout once the socket is listening
(`--port 0` picks a free port; the printed line has the real one).
"""

import argparse
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
    """moto's handler, plus: after a fault dropped the connection, stop serving it.

    werkzeug calls connection_dropped() when the app raises a ConnectionError (that is
    how faults.drop_connection ends a request). Without close_connection, the keep-alive
    loop would try to read the next request from the shut-down socket.
    """

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
