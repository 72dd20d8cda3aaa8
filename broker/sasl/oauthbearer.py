"""SASL/OAUTHBEARER (RFC 7628) as Kafka serves it.

Two validators, as Kafka's two server callback handlers:
- `UnsecuredValidator` (OAuthBearerUnsecuredValidatorCallbackHandler, Kafka's default): an
  unsigned JWS (`alg: none`, no signature) whose claims are checked (principal claim, `exp`,
  `iat`, a required scope) but which anyone can forge. For development only; the broker says so
  in its log at start.
- `JwksValidator` (OAuthBearerValidatorCallbackHandler): a JWT signed by a key of the JWKS at
  `sasl.oauthbearer.jwks.endpoint.url`, checked with PyJWT (signature, `exp`, `nbf`, `iat`,
  expected audience and issuer, clock skew).

A token that fails gets RFC 7628's error challenge (`{"status":"invalid_token"}`); the client
answers with a single 0x01 and the exchange fails with that status as the message, as Kafka's
OAuthBearerSaslServer does.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.parse

import jwt

from broker.sasl import AuthenticationFailed, Exchange

log = logging.getLogger("schemabus.broker")

_CONTROL_A = "\x01"
# Asymmetric algorithms only: a JWKS publishes public keys, and "none" or an HMAC "signed" with
# a public key must never pass.
SIGNED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class InvalidToken(Exception):
    """Why a token was refused (logged with the peer; never the token itself)."""


class UnsecuredValidator:
    """Kafka's unsecured validator, with its JAAS options: `unsecuredValidatorPrincipalClaimName`
    (default sub), `unsecuredValidatorScopeClaimName` (scope), `unsecuredValidatorRequiredScope`,
    `unsecuredValidatorAllowableClockSkewMs` (0)."""

    blocking = False

    def __init__(self, options: dict[str, str]):
        self.principal_claim = options.get("unsecuredValidatorPrincipalClaimName") or "sub"
        self.scope_claim = options.get("unsecuredValidatorScopeClaimName") or "scope"
        self.required_scope = (options.get("unsecuredValidatorRequiredScope") or "").split()
        self.skew_s = int(options.get("unsecuredValidatorAllowableClockSkewMs") or 0) / 1000

    def validate(self, token: str) -> tuple[str, int | None]:
        """(principal name, expiry in ms); raises InvalidToken."""
        parts = token.split(".")
        if len(parts) != 3 or parts[2]:
            raise InvalidToken("an unsecured JWS must be header.payload. with an empty signature")
        header, claims = _json_part(parts[0]), _json_part(parts[1])
        if header.get("alg") != "none":
            raise InvalidToken("an unsecured JWS must have alg none")
        now = time.time()
        principal = claims.get(self.principal_claim)
        if not isinstance(principal, str) or not principal.strip():
            raise InvalidToken(f"the principal claim {self.principal_claim!r} is missing or empty")
        expiry = claims.get("exp")
        if not isinstance(expiry, (int, float)):
            raise InvalidToken("the exp claim is missing or not a number")
        if expiry <= now - self.skew_s:
            raise InvalidToken("the token has expired")
        issued = claims.get("iat")
        if issued is not None and (not isinstance(issued, (int, float)) or issued > now + self.skew_s):
            raise InvalidToken("the iat claim is not a number or is in the future")
        scope = _scope(claims.get(self.scope_claim))
        missing = [s for s in self.required_scope if s not in scope]
        if missing:
            raise InvalidToken(f"the token's scope lacks {' '.join(missing)}")
        return principal, int(expiry * 1000)


class JwksValidator:
    """JWTs signed by a key of the JWKS at `sasl.oauthbearer.jwks.endpoint.url` (https:, http:
    or file:), refreshed every `sasl.oauthbearer.jwks.endpoint.refresh.ms`."""

    blocking = True  # fetching the key set is network I/O

    def __init__(self, url: str, refresh_ms: int, audience: list[str], issuer: str | None,
                 principal_claim: str, scope_claim: str, skew_s: int):
        if url.startswith("file:"):
            self._keys = _FileKeySet(urllib.parse.urlparse(url).path)
        else:
            self._keys = jwt.PyJWKClient(url, cache_keys=True, lifespan=max(1, refresh_ms // 1000))
        self.audience = audience or None
        self.issuer = issuer
        self.principal_claim = principal_claim
        self.scope_claim = scope_claim
        self.skew_s = skew_s

    def validate(self, token: str) -> tuple[str, int | None]:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token, key.key, algorithms=SIGNED_ALGORITHMS, audience=self.audience, issuer=self.issuer,
                leeway=self.skew_s,
                options={"require": ["exp"], "verify_aud": self.audience is not None})
        except jwt.PyJWKClientError as exc:
            raise InvalidToken(f"no key to check the token with: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(str(exc) or exc.__class__.__name__) from None
        principal = claims.get(self.principal_claim)
        if not isinstance(principal, str) or not principal.strip():
            raise InvalidToken(f"the principal claim {self.principal_claim!r} is missing or empty")
        return principal, int(claims["exp"] * 1000)


class _FileKeySet:
    """A JWKS in a local file (Kafka takes file: URLs too), read again whenever it changes."""

    def __init__(self, path: str):
        self.path = path
        self._mtime: float | None = None
        self._keys: jwt.PyJWKSet | None = None

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            mtime = os.stat(self.path).st_mtime
            if mtime != self._mtime:
                with open(self.path) as f:
                    self._keys = jwt.PyJWKSet.from_json(f.read())
                self._mtime = mtime
        except OSError as exc:
            raise jwt.PyJWKClientError(f"cannot read the JWKS {self.path}: {exc.strerror}") from None
        except jwt.PyJWKSetError as exc:
            raise jwt.PyJWKClientError(f"the JWKS {self.path} is invalid: {exc}") from None
        for key in self._keys.keys:
            if kid is None or key.key_id == kid:
                return key
        raise jwt.PyJWKClientError(f"no key with kid {kid!r} in the JWKS")


def _json_part(part: str) -> dict:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except ValueError:
        raise InvalidToken("a part of the token is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken("a part of the token is not a JSON object")
    return value


def _scope(value) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


class OAuthBearerExchange(Exchange):
    def __init__(self, validator):
        super().__init__()
        self._validator = validator
        self.blocking = validator.blocking
        self._error: str | None = None

    def evaluate(self, token: bytes) -> bytes:
        if self._error is not None:
            # The client's answer to our error challenge ends the exchange (RFC 7628 3.2.3).
            raise AuthenticationFailed(self._error, "OAUTHBEARER: the client acknowledged the error")
        authzid, bearer = _initial_response(token)
        try:
            name, expiry_ms = self._validator.validate(bearer)
        except InvalidToken as exc:
            self._error = json.dumps({"status": "invalid_token"})
            log.info("OAUTHBEARER token refused: %s", exc)
            return self._error.encode()
        if authzid and authzid != name:
            raise AuthenticationFailed("Authentication failed: Client requested an authorization id that is "
                                       "different from the token's principal")
        self.principal = "User:" + name
        self.lifetime_ms = expiry_ms
        return b""


def _initial_response(token: bytes) -> tuple[str, str]:
    """RFC 7628's client initial response: `n,a=<authzid>,^Aauth=Bearer <token>^A[key=value^A]*^A`."""
    try:
        text = token.decode()
    except UnicodeDecodeError:
        raise AuthenticationFailed("Invalid OAUTHBEARER client first message: not UTF-8") from None
    gs2, sep, rest = text.partition(",")
    authzid_part, sep2, rest = rest.partition(",")
    if gs2 != "n" or not sep or not sep2 or not rest.startswith(_CONTROL_A) or not rest.endswith(_CONTROL_A * 2):
        raise AuthenticationFailed("Invalid OAUTHBEARER client first message")
    authzid = authzid_part[2:] if authzid_part.startswith("a=") else ""
    for item in rest.strip(_CONTROL_A).split(_CONTROL_A):
        key, _, value = item.partition("=")
        if key == "auth":
            scheme, _, bearer = value.partition(" ")
            if scheme.lower() == "bearer" and bearer.strip():
                return authzid, bearer.strip()
    raise AuthenticationFailed("Invalid OAUTHBEARER client first message: no auth=Bearer <token>")
