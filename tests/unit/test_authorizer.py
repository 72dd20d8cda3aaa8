"""StandardAuthorizer's semantics, case by case: implications, DENY before ALLOW, prefixed and
wildcard patterns, wildcard principals and hosts, super users, allow.everyone.if.no.acl.found,
filters, validation and the ACLs file."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from broker.authorizer import (
    Acl, AclFilter, AclTable, InvalidAcl, Operation as Op, PatternType as PT, Permission as Perm,
    ResourceType as RT, StandardAuthorizer, create_authorizer, new_acl, operations_bitfield,
)
from broker.config import BrokerConfig, ConfigError

ALICE, BOB = "User:alice", "User:bob"
HOST, OTHER_HOST = "10.0.0.1", "10.0.0.2"


def acl(name="orders", op=Op.READ, perm=Perm.ALLOW, principal=ALICE, host="*", pattern=PT.LITERAL,
        rtype=RT.TOPIC) -> Acl:
    return Acl(rtype, name, pattern, principal, host, op, perm)


def table(*acls, super_users=(), allow_everyone=False) -> AclTable:
    t = AclTable(super_users, allow_everyone)
    for a in acls:
        t.add(a)
    return t


def allowed(t: AclTable, op: Op, name="orders", principal=ALICE, host=HOST, rtype=RT.TOPIC) -> bool:
    return t.authorize(principal, host, op, rtype, name)


@pytest.mark.parametrize("granted,asked,expected", [
    (Op.READ, Op.READ, True),
    (Op.READ, Op.WRITE, False),
    (Op.READ, Op.DESCRIBE, True),
    (Op.WRITE, Op.DESCRIBE, True),
    (Op.DELETE, Op.DESCRIBE, True),
    (Op.ALTER, Op.DESCRIBE, True),
    (Op.CREATE, Op.DESCRIBE, False),
    (Op.DESCRIBE, Op.READ, False),
    (Op.ALTER_CONFIGS, Op.DESCRIBE_CONFIGS, True),
    (Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS, False),
    (Op.ALTER, Op.DESCRIBE_CONFIGS, False),
    (Op.ALL, Op.WRITE, True),
    (Op.ALL, Op.DESCRIBE_CONFIGS, True),
])
def test_operation_implications_of_allow_acls(granted, asked, expected):
    assert allowed(table(acl(op=granted)), asked) is expected


def test_a_deny_acl_denies_only_its_own_operation():
    t = table(acl(op=Op.ALL), acl(op=Op.READ, perm=Perm.DENY))
    assert not allowed(t, Op.READ)
    assert allowed(t, Op.DESCRIBE)  # DENY READ does not imply DENY DESCRIBE
    assert allowed(t, Op.WRITE)


def test_deny_all_denies_everything_and_wins_over_allow():
    t = table(acl(op=Op.READ), acl(op=Op.ALL, perm=Perm.DENY))
    assert not allowed(t, Op.READ)
    assert not allowed(t, Op.DESCRIBE)


def test_deny_wins_whichever_pattern_carries_it():
    t = table(acl(op=Op.WRITE, name="orders"), acl(op=Op.WRITE, perm=Perm.DENY, name="ord", pattern=PT.PREFIXED))
    assert not allowed(t, Op.WRITE)
    t = table(acl(op=Op.WRITE, name="ord", pattern=PT.PREFIXED), acl(op=Op.WRITE, perm=Perm.DENY, name="*"))
    assert not allowed(t, Op.WRITE)


def test_prefixed_patterns_match_names_that_start_with_them():
    t = table(acl(name="ord", pattern=PT.PREFIXED))
    assert allowed(t, Op.READ, "orders")
    assert allowed(t, Op.READ, "ord")
    assert not allowed(t, Op.READ, "or")
    assert not allowed(t, Op.READ, "payments")


def test_a_literal_name_matches_only_itself():
    t = table(acl(name="ord"))
    assert allowed(t, Op.READ, "ord")
    assert not allowed(t, Op.READ, "orders")


def test_the_literal_wildcard_name_matches_every_resource_of_its_type():
    t = table(acl(name="*"))
    assert allowed(t, Op.READ, "anything")
    assert not allowed(t, Op.READ, "anything", rtype=RT.GROUP)
    # A prefixed "*" is a prefix like any other, not a wildcard.
    assert not allowed(table(acl(name="*", pattern=PT.PREFIXED)), Op.READ, "anything")


def test_wildcard_principal_and_host():
    t = table(acl(principal="User:*"))
    assert allowed(t, Op.READ, principal=BOB)
    t = table(acl(host=HOST))
    assert allowed(t, Op.READ, host=HOST)
    assert not allowed(t, Op.READ, host=OTHER_HOST)
    assert not allowed(table(acl(principal=BOB)), Op.READ)


def test_super_users_are_allowed_everything_even_against_deny():
    t = table(acl(op=Op.ALL, perm=Perm.DENY, principal="User:*"), super_users=[ALICE])
    assert allowed(t, Op.ALTER, rtype=RT.CLUSTER, name="kafka-cluster")
    assert allowed(t, Op.WRITE)
    assert not allowed(t, Op.WRITE, principal=BOB)


def test_allow_everyone_if_no_acl_found_applies_only_to_resources_without_acls():
    t = table(acl(name="orders", principal=BOB), allow_everyone=True)
    assert allowed(t, Op.WRITE, "payments")  # no ACL names payments at all
    assert not allowed(t, Op.WRITE, "orders")  # an ACL names orders, for someone else
    assert not allowed(table(), Op.WRITE, "payments")  # default: deny


def test_an_acl_of_another_resource_type_is_no_acl_for_this_one():
    t = table(acl(name="orders", rtype=RT.GROUP, principal=BOB), allow_everyone=True)
    assert allowed(t, Op.READ, "orders")


def test_removing_acls_keeps_the_prefix_index_right():
    a, b = acl(name="ord", pattern=PT.PREFIXED), acl(name="pay", pattern=PT.PREFIXED, op=Op.WRITE)
    t = table(a, b)
    t.remove(a)
    assert not allowed(t, Op.READ, "orders")
    assert allowed(t, Op.WRITE, "payments")
    t.remove(b)
    assert not allowed(t, Op.WRITE, "payments")


def test_ten_thousand_acls_are_indexed_by_name():
    t = table(*[acl(name=f"topic-{i}", principal=f"User:u{i}") for i in range(10_000)],
              *[acl(name=f"p{i}-", pattern=PT.PREFIXED, principal=f"User:u{i}") for i in range(10_000)])
    # The rule only sees the ACLs of the resource's own name and of its prefixes.
    assert len(list(t.matching_resource(RT.TOPIC, "topic-42"))) == 1
    assert allowed(t, Op.READ, "topic-42", principal="User:u42")
    assert not allowed(t, Op.READ, "topic-42", principal="User:u43")
    assert allowed(t, Op.READ, "p7-orders", principal="User:u7")


def test_authorize_by_resource_type():
    by_type = AclTable.authorize_by_resource_type
    assert by_type(table(acl(op=Op.WRITE, name="orders")), ALICE, HOST, Op.WRITE, RT.TOPIC)
    assert not by_type(table(acl(op=Op.READ, name="orders")), ALICE, HOST, Op.WRITE, RT.TOPIC)
    shadowed = table(acl(op=Op.WRITE, name="orders"), acl(op=Op.WRITE, perm=Perm.DENY, name="ord", pattern=PT.PREFIXED))
    assert not by_type(shadowed, ALICE, HOST, Op.WRITE, RT.TOPIC)
    assert by_type(table(super_users=[ALICE]), ALICE, HOST, Op.WRITE, RT.TOPIC)
    assert not by_type(table(acl(op=Op.WRITE, principal=BOB)), ALICE, HOST, Op.WRITE, RT.TOPIC)


def test_filters_match_as_kafkas_acl_binding_filter():
    literal, prefixed, wildcard = acl(name="orders"), acl(name="ord", pattern=PT.PREFIXED), acl(name="*")
    every = [literal, prefixed, wildcard]

    def matching(**kw):
        f = AclFilter(**{"resource_type": RT.ANY, "name": None, "pattern_type": PT.ANY, "principal": None,
                         "host": None, "operation": Op.ANY, "permission": Perm.ANY, **kw})
        return [a for a in every if f.matches(a)]

    assert matching() == every
    assert matching(name="orders") == [literal]  # ANY: exact names only
    assert matching(name="orders", pattern_type=PT.MATCH) == every  # MATCH: what applies to "orders"
    assert matching(pattern_type=PT.PREFIXED) == [prefixed]
    assert matching(principal=BOB) == []
    assert matching(operation=Op.WRITE) == []


@pytest.mark.parametrize("fields,message", [
    ((2, "t", 2, ALICE, "*", 3, 3), "Invalid patternType MATCH"),
    ((2, "t", 1, ALICE, "*", 3, 3), "Invalid patternType ANY"),
    ((99, "t", 3, ALICE, "*", 3, 3), "Invalid resourceType UNKNOWN"),
    ((1, "t", 3, ALICE, "*", 3, 3), "Invalid resourceType ANY"),
    ((2, "t", 3, ALICE, "*", 1, 3), "Invalid operation ANY"),
    ((2, "t", 3, ALICE, "*", 3, 1), "Invalid permissionType ANY"),
    ((2, "", 3, ALICE, "*", 3, 3), "Invalid empty resource name"),
    ((4, "other", 3, ALICE, "*", 3, 3), "The only valid name for the CLUSTER resource is kafka-cluster"),
    ((2, "t", 3, "alice", "*", 3, 3), "Could not parse principal from `alice` (no colon is present"),
])
def test_invalid_bindings_get_kafkas_messages(fields, message):
    with pytest.raises(InvalidAcl) as exc:
        new_acl(*fields)
    assert str(exc.value).startswith(message)


def test_acls_persist_and_decisions_follow_changes(tmp_path):
    ctx = SimpleNamespace(principal=ALICE, host=HOST)
    authorizer = StandardAuthorizer(tmp_path / "acls.json")
    assert not authorizer.authorize(ctx, Op.READ, RT.TOPIC, "orders")
    authorizer.create([acl()])
    assert authorizer.authorize(ctx, Op.READ, RT.TOPIC, "orders")  # the cached "no" is gone
    reloaded = StandardAuthorizer(tmp_path / "acls.json")
    assert reloaded.table.acls == {acl()}
    any_filter = AclFilter(RT.ANY, None, PT.ANY, None, None, Op.ANY, Perm.ANY)
    assert reloaded.delete([any_filter]) == [[acl()]]
    assert not reloaded.authorize(ctx, Op.READ, RT.TOPIC, "orders")
    assert StandardAuthorizer(tmp_path / "acls.json").table.acls == set()


def test_authorized_operations_bitfield(tmp_path):
    ctx = SimpleNamespace(principal=ALICE, host=HOST)
    authorizer = StandardAuthorizer(tmp_path / "acls.json")
    authorizer.create([acl(rtype=RT.GROUP, name="g", op=Op.READ)])
    assert authorizer.authorized_operations(ctx, RT.GROUP, "g") == operations_bitfield([Op.READ, Op.DESCRIBE])


def test_a_damaged_acls_file_stops_the_broker_rather_than_changing_access(tmp_path):
    (tmp_path / "acls.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the ACLs"):
        StandardAuthorizer(tmp_path / "acls.json")


def test_authorizer_class_names(tmp_path):
    assert not create_authorizer(BrokerConfig({}), tmp_path).enabled
    for name in ("org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer"):
        authorizer = create_authorizer(BrokerConfig({"authorizer.class.name": name,
                                                     "super.users": "User:admin; User:ops"}), tmp_path)
        assert authorizer.enabled and authorizer.table.super_users == {"User:admin", "User:ops"}
    with pytest.raises(ConfigError, match="authorizer.class.name"):
        create_authorizer(BrokerConfig({"authorizer.class.name": "com.example.MyAuthorizer"}), tmp_path)
