"""One SASL listener's settings, read and checked at start: which mechanisms it serves and
what each checks credentials against.

Kafka's names: `sasl.enabled.mechanisms` (per listener as `listener.name.<l>.sasl.enabled.mechanisms`),
the JAAS config of a mechanism on a listener as `listener.name.<l>.<mechanism>.sasl.jaas.config`,
`connections.max.reauth.ms`, `sasl.server.max.receive.size`, `sasl.oauthbearer.*`.
"""

from __future__ import annotations

import logging

from kafka_properties import PropertiesError, parse_jaas
from kafka_properties.jaas import OAUTHBEARER, PLAIN

from broker.config import BrokerConfig, ConfigError
from broker.sasl import SCRAM_MECHANISMS, SUPPORTED, Exchange
from broker.sasl.oauthbearer import JwksValidator, OAuthBearerExchange, UnsecuredValidator
from broker.sasl.plain import PlainExchange, users_from_jaas
from broker.sasl.scram import ScramCredentials, ScramExchange

log = logging.getLogger("schemabus.broker")

JWKS_HANDLER = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
UNSECURED_HANDLER = "org.apache.kafka.common.security.oauthbearer.OAuthBearerUnsecuredValidatorCallbackHandler"


class ListenerSasl:
    def __init__(self, config: BrokerConfig, listener: str):
        self.listener = listener

        def value(name):
            return config.listener_override(listener, name, config[name])

        self.mechanisms = [m.upper() for m in value("sasl.enabled.mechanisms")]
        if not self.mechanisms:
            raise ConfigError(f"Listener {listener} uses SASL but sasl.enabled.mechanisms is empty")
        unsupported = [m for m in self.mechanisms if m not in SUPPORTED]
        if unsupported:
            raise ConfigError(f"sasl.enabled.mechanisms of listener {listener} names {', '.join(unsupported)}, "
                              f"which this broker does not serve (served: {', '.join(SUPPORTED)}); "
                              "GSSAPI is Kafka's default: set sasl.enabled.mechanisms")
        self.reauth_ms = value("connections.max.reauth.ms")
        self.max_receive_size = config["sasl.server.max.receive.size"]
        self.failed_authentication_delay_s = config["connection.failed.authentication.delay.ms"] / 1000
        self._plain_users = self._plain(config) if "PLAIN" in self.mechanisms else {}
        self._oauth = self._oauthbearer(config, value) if "OAUTHBEARER" in self.mechanisms else None

    def _jaas(self, config: BrokerConfig, mechanism: str):
        text = config.mechanism_config(self.listener, mechanism)
        if text is None:
            return None
        name = f"listener.name.{self.listener.lower()}.{mechanism.lower()}.sasl.jaas.config"
        try:
            return parse_jaas(text, name)
        except PropertiesError as exc:
            raise ConfigError(str(exc)) from None

    def _plain(self, config: BrokerConfig) -> dict[str, str]:
        jaas = self._jaas(config, "PLAIN")
        name = f"listener.name.{self.listener.lower()}.plain.sasl.jaas.config"
        if jaas is None or not jaas.is_module(PLAIN):
            raise ConfigError(f"PLAIN on listener {self.listener} needs {name} with {PLAIN} and its users "
                              'as user_<name>="<password>" options')
        users = users_from_jaas(jaas.options)
        if not users:
            raise ConfigError(f"{name} defines no user_<name>=\"<password>\" option: nobody could log in")
        return users

    def _oauthbearer(self, config: BrokerConfig, value):
        jaas = self._jaas(config, "OAUTHBEARER")
        if jaas is not None and not jaas.is_module(OAUTHBEARER):
            raise ConfigError(f"the OAUTHBEARER JAAS config of listener {self.listener} must use {OAUTHBEARER}")
        handler = config.mechanism_config(self.listener, "OAUTHBEARER", "sasl.server.callback.handler.class")
        url = value("sasl.oauthbearer.jwks.endpoint.url")
        if handler not in (None, JWKS_HANDLER, UNSECURED_HANDLER):
            raise ConfigError(f"OAUTHBEARER server callback handler {handler} is not available here "
                              f"(available: {JWKS_HANDLER}, {UNSECURED_HANDLER})")
        if handler == JWKS_HANDLER or (handler is None and url):
            if not url:
                raise ConfigError(f"{JWKS_HANDLER} on listener {self.listener} needs sasl.oauthbearer.jwks.endpoint.url")
            return JwksValidator(url, value("sasl.oauthbearer.jwks.endpoint.refresh.ms"),
                                 value("sasl.oauthbearer.expected.audience"), value("sasl.oauthbearer.expected.issuer"),
                                 value("sasl.oauthbearer.sub.claim.name"), value("sasl.oauthbearer.scope.claim.name"),
                                 value("sasl.oauthbearer.clock.skew.seconds"))
        log.warning("listener %s accepts unsecured OAUTHBEARER tokens, which anyone can forge: for development "
                    "only (set sasl.oauthbearer.jwks.endpoint.url to check signed tokens)", self.listener)
        return UnsecuredValidator(jaas.options if jaas is not None else {})

    def exchange(self, mechanism: str, credentials: ScramCredentials) -> Exchange:
        if mechanism == "PLAIN":
            return PlainExchange(self._plain_users)
        if mechanism in SCRAM_MECHANISMS:
            return ScramExchange(mechanism, credentials)
        return OAuthBearerExchange(self._oauth)
