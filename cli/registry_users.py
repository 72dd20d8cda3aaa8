"""`schemabus registry-users add|remove|list`: the registry's users file (Jetty's HashLoginService
format, `user: credential[,role ...]`), written with argon2id hashes (registry.auth).

The password is read from the terminal, or from standard input with --password-stdin, never from
the command line (where other users of the machine could read it)."""

from __future__ import annotations

import getpass
import os
import sys
import tempfile
from pathlib import Path

from cli.output import CommandError
from registry.auth import parse_users, user_entry

EXIT_USAGE = 2


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None


def _entry_name(line: str) -> str | None:
    stripped = line.strip()
    if not stripped or stripped.startswith(("#", "!")) or ":" not in stripped:
        return None
    return stripped.split(":", 1)[0].strip()


def _write(path: Path, lines: list[str]) -> None:
    """Replace the file atomically, readable by its owner only (it holds password hashes)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _password(args) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.user}: ")
        if password != getpass.getpass("again: "):
            raise CommandError("the passwords differ", EXIT_USAGE)
    if not password:
        raise CommandError("the password is empty", EXIT_USAGE)
    return password


def cmd_add(args) -> int:
    path = Path(args.file)
    lines = [line for line in _read_lines(path) if _entry_name(line) != args.user]
    try:
        lines.append(user_entry(args.user, _password(args), args.role or []))
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    _write(path, lines)
    print(f"user {args.user} written to {path} (roles: {', '.join(args.role or []) or 'none'})")
    return 0


def cmd_remove(args) -> int:
    path = Path(args.file)
    lines = _read_lines(path)
    kept = [line for line in lines if _entry_name(line) != args.user]
    if len(kept) == len(lines):
        raise CommandError(f"no user {args.user} in {path}", 1)
    _write(path, kept)
    print(f"user {args.user} removed from {path}")
    return 0


def cmd_list(args) -> int:
    try:
        users = parse_users("\n".join(_read_lines(Path(args.file))), args.file)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    for user in users.values():
        print(f"{user.name}\t{','.join(sorted(user.roles))}")
    return 0


def add_registry_users_commands(sub) -> None:
    users = sub.add_parser("registry-users", help="manage the schema registry's users file (basic authentication)")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user, or replace its password and roles")
    add.add_argument("user")
    add.add_argument("--role", action="append", help="a role of the user (repeatable)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_add)
    remove = actions.add_parser("remove", help="remove a user")
    remove.add_argument("user")
    remove.set_defaults(func=cmd_remove)
    listing = actions.add_parser("list", help="list the users and their roles")
    listing.set_defaults(func=cmd_list)
    for parser in (add, remove, listing):
        parser.add_argument("--file", required=True, help="the users file (schemabus.authentication.users.file)")
