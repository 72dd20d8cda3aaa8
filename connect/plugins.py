"""Finding plugins (connectors, converters, header converters, transforms, predicates) by the
names users write in configs.

Where they come from: the modules shipped here (BUILTIN_MODULES), the `schemabus.connect.plugins`
entry point group of installed distributions (each entry point names a module or a class), and
`plugin.path`: directories put on sys.path whose top-level modules are imported and scanned.
Any importable `package.module.Class` path also works without being listed.

Names a plugin answers to (Kafka's aliasing): its `class_name` (Kafka's Java class name for the
ones Kafka ships, so existing configs work), its Python path, its simple name, and for connectors
and converters the simple name without the `Connector`/`Converter` suffix, plus any `aliases`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
import pkgutil
import sys
import threading
from dataclasses import dataclass

from connect.api import Connector, Converter, HeaderConverter, Predicate, SinkConnector, SourceConnector, Task, \
    Transformation
from connect.errors import ConnectException

log = logging.getLogger("connect.plugins")

BUILTIN_MODULES = (
    "connect.converters.simple",
    "connect.converters.json",
    "connect.converters.avro",
    "connect.converters.protobuf",
    "connect.converters.json_schema",
    "connect.connectors.file",
    "connect.connectors.jdbc",
    "connect.transforms",
)
ENTRY_POINT_GROUP = "schemabus.connect.plugins"

KIND_BASES = (("source", SourceConnector), ("sink", SinkConnector), ("converter", Converter),
              ("header_converter", HeaderConverter), ("transformation", Transformation),
              ("predicate", Predicate), ("task", Task))
LISTED_KINDS = ("source", "sink", "converter", "header_converter", "transformation", "predicate")
_SUFFIXES = {"source": "Connector", "sink": "Connector", "converter": "Converter",
             "header_converter": "Converter"}


@dataclass(frozen=True)
class PluginDesc:
    cls: type
    kind: str

    @property
    def class_name(self) -> str:
        return class_name_of(self.cls)

    def version(self) -> str:
        try:
            return str(self.cls().version()) if hasattr(self.cls, "version") else "unknown"
        except Exception:
            return "unknown"

    def info(self) -> dict:
        """PluginInfo as the REST API answers it."""
        return {"class": self.class_name, "type": self.kind, "version": self.version()}


def class_name_of(cls: type) -> str:
    return cls.__dict__.get("class_name") or f"{cls.__module__}.{cls.__qualname__}"


def kind_of(cls: type) -> str | None:
    for kind, base in KIND_BASES:
        if issubclass(cls, base) and cls is not base:
            return kind
    return None


class Plugins:
    def __init__(self, plugin_path: list[str] | None = None):
        self._by_name: dict[str, PluginDesc] = {}
        self._all: dict[type, PluginDesc] = {}
        self._lock = threading.Lock()
        for directory in plugin_path or []:
            self._scan_directory(directory)
        for module in BUILTIN_MODULES:
            self._register_module(importlib.import_module(module))
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = entry.load()
            except Exception as exc:  # one broken distribution must not stop the worker
                log.warning("plugin entry point %s failed to load: %s", entry.value, exc)
                continue
            if inspect.ismodule(loaded):
                self._register_module(loaded)
            elif inspect.isclass(loaded):
                self._register(loaded)

    def _scan_directory(self, directory: str) -> None:
        if directory not in sys.path:
            sys.path.append(directory)
        for info in pkgutil.iter_modules([directory]):
            try:
                self._register_module(importlib.import_module(info.name))
            except Exception as exc:
                log.warning("plugin.path module %s in %s failed to import: %s", info.name, directory, exc)

    def _register_module(self, module) -> None:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ or cls.__module__.startswith(module.__name__ + "."):
                self._register(cls)
            for _, inner in inspect.getmembers(cls, inspect.isclass):  # e.g. InsertField.Value
                if inner.__module__ == cls.__module__ and inner is not cls:
                    self._register(inner)

    def _register(self, cls: type) -> PluginDesc | None:
        kind = kind_of(cls)
        if kind is None or inspect.isabstract(cls) or cls.__dict__.get("abstract_plugin"):
            return None
        desc = self._all.get(cls) or PluginDesc(cls, kind)
        self._all[cls] = desc
        simple = desc.class_name.rsplit(".", 1)[-1]
        names = {desc.class_name, f"{cls.__module__}.{cls.__qualname__}", simple, *getattr(cls, "aliases", ())}
        suffix = _SUFFIXES.get(kind)
        if suffix and simple.endswith(suffix) and simple != suffix:
            names.add(simple[: -len(suffix)])
        for name in names:
            self._by_name.setdefault(name, desc)
        return desc

    def find(self, name: str, kinds: tuple[str, ...] | None = None) -> PluginDesc | None:
        desc = self._by_name.get(name.strip()) if name else None
        if desc is None and name and "." in name:
            desc = self._import(name.strip())
        if desc is not None and kinds and desc.kind not in kinds:
            return None
        return desc

    def _import(self, path: str) -> PluginDesc | None:
        module_name, _, attr = path.replace(":", ".").rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError):
            return None
        with self._lock:
            return self._register(cls) if inspect.isclass(cls) else None

    def new(self, name: str, kinds: tuple[str, ...], what: str):
        desc = self.find(name, kinds)
        if desc is None:
            available = ", ".join(sorted({d.class_name for d in self._all.values() if d.kind in kinds}))
            raise ConnectException(f"Failed to find any class that implements {what} and which name matches "
                                   f"{name}, available {what.lower()}s are: {available}")
        return desc.cls()

    def connector(self, name: str) -> Connector:
        return self.new(name, ("source", "sink"), "Connector")

    def all(self, kinds: tuple[str, ...] | None = None) -> list[PluginDesc]:
        kinds = kinds or LISTED_KINDS  # tasks are found by name (task.class), never listed
        return sorted((d for d in self._all.values() if d.kind in kinds),
                      key=lambda d: (d.kind, d.class_name))
