"""`schemabus users add|list|remove`: SCRAM users through the Admin API (KIP-554), as
`kafka-configs --entity-type users --alter --add-config 'SCRAM-SHA-256=[...]'` manages them.

Works against our broker or Apache Kafka alike. The password never goes to the broker: the
client salts and hashes it (AlterUserScramCredentials carries the salted password). It is read
from --password-file, or from standard input (a prompt on a terminal), so it does not show in
the process list; --password exists for scripts that accept that.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion, \
    UserScramCredentialUpsertion

from cli.admin import TIMEOUT, _admin, _common, _wait
from cli.output import CommandError, emit

EXIT_USAGE = 2
MECHANISMS = {"SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256, "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512}
COLUMNS = ["user", "mechanism", "iterations"]
DEFAULT_ITERATIONS = 8192


def _mechanisms(args) -> list[ScramMechanism]:
    return [MECHANISMS[m] for m in dict.fromkeys(args.mechanism or MECHANISMS)]


def _password(args) -> str:
    if args.password is not None:
        password = args.password
    elif args.password_file:
        try:
            password = Path(args.password_file).read_text().rstrip("\n")
        except OSError as exc:
            raise CommandError(f"cannot read {args.password_file}: {exc.strerror}", EXIT_USAGE) from None
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.user}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise CommandError("the password is empty", EXIT_USAGE)
    return password


def users_add(args) -> None:
    password = _password(args).encode()
    admin = _admin(args)
    alterations = [UserScramCredentialUpsertion(args.user, ScramCredentialInfo(m, args.iterations), password)
                   for m in _mechanisms(args)]
    for user, future in admin.alter_user_scram_credentials(alterations, request_timeout=TIMEOUT).items():
        _wait(future, f"adding SCRAM credentials of {user}")
    emit([{"user": args.user, "mechanism": m.name.replace("_", "-"), "iterations": args.iterations}
          for m in _mechanisms(args)], args.output, COLUMNS)


def users_list(args) -> None:
    admin = _admin(args)
    futures = admin.describe_user_scram_credentials(args.users or None, request_timeout=TIMEOUT)
    if not args.users:  # all users: one future for the whole answer
        described = _wait(futures, "listing SCRAM users")
    else:
        described = {user: _wait(future, f"describing {user}") for user, future in futures.items()}
    rows = [{"user": user, "mechanism": info.mechanism.name.replace("_", "-"), "iterations": info.iterations}
            for user, description in sorted(described.items()) for info in description.scram_credential_infos]
    emit(rows, args.output, COLUMNS)


def users_remove(args) -> None:
    admin = _admin(args)
    mechanisms = _mechanisms(args)
    if not args.mechanism:  # every mechanism the user has, not an error for the one it lacks
        described = _wait(admin.describe_user_scram_credentials([args.user], request_timeout=TIMEOUT)[args.user],
                            f"describing {args.user}")
        mechanisms = [info.mechanism for info in described.scram_credential_infos]
    deletions = [UserScramCredentialDeletion(args.user, m) for m in mechanisms]
    for user, future in admin.alter_user_scram_credentials(deletions, request_timeout=TIMEOUT).items():
        _wait(future, f"removing SCRAM credentials of {user}")
    emit([{"user": args.user, "mechanism": m.name.replace("_", "-")} for m in mechanisms], args.output,
         ["user", "mechanism"])


def add_users_commands(sub) -> None:
    users = sub.add_parser("users", help="add, list and remove SCRAM users")
    u = users.add_subparsers(dest="action", required=True)
    add = u.add_parser("add", help="create or update a user's SCRAM credentials")
    add.add_argument("user")
    add.add_argument("--mechanism", action="append", choices=list(MECHANISMS),
                     help="default: both (repeatable)")
    add.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help="4096-16384, as Kafka accepts")
    add.add_argument("--password-file", metavar="FILE", help="a file holding the password (default: stdin)")
    add.add_argument("--password", help="the password on the command line (visible to other local users)")
    add.set_defaults(func=users_add)
    lst = u.add_parser("list", help="SCRAM users and their mechanisms")
    lst.add_argument("users", nargs="*", help="only these users (default: all)")
    lst.set_defaults(func=users_list)
    rm = u.add_parser("remove", help="delete a user's SCRAM credentials")
    rm.add_argument("user")
    rm.add_argument("--mechanism", action="append", choices=list(MECHANISMS),
                    help="default: every mechanism the user has")
    rm.set_defaults(func=users_remove)
    for p in (add, lst, rm):
        _common(p)
