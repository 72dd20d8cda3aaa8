"""`sasl.jaas.config` values: one JAAS login module entry,
`<LoginModule class> required key="value" key2=value2;`.

The broker reads its users from them (PlainLoginModule's `user_<name>="<password>"`), clients
their credentials (`username`, `password`, OAuthBearerLoginModule's `unsecuredLoginStringClaim_sub`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kafka_properties.errors import PropertiesError

_ENTRY = re.compile(r"\s*(\S+)\s+(required|optional|requisite|sufficient)\s*(.*?);?\s*\Z", re.S)
_OPTION = re.compile(r'(\w[\w.-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]+)')

PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
OAUTHBEARER = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"


@dataclass(frozen=True)
class JaasConfig:
    login_module: str  # the class name as written
    control_flag: str
    options: dict[str, str] = field(default_factory=dict)

    def is_module(self, full_name: str) -> bool:
        """Whether this names `full_name` (or its simple class name)."""
        return self.login_module in (full_name, full_name.rsplit(".", 1)[-1])

    def __repr__(self) -> str:  # options hold passwords: never in a log line or traceback
        return f"JaasConfig({self.login_module!r}, {self.control_flag!r}, options={sorted(self.options)})"


def parse_jaas(text: str, what: str = "sasl.jaas.config") -> JaasConfig:
    found = _ENTRY.match(text or "")
    if found is None:
        raise PropertiesError(f"{what}: expected '<LoginModule> required key=\"value\" ...;'")
    options = {}
    rest = found.group(3)
    position = 0
    for option in _OPTION.finditer(rest):
        if rest[position:option.start()].strip():
            raise PropertiesError(f"{what}: cannot read the options of {found.group(1)} "
                                  f"near {rest[position:option.start()].strip()[:20]!r}")
        key, value = option.groups()
        options[key] = _unquote(value)
        position = option.end()
    if rest[position:].strip():
        raise PropertiesError(f"{what}: cannot read the options of {found.group(1)}")
    return JaasConfig(found.group(1), found.group(2), options)


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
