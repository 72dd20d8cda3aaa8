"""Topic administration: CreateTopics, DeleteTopics, CreatePartitions and the config APIs."""

from __future__ import annotations

from broker import config as cfg
from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.dynamic_config import BROKER, CLUSTER_DEFAULT, DYNAMIC_CONFIGS, DynamicConfigError
from broker.group_configs import GroupConfigError
from broker.protocol import apis
from broker.protocol.errors import code
from broker.topics import TopicError

RESOURCE_TOPIC, RESOURCE_BROKER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP = 2, 4, 16, 32
LISTED_RESOURCE_TYPES = (RESOURCE_TOPIC, RESOURCE_BROKER, RESOURCE_GROUP, RESOURCE_CLIENT_METRICS)
# Kafka's controller refuses more than 10,000 partitions in one request. Ours creates them
# on the event loop in slices (~0.6 ms each, topics.CREATE_SLICE_S), so it takes at most
# 1,000: one request still answers within a second or so.
MAX_PARTITIONS_PER_REQUEST = 1_000


class _PartitionBudget:
    """Partitions one CreateTopics/CreatePartitions request may still add (Kafka's rule)."""

    def __init__(self) -> None:
        self.left = MAX_PARTITIONS_PER_REQUEST

    def take(self, count: int) -> None:
        if count > self.left:
            raise TopicError("POLICY_VIOLATION", "Excessively large number of partitions per request.")
        self.left -= max(count, 0)
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3


def _described_topic_configs(broker, topic_configs: dict[str, str]) -> list[dict]:
    out = []
    for name, definition in sorted(cfg.TOPIC_CONFIGS.items()):
        value, source = broker.config.topic_value(topic_configs, name)
        out.append({"name": name, "value": cfg.render(value), "read_only": False,
                    "config_source": source, "is_sensitive": False, "config_type": definition.type})
    return out


def _topic_action_allowed(broker, ctx, operation: Operation, name: str) -> bool:
    """CREATE, DELETE and ALTER of topics: on the cluster, else on the topic (Kafka's controller)."""
    authorizer = broker.authorizer
    return (authorizer.authorize(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME)
            or authorizer.authorize(ctx, operation, ResourceType.TOPIC, name))


def _check_topic_action(broker, ctx, operation: Operation, name: str) -> None:
    if not _topic_action_allowed(broker, ctx, operation, name):
        raise TopicError("TOPIC_AUTHORIZATION_FAILED", "Authorization failed.")


def _not_created(name: str, error: str, message: str | None) -> dict:
    return {"name": name, "topic_id": bytes(16), "error_code": code(error), "error_message": message,
            "num_partitions": -1, "replication_factor": -1, "configs": []}


def _past_deadline(timeout_ms: int) -> bool:
    """Kafka's controller drops a CreateTopics/DeleteTopics/CreatePartitions whose deadline (now +
    timeout) has passed before it gets to it: with a timeout <= 0 nothing is created or deleted
    and every topic of the request is answered REQUEST_TIMED_OUT, even one that would have failed."""
    return timeout_ms <= 0


@apis.handler(19, 2, 7)
async def create_topics(broker, ctx, request):
    topics = request["topics"]
    # Kafka checks CREATE before the controller sees the request: only a request with a topic
    # the client may create reaches the controller and times out there.
    if _past_deadline(request["timeout"]) and any(
            _topic_action_allowed(broker, ctx, Operation.CREATE, t["name"]) for t in topics):
        return {"throttle_time": 0, "topics": [_not_created(t["name"], "REQUEST_TIMED_OUT", None) for t in topics]}
    results = []
    budget = _PartitionBudget()
    async for t in ctx.paced(topics):
        name = t["name"]
        if not _topic_action_allowed(broker, ctx, Operation.CREATE, name):
            results.append(_not_created(name, "TOPIC_AUTHORIZATION_FAILED", "Authorization failed."))
            continue
        configs = {c["name"]: c["value"] for c in t.get("configs") or []}
        partitions = t["num_partitions"]
        if t.get("assignments"):
            partitions = len(t["assignments"]) if partitions == -1 else partitions
        try:
            budget.take(broker.config["num.partitions"] if partitions == -1 else partitions)
            if request.get("validate_only"):
                count, rf, stored = broker.topics.check_new_topic(name, partitions, t["replication_factor"], configs)
                topic_id, stored_configs = bytes(16), stored
            else:
                topic = await broker.topics.create_paced(name, partitions, t["replication_factor"], configs)
                count, rf, topic_id, stored_configs = len(topic.partitions), 1, topic.topic_id, topic.configs
        except TopicError as exc:
            results.append(_not_created(name, exc.error, exc.message))
            continue
        # The created topic's configs only for a client that may describe them.
        describable = broker.authorizer.authorize(ctx, Operation.DESCRIBE_CONFIGS, ResourceType.TOPIC, name)
        results.append({
            "name": name, "topic_id": topic_id, "error_code": 0, "error_message": None,
            "num_partitions": count, "replication_factor": rf,
            "configs": _described_topic_configs(broker, stored_configs) if describable else [],
        })
    return {"throttle_time": 0, "topics": results}


@apis.handler(20, 1, 6)
async def delete_topics(broker, ctx, request):
    # v0-v5 send topic_names; v6 sends topics with a name or an id.
    items = request.get("topics")
    if items is None:
        items = [{"name": n, "topic_id": bytes(16)} for n in request.get("topic_names", [])]
    if _past_deadline(request["timeout"]) and items and broker.config["delete.topic.enable"]:
        # Named as the request names them: an id's name stays unsaid, a name's id zero.
        return {"throttle_time": 0, "responses": [
            {"name": item.get("name"), "topic_id": item.get("topic_id") or bytes(16),
             "error_code": code("REQUEST_TIMED_OUT"), "error_message": None} for item in items]}
    responses = []
    async for item in ctx.paced(items):
        name = item.get("name")
        if name is None and item.get("topic_id"):
            topic = broker.topics.by_id(item["topic_id"])
            name = topic.name if topic else None
        entry = {"name": name, "topic_id": item.get("topic_id") or bytes(16), "error_code": 0, "error_message": None}
        try:
            if name is None:
                raise TopicError("UNKNOWN_TOPIC_ID", "This server does not host this topic ID.")
            if not _topic_action_allowed(broker, ctx, Operation.DELETE, name):
                if item.get("name") is None:
                    entry["name"] = None  # named by id: the name stays hidden
                raise TopicError("TOPIC_AUTHORIZATION_FAILED", "Authorization failed.")
            if not broker.config["delete.topic.enable"]:
                raise TopicError("TOPIC_DELETION_DISABLED", "Topic deletion is disabled.")
            topic = broker.topics.get(name)
            if topic is not None:
                entry["topic_id"] = topic.topic_id
            broker.topics.delete(name)
        except TopicError as exc:
            entry.update(error_code=code(exc.error), error_message=exc.message)
        responses.append(entry)
    return {"throttle_time": 0, "responses": responses}


@apis.handler(37, 0, 3)
async def create_partitions(broker, ctx, request):
    topics = request["topics"]
    if _past_deadline(request["timeout"]) and any(
            _topic_action_allowed(broker, ctx, Operation.ALTER, t["name"]) for t in topics):
        return {"throttle_time": 0, "results": [
            {"name": t["name"], "error_code": code("REQUEST_TIMED_OUT"), "error_message": None} for t in topics]}
    results = []
    budget = _PartitionBudget()
    async for t in ctx.paced(topics):
        try:
            _check_topic_action(broker, ctx, Operation.ALTER, t["name"])
            topic = broker.topics.get(t["name"])
            budget.take(t["count"] - (len(topic.partitions) if topic else 0))
            await broker.topics.add_partitions_paced(t["name"], t["count"], request.get("validate_only", False))
            results.append({"name": t["name"], "error_code": 0, "error_message": None})
        except TopicError as exc:
            results.append({"name": t["name"], "error_code": code(exc.error), "error_message": exc.message})
    return {"throttle_time": 0, "results": results}


# -- configs ------------------------------------------------------------------------


# Broker configs Kafka derives from an hours spelling: their DEFAULT_CONFIG synonym is that one.
_HOURS_DEFAULTS = {"log.retention.ms": ("log.retention.hours", "168"), "log.roll.ms": ("log.roll.hours", "168")}


def _broker_synonyms(broker, name: str, sensitive: bool, rname: str) -> list[dict]:
    synonyms = []
    layers = broker.config.layers(name)
    if rname == "":  # the cluster default's entry: its own value only
        layers = [(cfg.SOURCE_DYNAMIC_DEFAULT_BROKER, broker.config.dynamic_default[name])]
    for source, value in layers:
        synonym = name
        if source == cfg.SOURCE_DEFAULT and name in _HOURS_DEFAULTS:
            synonym, value = _HOURS_DEFAULTS[name]
        elif source == cfg.SOURCE_DEFAULT and value is None:
            continue
        synonyms.append({"name": synonym, "value": None if sensitive else cfg.render(value), "source": source})
    return synonyms


def _broker_entries(broker, rname: str, include_synonyms: bool) -> list[dict]:
    """This broker's configs ("1"), or the cluster-wide dynamic defaults alone ("")."""
    names = sorted(broker.config.dynamic_default) if rname == "" else sorted(cfg.BROKER_CONFIGS)
    out = []
    for name in names:
        definition = cfg.BROKER_CONFIGS[name]
        sensitive = definition.type == cfg.PASSWORD  # Kafka never returns their values
        if rname == "":
            source, value = cfg.SOURCE_DYNAMIC_DEFAULT_BROKER, broker.config.dynamic_default[name]
        else:
            source, value = broker.config.source(name), broker.config[name]
        out.append({"name": name, "value": None if sensitive else cfg.render(value),
                    "read_only": name not in DYNAMIC_CONFIGS, "config_source": source, "is_sensitive": sensitive,
                    "config_type": definition.type, "documentation": definition.doc or None,
                    "synonyms": _broker_synonyms(broker, name, sensitive, rname) if include_synonyms else []})
    return out


def _topic_entries(broker, topic, include_synonyms: bool) -> list[dict]:
    out = []
    for entry in _described_topic_configs(broker, topic.configs):
        name = entry["name"]
        synonyms = []
        if include_synonyms:
            if name in topic.configs:
                synonyms.append({"name": name, "value": topic.configs[name], "source": cfg.SOURCE_TOPIC})
            broker_name = cfg.TOPIC_SYNONYM.get(name)
            source = broker.config.source(broker_name) if broker_name else None
            if broker_name and not (broker_name in cfg.NO_DEFAULT_SYNONYMS and source == cfg.SOURCE_DEFAULT):
                synonyms.append({"name": broker_name, "value": cfg.render(broker.config[broker_name]),
                                 "source": source})
        entry.update(synonyms=synonyms, documentation=None)
        out.append(entry)
    return out


def _check_broker_name(broker, name: str) -> None:
    if name not in ("", str(broker.node_id)):
        raise TopicError("INVALID_REQUEST", f"Unexpected broker id, expected {broker.node_id} but received {name}")


def _check_config_access(broker, ctx, operation: Operation, rtype: int, rname: str) -> None:
    """DESCRIBE_CONFIGS / ALTER_CONFIGS on the topic, or on the cluster for broker configs."""
    if rtype == RESOURCE_TOPIC:
        if not broker.authorizer.authorize(ctx, operation, ResourceType.TOPIC, rname):
            raise TopicError("TOPIC_AUTHORIZATION_FAILED", "Topic authorization failed.")
    elif rtype == RESOURCE_BROKER:
        if not broker.authorizer.authorize(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME):
            raise TopicError("CLUSTER_AUTHORIZATION_FAILED", "Cluster authorization failed.")
    elif rtype == RESOURCE_GROUP:
        if not broker.authorizer.authorize(ctx, operation, ResourceType.GROUP, rname):
            raise TopicError("GROUP_AUTHORIZATION_FAILED", "Group authorization failed.")


@apis.handler(32, 1, 4)
async def describe_configs(broker, ctx, request):
    results = []
    # Each resource is described once however often it is named: a broker's ~100 configs
    # answered two million times would be the amplification of a one-line request.
    resources = {(r["resource_type"], r["resource_name"]): r for r in request["resources"]}.values()
    async for r in ctx.paced(resources):
        rtype, rname = r["resource_type"], r["resource_name"]
        result = {"error_code": 0, "error_message": None, "resource_type": rtype, "resource_name": rname, "configs": []}
        try:
            _check_config_access(broker, ctx, Operation.DESCRIBE_CONFIGS, rtype, rname)
            if rtype == RESOURCE_TOPIC:
                topic = broker.topics.get(rname)
                if topic is None:
                    raise TopicError("UNKNOWN_TOPIC_OR_PARTITION", f"Topic {rname} does not exist.")
                entries = _topic_entries(broker, topic, request.get("include_synonyms", False))
            elif rtype == RESOURCE_BROKER:
                _check_broker_name(broker, rname)
                entries = _broker_entries(broker, rname, request.get("include_synonyms", False))
            elif rtype == RESOURCE_GROUP:
                if not rname:
                    raise TopicError("INVALID_REQUEST", "Group name must not be empty")
                entries = _group_entries(broker, rname, request.get("include_synonyms", False))
            else:
                raise TopicError("INVALID_REQUEST", f"Unsupported resource type {rtype}")
            keys = r.get("configuration_keys")
            if keys is not None:
                keys = set(keys)
                entries = [e for e in entries if e["name"] in keys]
            result["configs"] = entries
        except TopicError as exc:
            result.update(error_code=code(exc.error), error_message=exc.message)
        results.append(result)
    return {"throttle_time": 0, "results": results}


def _group_entries(broker, group: str, include_synonyms: bool) -> list[dict]:
    """A group's configs, overridden or not; the one synonym is the config itself (Kafka's)."""
    return [{"name": name, "value": value, "read_only": False, "config_source": source, "is_sensitive": False,
             "config_type": config_type, "documentation": None,
             "synonyms": [{"name": name, "value": value, "source": source}] if include_synonyms else []}
            for name, value, source, config_type in broker.group_configs.describe(group)]


def _alter_group(broker, group: str, configs: dict[str, str], validate_only: bool) -> None:
    if not group:
        raise TopicError("INVALID_REQUEST", "Default group resources are not allowed.")
    try:
        broker.group_configs.replace(group, configs, validate_only)
    except GroupConfigError as exc:
        raise TopicError(exc.error, exc.message) from None


def _group_changes(current: dict[str, str], changes: list[dict]) -> dict[str, str]:
    """IncrementalAlterConfigs on a group, refused as Kafka refuses it: a key named twice, a
    value missing, APPEND/SUBTRACT (no group config is a list)."""
    names = [c["name"] for c in changes]
    if len(set(names)) != len(names):
        raise TopicError("INVALID_REQUEST", "Error due to duplicate config keys")
    configs = dict(current)
    for change in changes:
        name, op, value = change["name"], change["config_operation"], change["value"]
        if op != OP_DELETE and value is None:
            raise TopicError("INVALID_REQUEST", f"Null value not supported for : {name}")
        if op in (OP_APPEND, OP_SUBTRACT):
            raise TopicError("INVALID_CONFIG", f"Can't {'APPEND' if op == OP_APPEND else 'SUBTRACT'} to key {name} "
                                               "because its type is not LIST.")
        if op == OP_SET:
            configs[name] = value
        elif op == OP_DELETE:
            configs.pop(name, None)
        else:
            raise TopicError("INVALID_REQUEST", f"Unknown config operation {op}")
    return configs


def _alter_topic(broker, name: str, new_configs: dict[str, str], validate_only: bool) -> None:
    topic = broker.topics.get(name)
    if topic is None:
        raise TopicError("UNKNOWN_TOPIC_OR_PARTITION", f"Topic {name} does not exist.")
    try:
        stored = cfg.validate_topic_configs(new_configs)
    except cfg.ConfigError as exc:
        raise TopicError("INVALID_CONFIG", str(exc)) from None
    if not validate_only:
        broker.topics.set_configs(topic, stored)


def _alter_response(rtype: int, rname: str, exc: TopicError | None = None) -> dict:
    return {"error_code": code(exc.error) if exc else 0, "error_message": exc.message if exc else None,
            "resource_type": rtype, "resource_name": rname}


def _broker_scope(broker, rname: str) -> str:
    """The dynamic layer a broker resource names: "" the cluster-wide default, "1" this broker."""
    _check_broker_name(broker, rname)
    return CLUSTER_DEFAULT if rname == "" else BROKER


def _alter_broker(broker, scope: str, configs: dict[str, str], validate_only: bool) -> None:
    try:
        broker.dynamic_configs.replace(scope, configs, validate_only)
    except DynamicConfigError as exc:
        raise TopicError("INVALID_REQUEST", str(exc)) from None
    if not validate_only:
        broker.topics.refresh_configs()


@apis.handler(33, 0, 2)
async def alter_configs(broker, ctx, request):
    responses = []
    async for r in ctx.paced(request["resources"]):
        rtype, rname = r["resource_type"], r["resource_name"]
        try:
            _check_config_access(broker, ctx, Operation.ALTER_CONFIGS, rtype, rname)
            if rtype == RESOURCE_TOPIC:
                # AlterConfigs replaces the whole set of explicit configs.
                configs = {c["name"]: c["value"] for c in r["configs"] if c["value"] is not None}
                _alter_topic(broker, rname, configs, request.get("validate_only", False))
            elif rtype == RESOURCE_BROKER:
                configs = {c["name"]: c["value"] for c in r["configs"] if c["value"] is not None}
                _alter_broker(broker, _broker_scope(broker, rname), configs, request.get("validate_only", False))
            elif rtype == RESOURCE_GROUP:
                configs = {c["name"]: c["value"] for c in r["configs"] if c["value"] is not None}
                _alter_group(broker, rname, configs, request.get("validate_only", False))
            else:
                raise TopicError("INVALID_REQUEST", f"Unsupported resource type {rtype}")
            responses.append(_alter_response(rtype, rname))
        except TopicError as exc:
            responses.append(_alter_response(rtype, rname, exc))
    return {"throttle_time": 0, "responses": responses}


def _apply_incremental(current: dict[str, str], changes: list[dict], definitions: dict,
                       unknown_error: str) -> dict[str, str]:
    configs = dict(current)
    for change in changes:
        name, op, value = change["name"], change["config_operation"], change["value"]
        definition = definitions.get(name)
        if definition is None:
            raise TopicError(unknown_error, f"Unknown config name: {name}")
        if op == OP_SET:
            configs[name] = value
        elif op == OP_DELETE:
            configs.pop(name, None)
        elif op in (OP_APPEND, OP_SUBTRACT):
            if definition.type != cfg.LIST:
                raise TopicError("INVALID_CONFIG", f"Config {name} is not a list: APPEND/SUBTRACT need a list")
            items = [i for i in (configs.get(name) or "").split(",") if i]
            if name not in configs:
                items = list(definition.default or [])
            extra = [i.strip() for i in (value or "").split(",") if i.strip()]
            items = items + [i for i in extra if i not in items] if op == OP_APPEND else [i for i in items if i not in extra]
            configs[name] = ",".join(items)
        else:
            raise TopicError("INVALID_REQUEST", f"Unknown config operation {op}")
    return configs


@apis.handler(44, 0, 1)
async def incremental_alter_configs(broker, ctx, request):
    responses = []
    async for r in ctx.paced(request["resources"]):
        rtype, rname = r["resource_type"], r["resource_name"]
        try:
            _check_config_access(broker, ctx, Operation.ALTER_CONFIGS, rtype, rname)
            if rtype == RESOURCE_TOPIC:
                topic = broker.topics.get(rname)
                if topic is None:
                    raise TopicError("UNKNOWN_TOPIC_OR_PARTITION", f"Topic {rname} does not exist.")
                configs = _apply_incremental(topic.configs, r["configs"], cfg.TOPIC_CONFIGS, "INVALID_CONFIG")
                _alter_topic(broker, rname, configs, request.get("validate_only", False))
            elif rtype == RESOURCE_BROKER:
                scope = _broker_scope(broker, rname)
                configs = _apply_incremental(broker.dynamic_configs.current(scope), r["configs"],
                                             cfg.BROKER_CONFIGS, "INVALID_REQUEST")
                _alter_broker(broker, scope, configs, request.get("validate_only", False))
            elif rtype == RESOURCE_GROUP:
                configs = _group_changes(broker.group_configs.overrides(rname), r["configs"])
                _alter_group(broker, rname, configs, request.get("validate_only", False))
            else:
                raise TopicError("INVALID_REQUEST", f"Unsupported resource type {rtype}")
            responses.append(_alter_response(rtype, rname))
        except TopicError as exc:
            responses.append(_alter_response(rtype, rname, exc))
    return {"throttle_time": 0, "responses": responses}


@apis.handler(74, 0, 1)
async def list_config_resources(broker, ctx, request):
    """The resources configs can be described for (KIP-1142; what `kafka-configs --describe
    --entity-type groups` asks first): every topic, this broker, the groups with overrides (as
    Kafka lists them: a group without any is not listed), no client metrics (not served). v0
    asks for client metrics only; v1 for the given types, all of them when none is given."""
    if not broker.authorizer.authorize(ctx, Operation.DESCRIBE_CONFIGS, ResourceType.CLUSTER, CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": code("CLUSTER_AUTHORIZATION_FAILED"), "config_resources": []}
    wanted = request.get("resource_types") if ctx.api_version >= 1 else [RESOURCE_CLIENT_METRICS]
    wanted = set(wanted or LISTED_RESOURCE_TYPES)
    if not wanted <= set(LISTED_RESOURCE_TYPES):
        return {"throttle_time": 0, "error_code": code("UNSUPPORTED_VERSION"), "config_resources": []}
    names = []
    if RESOURCE_TOPIC in wanted:
        names += [(RESOURCE_TOPIC, name) for name in broker.topics.topics]
    if RESOURCE_BROKER in wanted:
        names.append((RESOURCE_BROKER, str(broker.node_id)))
    if RESOURCE_GROUP in wanted:
        names += [(RESOURCE_GROUP, group) for group in broker.group_configs.groups()]
    return {"throttle_time": 0, "error_code": 0,
            "config_resources": [{"resource_type": rtype, "resource_name": name} for rtype, name in names]}
