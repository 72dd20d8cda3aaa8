"""The console's own HTTP basic authentication, configured as the registry's and the REST Proxy's
(Confluent's names): `authentication.method=BASIC`, `authentication.realm` (default
SchemabusConsole), `authentication.roles` (default `*`, any user), and the users file of
http_security/users.py (Jetty's HashLoginService format, argon2id hashes, written by
`schemabus registry-users add`) named by `schemabus.authentication.users.file` or by the JAAS file
(`java.security.auth.login.config`, the realm's section naming PropertyFileLoginModule's `file`).

A WSGI middleware in front of the whole app, so every page, fragment and static asset is behind it:
no or bad credentials get 401 with `WWW-Authenticate: Basic realm="..."`, a user with none of the
roles 403. Passwords are never logged; a refused user name is, as the other services do.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from http_security.users import JAAS_FILE, USERS_FILE, UsersFile, basic_credentials, users_file_path

log = logging.getLogger("console.auth")

DEFAULT_REALM = "SchemabusConsole"
# The console's own properties: kept out of the Kafka client configs (console/server.py).
PROPERTY_PREFIXES = ("authentication.", "schemabus.authentication.")
PROPERTY_NAMES = {USERS_FILE, JAAS_FILE}


@dataclass(frozen=True)
class AuthSettings:
    users: UsersFile
    realm: str
    roles: frozenset[str] | None  # None: any authenticated user


def settings_from_properties(properties: dict[str, str]) -> AuthSettings | None:
    """None without authentication (ValueError naming the property when it is unusable)."""
    method = properties.get("authentication.method", "NONE").strip().upper()
    if method == "NONE":
        return None
    if method != "BASIC":
        raise ValueError(f"authentication.method must be NONE or BASIC, not {method!r}")
    realm = properties.get("authentication.realm", "").strip() or DEFAULT_REALM
    roles = {role.strip() for role in properties.get("authentication.roles", "*").split(",") if role.strip()}
    return AuthSettings(UsersFile(users_file_path(properties, realm)), realm,
                        None if not roles or "*" in roles else frozenset(roles))


def _page(start_response, status: str, message: str, extra_headers=()) -> list[bytes]:
    body = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status}</title></head>"
            f"<body><h1>{status}</h1><p>{html.escape(message)}</p></body></html>").encode()
    start_response(status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store"), *extra_headers])
    return [body]


class BasicAuth:
    """WSGI middleware: authenticate every request (401), then check the roles (403)."""

    def __init__(self, app, settings: AuthSettings):
        self.app = app
        self.settings = settings
        self.challenge = ("WWW-Authenticate", f'Basic realm="{settings.realm}"')

    def __call__(self, environ, start_response):
        credentials = basic_credentials(environ.get("HTTP_AUTHORIZATION"))
        user = self.settings.users.authenticate(*credentials) if credentials is not None else None
        if user is None:
            if credentials is not None:
                log.info("authentication failed for user %r from %s", credentials[0][:64], environ.get("REMOTE_ADDR"))
            return _page(start_response, "401 Unauthorized", "Sign in with a console user's name and password.",
                         [self.challenge])
        if self.settings.roles is not None and not user.roles & self.settings.roles:
            return _page(start_response, "403 Forbidden",
                         f"User {user.name} has none of the roles in authentication.roles.")
        environ["REMOTE_USER"] = user.name
        return self.app(environ, start_response)
