"""HTTP basic authentication (Confluent's `authentication.method=BASIC`, for the registry and the REST
Proxy), with users in a file in Jetty's HashLoginService format, as Confluent's
PropertyFileLoginModule reads them:

    # user: credential[,role ...]
    alice: ARGON2:$argon2id$v=19$m=65536,t=3,p=4$...,admin
    bob: MD5:164c88b302622e17050af52c89945d44,developer

Credentials: `ARGON2:` + an argon2id hash (what `hash_password` and `schemabus registry-users add`
write; argon2-cffi), Jetty's `MD5:` and `CRYPT:` forms, and plain text (accepted with a warning).
The file is read again when it changes. A verified password is remembered by a keyed hash
(HMAC with a per-process random key) so that argon2's deliberate cost is paid once per user and
password, not per request.

The users file is named by `schemabus.authentication.users.file`, or by the JAAS file Confluent's
services read (`java.security.auth.login.config`), whose section named by the realm holds
PropertyFileLoginModule's `file` (users_file_path).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kafka_properties import PropertiesError, parse_jaas

log = logging.getLogger("http_security.users")

USERS_FILE = "schemabus.authentication.users.file"
JAAS_FILE = "java.security.auth.login.config"

_HASHER = PasswordHasher()
_ARGON2 = re.compile(r"ARGON2:\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[^,$\s]+\$[^,\s]+", re.I)
_CHECK_EVERY_S = 1.0          # how often the users file's mtime is looked at
_MAX_REMEMBERED = 10000


def hash_password(password: str) -> str:
    """A users-file credential for `password`: argon2id, salted, in Jetty's `TYPE:` style."""
    return "ARGON2:" + _HASHER.hash(password)


def user_entry(user: str, password: str, roles: list[str] | tuple[str, ...] = ()) -> str:
    """One users-file line."""
    if not user or any(c in user for c in ":,# \t\n"):
        raise ValueError(f"a user name cannot be empty or hold ':', ',', '#' or spaces: {user!r}")
    bad = [role for role in roles if not role or any(c in role for c in ":, \t\n")]
    if bad:
        raise ValueError(f"role names cannot be empty or hold ':', ',' or spaces: {bad}")
    return f"{user}: {','.join([hash_password(password), *roles])}"


@dataclass(frozen=True)
class User:
    name: str
    credential: str
    roles: frozenset[str]

    def __repr__(self) -> str:  # the credential stays out of logs and tracebacks
        return f"User({self.name!r}, roles={sorted(self.roles)})"


def check_credential(credential: str, password: str) -> bool:
    kind, sep, rest = credential.partition(":")
    kind = kind.upper() if sep else ""
    if kind == "ARGON2":
        try:
            return _HASHER.verify(rest, password)
        except (VerificationError, InvalidHashError):
            return False
    if kind == "MD5":
        return hmac.compare_digest(hashlib.md5(password.encode()).hexdigest(), rest.lower())
    if kind == "CRYPT":
        return hmac.compare_digest(_unix_crypt(password, rest), rest)
    return hmac.compare_digest(password.encode(), credential.encode())


def _unix_crypt(password: str, stored: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt  # the standard library's, Python < 3.13
        except ImportError:
            raise ValueError("CRYPT: credentials need Python's crypt module (gone in Python 3.13); rewrite the "
                             "user with `schemabus registry-users add`") from None
    return crypt.crypt(password, stored) or ""


def parse_users(text: str, source: str) -> dict[str, User]:
    users = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        name, sep, rest = line.partition(":")
        rest = rest.strip()
        # An argon2 hash holds commas of its own (m=...,t=...,p=...): it is taken whole.
        argon2 = _ARGON2.match(rest)
        if argon2 is not None:
            parts = [argon2.group(0)] + [part.strip() for part in rest[argon2.end():].split(",")]
        else:
            parts = [part.strip() for part in rest.split(",")]
        if not sep or not name.strip() or not parts[0]:
            raise ValueError(f"{source}:{number}: expected 'user: credential[,role ...]'")
        credential = parts[0]
        if credential.upper().startswith("OBF:"):
            raise ValueError(f"{source}:{number}: OBF: credentials are not accepted; hash the password with "
                             "`schemabus registry-users add`")
        kind = credential.partition(":")[0].upper() if ":" in credential else ""
        if kind not in ("ARGON2", "MD5", "CRYPT"):
            log.warning("%s:%d: user %s has a plain-text password; store a hash instead "
                        "(schemabus registry-users add)", source, number, name.strip())
        users[name.strip()] = User(name.strip(), credential, frozenset(p for p in parts[1:] if p))
    return users


class UsersFile:
    """The users of a HashLoginService-style file, read again when the file changes."""

    def __init__(self, path: str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, str] = {}   # HMAC(key, user, password) -> user name
        self._mtime = None
        self._checked = 0.0
        self.users: dict[str, User] = {}
        self._load()

    def _load(self) -> None:
        try:
            stat = self.path.stat()
            text = self.path.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read the users file {self.path}: {exc.strerror}") from None
        users = parse_users(text, str(self.path))
        with self._lock:
            self.users, self._mtime = users, stat.st_mtime_ns
            self._verified.clear()

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < _CHECK_EVERY_S:
            return
        self._checked = now
        try:
            changed = os.stat(self.path).st_mtime_ns != self._mtime
            if changed:
                self._load()
                log.info("users file %s read again (%d users)", self.path, len(self.users))
        except (OSError, ValueError) as exc:
            log.warning("users file %s could not be read again, keeping the previous users: %s", self.path, exc)

    def authenticate(self, name: str, password: str) -> User | None:
        self._maybe_reload()
        user = self.users.get(name)
        if user is None:
            return None
        mark = hmac.new(self._key, f"{name}\0{password}".encode(), hashlib.sha256).digest()
        if self._verified.get(mark) == name:
            return user
        try:
            ok = check_credential(user.credential, password)
        except ValueError as exc:
            log.warning("user %s: %s", name, exc)
            return None
        if ok:
            with self._lock:
                if len(self._verified) >= _MAX_REMEMBERED:
                    self._verified.clear()
                self._verified[mark] = name
        return user if ok else None


def users_file_path(properties: dict[str, str], realm: str) -> str:
    """The users file of `authentication.method=BASIC`: USERS_FILE, else the JAAS file's section
    named `realm` (ValueError naming the property when there is none)."""
    if properties.get(USERS_FILE):
        return properties[USERS_FILE]
    if not properties.get(JAAS_FILE):
        raise ValueError(f"authentication.method=BASIC needs the users: {USERS_FILE}, or {JAAS_FILE} with a "
                         f"'{realm}' section naming PropertyFileLoginModule's file")
    try:
        text = Path(properties[JAAS_FILE]).read_text()
    except OSError as exc:
        raise ValueError(f"{JAAS_FILE}: cannot read {properties[JAAS_FILE]}: {exc.strerror}") from None
    section = re.search(r"(?:^|\})\s*" + re.escape(realm) + r"\s*\{(.*?)\}\s*;", text, re.S)
    if section is None:
        raise ValueError(f"{JAAS_FILE}: no section named {realm!r} (authentication.realm)")
    try:
        options = parse_jaas(section.group(1).strip(), f"{JAAS_FILE} section {realm}").options
    except PropertiesError as exc:
        raise ValueError(str(exc)) from None
    if not options.get("file"):
        raise ValueError(f"{JAAS_FILE}: the {realm!r} section names no file=\"...\"")
    return options["file"]


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, None if absent or malformed."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None
