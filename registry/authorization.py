"""Who may do what: the operations of Confluent's Schema Registry security plugin, granted to users
and roles by an ACL file (`schemabus.authorization.acl.file`), one grant per line:

    # principal        operation                    subject (literal, prefix*, or *; global ones: none)
    Role:developer     SUBJECT_READ                 *
    Role:developer     SUBJECT_WRITE                orders-*
    User:ci            GLOBAL_READ
    Role:ops           *                            *

Users holding one of the admin roles (`schemabus.authorization.admin.roles`, default `admin`) may do
everything. SCHEMA_READ (a schema by id) is not granted directly, as in Confluent's: it follows from
SUBJECT_READ on any subject the schema is registered under.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUBJECT_OPERATIONS = ("SUBJECT_READ", "SUBJECT_WRITE", "SUBJECT_DELETE", "SUBJECT_COMPATIBILITY_READ",
                      "SUBJECT_COMPATIBILITY_WRITE")
GLOBAL_OPERATIONS = ("GLOBAL_COMPATIBILITY_READ", "GLOBAL_COMPATIBILITY_WRITE", "GLOBAL_READ")
SCHEMA_READ = "SCHEMA_READ"
ALL = "*"

# Flask endpoint -> the operation it needs (None: any authenticated user). Endpoints taking a
# subject check it against the subject; SCHEMA_READ against the subjects of the schema id.
_SUBJECT_OR_GLOBAL = {
    "config.get_config": ("SUBJECT_COMPATIBILITY_READ", "GLOBAL_COMPATIBILITY_READ"),
    "config.put_config": ("SUBJECT_COMPATIBILITY_WRITE", "GLOBAL_COMPATIBILITY_WRITE"),
    "config.delete_config": ("SUBJECT_COMPATIBILITY_WRITE", "GLOBAL_COMPATIBILITY_WRITE"),
    "config.get_mode": ("SUBJECT_COMPATIBILITY_READ", "GLOBAL_COMPATIBILITY_READ"),
    "config.put_mode": ("SUBJECT_COMPATIBILITY_WRITE", "GLOBAL_COMPATIBILITY_WRITE"),
    "config.delete_mode": ("SUBJECT_COMPATIBILITY_WRITE", "GLOBAL_COMPATIBILITY_WRITE"),
}
OPERATIONS = {
    "subjects.list_subjects": "GLOBAL_READ",
    "subjects.lookup": "SUBJECT_READ",
    "subjects.list_versions": "SUBJECT_READ",
    "subjects.get_version": "SUBJECT_READ",
    "subjects.get_version_schema": "SUBJECT_READ",
    "subjects.referenced_by": "SUBJECT_READ",
    "subjects.latest_with_metadata": "SUBJECT_READ",
    "subjects.register": "SUBJECT_WRITE",
    "subjects.delete_subject": "SUBJECT_DELETE",
    "subjects.delete_version": "SUBJECT_DELETE",
    "compatibility.against_version": "SUBJECT_WRITE",
    "compatibility.against_all": "SUBJECT_WRITE",
    "schemas.list_schemas": "GLOBAL_READ",
    "schemas.get_schema": SCHEMA_READ,
    "schemas.get_schema_only": SCHEMA_READ,
    "schemas.get_subjects_for_id": SCHEMA_READ,
    "schemas.get_versions_for_id": SCHEMA_READ,
    "schemas.get_schema_by_guid": "GLOBAL_READ",
    "schemas.get_ids_by_guid": "GLOBAL_READ",
}
# How Confluent's denial messages name operations ("User is denied operation Write on Subject: x").
_WORDS = {"SUBJECT_READ": "Read", "SUBJECT_WRITE": "Write", "SUBJECT_DELETE": "Delete",
          "SUBJECT_COMPATIBILITY_READ": "ReadCompatibility", "SUBJECT_COMPATIBILITY_WRITE": "WriteCompatibility",
          "GLOBAL_COMPATIBILITY_READ": "ReadCompatibility", "GLOBAL_COMPATIBILITY_WRITE": "WriteCompatibility",
          "GLOBAL_READ": "Read", SCHEMA_READ: "Read"}


def required_operation(endpoint: str | None, view_args: dict) -> str | None:
    if endpoint in _SUBJECT_OR_GLOBAL:
        on_subject, on_global = _SUBJECT_OR_GLOBAL[endpoint]
        return on_subject if view_args.get("subject") is not None else on_global
    return OPERATIONS.get(endpoint or "")


def denial_message(operation: str, subject: str | None, schema_id: int | None = None) -> str:
    word = _WORDS.get(operation, operation)
    if subject is not None:
        return f"User is denied operation {word} on Subject: {subject}"
    if schema_id is not None:
        return f"User is denied operation {word} on Schema: {schema_id}"
    return f"User is denied operation {word} on the global resource ({operation})"


@dataclass(frozen=True)
class Grant:
    principal: str   # "User:name" or "Role:name"
    operation: str   # one of the operations, or "*"
    subject: str     # literal, "prefix*", or "*" ("" for global operations)

    def covers(self, operation: str, subject: str | None) -> bool:
        if self.operation not in (ALL, operation):
            return False
        if subject is None or self.subject == ALL:
            return True
        if self.subject.endswith("*"):
            return subject.startswith(self.subject[:-1])
        return subject == self.subject


def parse_acls(text: str, source: str) -> list[Grant]:
    grants = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) not in (2, 3) or not fields[0].startswith(("User:", "Role:")):
            raise ValueError(f"{source}:{number}: expected 'User:NAME|Role:NAME OPERATION [SUBJECT]'")
        principal, operation = fields[0], fields[1].upper()
        subject = fields[2] if len(fields) == 3 else ""
        if operation != ALL and operation not in SUBJECT_OPERATIONS + GLOBAL_OPERATIONS:
            raise ValueError(f"{source}:{number}: unknown operation {fields[1]!r}; one of "
                             f"{', '.join(SUBJECT_OPERATIONS + GLOBAL_OPERATIONS)} or *")
        if operation in SUBJECT_OPERATIONS and not subject:
            raise ValueError(f"{source}:{number}: {operation} needs a subject (a name, prefix*, or *)")
        if operation in GLOBAL_OPERATIONS and subject:
            raise ValueError(f"{source}:{number}: {operation} takes no subject")
        grants.append(Grant(principal, operation, subject or ALL))
    return grants


class Authorizer:
    def __init__(self, grants: list[Grant], admin_roles: frozenset[str]):
        self.grants = grants
        self.admin_roles = admin_roles

    @classmethod
    def from_file(cls, path: str, admin_roles: frozenset[str]) -> "Authorizer":
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"cannot read the ACL file {path}: {exc.strerror}") from None
        return cls(parse_acls(text, path), admin_roles)

    def allowed(self, user: str, roles: frozenset[str], operation: str, subject: str | None) -> bool:
        if roles & self.admin_roles:
            return True
        principals = {f"User:{user}", *(f"Role:{role}" for role in roles)}
        return any(grant.principal in principals and grant.covers(operation, subject) for grant in self.grants)
