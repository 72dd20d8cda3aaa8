"""SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, 7677) with `scramp`, and the credentials
they check, kept as Kafka keeps them.

Kafka's clients never send a password to the broker: AlterUserScramCredentials carries a salt,
an iteration count and the salted password (PBKDF2 computed by the client). The broker keeps
only what SCRAM's server side needs, the salt, the iterations, StoredKey = H(HMAC(salted,
"Client Key")) and ServerKey = HMAC(salted, "Server Key"), in `scram-credentials.json` in the
data dir (mode 0600, replaced atomically), as Kafka keeps them in its metadata log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from scramp import ScramException, ScramMechanism

from broker.sasl import SCRAM_MECHANISMS, AuthenticationFailed, Exchange
from broker.storage.checkpoint import read_text, write_atomically

log = logging.getLogger("schemabus.broker")

CREDENTIALS_FILE = "scram-credentials.json"
# Kafka's ScramMechanism bounds; a count outside them is UNACCEPTABLE_CREDENTIAL.
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
# The mechanism codes of DescribeUserScramCredentials / AlterUserScramCredentials.
MECHANISM_CODES = {"SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2}
MECHANISM_NAMES = {code: name for name, code in MECHANISM_CODES.items()}
_HASHES = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}
# What Kafka's SaslServerAuthenticator tells a client whose SCRAM exchange failed, whatever the cause.
INVALID_CREDENTIALS = "Authentication failed during authentication due to invalid credentials with SASL mechanism {}"


@dataclass(frozen=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    @classmethod
    def from_salted_password(cls, mechanism: str, salt: bytes, salted_password: bytes,
                             iterations: int) -> "ScramCredential":
        digest = _HASHES[mechanism]
        client_key = hmac.new(salted_password, b"Client Key", digest).digest()
        server_key = hmac.new(salted_password, b"Server Key", digest).digest()
        return cls(salt, digest(client_key).digest(), server_key, iterations)

    @classmethod
    def from_password(cls, mechanism: str, password: str, iterations: int = MIN_ITERATIONS) -> "ScramCredential":
        """What a client's AlterUserScramCredentials would create (for `schemabus up --secure`)."""
        salt, stored_key, server_key, _ = ScramMechanism(mechanism).make_auth_info(password, iterations)
        return cls(salt, stored_key, server_key, iterations)

    def to_json(self) -> dict:
        return {"salt": _b64(self.salt), "stored_key": _b64(self.stored_key),
                "server_key": _b64(self.server_key), "iterations": self.iterations}

    @classmethod
    def from_json(cls, value: dict) -> "ScramCredential":
        return cls(base64.b64decode(value["salt"]), base64.b64decode(value["stored_key"]),
                   base64.b64decode(value["server_key"]), int(value["iterations"]))

    def __repr__(self) -> str:  # the keys let anyone who has them authenticate: never printed
        return f"ScramCredential(iterations={self.iterations})"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class ScramCredentials:
    """user -> mechanism -> credential, durable in the data dir."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / CREDENTIALS_FILE
        self.users: dict[str, dict[str, ScramCredential]] = {}
        text = read_text(self.path)
        if text is not None:
            try:
                stored = json.loads(text)
                self.users = {user: {mechanism: ScramCredential.from_json(value) for mechanism, value in by.items()}
                              for user, by in stored["users"].items()}
            except (ValueError, KeyError, TypeError) as exc:
                raise CorruptCredentials(f"{self.path} is damaged ({exc.__class__.__name__}); restore it from a "
                                         "backup or remove it and recreate the SCRAM users") from None

    def get(self, user: str, mechanism: str) -> ScramCredential | None:
        return self.users.get(user, {}).get(mechanism)

    def apply(self, upserts: list[tuple[str, str, ScramCredential]], deletions: list[tuple[str, str]]) -> None:
        """Apply all changes, then make them durable with one write."""
        for user, mechanism in deletions:
            by_mechanism = self.users.get(user, {})
            by_mechanism.pop(mechanism, None)
            if not by_mechanism:
                self.users.pop(user, None)
        for user, mechanism, credential in upserts:
            self.users.setdefault(user, {})[mechanism] = credential
        self.save()

    def save(self) -> None:
        text = json.dumps({"users": {user: {m: c.to_json() for m, c in by.items()} for user, by in self.users.items()}},
                          indent=1, sort_keys=True)
        write_atomically(self.path, text, mode=0o600)


class CorruptCredentials(OSError):
    """scram-credentials.json cannot be read: the broker refuses to start rather than lose users."""


class ScramExchange(Exchange):
    """The server side of one SCRAM exchange: client-first -> server-first, client-final ->
    server-final."""

    def __init__(self, mechanism: str, credentials: ScramCredentials):
        super().__init__()
        assert mechanism in SCRAM_MECHANISMS
        self.mechanism = mechanism
        self._credentials = credentials
        self._server = ScramMechanism(mechanism).make_server(self._lookup)
        self._user: str | None = None
        self._step = 0

    def _lookup(self, username: str):
        user = _unescape(username)
        credential = self._credentials.get(user, self.mechanism)
        if credential is None:
            raise AuthenticationFailed(self._failure(), f"{self.mechanism}: unknown user {user!r}")
        self._user = user
        return credential.salt, credential.stored_key, credential.server_key, credential.iterations

    def _failure(self) -> str:
        return INVALID_CREDENTIALS.format(self.mechanism)

    def evaluate(self, token: bytes) -> bytes:
        try:
            message = token.decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed(self._failure(), f"{self.mechanism}: a message that is not UTF-8") from None
        try:
            if self._step == 0:
                self._step = 1
                if "tokenauth=true" in message.split(",", 2)[-1].split(","):
                    raise AuthenticationFailed(self._failure(), f"{self.mechanism}: delegation tokens are not supported")
                self._server.set_client_first(message)
                return self._server.get_server_first().encode()
            if self._step == 1:
                self._step = 2
                self._server.set_client_final(message)
                final = self._server.get_server_final()
                self.principal = "User:" + self._user
                return final.encode()
        except ScramException as exc:
            raise AuthenticationFailed(self._failure(), f"{self.mechanism} user {self._user!r}: {exc}") from None
        raise AuthenticationFailed(self._failure(), f"{self.mechanism}: a message after the exchange ended")


def _unescape(username: str) -> str:
    """SCRAM's saslname escapes (RFC 5802 5.1): '=2C' is ',' and '=3D' is '='."""
    return username.replace("=2C", ",").replace("=3D", "=")
