"""Run the pipe's image the way Bitbucket Pipelines runs a pipe (design/bitbucket-runtime.md).

The agent's `docker run` is reproduced: the clone directory mounted at
/opt/atlassian/pipelines/agent/build and used as the working directory, the pipes' storage
mounted at the same path, the ssh folder and the docker CLI mounted read-only, the system label,
BITBUCKET_* variables, DOCKER_HOST=tcp://host.docker.internal:2375, and each pipe variable
as `--env NAME` (the value travels in the docker CLI's environment, never in its argv).

The one deviation, documented in the README: the daemon here listens on a unix socket and
nothing may leave loopback, so the container uses `--network host`,
`--add-host host.docker.internal:127.0.0.1`, and a loopback TCP forward from a free port (2375
by default; tests pass port 0, since other suites may share the machine) to the socket stands in
for the step's docker service.
"""

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from pipe import DEFAULT_TIMEOUT, Result

BUILD_DIR = "/opt/atlassian/pipelines/agent/build"
SSH_DIR = "/opt/atlassian/pipelines/agent/ssh"
DOCKER_PORT = 2375


def docker_runner(image, ssh_dir, docker_port=DOCKER_PORT):
    """A `Scenario` runner that starts `image` instead of the binary; the step's daemon is
    `tcp://host.docker.internal:<docker_port>` (a `SocketForward`)."""

    def run(env, cwd=None, outputs_dir=None, timeout=DEFAULT_TIMEOUT):
        clone_dir = Path(cwd)
        inside = lambda value: value.replace(str(clone_dir), BUILD_DIR)
        pipe_env = {name: inside(value) for name, value in env.items() if name != "PATH"}
        pipe_env["BITBUCKET_CLONE_DIR"] = BUILD_DIR
        pipe_env.setdefault("CI", "true")
        pipes_dir = clone_dir / ".bitbucket" / "pipelines" / "generated" / "pipeline" / "pipes"
        own_dir = pipes_dir / "aws-role-deploy" / "aws-role-deploy"
        own_dir.mkdir(parents=True, exist_ok=True)
        pipe_env["BITBUCKET_PIPE_STORAGE_DIR"] = inside(str(own_dir))
        argv = [
            "docker", "run", "--rm",
            f"--volume={clone_dir}:{BUILD_DIR}",
            f"--volume={ssh_dir}:{SSH_DIR}:ro",
            f"--volume={shutil.which('docker')}:/usr/local/bin/docker:ro",
            f"--volume={pipes_dir}:{inside(str(pipes_dir))}",
            f"--volume={own_dir}:{inside(str(own_dir))}",
            f"--workdir={BUILD_DIR}",
            "--label=org.bitbucket.pipelines.system=true",
            "--network=host",
            "--add-host=host.docker.internal:127.0.0.1",
            f"--env=DOCKER_HOST=tcp://host.docker.internal:{docker_port}",
        ]
        argv += [f"--env={name}" for name in sorted(pipe_env)]
        argv.append(image)
        # `--env NAME` copies the value from the docker CLI's own environment, so no value
        # (secrets included) appears in an argv. The CLI keeps talking to the local daemon.
        cli_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **pipe_env}
        if "DOCKER_HOST" in os.environ:
            cli_env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        started = time.monotonic()
        try:
            done = subprocess.run(argv, env=cli_env, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the container did not finish within {timeout}s") from None
        return Result.collect(done.returncode, done.stdout, done.stderr, outputs_dir, time.monotonic() - started, env)

    return run


class SocketForward:
    """127.0.0.1:port → the docker daemon's unix socket, for DOCKER_HOST inside the pipe."""

    def __init__(self, port=DOCKER_PORT, socket_path=None):
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        self.socket_path = socket_path or host.removeprefix("unix://")
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]  # port=0: a free one
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.socket_path)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def close(self):
        self.stopped.set()
        self.listener.close()


def _pump(source, sink):
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
