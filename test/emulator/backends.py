"""Direct, in-process access to moto's models.

The layer runs in moto's own process, so scenario setup and STS judging read and write
moto's backends directly instead of going through its HTTP API. That is what lets a test
create resources in any account (moto picks the account from the caller's access key, and
a test has no keys yet when it sets up) and lets STS judging read the trust policy and the
OIDC providers of the role's account.
"""

import json
import re

from moto.iam.models import iam_backends

PARTITION = "aws"
REGION = "us-east-1"
ACCOUNT_RE = re.compile(r"^\d{12}$")
ROLE_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)$")


def iam(account):
    if not ACCOUNT_RE.match(str(account)):
        raise ValueError(f"account must be 12 digits, got {account!r}")
    return iam_backends[str(account)][PARTITION]


def reset_moto():
    """moto's own reset (what POST /moto-api/reset does)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def create_oidc_provider(account, url, client_ids, thumbprints=None):
    provider = iam(account).create_open_id_connect_provider(
        url=url,
        thumbprint_list=thumbprints or ["0" * 40],
        client_id_list=list(client_ids),
        tags=[],
    )
    return provider.arn


def find_oidc_provider(account, issuer):
    """The provider whose URL is `issuer` (IAM stores it without the scheme)."""
    url = issuer[len("https://") :] if issuer.startswith("https://") else None
    if not url:
        return None  # IAM only admits https issuers
    for provider in list(iam(account).open_id_providers.values()):
        if provider.url == url:
            return provider
    return None


def create_role(account, name, trust_policy, max_session_duration=3600, path="/"):
    document = trust_policy if isinstance(trust_policy, str) else json.dumps(trust_policy)
    role = iam(account).create_role(
        role_name=name,
        assume_role_policy_document=document,
        path=path,
        permissions_boundary=None,
        description="",
        tags=[],
        max_session_duration=str(int(max_session_duration)),
    )
    return role.arn


def find_role(role_arn):
    m = ROLE_ARN_RE.match(role_arn or "")
    if not m:
        return None
    for role in list(iam(m.group(1)).roles.values()):
        if role.arn == role_arn:
            return role
    return None


def role_max_session_duration(role):
    try:
        return int(role.max_session_duration or 3600)
    except (TypeError, ValueError):
        return 3600


def create_user_with_key(account, name):
    backend = iam(account)
    user = backend.create_user(region_name=REGION, user_name=name)
    key = backend.create_access_key(user_name=name)
    return user.arn, key.access_key_id, key.secret_access_key


def find_user_by_access_key(access_key_id):
    """(user, key) for an IAM user's long-term key in any account, or (None, None)."""
    for account in list(iam_backends.keys()):
        backend = iam_backends[account][PARTITION]
        key = backend.access_keys.get(access_key_id)
        if key is None or not getattr(key, "user_name", None):
            continue
        user = backend.users.get(key.user_name)
        if user is not None:
            return user, key
    return None, None
