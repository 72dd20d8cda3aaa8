"""The registry's request security, from Confluent's property names: `authentication.method=BASIC`,
`authentication.realm`, `authentication.roles`; the users file (`schemabus.authentication.users.file`,
or the JAAS file Confluent's registry reads, `java.security.auth.login.config`, whose section named
by the realm holds PropertyFileLoginModule's `file`); the ACL file (registry/authorization.py).

A WSGI middleware in front of the read cache and the Flask app, so that no answer, cached or not,
goes to a client that may not have it: no or bad credentials are 401 with `WWW-Authenticate`,
a user without one of `authentication.roles` 403, an operation the ACLs do not grant 403 with
Confluent's 40301 body. Nothing is read from or written to `_schemas` for a refused request.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Callable

from werkzeug.exceptions import HTTPException

from http_security.users import basic_credentials, users_file_path
from registry.auth import User, UsersFile
from registry.authorization import SCHEMA_READ, Authorizer, denial_message, required_operation

log = logging.getLogger("registry.security")

ERROR_TYPE = "application/vnd.schemaregistry.v1+json"
ACL_FILE = "schemabus.authorization.acl.file"
ADMIN_ROLES = "schemabus.authorization.admin.roles"


@dataclass
class SecuritySettings:
    users: UsersFile
    realm: str
    roles: frozenset[str] | None   # None: any authenticated user
    authorizer: Authorizer | None


def settings_from_properties(properties: dict[str, str]) -> SecuritySettings | None:
    """None when authentication is off (ValueError naming the property when unusable)."""
    method = properties.get("authentication.method", "NONE").strip().upper()
    if method == "NONE":
        if properties.get(ACL_FILE):
            raise ValueError(f"{ACL_FILE} needs authentication.method=BASIC (authorization is per user)")
        return None
    if method != "BASIC":
        raise ValueError(f"authentication.method must be NONE or BASIC here, not {method!r}")
    realm = properties.get("authentication.realm", "").strip() or "SchemaRegistry"
    roles = {role.strip() for role in properties.get("authentication.roles", "*").split(",") if role.strip()}
    users = UsersFile(users_file_path(properties, realm))
    authorizer = None
    if properties.get(ACL_FILE):
        admin = frozenset(r.strip() for r in properties.get(ADMIN_ROLES, "admin").split(",") if r.strip())
        authorizer = Authorizer.from_file(properties[ACL_FILE], admin)
    return SecuritySettings(users, realm, None if not roles or "*" in roles else frozenset(roles), authorizer)


def _answer(start_response, status: str, code: int, message: str, extra_headers=()) -> list[bytes]:
    body = json.dumps({"error_code": code, "message": message}, separators=(",", ":")).encode()
    start_response(status, [("Content-Type", ERROR_TYPE), ("Content-Length", str(len(body))), *extra_headers])
    return [body]


class Security:
    """WSGI middleware: authenticate (401), check the roles (403), authorize the operation (403)."""

    def __init__(self, app, url_map, settings: SecuritySettings, subjects_of_id: Callable[[int], list[str]]):
        self.app = app
        self.url_map = url_map
        self.settings = settings
        self.subjects_of_id = subjects_of_id
        self.challenge = ("WWW-Authenticate", f'Basic realm="{settings.realm}"')

    def __call__(self, environ, start_response):
        user = self._authenticate(environ)
        if user is None:
            return _answer(start_response, "401 Unauthorized", 401, "Unauthorized", [self.challenge])
        if self.settings.roles is not None and not user.roles & self.settings.roles:
            return _answer(start_response, "403 Forbidden", 403,
                           f"Forbidden: user {user.name} has none of the roles in authentication.roles")
        denial = self._authorize(environ, user) if self.settings.authorizer is not None else None
        if denial is not None:
            log.info("denied %s %s to user %s: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                     user.name, denial)
            return _answer(start_response, "403 Forbidden", 40301, denial)
        environ["REMOTE_USER"] = user.name
        return self.app(environ, start_response)

    def _authenticate(self, environ) -> User | None:
        credentials = basic_credentials(environ.get("HTTP_AUTHORIZATION"))
        if credentials is None:
            return None
        user = self.settings.users.authenticate(*credentials)
        if user is None:
            log.info("authentication failed for user %r from %s", credentials[0][:64], environ.get("REMOTE_ADDR"))
        return user

    def _authorize(self, environ, user: User) -> str | None:
        """Why the request is refused, or None."""
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return None  # no such route: the app answers 404/405
        operation = required_operation(endpoint, args)
        if operation is None:
            return None
        allowed = self.settings.authorizer.allowed
        if operation == SCHEMA_READ:
            subjects = self.subjects_of_id(args["schema_id"])
            if not subjects or any(allowed(user.name, user.roles, "SUBJECT_READ", s) for s in subjects):
                return None  # an unknown id is the app's 40403
            return denial_message(operation, None, args["schema_id"])
        subject = args.get("subject")
        if allowed(user.name, user.roles, operation, subject):
            return None
        return denial_message(operation, subject)
