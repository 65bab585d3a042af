"""The emulator keeps connections alive as AWS does (test/emulator/server.py), and says in its
request log which connection carried each request: so the benchmark's per-call cost is not TCP
set-up that real AWS never charges, and the pipe's reuse of its connections can be seen.
"""

import socket
from urllib.parse import urlparse

from emulator.ecs_scenario import ecs_fixture

BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
# Signed in form only: moto reads the key from the Authorization header and checks nothing else.
AUTHORIZATION = (b"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/sts/aws4_request, "
                 b"SignedHeaders=host, Signature=0")


def connect(emulator):
    url = urlparse(emulator.base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    return sock, sock.makefile("rb")


def request(path=b"/", body=BODY, extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: sts.amazonaws.com\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nAuthorization: " + AUTHORIZATION + b"\r\n"
            + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def read_answer(reader):
    """(status, headers with lower-case names, body) of one answer; status None at EOF."""
    status_line = reader.readline()
    if not status_line:
        return None, {}, b""
    headers = {}
    for line in iter(reader.readline, b"\r\n"):
        name, value = line.decode().split(":", 1)
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", 0)))
    return int(status_line.split()[1]), headers, body


def test_requests_on_one_connection_are_answered_on_it_and_logged_with_its_number(emulator):
    sock, reader = connect(emulator)
    with sock:
        answers = []
        for _ in range(3):
            sock.sendall(request())
            answers.append(read_answer(reader))
    other, other_reader = connect(emulator)
    with other:
        other.sendall(request())
        read_answer(other_reader)

    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert all(b"GetCallerIdentityResponse" in body for _, _, body in answers)
    assert all(headers.get("connection") != "close" for _, headers, _ in answers), answers
    numbers = [record["connection"] for record in emulator.requests(action="GetCallerIdentity")]
    assert len(numbers) == 4
    assert numbers[0] == numbers[1] == numbers[2] != numbers[3], numbers


def test_a_body_the_server_leaves_unread_is_not_taken_for_the_next_request(emulator):
    sock, reader = connect(emulator)
    with sock:
        # An unknown control endpoint answers 404 without reading the body it was sent.
        sock.sendall(request(path=b"/_layer/no-such-endpoint", body=b"GET / HTTP/1.1\r\n\r\n" * 50))
        status, _, _ = read_answer(reader)
        sock.sendall(request())
        after, _, body = read_answer(reader)

    assert status == 404
    assert after == 200 and b"GetCallerIdentityResponse" in body
    assert len(emulator.requests()) == 1


def test_a_client_asking_to_close_has_its_connection_closed(emulator):
    sock, reader = connect(emulator)
    with sock:
        sock.sendall(request(extra=b"Connection: close\r\n"))
        status, headers, _ = read_answer(reader)
        assert (status, headers.get("connection")) == (200, "close")
        assert reader.read() == b""  # EOF


def test_a_dropped_request_closes_its_connection_and_the_next_one_opens_another(emulator):
    emulator.add_fault("drop", service="sts", action="GetCallerIdentity")
    sock, reader = connect(emulator)
    with sock:
        sock.sendall(request())
        assert read_answer(reader)[0] is None  # closed without an answer
    again, again_reader = connect(emulator)
    with again:
        again.sendall(request())
        assert read_answer(again_reader)[0] == 200

    first, second = emulator.requests(action="GetCallerIdentity")
    assert first["fault"] == "drop" and second["fault"] is None
    assert first["connection"] != second["connection"]


def test_the_pipe_makes_its_calls_on_one_kept_alive_connection_per_endpoint(emulator, scenario):
    ecs_fixture(emulator, cluster="prod", services=["web"])
    emulator.ecs_rollout("prod", "web", "complete", polls=1)

    result = scenario.run(ACTION="ecs-deploy", CLUSTER_NAME="prod", SERVICE_NAME="web", IMAGE="repo/app:2",
                          CONTAINER_NAME="app")

    assert result.code == 0, result
    ours = [record for record in emulator.requests() if "aws-role-deploy" in (record["user_agent"] or "")]
    ecs_calls = [record for record in ours if record["service"] == "ecs"]
    assert len(ecs_calls) >= 4, [record["action"] for record in ours]
    # The SDK clients share one HTTP client (src/aws/http_client.rs), so one pool: STS and ECS
    # behind the same endpoint (here the emulator) take turns on one connection, every call after
    # the first reusing it. On AWS they are different hosts, a connection each.
    assert len({record["connection"] for record in ours}) == 1, [(r["action"], r["connection"]) for r in ours]
