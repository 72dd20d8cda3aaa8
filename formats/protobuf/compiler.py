"""Compiling .proto text with protoc (grpcio-tools, in-process) into FileDescriptorProtos.

protoc is the reference parser: whatever it accepts, the registry accepts, and its error
messages are what a client sees for a schema that does not compile. The files of a schema
(the schema itself and the schemas its references resolve to, named by import path) are
written to a fresh temporary directory; well-known imports resolve without references from
grpcio-tools' bundled `google/protobuf/*.proto`, googleapis-common-protos' `google/type/*.proto`
and the `confluent/*.proto` files that confluent-kafka ships as descriptors.
"""

from __future__ import annotations

import ast
import atexit
import base64
import binascii
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path, PurePosixPath
from typing import Mapping

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from formats.base import InvalidSchemaError
from formats.protobuf.render import render_file

MAIN_FILE = "default"  # the name Confluent gives a schema's own file in its serialized form
_BASE64 = re.compile(r"[A-Za-z0-9+/\s]+={0,2}\s*\Z")
_LOCK = threading.Lock()  # protoc's in-process entry point is not documented as thread-safe
_KNOWN_LOCK = threading.Lock()
_known_dir: str | None = None


def is_builtin(name: str) -> bool:
    """Imports that Confluent's clients never register as references."""
    return name.startswith(("google/protobuf/", "google/type/", "confluent/"))


def decode_descriptor(text: str) -> descriptor_pb2.FileDescriptorProto | None:
    """The FileDescriptorProto in a base64 string, or None when `text` is not one."""
    stripped = text.strip()
    if not stripped or not _BASE64.match(stripped):
        return None
    try:
        raw = base64.b64decode("".join(stripped.split()), validate=True)
        fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
    except (binascii.Error, ValueError, DecodeError):
        return None
    if not (fdp.name or fdp.package or fdp.message_type or fdp.enum_type or fdp.syntax or fdp.service):
        return None
    return fdp


def encode_descriptor(fdp: descriptor_pb2.FileDescriptorProto) -> str:
    return base64.b64encode(fdp.SerializeToString()).decode("ascii")


def _protoc_include() -> str:
    import grpc_tools
    return os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")


def _safe_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\x00" in name:
        raise InvalidSchemaError(f"Invalid reference name for a .proto import path: {name!r}")
    return path


def _known_imports_dir() -> str:
    """google/type/*.proto and confluent/*.proto, written once per process."""
    with _KNOWN_LOCK:
        if _known_dir is None:
            _write_known_imports()
        return _known_dir


def _write_known_imports() -> None:
    global _known_dir
    root = tempfile.mkdtemp(prefix="schemabus-proto-")
    atexit.register(shutil.rmtree, root, True)
    for name, text in known_imports().items():
        path = Path(root, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    _known_dir = root


# confluent-kafka ships these as generated modules; they are read as files, because importing
# them runs confluent_kafka.schema_registry's __init__, which needs its optional extra.
_CONFLUENT_MODULES = ("schema_registry/confluent/meta_pb2.py", "schema_registry/confluent/type/decimal_pb2.py")


class KnownImportsMissing(RuntimeError):
    """The installation lacks files every registry resolves without references."""


def known_imports() -> dict[str, str]:
    """google/type/*.proto (googleapis-common-protos) and confluent/meta.proto and
    confluent/type/decimal.proto (rendered from confluent-kafka's generated modules), by path."""
    out: dict[str, str] = {}
    try:
        import google.type
        source = Path(next(iter(google.type.__path__)))
        for proto in sorted(source.glob("*.proto")):
            out[f"google/type/{proto.name}"] = proto.read_text(encoding="utf-8")
    except (ImportError, StopIteration, OSError) as exc:
        raise KnownImportsMissing(f"cannot load google/type/*.proto from googleapis-common-protos: {exc}") from exc
    import confluent_kafka
    package = Path(confluent_kafka.__file__).parent
    for module in _CONFLUENT_MODULES:
        try:
            fdp = descriptor_pb2.FileDescriptorProto.FromString(_descriptor_bytes((package / module).read_bytes()))
        except (OSError, InvalidSchemaError, DecodeError) as exc:
            raise KnownImportsMissing(f"cannot load {module} from confluent-kafka at {package}: {exc}") from exc
        out[fdp.name] = render_file(fdp)
    if not any(name.startswith("google/type/") for name in out):
        raise KnownImportsMissing("googleapis-common-protos has no google/type/*.proto files")
    return out


_SERIALIZED_FILE = re.compile(rb"AddSerializedFile\(\s*(b'(?:[^'\\]|\\.)*')\s*\)", re.S)


def _descriptor_bytes(code: bytes) -> bytes:
    """The serialized FileDescriptorProto embedded in protoc's generated Python module."""
    found = _SERIALIZED_FILE.search(code)
    if found is None:
        raise InvalidSchemaError("protoc produced no descriptor")
    return ast.literal_eval(found.group(1).decode("ascii"))


def _protoc_errors(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    found = errors() if callable(errors) else errors
    if not found:
        return str(exc).strip()
    lines = []
    for error in found:
        where = error.filename.decode() if isinstance(error.filename, bytes) else str(error.filename)
        message = error.message.decode() if isinstance(error.message, bytes) else str(error.message)
        if error.line >= 0:
            where += f":{error.line + 1}:{error.column + 1}"
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


def compile_files(main_text: str, resolved: Mapping[str, str],
                  main_name: str = MAIN_FILE) -> list[descriptor_pb2.FileDescriptorProto]:
    """Compile `main_text` (imports found among `resolved` by name, then the well-known files).

    Returns the FileDescriptorProtos of every file the schema imports, transitively, dependencies
    first, the schema's own file last (named `main_name`).
    """
    from grpc_tools import _protoc_compiler
    with tempfile.TemporaryDirectory(prefix="schemabus-proto-") as work:
        try:
            for name, text in resolved.items():
                path = Path(work, *_safe_path(name).parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            Path(work, main_name).write_text(main_text, encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            raise InvalidSchemaError(f"Cannot write the schema for protoc: {exc}") from None
        include = [work.encode(), _protoc_include().encode(), _known_imports_dir().encode()]
        try:
            with _LOCK:
                generated = _protoc_compiler.get_protos(main_name.encode(), include)
        except Exception as exc:  # noqa: BLE001 - protoc reports every problem as an exception
            raise InvalidSchemaError(_protoc_errors(exc)) from None
    return [descriptor_pb2.FileDescriptorProto.FromString(_descriptor_bytes(code)) for _, code in generated]


def main_file_name(resolved: Mapping[str, str]) -> str:
    name = MAIN_FILE
    while name in resolved:
        name = "_" + name
    return name
