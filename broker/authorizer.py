"""Kafka ACLs with the semantics of Kafka's StandardAuthorizer (KRaft, Kafka 4.x).

An ACL binds a resource pattern (type, name, LITERAL or PREFIXED) to an entry (principal,
host, operation, ALLOW or DENY). A request is allowed when:

- its principal is one of `super.users`; else
- no DENY ACL matches it, and an ALLOW ACL does; else
- no ACL at all names the resource (whatever its principal, host or operation) and
  `allow.everyone.if.no.acl.found` is true.

An ACL matches a resource when its name equals the resource's (LITERAL), is the literal
wildcard `*`, or is a prefix of it (PREFIXED); its principal is the request's or `User:*`;
its host is the client's address or `*`. ALLOW ACLs for READ, WRITE, DELETE or ALTER also
allow DESCRIBE, ALTER_CONFIGS allows DESCRIBE_CONFIGS, ALL allows everything; a DENY ACL
denies only its own operation (or everything, for ALL).

`authorizer.class.name` empty means no authorizer: everything is allowed and the ACL APIs
answer SECURITY_DISABLED, as in Kafka. The broker's handlers ask
`broker.authorizer.authorize(ctx, operation, resource_type, name)`; hot paths test
`broker.authorizer.enabled` first so that an unsecured broker pays one attribute check.

ACLs are kept in `<data dir>/acls.json`, rewritten atomically on every change.
"""

from __future__ import annotations

import json
import logging
from enum import IntEnum
from pathlib import Path
from typing import Iterable, NamedTuple

from broker.config import BrokerConfig, ConfigError
from broker.storage.checkpoint import read_text, write_atomically

log = logging.getLogger("schemabus.authorizer")

STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# The ZooKeeper-era class name: same ACL semantics, accepted so that old configs keep working.
ACL_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"
CLUSTER_NAME = "kafka-cluster"
WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"
ACLS_FILE = "acls.json"
# Decisions remembered per (principal, host, operation, resource): the produce/fetch path does
# a dict lookup, not an ACL walk. Cleared on every ACL change and when it grows past this.
CACHE_LIMIT = 100_000


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class Permission(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


def _enum(kind, code: int):
    """Kafka's fromCode: a code this version does not know is UNKNOWN, not an exception."""
    try:
        return kind(code)
    except ValueError:
        return kind.UNKNOWN


IMPLIES_DESCRIBE = frozenset({Operation.DESCRIBE, Operation.READ, Operation.WRITE, Operation.DELETE, Operation.ALTER})
IMPLIES_DESCRIBE_CONFIGS = frozenset({Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS})

# The operations each resource type supports (Kafka's AclEntry.supportedOperations): what
# "authorized operations" fields (Metadata, DescribeCluster, DescribeGroups) are made of.
SUPPORTED_OPERATIONS = {
    ResourceType.TOPIC: (Operation.READ, Operation.WRITE, Operation.CREATE, Operation.DESCRIBE, Operation.DELETE,
                         Operation.ALTER, Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS),
    ResourceType.GROUP: (Operation.READ, Operation.DESCRIBE, Operation.DELETE, Operation.DESCRIBE_CONFIGS,
                         Operation.ALTER_CONFIGS),  # the configs: KIP-848's per-group configs
    ResourceType.CLUSTER: (Operation.CREATE, Operation.CLUSTER_ACTION, Operation.DESCRIBE_CONFIGS,
                           Operation.ALTER_CONFIGS, Operation.IDEMPOTENT_WRITE, Operation.ALTER, Operation.DESCRIBE),
    ResourceType.TRANSACTIONAL_ID: (Operation.DESCRIBE, Operation.WRITE),
    ResourceType.DELEGATION_TOKEN: (Operation.DESCRIBE,),
    ResourceType.USER: (Operation.CREATE_TOKENS, Operation.DESCRIBE_TOKENS),
}


def operations_bitfield(operations: Iterable[Operation]) -> int:
    """Kafka's Utils.to32BitField: bit n set for operation code n."""
    bits = 0
    for op in operations:
        bits |= 1 << int(op)
    return bits


class InvalidAcl(ValueError):
    """A binding or filter Kafka refuses with INVALID_REQUEST; the message is Kafka's."""


class Acl(NamedTuple):
    """One binding: a resource pattern and an access control entry."""

    resource_type: ResourceType
    name: str
    pattern_type: PatternType
    principal: str
    host: str
    operation: Operation
    permission: Permission

    def to_json(self) -> dict:
        return {"resource_type": self.resource_type.name, "name": self.name, "pattern_type": self.pattern_type.name,
                "principal": self.principal, "host": self.host, "operation": self.operation.name,
                "permission": self.permission.name}

    @classmethod
    def from_json(cls, item: dict) -> "Acl":
        return cls(ResourceType[item["resource_type"]], item["name"], PatternType[item["pattern_type"]],
                   item["principal"], item["host"], Operation[item["operation"]], Permission[item["permission"]])


def new_acl(resource_type: int, name: str | None, pattern_type: int, principal: str | None, host: str | None,
            operation: int, permission: int) -> Acl:
    """A binding to create, from wire codes; InvalidAcl with Kafka's message when it cannot be
    one (AclApis' and AclControlManager's checks, in their order)."""
    rtype, ptype = _enum(ResourceType, resource_type), _enum(PatternType, pattern_type)
    op, perm = _enum(Operation, operation), _enum(Permission, permission)
    if rtype == ResourceType.CLUSTER and name != CLUSTER_NAME:
        raise InvalidAcl(f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}")
    if not name:
        raise InvalidAcl("Invalid empty resource name")
    if rtype in (ResourceType.UNKNOWN, ResourceType.ANY):
        raise InvalidAcl(f"Invalid resourceType {rtype.name}")
    if ptype not in (PatternType.LITERAL, PatternType.PREFIXED):
        raise InvalidAcl(f"Invalid patternType {ptype.name}")
    if op in (Operation.UNKNOWN, Operation.ANY):
        raise InvalidAcl(f"Invalid operation {op.name}")
    if perm not in (Permission.ALLOW, Permission.DENY):
        raise InvalidAcl(f"Invalid permissionType {perm.name}")
    if principal is None or ":" not in principal:
        raise InvalidAcl(f"Could not parse principal from `{principal}` "
                         "(no colon is present separating the principal type from the principal name)")
    return Acl(rtype, name, ptype, principal, host, op, perm)


class AclFilter(NamedTuple):
    """DescribeAcls/DeleteAcls filter: None or ANY fields match everything (AclBindingFilter)."""

    resource_type: ResourceType
    name: str | None
    pattern_type: PatternType
    principal: str | None
    host: str | None
    operation: Operation
    permission: Permission

    @classmethod
    def from_wire(cls, f: dict) -> "AclFilter":
        return cls(_enum(ResourceType, f["resource_type_filter"]), f["resource_name_filter"],
                   _enum(PatternType, f["pattern_type_filter"]), f["principal_filter"], f["host_filter"],
                   _enum(Operation, f["operation"]), _enum(Permission, f["permission_type"]))

    def unknown_part(self) -> str | None:
        """Kafka's isUnknown checks: "patternFilter" or "entryFilter", or None when valid."""
        if self.resource_type == ResourceType.UNKNOWN or self.pattern_type == PatternType.UNKNOWN:
            return "patternFilter"
        if self.operation == Operation.UNKNOWN or self.permission == Permission.UNKNOWN:
            return "entryFilter"
        return None

    def matches(self, acl: Acl) -> bool:
        return self._matches_pattern(acl) and self._matches_entry(acl)

    def _matches_pattern(self, acl: Acl) -> bool:
        if self.resource_type != ResourceType.ANY and self.resource_type != acl.resource_type:
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH) and self.pattern_type != acl.pattern_type:
            return False
        if self.name is None:
            return True
        if self.pattern_type in (PatternType.ANY, acl.pattern_type):
            return self.name == acl.name
        # MATCH: the ACLs that would apply to a resource of this name.
        if acl.pattern_type == PatternType.LITERAL:
            return self.name == acl.name or acl.name == WILDCARD
        return self.name.startswith(acl.name)

    def _matches_entry(self, acl: Acl) -> bool:
        return ((self.principal is None or self.principal == acl.principal)
                and (self.host is None or self.host == acl.host)
                and (self.operation == Operation.ANY or self.operation == acl.operation)
                and (self.permission == Permission.ANY or self.permission == acl.permission))


def _entry_allows(acl: Acl, operation: Operation) -> bool | None:
    """What one ACL (already known to match the principal, host and resource) says about the
    operation: True allow, False deny, None nothing. Implications only widen ALLOW ACLs."""
    if acl.operation != Operation.ALL:
        if acl.permission == Permission.ALLOW:
            if operation == Operation.DESCRIBE:
                if acl.operation not in IMPLIES_DESCRIBE:
                    return None
            elif operation == Operation.DESCRIBE_CONFIGS:
                if acl.operation not in IMPLIES_DESCRIBE_CONFIGS:
                    return None
            elif operation != acl.operation:
                return None
        elif operation != acl.operation:
            return None
    return acl.permission == Permission.ALLOW


class AclTable:
    """The ACLs, indexed by resource type, pattern type and name, and the authorization rule."""

    def __init__(self, super_users: Iterable[str] = (), allow_everyone_if_no_acl_found: bool = False):
        self.super_users = frozenset(super_users)
        self.allow_everyone_if_no_acl_found = allow_everyone_if_no_acl_found
        self.acls: set[Acl] = set()
        # (resource type, pattern type) -> name -> ACLs with that name.
        self._by_name: dict[tuple[ResourceType, PatternType], dict[str, list[Acl]]] = {}
        # resource type -> the distinct lengths of its PREFIXED names: a resource name's matching
        # prefixes are found with one dict lookup per length, not a walk over every ACL.
        self._prefix_lengths: dict[ResourceType, list[int]] = {}

    def add(self, acl: Acl) -> bool:
        if acl in self.acls:
            return False
        self.acls.add(acl)
        self._by_name.setdefault((acl.resource_type, acl.pattern_type), {}).setdefault(acl.name, []).append(acl)
        if acl.pattern_type == PatternType.PREFIXED:
            lengths = self._prefix_lengths.setdefault(acl.resource_type, [])
            if len(acl.name) not in lengths:
                lengths.append(len(acl.name))
                lengths.sort()
        return True

    def remove(self, acl: Acl) -> None:
        self.acls.discard(acl)
        names = self._by_name.get((acl.resource_type, acl.pattern_type), {})
        same = names.get(acl.name, [])
        if acl in same:
            same.remove(acl)
        if not same:
            names.pop(acl.name, None)
            if acl.pattern_type == PatternType.PREFIXED and not any(
                    len(n) == len(acl.name) for n in names):
                self._prefix_lengths[acl.resource_type].remove(len(acl.name))

    def matching_resource(self, resource_type: ResourceType, name: str) -> Iterable[Acl]:
        """Every ACL whose pattern covers this resource name."""
        literal = self._by_name.get((resource_type, PatternType.LITERAL))
        if literal:
            yield from literal.get(name, ())
            if name != WILDCARD:
                yield from literal.get(WILDCARD, ())
        prefixed = self._by_name.get((resource_type, PatternType.PREFIXED))
        if prefixed:
            for length in self._prefix_lengths.get(resource_type, ()):
                if length > len(name):
                    break
                yield from prefixed.get(name[:length], ())

    def authorize(self, principal: str, host: str, operation: Operation, resource_type: ResourceType,
                  name: str) -> bool:
        """StandardAuthorizer's decision for one action."""
        if principal in self.super_users:
            return True
        principals = (principal, WILDCARD_PRINCIPAL)
        allowed = False
        any_acl = False
        for acl in self.matching_resource(resource_type, name):
            any_acl = True
            if acl.principal not in principals or (acl.host != WILDCARD and acl.host != host):
                continue
            verdict = _entry_allows(acl, operation)
            if verdict is False:
                return False  # DENY wins over any ALLOW
            allowed = allowed or verdict is True
        if allowed:
            return True
        return not any_acl and self.allow_everyone_if_no_acl_found

    def authorize_by_resource_type(self, principal: str, host: str, operation: Operation,
                                   resource_type: ResourceType) -> bool:
        """Kafka's Authorizer.authorizeByResourceType: may the principal do `operation` on some
        resource of this type? (InitProducerId of an idempotent producer: WRITE on any topic.)
        An ALLOW counts unless a DENY on the same literal name or on a prefix of it shadows it;
        operations count only as themselves or ALL, without implications."""
        if self.authorize(principal, host, operation, resource_type, "hardcode"):
            return True  # super users, and allow.everyone.if.no.acl.found with no ACLs
        principals = (principal, WILDCARD_PRINCIPAL)
        allow = {PatternType.LITERAL: set(), PatternType.PREFIXED: set()}
        deny = {PatternType.LITERAL: set(), PatternType.PREFIXED: set()}
        for acl in self.acls:
            if (acl.resource_type != resource_type or acl.principal not in principals
                    or acl.host not in (WILDCARD, host) or acl.operation not in (operation, Operation.ALL)):
                continue
            if acl.permission == Permission.DENY:
                if acl.pattern_type == PatternType.LITERAL and acl.name == WILDCARD:
                    return False
                deny[acl.pattern_type].add(acl.name)
            elif acl.pattern_type == PatternType.LITERAL and acl.name == WILDCARD:
                return True
            else:
                allow[acl.pattern_type].add(acl.name)
        for pattern_type, names in allow.items():
            for name in names:
                if pattern_type == PatternType.LITERAL and name in deny[PatternType.LITERAL]:
                    continue
                if not any(name[:i] in deny[PatternType.PREFIXED] for i in range(1, len(name) + 1)):
                    return True
        return False


class NoAuthorizer:
    """No `authorizer.class.name`: everything is allowed, as in Kafka."""

    enabled = False

    def authorize(self, ctx, operation: Operation, resource_type: ResourceType, name: str) -> bool:
        return True

    def authorize_by_resource_type(self, ctx, operation: Operation, resource_type: ResourceType) -> bool:
        return True

    def authorized_operations(self, ctx, resource_type: ResourceType, name: str) -> int:
        return operations_bitfield(SUPPORTED_OPERATIONS[resource_type])


class StandardAuthorizer:
    """The broker's authorizer: the ACL table, a decision cache and the ACLs file."""

    enabled = True

    def __init__(self, path: Path, super_users: Iterable[str] = (), allow_everyone_if_no_acl_found: bool = False):
        self.path = Path(path)
        self.table = AclTable(super_users, allow_everyone_if_no_acl_found)
        self._cache: dict[tuple, bool] = {}
        for acl in self._load():
            self.table.add(acl)
        log.info("authorizer %s: %d ACLs loaded from %s, %d super users, allow.everyone.if.no.acl.found=%s",
                 STANDARD_AUTHORIZER, len(self.table.acls), self.path, len(self.table.super_users),
                 str(allow_everyone_if_no_acl_found).lower())

    # -- decisions -------------------------------------------------------------------------

    def authorize(self, ctx, operation: Operation, resource_type: ResourceType, name: str) -> bool:
        """May the request's principal, from its host, do `operation` on this resource?"""
        key = (ctx.principal, ctx.host, operation, resource_type, name)
        allowed = self._cache.get(key)
        if allowed is None:
            allowed = self.table.authorize(ctx.principal, ctx.host, operation, resource_type, name)
            self._remember(key, allowed)
        return allowed

    def authorize_by_resource_type(self, ctx, operation: Operation, resource_type: ResourceType) -> bool:
        key = (ctx.principal, ctx.host, operation, resource_type, None)
        allowed = self._cache.get(key)
        if allowed is None:
            allowed = self.table.authorize_by_resource_type(ctx.principal, ctx.host, operation, resource_type)
            self._remember(key, allowed)
        return allowed

    def authorized_operations(self, ctx, resource_type: ResourceType, name: str) -> int:
        """The bitfield of the resource type's operations this principal may do on it."""
        return operations_bitfield(op for op in SUPPORTED_OPERATIONS[resource_type]
                                   if self.authorize(ctx, op, resource_type, name))

    def _remember(self, key: tuple, allowed: bool) -> None:
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = allowed

    # -- the ACL APIs ----------------------------------------------------------------------

    def describe(self, acl_filter: AclFilter) -> list[Acl]:
        return sorted((acl for acl in self.table.acls if acl_filter.matches(acl)), key=_sort_key)

    def create(self, acls: list[Acl]) -> None:
        """Add the bindings (one already present is not added twice) and persist them."""
        if any([self.table.add(acl) for acl in acls]):
            self._changed()

    def delete(self, filters: list[AclFilter]) -> list[list[Acl]]:
        """The bindings each filter matched, all of them removed at once."""
        matched = [self.describe(f) for f in filters]
        removed = {acl for acls in matched for acl in acls}
        for acl in removed:
            self.table.remove(acl)
        if removed:
            self._changed()
        return matched

    def _changed(self) -> None:
        self._cache.clear()
        acls = [acl.to_json() for acl in sorted(self.table.acls, key=_sort_key)]
        write_atomically(self.path, json.dumps({"version": 1, "acls": acls}, indent=1) + "\n")

    def _load(self) -> list[Acl]:
        text = read_text(self.path)
        if text is None:
            if self.path.exists():
                raise ConfigError(f"cannot read the ACLs in {self.path}: not text")
            return []
        try:
            return [Acl.from_json(item) for item in json.loads(text)["acls"]]
        except (ValueError, KeyError, TypeError) as exc:
            # Starting without them would silently change who may do what.
            raise ConfigError(f"cannot read the ACLs in {self.path}: {exc!r}; fix or remove the file") from None


def _sort_key(acl: Acl) -> tuple:
    return (int(acl.resource_type), acl.name, int(acl.pattern_type), acl.principal, acl.host,
            int(acl.operation), int(acl.permission))


def parse_super_users(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(";") if p.strip()]


def create_authorizer(config: BrokerConfig, data_dir: Path) -> StandardAuthorizer | NoAuthorizer:
    """The authorizer `authorizer.class.name` names; ConfigError for one we do not have."""
    class_name = (config["authorizer.class.name"] or "").strip()
    if not class_name:
        return NoAuthorizer()
    if class_name not in (STANDARD_AUTHORIZER, ACL_AUTHORIZER):
        raise ConfigError(f"Invalid value {class_name} for configuration authorizer.class.name: the broker's "
                          f"authorizer is {STANDARD_AUTHORIZER} ({ACL_AUTHORIZER} is taken as the same); "
                          "leave it empty for none")
    return StandardAuthorizer(Path(data_dir) / ACLS_FILE, parse_super_users(config["super.users"]),
                              config["allow.everyone.if.no.acl.found"])
