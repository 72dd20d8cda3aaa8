"""Schema metadata and rule sets: validation (42210), merging with config defaults and overrides,
and the MD5-based guid Confluent derives from a schema's identity."""

from __future__ import annotations

import hashlib
import re
import struct
import uuid

from registry import errors

RULE_KINDS = ("TRANSFORM", "CONDITION")
MIGRATION_MODES = ("UPGRADE", "DOWNGRADE", "UPDOWN")
DOMAIN_MODES = ("WRITE", "READ", "WRITEREAD")
_RULE_NAME = re.compile(r"[^\W\d][\w-]*\Z")


def _fail(message: str):
    raise errors.invalid_ruleset(message)


def validate_rule_set(rule_set) -> None:
    """Confluent's RuleSet.validate: named, typed rules; modes that fit their list; unique names."""
    if rule_set is None:
        return
    if not isinstance(rule_set, dict):
        _fail("Invalid ruleSet: expected a JSON object")
    names: set[str] = set()
    for group, modes in (("migrationRules", MIGRATION_MODES), ("domainRules", DOMAIN_MODES),
                         ("encodingRules", DOMAIN_MODES)):
        rules = rule_set.get(group)
        if rules is None:
            continue
        if not isinstance(rules, list):
            _fail(f"Invalid ruleSet: {group} is not a list")
        for rule in rules:
            _validate_rule(rule, group, modes, names)


def _validate_rule(rule, group: str, modes: tuple, names: set) -> None:
    if not isinstance(rule, dict):
        _fail(f"Invalid rule in {group}: expected a JSON object")
    name = rule.get("name")
    if not isinstance(name, str):
        _fail("Missing rule name")
    if not name:
        _fail("Empty rule name")
    if len(name) > 256:
        _fail("Rule name too long")
    if not _RULE_NAME.match(name):
        _fail(f"Illegal character in rule name: {name}")
    if name in names:
        _fail(f"Found rule with duplicate name '{name}'")
    names.add(name)
    if not isinstance(rule.get("type"), str):
        _fail(f"Missing rule type for rule '{name}'")
    kind = rule.get("kind", "TRANSFORM")
    if kind not in RULE_KINDS:
        _fail(f"Invalid rule kind for rule '{name}': {kind}")
    mode = rule.get("mode", "WRITEREAD")
    if mode not in MIGRATION_MODES + DOMAIN_MODES:
        _fail(f"Invalid rule mode for rule '{name}': {mode}")
    if mode not in modes:
        label = "Migration rules can only be UPGRADE, DOWNGRADE, UPDOWN" if group == "migrationRules" else \
            f"{'Domain' if group == 'domainRules' else 'Encoding'} rules can only be WRITE, READ, WRITEREAD"
        _fail(label)
    for action in ("onSuccess", "onFailure"):
        value = rule.get(action)
        if isinstance(value, str) and "," in value and mode not in ("WRITEREAD", "UPDOWN"):
            _fail("Multiple actions only valid with WRITEREAD and UPDOWN")


def _strings(value, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.bad_request(f"Cannot deserialize {what}: expected a list of strings")
    return sorted(set(value))


def _string_map(value, what: str) -> dict:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise errors.bad_request(f"Cannot deserialize {what}: expected an object of strings")
    return dict(sorted(value.items()))


def normalize_metadata(metadata) -> dict | None:
    """Confluent's Metadata shape: sorted tags, properties and sensitive; empty parts left out."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise errors.bad_request("Cannot deserialize metadata: expected a JSON object")
    out: dict = {}
    tags = metadata.get("tags")
    if tags:
        if not isinstance(tags, dict):
            raise errors.bad_request("Cannot deserialize metadata.tags: expected a JSON object")
        out["tags"] = {k: _strings(v, "metadata.tags") for k, v in sorted(tags.items())}
    if metadata.get("properties"):
        out["properties"] = _string_map(metadata["properties"], "metadata.properties")
    if metadata.get("sensitive"):
        out["sensitive"] = _strings(metadata["sensitive"], "metadata.sensitive")
    return out or None


def _normalize_rule(rule) -> dict:
    if not isinstance(rule, dict):
        raise errors.bad_request("Cannot deserialize a rule: expected a JSON object")
    out: dict = {}
    for name in ("name", "doc"):
        if rule.get(name) is not None:
            out[name] = rule[name]
    out["kind"] = rule.get("kind") or "TRANSFORM"
    out["mode"] = rule.get("mode") or "WRITEREAD"
    if rule.get("type") is not None:
        out["type"] = rule["type"]
    if rule.get("tags"):
        out["tags"] = _strings(rule["tags"], "rule tags")
    if rule.get("params"):
        out["params"] = _string_map(rule["params"], "rule params")
    for name in ("expr", "onSuccess", "onFailure"):
        if rule.get(name) is not None:
            out[name] = rule[name]
    out["disabled"] = bool(rule.get("disabled", False))
    return out


def normalize_rule_set(rule_set) -> dict | None:
    """Confluent's RuleSet shape (rule defaults filled in, empty lists left out)."""
    if rule_set is None:
        return None
    if not isinstance(rule_set, dict):
        raise errors.bad_request("Cannot deserialize ruleSet: expected a JSON object")
    out: dict = {}
    for group in ("migrationRules", "domainRules", "encodingRules"):
        rules = rule_set.get(group)
        if rules:
            if not isinstance(rules, list):
                raise errors.bad_request(f"Cannot deserialize ruleSet.{group}: expected a list")
            out[group] = [_normalize_rule(r) for r in rules]
    if rule_set.get("enableAt") is not None:
        out["enableAt"] = rule_set["enableAt"]
    return out or None


def merge_metadata(base: dict | None, extra: dict | None) -> dict | None:
    if not base:
        return extra or None
    if not extra:
        return base
    merged = {}
    for name in ("tags", "properties"):
        combined = {**(base.get(name) or {}), **(extra.get(name) or {})}
        if combined:
            merged[name] = combined
    sensitive = sorted(set(base.get("sensitive") or []) | set(extra.get("sensitive") or []))
    if sensitive:
        merged["sensitive"] = sensitive
    return merged or None


def merge_rule_sets(base: dict | None, extra: dict | None) -> dict | None:
    if not base:
        return extra or None
    if not extra:
        return base
    merged = {}
    for group in ("migrationRules", "domainRules", "encodingRules"):
        old, new = base.get(group) or [], extra.get(group) or []
        new_names = {r.get("name") for r in new if isinstance(r, dict)}
        rules = [r for r in old if not (isinstance(r, dict) and r.get("name") in new_names)] + list(new)
        if rules:
            merged[group] = rules
    for key in ("enableAt",):
        if extra.get(key) or base.get(key):
            merged[key] = extra.get(key) or base.get(key)
    return merged or None


def _utf8(md5, text) -> None:
    if text is not None:
        md5.update(str(text).encode("utf-8"))


def guid(schema: str, references, metadata: dict | None, rule_set: dict | None) -> str:
    """Confluent's guid: a UUID made of the MD5 of schema, references, metadata and rule set."""
    md5 = hashlib.md5(schema.encode("utf-8"))
    for ref in references:
        _utf8(md5, ref.name)
        _utf8(md5, ref.subject)
        md5.update(struct.pack(">i", ref.version))
    if metadata is not None:
        md5.update(b"\x01")
        for key, values in sorted((metadata.get("tags") or {}).items()):
            _utf8(md5, key)
            for value in sorted(values or []):
                _utf8(md5, value)
        for key, value in sorted((metadata.get("properties") or {}).items()):
            _utf8(md5, key)
            _utf8(md5, value)
        for value in sorted(metadata.get("sensitive") or []):
            _utf8(md5, value)
    if rule_set is not None:
        md5.update(b"\x01")
        for group in ("migrationRules", "domainRules", "encodingRules"):
            for rule in rule_set.get(group) or []:
                _rule_hash(md5, rule)
        _utf8(md5, rule_set.get("enableAt"))
    return str(uuid.UUID(bytes=md5.digest()))


def _rule_hash(md5, rule: dict) -> None:
    if not isinstance(rule, dict):
        return
    for name in ("name", "doc"):
        _utf8(md5, rule.get(name))
    _utf8(md5, rule.get("kind", "TRANSFORM"))
    _utf8(md5, rule.get("mode", "WRITEREAD"))
    _utf8(md5, rule.get("type"))
    for tag in sorted(rule.get("tags") or []):
        _utf8(md5, tag)
    for key, value in sorted((rule.get("params") or {}).items()):
        _utf8(md5, key)
        _utf8(md5, value)
    for name in ("expr", "onSuccess", "onFailure"):
        _utf8(md5, rule.get(name))
    if rule.get("disabled"):
        md5.update(b"\x01")
