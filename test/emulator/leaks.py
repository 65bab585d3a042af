"""The secrets scanner (used by `Emulator.assert_no_secrets_in` and `pipe.Result`): every form a
secret can take in text a run leaves behind.

    find_leak(text, secrets)   -> (form, secret) or None
    encodings(secret)          -> [(form, text)]: raw, JSON-escaped, URL/form-encoded, base64
                                  (standard and URL-safe) at each of the three alignments
    secrets_in_env(env)        -> the secret values a pipe environment carries: secret variables,
                                  and the password and `user:password` of every URL in it (proxies)

A secret inside a longer base64 text (`Basic base64(user:password)`, a JSON document encoded
whole) is encoded differently depending on its offset modulo 3: each alignment is tried, and only
the characters that depend on the secret's bytes alone are looked for.
"""

import base64
import json
import re
from urllib.parse import quote, quote_plus, unquote, urlsplit

# Shorter values are not scanned: they occur in ordinary text (a 2-character ExternalId).
SHORTEST_SCANNED = 8

# Pipe variables whose values are secrets (the OIDC token is registered by the layer itself).
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_EXTERNAL_ID", "BITBUCKET_STEP_OIDC_TOKEN")
# Variables holding URLs whose user information is secret.
URL_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_ECS", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_CODEDEPLOY",
                 "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_S3", "DOCKER_HOST")


def base64_cores(raw):
    """For each offset modulo 3 at which `raw` may start inside a longer byte string, the
    characters of its base64 (standard, URL-safe) that depend on its bytes alone."""
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        bits_before, bits_end = 8 * offset, 8 * (offset + len(raw))
        first = -(-bits_before // 6)            # the first character that starts inside raw
        last = bits_end // 6                    # characters ending at or before raw's end
        core = encoded[first:last]
        for name, text in (("base64", core), ("base64url", core.replace("+", "-").replace("/", "_"))):
            cores.append((f"{name} at offset {offset}", text))
    return cores


def encodings(secret):
    """The forms a secret can take in text."""
    raw = secret.encode("utf-8")
    forms = [("raw", secret)]
    escaped = json.dumps(secret)[1:-1]
    for name, text in (("JSON-escaped", escaped), ("JSON-escaped twice", json.dumps(escaped)[1:-1]),
                       ("JSON-escaped with \\/", escaped.replace("/", "\\/"))):
        if text != secret:
            forms.append((name, text))
    for name, fn in (("url-encoded", quote), ("form-encoded", quote_plus)):
        encoded = fn(secret, safe="")
        if encoded != secret:
            forms.append((name, encoded))
            forms.append((name + " (lowercase hex)", _lower_percent(encoded)))
    forms.extend(base64_cores(raw))
    seen, unique = set(), []
    for name, text in forms:
        if text and text not in seen:
            seen.add(text)
            unique.append((name, text))
    return unique


def _lower_percent(text):
    return re.sub("%[0-9A-F]{2}", lambda match: match.group(0).lower(), text)


def find_leak(text, secrets):
    """The first (form, secret) of `secrets` found in `text`, or None."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for secret in secrets:
        if not secret or len(secret) < SHORTEST_SCANNED:
            continue
        for form, encoded in encodings(secret):
            if encoded in text:
                return form, secret
    return None


def url_secrets(url):
    """The password and the `user:password` of a URL's user information, if any."""
    try:
        parts = urlsplit(url if "://" in url else "scheme://" + url)
    except ValueError:
        return []
    found = []
    if parts.password:
        user, password = unquote(parts.username or ""), unquote(parts.password)
        found += [password, f"{user}:{password}", parts.password, f"{parts.username}:{parts.password}"]
    return found


def secrets_in_env(env):
    """Every secret the environment given to a run carries."""
    found = [env[name] for name in SECRET_VARIABLES if env.get(name)]
    for name in URL_VARIABLES:
        if env.get(name):
            found.extend(url_secrets(env[name]))
    return found
