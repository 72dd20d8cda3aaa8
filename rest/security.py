"""The REST Proxy's request security, from kafka-rest's (and Karapace's) property names.

- `authentication.method=BASIC`, `authentication.realm` (default KafkaRest), `authentication.roles`
  (default `*`, any user): HTTP basic authentication against the users file the registry uses
  (http_security/users.py: Jetty's HashLoginService format, argon2id hashes, written by
  `schemabus registry-users add`), named by `schemabus.authentication.users.file` or by the JAAS
  file kafka-rest reads (`java.security.auth.login.config`, the realm's section naming
  PropertyFileLoginModule's `file`).
- `rest.authorization=true`: each caller's own Kafka clients, from its `Authorization` header
  (rest/clients.py), so that Kafka's ACLs apply to the caller, not to the proxy;
  `rest.authorization.idle.timeout.ms` (default 300000, never below consumer.instance.timeout.ms)
  closes a caller's clients after that long without a request.

A WSGI middleware in front of the Flask app: no or bad credentials are 401
`{"error_code":401,"message":"Unauthorized"}` with `WWW-Authenticate: Basic realm="..."`; a user
with none of `authentication.roles` 403; a credential the broker refuses 401/40101 (kafka-rest's
code for Kafka's AuthenticationException; Karapace answers 403). Credentials are never logged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http import HTTPStatus

from http_security.users import UsersFile, basic_credentials, users_file_path
from rest.clients import CallerClients, credential_from_header
from rest.errors import RestError

log = logging.getLogger("rest.security")

CLIENTS = "schemabus.rest.clients"   # the WSGI environ key of a request's Clients (rest/http.py reads it)
DEFAULT_REALM = "KafkaRest"
DEFAULT_IDLE_TIMEOUT_MS = 300_000
V2 = "application/vnd.kafka.v2+json"
JSON = "application/json"


@dataclass
class SecuritySettings:
    users: UsersFile | None            # authentication.method=BASIC
    realm: str
    roles: frozenset[str] | None       # None: any authenticated user
    authorization: bool                # rest.authorization
    idle_timeout_s: float


def _flag(properties: dict[str, str], name: str) -> bool:
    value = properties.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value == "true"


def settings_from_properties(properties: dict[str, str], instance_timeout_ms: int) -> SecuritySettings | None:
    """None when neither authentication nor rest.authorization is on (ValueError naming the
    property when unusable)."""
    method = properties.get("authentication.method", "NONE").strip().upper()
    if method not in ("NONE", "BASIC"):
        raise ValueError(f"authentication.method must be NONE or BASIC here, not {method!r}")
    authorization = _flag(properties, "rest.authorization")
    if method == "NONE" and not authorization:
        return None
    realm = properties.get("authentication.realm", "").strip() or DEFAULT_REALM
    users = UsersFile(users_file_path(properties, realm)) if method == "BASIC" else None
    roles = {role.strip() for role in properties.get("authentication.roles", "*").split(",") if role.strip()}
    try:
        idle_ms = int(properties.get("rest.authorization.idle.timeout.ms", DEFAULT_IDLE_TIMEOUT_MS))
    except ValueError:
        raise ValueError("rest.authorization.idle.timeout.ms must be a number of milliseconds") from None
    # A caller's consumer instances live in its clients: those outlive the instances' own timeout.
    return SecuritySettings(users, realm, None if not roles or "*" in roles else frozenset(roles), authorization,
                            max(idle_ms, instance_timeout_ms) / 1000)


def _answer(environ, start_response, status: str, code: int, message: str, extra_headers=()) -> list[bytes]:
    """kafka-rest's JSON error; application/json to a client that asks only for that (as rest/http.py)."""
    accept = environ.get("HTTP_ACCEPT", "")
    content_type = JSON if JSON in accept and V2 not in accept and "*/*" not in accept else V2
    body = json.dumps({"error_code": code, "message": message}, separators=(",", ":")).encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra_headers])
    return [body]


class _Released:
    """The app's response iterable, releasing the caller's clients when the server closes it
    (after the last byte of a streamed answer, or when the client went away)."""

    def __init__(self, iterable, release):
        self.iterable = iterable
        self._release = release

    def __iter__(self):
        return iter(self.iterable)

    def close(self) -> None:
        try:
            close = getattr(self.iterable, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class Security:
    """WSGI middleware: authenticate (401), check the roles (403), pick the caller's clients."""

    def __init__(self, app, settings: SecuritySettings, callers: CallerClients | None):
        self.app = app
        self.settings = settings
        self.callers = callers
        self.challenge = ("WWW-Authenticate", f'Basic realm="{settings.realm}"')

    def _unauthorized(self, environ, start_response, code: int = 401, message: str = "Unauthorized"):
        return _answer(environ, start_response, "401 Unauthorized", code, message, [self.challenge])

    def __call__(self, environ, start_response):
        header = environ.get("HTTP_AUTHORIZATION")
        if self.settings.users is not None:
            credentials = basic_credentials(header)
            user = self.settings.users.authenticate(*credentials) if credentials is not None else None
            if user is None:
                if credentials is not None:
                    log.info("authentication failed for user %r from %s", credentials[0][:64],
                             environ.get("REMOTE_ADDR"))
                return self._unauthorized(environ, start_response)
            if self.settings.roles is not None and not user.roles & self.settings.roles:
                return _answer(environ, start_response, "403 Forbidden", 403,
                               f"Forbidden: user {user.name} has none of the roles in authentication.roles")
            environ["REMOTE_USER"] = user.name
        if self.callers is None:
            return self.app(environ, start_response)
        credential = credential_from_header(header)
        if credential is None:
            return self._unauthorized(environ, start_response)
        try:
            entry = self.callers.acquire(credential)
        except RestError as exc:
            if exc.http_status == 401:
                return self._unauthorized(environ, start_response, exc.error_code, exc.message)
            status = f"{exc.http_status} {HTTPStatus(exc.http_status).phrase}"
            return _answer(environ, start_response, status, exc.error_code, exc.message)
        environ[CLIENTS] = entry.clients
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self.callers.release(entry)
            raise
        return _Released(result, lambda: self.callers.release(entry))
