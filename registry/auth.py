"""HTTP basic authentication for the registry (Confluent's `authentication.method=BASIC`): the users
file in Jetty's HashLoginService format with argon2id hashes, shared with the REST Proxy; it lives
in http_security/users.py, named here for the registry's own modules and the tools
(`schemabus registry-users`)."""

from __future__ import annotations

from http_security.users import User, UsersFile, check_credential, hash_password, parse_users, user_entry

__all__ = ["User", "UsersFile", "check_credential", "hash_password", "parse_users", "user_entry"]
