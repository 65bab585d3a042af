"""The test OIDC issuer: two RSA keys, token minting, JWKS, and token verification.

The "trusted" key plays the role of the identity provider's real signing key (the one STS
would fetch from `<iss>/keys.json`); the "untrusted" key exists only to forge tokens that
look right but whose signature does not verify. Both default to the same kid so a forgery
fails on the signature itself, not on an unknown kid.

The issuer signs for *any* `iss` URL: STS decides whether it trusts an issuer by looking
for an IAM OIDC provider with that URL (see sts.py), not by the keys alone.
"""

import json
import threading

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

TRUSTED_KID = "test-key-1"


class TokenError(Exception):
    """A token STS would refuse. `code` is the STS error code to return."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class TestIssuer:
    def __init__(self):
        # Generated once per process: keys survive /_layer/reset so tokens minted by a
        # test's setup stay valid if another reset happens in between.
        self.keys = {
            "trusted": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "untrusted": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        }
        self.kid = TRUSTED_KID
        self._lock = threading.Lock()

    def mint(self, claims, key="trusted", kid=None):
        if key not in self.keys:
            raise ValueError(f"key must be one of {sorted(self.keys)}")
        headers = {"kid": kid if kid is not None else self.kid, "typ": "JWT"}
        return jwt.encode(claims, self.keys[key], algorithm="RS256", headers=headers)

    def jwks(self):
        jwk = json.loads(RSAAlgorithm.to_jwk(self.keys["trusted"].public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    @staticmethod
    def unverified_claims(token):
        """Decode without verifying: STS must read `iss` before it knows which keys to use."""
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except Exception:
            raise TokenError(
                "InvalidIdentityToken",
                "Couldn't parse the token: the ID Token provided is not a valid JWT. "
                "(You may see this error if you sent an Access Token)",
            )
        if not isinstance(claims, dict):
            raise TokenError("InvalidIdentityToken", "Couldn't parse the token")
        return header, claims

    def verify_signature(self, token, header):
        """RS256 against the trusted JWKS, key chosen by kid (as STS does)."""
        if header.get("alg") != "RS256":
            raise TokenError(
                "InvalidIdentityToken",
                f"Unsupported token signing algorithm: {header.get('alg')}",
            )
        if header.get("kid") != self.kid:
            raise TokenError(
                "InvalidIdentityToken",
                "Couldn't retrieve verification key from your identity provider, "
                "please reference AssumeRoleWithWebIdentity documentation for requirements",
            )
        try:
            # Only the signature here; time and audience checks are STS's own (sts.py),
            # with STS's error codes and messages.
            jwt.decode(
                token,
                self.keys["trusted"].public_key(),
                algorithms=["RS256"],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenError(
                "InvalidIdentityToken", "The web identity token signature is invalid"
            )
        except Exception as e:
            raise TokenError("InvalidIdentityToken", f"Couldn't parse the token: {e}")
