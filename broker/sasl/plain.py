"""SASL/PLAIN (RFC 4616) against the users of the listener's PlainLoginModule JAAS config
(`user_<name>="<password>"` options), as Kafka's PlainServerCallbackHandler."""

from __future__ import annotations

import hmac

from broker.sasl import AuthenticationFailed, Exchange

INVALID_CREDENTIALS = "Authentication failed: Invalid username or password"


def users_from_jaas(options: dict[str, str]) -> dict[str, str]:
    return {key[len("user_"):]: value for key, value in options.items() if key.startswith("user_")}


class PlainExchange(Exchange):
    def __init__(self, users: dict[str, str]):
        super().__init__()
        self._users = users

    def evaluate(self, token: bytes) -> bytes:
        parts = token.split(b"\0")
        if len(parts) != 3:
            raise AuthenticationFailed(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(parts)}")
        try:
            authzid, username, password = (part.decode() for part in parts)
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid SASL/PLAIN response: not UTF-8") from None
        if not username:
            raise AuthenticationFailed("Authentication failed: username not specified")
        if not password:
            raise AuthenticationFailed("Authentication failed: password not specified")
        expected = self._users.get(username)
        # Compared in constant time, and compared even for an unknown user, so that the time
        # taken tells nothing about which users exist.
        matches = hmac.compare_digest(password.encode(), (expected or "\0" + password).encode())
        if expected is None or not matches:
            raise AuthenticationFailed(INVALID_CREDENTIALS, f"PLAIN: bad credentials for user {username!r}")
        if authzid and authzid != username:
            raise AuthenticationFailed("Authentication failed: Client requested an authorization id that is "
                                       "different from username")
        self.principal = "User:" + username
        return b""
