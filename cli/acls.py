"""`schemabus acls add|list|remove`: Kafka ACLs through the Admin API, with kafka-acls' flags.

Works against our broker or Apache Kafka alike (CreateAcls, DescribeAcls, DeleteAcls through
confluent-kafka's AdminClient). As in kafka-acls: `add` binds every principal to every
resource for every operation (All when none is given) from every host ('*' when none is
given); `list` and `remove` take the same flags as filters, none meaning "any".
"""

from __future__ import annotations

import argparse

from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType, ResourceType,
)

from cli.admin import TIMEOUT, _admin, _common, _wait
from cli.output import CommandError, emit

EXIT_USAGE = 2
CLUSTER_NAME = "kafka-cluster"
PATTERN_TYPES = ("literal", "prefixed", "match", "any")
COLUMNS = ["resource_type", "resource_name", "pattern_type", "principal", "host", "operation", "permission"]
# confluent-kafka calls the cluster resource BROKER; Kafka's tools and ACLs say CLUSTER.
RESOURCE_NAMES = {ResourceType.TOPIC: "TOPIC", ResourceType.GROUP: "GROUP", ResourceType.BROKER: "CLUSTER",
                  ResourceType.TRANSACTIONAL_ID: "TRANSACTIONAL_ID"}


def _operation(text: str) -> AclOperation:
    """kafka-acls' spellings (Read, DescribeConfigs, IdempotentWrite) or the enum's (DESCRIBE_CONFIGS)."""
    wanted = text.replace("-", "").replace("_", "").upper()
    for op in AclOperation:
        if op.name.replace("_", "") == wanted and op not in (AclOperation.UNKNOWN, AclOperation.ANY):
            return op
    names = ", ".join(op.name.title().replace("_", "") for op in AclOperation
                      if op not in (AclOperation.UNKNOWN, AclOperation.ANY))
    raise CommandError(f"unknown operation {text!r}; one of {names}", EXIT_USAGE)


def _resources(args) -> list[tuple[ResourceType, str]]:
    resources = [(ResourceType.TOPIC, t) for t in args.topic or []]
    resources += [(ResourceType.GROUP, g) for g in args.group or []]
    resources += [(ResourceType.TRANSACTIONAL_ID, t) for t in args.transactional_id or []]
    if args.cluster:
        resources.append((ResourceType.BROKER, CLUSTER_NAME))
    return resources


def _pattern_type(args) -> ResourcePatternType:
    return ResourcePatternType[args.resource_pattern_type.upper()]


def _entries(args) -> list[tuple[str | None, str | None, AclPermissionType]]:
    """(principal, host, permission) for each --allow-principal x --allow-host and each
    --deny-principal x --deny-host; hosts default to '*' as kafka-acls' do."""
    entries = []
    for principals, hosts, permission in ((args.allow_principal, args.allow_host, AclPermissionType.ALLOW),
                                          (args.deny_principal, args.deny_host, AclPermissionType.DENY)):
        for principal in principals or []:
            _check_principal(principal)
            entries += [(principal, host, permission) for host in hosts or ["*"]]
    return entries


def _check_principal(principal: str) -> None:
    if ":" not in principal:
        raise CommandError(f"invalid principal {principal!r}: expected TYPE:NAME, e.g. User:alice", EXIT_USAGE)


def _row(binding: AclBinding) -> dict:
    return {"resource_type": RESOURCE_NAMES.get(binding.restype, binding.restype.name),
            "resource_name": binding.name, "pattern_type": binding.resource_pattern_type.name,
            "principal": binding.principal, "host": binding.host, "operation": binding.operation.name,
            "permission": binding.permission_type.name}


def acls_add(args) -> None:
    resources = _resources(args)
    entries = _entries(args)
    pattern_type = _pattern_type(args)
    if not resources:
        raise CommandError("add needs a resource: --topic, --group, --transactional-id or --cluster", EXIT_USAGE)
    if not entries:
        raise CommandError("add needs --allow-principal or --deny-principal", EXIT_USAGE)
    if pattern_type not in (ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED):
        raise CommandError("add takes --resource-pattern-type literal or prefixed", EXIT_USAGE)
    operations = [_operation(o) for o in args.operation or ["All"]]
    bindings = [AclBinding(rtype, name, pattern_type, principal, host, op, permission)
                for rtype, name in resources for principal, host, permission in entries for op in operations]
    admin = _admin(args)
    for binding, future in admin.create_acls(bindings, request_timeout=TIMEOUT).items():
        _wait(future, f"adding {binding}")
    emit([_row(b) for b in bindings], args.output, COLUMNS)


def _filters(args) -> list[AclBindingFilter]:
    """One filter per resource (or one for any resource) and per principal/host/operation given."""
    pattern_type = _pattern_type(args)
    resources = _resources(args) or [(ResourceType.ANY, None)]
    entries = _entries(args) or [(None, None, AclPermissionType.ANY)]
    if getattr(args, "principal", None):
        _check_principal(args.principal)
        entries = [(args.principal, None, AclPermissionType.ANY)]
    operations = [_operation(o) for o in args.operation] if args.operation else [AclOperation.ANY]
    return [AclBindingFilter(rtype, name, pattern_type, principal, host, op, permission)
            for rtype, name in resources for principal, host, permission in entries for op in operations]


def _sorted_rows(bindings) -> list[dict]:
    """Each binding once (filters may overlap), by resource then principal, host and operation code."""
    unique = {(b.restype.value, b.name, b.resource_pattern_type.value, b.principal, b.host, b.operation.value,
               b.permission_type.value): b for b in bindings}
    return [_row(unique[k]) for k in sorted(unique)]


def acls_list(args) -> None:
    admin = _admin(args)
    found = []
    for f in _filters(args):
        found += _wait(admin.describe_acls(f, request_timeout=TIMEOUT), "listing ACLs")
    emit(_sorted_rows(found), args.output, COLUMNS)


def acls_remove(args) -> None:
    filters = _filters(args)
    if filters == [AclBindingFilter(ResourceType.ANY, None, _pattern_type(args), None, None, AclOperation.ANY,
                                    AclPermissionType.ANY)] and not args.all:
        raise CommandError("remove without a resource or principal removes every ACL: pass --all to mean it",
                           EXIT_USAGE)
    admin = _admin(args)
    removed = []
    for f, future in admin.delete_acls(filters, request_timeout=TIMEOUT).items():
        removed += _wait(future, "removing ACLs")
    emit(_sorted_rows(removed), args.output, COLUMNS)


def _acl_flags(p: argparse.ArgumentParser, action: str) -> None:
    p.add_argument("--allow-principal", action="append", metavar="TYPE:NAME", help="e.g. User:alice (repeatable)")
    p.add_argument("--deny-principal", action="append", metavar="TYPE:NAME")
    p.add_argument("--allow-host", action="append", metavar="IP", help="default '*' (repeatable)")
    p.add_argument("--deny-host", action="append", metavar="IP")
    p.add_argument("--operation", action="append", metavar="OP",
                   help="Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, "
                        "AlterConfigs, IdempotentWrite or All" + (" (default All)" if action == "add" else ""))
    p.add_argument("--topic", action="append")
    p.add_argument("--group", action="append")
    p.add_argument("--transactional-id", action="append")
    p.add_argument("--cluster", action="store_true")
    p.add_argument("--resource-pattern-type", choices=PATTERN_TYPES, default="literal", type=str.lower)


def add_acls_commands(sub) -> None:
    acls = sub.add_parser("acls", help="add, list and remove ACLs (kafka-acls' flags)")
    a = acls.add_subparsers(dest="action", required=True)
    for action, func in (("add", acls_add), ("list", acls_list), ("remove", acls_remove)):
        p = a.add_parser(action)
        _acl_flags(p, action)
        if action == "list":
            p.add_argument("--principal", metavar="TYPE:NAME", help="only the ACLs of this principal")
        if action == "remove":
            p.add_argument("--all", action="store_true", help="with no resource or principal: remove every ACL")
        _common(p)  # --bootstrap-server, --command-config, --output
        p.set_defaults(func=func)
