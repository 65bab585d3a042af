"""The secrets scanner (emulator/leaks.py) on planted leaks: each form a secret can take in a
run's output is caught, and ordinary text is not taken for one."""

import base64
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from emulator.leaks import base64_cores, encodings, find_leak, secrets_in_env
from pipe import Result

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY=key"
# A value JSON escapes (a quote, a backslash): only its escaped form is in a JSON document.
QUOTED = 'se"cr\\et-value/with+quote'
PASSWORD = "pr0xy-p@ss/w:rd"


def b64_inside(prefix, secret, suffix=b"", urlsafe=False):
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(prefix + secret.encode() + suffix).decode()


@pytest.mark.parametrize("planted, form", [
    (f"key={SECRET}", "raw"),
    ("body: " + json.dumps({"secret": QUOTED}), "JSON-escaped"),
    ("twice: " + json.dumps(json.dumps({"secret": QUOTED})), "JSON-escaped twice"),
    ("slashes: " + json.dumps(QUOTED).replace("/", "\\/"), "JSON-escaped with \\/"),
    ("url: https://x/?k=" + quote(SECRET, safe=""), "url-encoded"),
    ("form: k=" + quote_plus(SECRET, safe=""), "form-encoded"),
    ("lower: k=" + re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SECRET, safe="")), "url-encoded"),
    # base64 of a longer text holding the secret, at each of the three alignments, padded or
    # not, followed by other bytes, standard and URL-safe.
    ("Basic " + b64_inside(b"", SECRET), "base64 at offset 0"),
    ("Basic " + b64_inside(b"u", SECRET, b"!"), "base64 at offset 1"),
    ("Basic " + b64_inside(b"us", SECRET, b"!!"), "base64 at offset 2"),
    ("doc " + b64_inside(b'{"user": "ci", "password": "', SECRET, b'"}'), "base64 at offset"),
    ("doc " + b64_inside(b"ab", SECRET, b"tail", urlsafe=True), "base64url at offset"),
])
def test_each_form_of_a_planted_secret_is_caught(planted, form):
    text = f"INFO: something\n{planted}\nINFO: more"
    if form != "raw":
        assert SECRET not in text and QUOTED not in text, "planted as it is: not the form under test"
    leak = find_leak(text, [SECRET, QUOTED])
    assert leak is not None, f"{form} not caught in {planted!r}"


def test_every_alignment_has_its_own_core():
    cores = dict(base64_cores(SECRET.encode()))
    assert len({cores[f"base64 at offset {k}"] for k in range(3)}) == 3
    for offset in range(3):
        for prefix in (b"", b"xyz", b"abcdef"):
            text = base64.b64encode(prefix[:len(prefix) - len(prefix) % 3] + b"\0" * offset + SECRET.encode()).decode()
            assert cores[f"base64 at offset {offset}"] in text


def test_proxy_and_registry_passwords_and_user_password_forms_are_secrets():
    env = {
        "HTTPS_PROXY": f"http://deploy:{quote(PASSWORD, safe='')}@proxy.internal:3128",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "PATH": "/usr/bin",
    }
    found = secrets_in_env(env)
    assert PASSWORD in found and f"deploy:{PASSWORD}" in found and SECRET in found
    # A proxy's Basic credentials, as a client would send or print them.
    basic = base64.b64encode(f"deploy:{PASSWORD}".encode()).decode()
    assert find_leak(f"Proxy-Authorization: Basic {basic}", found)
    assert find_leak(f"proxy password {PASSWORD}", found)
    # The registry password, inside ECR's authorizationToken form (base64 of AWS:password).
    registry_password = "eyJwYXlsb2FkIjoi-registry-password"
    token = base64.b64encode(f"AWS:{registry_password}".encode()).decode()
    assert find_leak(f"Authorization: Basic {token}", [registry_password])


def test_ordinary_text_is_not_a_leak_and_short_values_are_not_scanned():
    text = "INFO: Authenticated as arn:aws:sts::222222222222:assumed-role/target/x in account 222222222222"
    assert find_leak(text, [SECRET, PASSWORD]) is None
    assert find_leak(text, ["22"]) is None
    for _, encoded in encodings(SECRET):
        assert len(encoded) >= 8


def test_every_result_is_scanned_also_when_built_from_a_signalled_run():
    env = {"AWS_SECRET_ACCESS_KEY": SECRET}
    with pytest.raises(AssertionError, match="secret leaked"):
        Result.collect(143, b"", "leaked " + json.dumps(SECRET) + "\n✖ Cancelled (SIGTERM)\n", env=env)
    Result.collect(143, b"", b"\xe2\x9c\x96 Cancelled (SIGTERM)\n", env=env)
