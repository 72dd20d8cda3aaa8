"""The transformation chain a connector's config describes, as Kafka's ConnectorConfig reads it:

    transforms=a,b                      transform aliases, applied in this order
    transforms.a.type=<class>           a Transformation plugin name
    transforms.a.<key>=...              its configs (given to it with the prefix stripped)
    transforms.a.predicate=p            optional: apply only to records p holds for ...
    transforms.a.negate=true            ... or, negated, to those it does not
    predicates=p                        predicate aliases
    predicates.p.type=<class>           a Predicate plugin name
    predicates.p.<key>=...              its configs

`transforms_config_def` gives the definitions of those keys (what `config/validate` shows) and
`validate_transform_configs` their per-key errors; `TransformationChain.from_config` builds it.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, replace

from connect.api import ConnectRecord, Predicate, Transformation
from connect.config_def import NO_DEFAULT, ConfigDef, ConfigKey, ConfigType, ConfigValue, Importance, Width, \
    parse_type
from connect.errors import ConfigException
from connect.plugins import Plugins

log = logging.getLogger("connect.transforms")

TRANSFORMS = "transforms"
PREDICATES = "predicates"
PREDICATE = "predicate"
NEGATE = "negate"
_KINDS = {TRANSFORMS: ("transformation", "Transformation"), PREDICATES: ("predicate", "Predicate")}
_GROUPS = {TRANSFORMS: "Transforms", PREDICATES: "Predicates"}  # ConnectorConfig's group names


def aliases(config: dict, key: str) -> list[str]:
    """The aliases listed under `transforms` or `predicates`, each once, in order."""
    listed = parse_type(key, config.get(key), ConfigType.LIST) or []
    return list(dict.fromkeys(listed))


def configs_with_prefix(config: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}


@dataclass
class TransformationStage:
    """One transform, run on a record when its predicate (if any) says so (TransformationStage)."""
    alias: str
    transformation: Transformation
    predicate: Predicate | None = None
    negate: bool = False

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        if self.predicate is None or self.negate != bool(self.predicate.test(record)):
            return self.transformation.apply(record)
        return record

    def close(self) -> None:
        for plugin in (self.transformation, self.predicate):
            if plugin is None:
                continue
            try:
                plugin.close()
            except Exception:  # closing one must not keep the others open
                log.exception("failed to close %s of transform %s", type(plugin).__name__, self.alias)


class TransformationChain:
    def __init__(self, stages: list[TransformationStage] | None = None):
        self.stages = list(stages or [])

    @classmethod
    def from_config(cls, plugins: Plugins, config: dict) -> "TransformationChain":
        """The configured transforms and their predicates, instantiated and configured. Raises
        ConfigException (or what a plugin's configure raises); nothing is left open then."""
        predicate_aliases = aliases(config, PREDICATES)
        stages: list[TransformationStage] = []
        try:
            for alias in aliases(config, TRANSFORMS):
                stages.append(_build_stage(plugins, config, alias, predicate_aliases))
        except BaseException:
            cls(stages).close()
            raise
        return cls(stages)

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        """The record through every stage in order; None as soon as one drops it."""
        for stage in self.stages:
            record = stage.apply(record)
            if record is None:
                return None
        return record

    def close(self) -> None:
        for stage in self.stages:
            stage.close()

    def __len__(self) -> int:
        return len(self.stages)


def _build_stage(plugins: Plugins, config: dict, alias: str, predicate_aliases: list[str]) -> TransformationStage:
    prefix = f"{TRANSFORMS}.{alias}."
    transformation = _new_plugin(plugins, config, prefix, TRANSFORMS)
    stage = TransformationStage(alias, transformation)
    try:
        configs = configs_with_prefix(config, prefix)
        predicate_alias = configs.pop(PREDICATE, None)
        negate = configs.pop(NEGATE, None)
        transformation.configure(configs)
        if predicate_alias is None:
            if negate is not None:
                raise ConfigException(_negate_without_predicate(prefix))
            return stage
        if predicate_alias not in predicate_aliases:
            raise ConfigException(prefix + PREDICATE, predicate_alias, _unlisted_predicate(predicate_alias))
        predicate_prefix = f"{PREDICATES}.{predicate_alias}."
        stage.predicate = _new_plugin(plugins, config, predicate_prefix, PREDICATES)
        stage.predicate.configure(configs_with_prefix(config, predicate_prefix))
        stage.negate = bool(parse_type(prefix + NEGATE, negate, ConfigType.BOOLEAN))
        return stage
    except BaseException:
        stage.close()
        raise


def _new_plugin(plugins: Plugins, config: dict, prefix: str, group: str):
    kind, what = _KINDS[group]
    name = config.get(prefix + "type")
    if not name:
        raise ConfigException(f'Missing required configuration "{prefix}type" which has no default value.')
    return plugins.new(name, (kind,), what)


def _negate_without_predicate(prefix: str) -> str:
    return (f"Config '{prefix}{NEGATE}' was provided but there is no config '{prefix}{PREDICATE}' defining a "
            "predicate to be negated.")


def _unlisted_predicate(alias: str) -> str:
    return f"Predicate alias '{alias}' is not listed in '{PREDICATES}'"


# -- config/validate --------------------------------------------------------------------------

def transforms_config_def(plugins: Plugins, config: dict) -> ConfigDef:
    """Definitions of every `transforms.<a>.*` and `predicates.<p>.*` key the config calls for:
    the type, a transform's predicate and negate, and each plugin's own keys, prefixed (Kafka's
    ConnectorConfig.enrich). A type that does not resolve adds only its type key."""
    definition = ConfigDef()
    predicate_aliases = aliases(config, PREDICATES)
    for group in (TRANSFORMS, PREDICATES):
        for alias in aliases(config, group):
            _define_alias(definition, plugins, config, group, alias, predicate_aliases)
    return definition


def _define_alias(definition: ConfigDef, plugins: Plugins, config: dict, group: str, alias: str,
                  predicate_aliases: list[str]) -> None:
    kind, what = _KINDS[group]
    prefix = f"{group}.{alias}."
    group_name = f"{_GROUPS[group]}: {alias}"
    order = itertools.count(1)
    definition.add(ConfigKey(
        prefix + "type", ConfigType.CLASS, NO_DEFAULT, _type_validator(plugins, config, group, prefix),
        Importance.HIGH, f"Class for the '{alias}' {what.lower()}.", group=group_name, order=next(order),
        width=Width.LONG, display_name=f"{what} type for {alias}",
        recommender=lambda name, props: [d.class_name for d in plugins.all((kind,))]))
    if group == TRANSFORMS:
        definition.add(ConfigKey(
            prefix + PREDICATE, ConfigType.STRING, None, _predicate_validator(predicate_aliases), Importance.MEDIUM,
            "The alias of a predicate used to determine whether to apply this transformation.",
            group=group_name, order=next(order)))
        definition.add(ConfigKey(prefix + NEGATE, ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                                 "Whether the configured predicate should be negated.",
                                 group=group_name, order=next(order)))
    desc = plugins.find(config.get(prefix + "type") or "", (kind,))
    if desc is None:
        return
    for key in desc.cls().config().keys.values():
        if group == TRANSFORMS and key.name in (PREDICATE, NEGATE):
            log.warning("Transformer config %s is masked by implicit config of that name", key.name)
            continue
        definition.add(replace(key, name=prefix + key.name, validator=_embedded(prefix, key.validator),
                               group=group_name, order=next(order)))


def _type_validator(plugins: Plugins, config: dict, group: str, prefix: str):
    kind, what = _KINDS[group]

    def check(name, value):
        if group == TRANSFORMS and prefix + NEGATE in config and prefix + PREDICATE not in config:
            raise ConfigException(_negate_without_predicate(prefix))
        desc = plugins.find(value)
        if desc is None:
            raise ConfigException(name, value, f"Class {value} could not be found.")
        if desc.kind != kind:
            raise ConfigException(name, value, f"Not a {what}")

    return check


def _predicate_validator(predicate_aliases: list[str]):
    def check(name, value):
        if value is not None and value not in predicate_aliases:
            raise ConfigException(name, value, _unlisted_predicate(value))

    return check


def _embedded(prefix: str, validator):
    """A plugin's validator seeing its own key name, so its messages read as Kafka's (ConfigDef.embed)."""
    if validator is None:
        return None
    return lambda name, value: validator(name[len(prefix):], value)


def validate_transform_configs(plugins: Plugins, config: dict) -> list[ConfigValue]:
    """Each `transforms.*`/`predicates.*` key's value and errors, for `config/validate`: an unknown or
    wrong-kind type, negate without a predicate, a predicate not listed in `predicates`, each plugin's
    own key errors. When an alias's keys are all valid, the plugin is also configured once, so that
    the checks its configure() makes across keys (e.g. InsertField's "No field insertion configured")
    are reported now rather than when the task starts."""
    results = transforms_config_def(plugins, config).validate(config)
    for group in (TRANSFORMS, PREDICATES):
        for alias in aliases(config, group):
            _check_configure(plugins, config, group, alias, results)
    return list(results.values())


def _check_configure(plugins: Plugins, config: dict, group: str, alias: str, results: dict) -> None:
    prefix = f"{group}.{alias}."
    if any(value.errors for name, value in results.items() if name.startswith(prefix)):
        return
    kind, _ = _KINDS[group]
    configs = configs_with_prefix(config, prefix)
    if group == TRANSFORMS:
        configs.pop(PREDICATE, None)
        configs.pop(NEGATE, None)
    plugin = plugins.find(config[prefix + "type"], (kind,)).cls()
    try:
        plugin.configure(configs)
    except Exception as exc:
        # A ConfigException naming one of the plugin's keys goes on that key, anything else on the type.
        key = prefix + exc.name if isinstance(exc, ConfigException) and isinstance(exc.name, str) else None
        results[key if key in results else prefix + "type"].errors.append(str(exc))
    finally:
        try:
            plugin.close()
        except Exception:
            log.debug("closing %s after validation failed", type(plugin).__name__, exc_info=True)
