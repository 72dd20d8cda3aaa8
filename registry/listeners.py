"""Where the registry listens and how: Confluent's `listeners` (`http://host:port`, `https://host:port`,
several allowed) and the TLS of its https listeners from Confluent's `ssl.*` properties
(http_security/tls.py, PEM stores; a JKS or PKCS12 store stops the start with how to convert it).
"""

from __future__ import annotations

from dataclasses import dataclass

# The TLS context is shared with the REST Proxy (http_security/tls.py).
from http_security.tls import server_tls_context

__all__ = ["Listener", "parse_listeners", "server_tls_context"]

SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Listener:
    scheme: str
    host: str
    port: int

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port if port is None else port}"


def parse_listeners(text: str) -> list[Listener]:
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        scheme, sep, address = item.partition("://")
        host, _, port = address.rpartition(":")
        if not sep or scheme.lower() not in SCHEMES or not port.isdigit():
            raise ValueError(f"listeners: expected http://HOST:PORT or https://HOST:PORT, not {item!r}")
        out.append(Listener(scheme.lower(), host.strip("[]") or "0.0.0.0", int(port)))
    if not out:
        raise ValueError("listeners is empty")
    return out
