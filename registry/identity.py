"""Who an instance is to the other instances: Confluent's SchemaRegistryIdentity.

Confluent's instances join their group with `{"version":1,"host":...,"port":...,
"master_eligibility":...,"scheme":...}` as member metadata, and followers forward writes to the
URL the leader's identity names. librdkafka does not let a consumer choose its member metadata, so
here the identity travels as the election member's `client.id` (shown to every member by
DescribeGroups, registry/election.py); the JSON is the same.

Settings, with Confluent's names: `host.name` (default: the listener's host, or this machine's
name when it listens on every address), `host.port` (default: the listener's port),
`leader.eligibility` (default true; the older `master.eligibility` wins when set), and
`inter.instance.protocol` (http or https; the older `schema.registry.inter.instance.protocol` wins
when set), which picks the listener the identity names.
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass

log = logging.getLogger("registry.identity")

ELIGIBILITY = "leader.eligibility"
OLD_ELIGIBILITY = "master.eligibility"
PROTOCOL = "inter.instance.protocol"
OLD_PROTOCOL = "schema.registry.inter.instance.protocol"
HOST_NAME = "host.name"
HOST_PORT = "host.port"
WILDCARDS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Identity:
    host: str
    port: int
    eligible: bool = True
    scheme: str = "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def to_json(self) -> str:
        # Confluent's field names and order (Jackson writes them in declaration order).
        return json.dumps({"version": 1, "host": self.host, "port": self.port,
                           "master_eligibility": self.eligible, "scheme": self.scheme}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> "Identity | None":
        """The identity a member joined with, or None when it is not one (e.g. an older instance)."""
        try:
            data = json.loads(text or "")
            return cls(str(data["host"]), int(data["port"]), bool(data.get("master_eligibility", True)),
                       str(data.get("scheme") or "http").lower())
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def same_endpoint(self, other: "Identity | None") -> bool:
        return other is not None and (self.host, self.port, self.scheme) == (other.host, other.port, other.scheme)


def _bool(properties: dict[str, str], name: str) -> bool | None:
    value = properties.get(name)
    if value is None or not value.strip():
        return None
    value = value.strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"{name} must be true or false, not {properties[name]!r}")
    return value == "true"


def eligibility(properties: dict[str, str]) -> bool:
    """leader.eligibility, unless the deprecated master.eligibility is set (as in Confluent)."""
    old = _bool(properties, OLD_ELIGIBILITY)
    if old is not None:
        return old
    new = _bool(properties, ELIGIBILITY)
    return True if new is None else new


def inter_instance_protocol(properties: dict[str, str]) -> str:
    value = (properties.get(OLD_PROTOCOL) or properties.get(PROTOCOL) or "http").strip().lower()
    if value not in ("http", "https"):
        raise ValueError(f"{PROTOCOL} must be http or https, not {value!r}")
    return value


def resolve(properties: dict[str, str], listeners: list[tuple[str, str, int]]) -> Identity:
    """This instance's identity from the properties and its bound listeners ((scheme, host, port),
    ports as bound). Like Confluent, the last listener of the inter-instance protocol is named;
    where there is none (Confluent refuses to start) the first listener is, with a warning."""
    protocol = inter_instance_protocol(properties)
    matching = [listener for listener in listeners if listener[0] == protocol]
    if matching:
        scheme, host, port = matching[-1]
    else:
        scheme, host, port = listeners[0]
        log.warning("no %s listener for %s=%s; other instances will forward writes to the %s listener",
                    protocol, PROTOCOL, protocol, scheme)
    name = (properties.get(HOST_NAME) or "").strip()
    if not name:
        name = socket.getfqdn() if host in WILDCARDS else host
    port_text = (properties.get(HOST_PORT) or "").strip()
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{HOST_PORT} must be a port number, not {port_text!r}")
        port = int(port_text)
    return Identity(name, port, eligibility(properties), scheme)
