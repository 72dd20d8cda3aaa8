"""The SASL exchange on one connection, as Kafka's SaslServerAuthenticator.

Before a client is authenticated it may send ApiVersions (answered as usual), then SaslHandshake
naming a mechanism, then SaslAuthenticate requests until the mechanism is done. Anything else
closes the connection. A SaslHandshake v0 client (KIP-43, before SaslAuthenticate existed) sends
the mechanism's tokens as bare frames without a request header and gets bare frames back.

A refused client waits `connection.failed.authentication.delay.ms`, gets
SASL_AUTHENTICATION_FAILED with Kafka's message, and is disconnected; the failure is logged
once, at INFO as Kafka does, with the peer address and never a credential.

Re-authentication (KIP-368): with `connections.max.reauth.ms` set, or a credential that expires
(an OAUTHBEARER token), SaslAuthenticate v1+ tells the client how long its session lasts; the
client re-authenticates on the same connection (a SaslHandshake between its requests, same
mechanism and principal) before then, or the next request after expiry closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from broker.protocol import apis
from broker.protocol.codec import DecodeError, decode, decode_request_header
from broker.protocol.errors import code
from broker.sasl import AuthenticationFailed

if TYPE_CHECKING:
    from broker.sasl.listener import ListenerSasl
    from broker.server import KafkaServer

log = logging.getLogger("schemabus.broker")

SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36


def _kafka_name(api_key: int) -> str:
    """'Metadata', 'SaslAuthenticate': the API's name as Kafka spells it."""
    return "".join(part.capitalize() for part in apis.REGISTRY[api_key].name.split("_"))


class Unauthenticated(Exception):
    """The connection is to be closed: the client did not (or could not) authenticate. Already
    logged and answered where Kafka answers."""


class SaslSession:
    """Who is on the other end of one connection, and until when."""

    def __init__(self, server: "KafkaServer", conn, peer: str):
        self.server = server
        self.sasl: "ListenerSasl" = server.listener.sasl
        self.conn = conn
        self.peer = peer
        self.principal: str | None = None
        self.mechanism: str | None = None
        self.expires_at: float | None = None  # time.monotonic() after which requests close the connection

    def expired(self) -> bool:
        return self.expires_at is not None and time.monotonic() >= self.expires_at

    async def authenticate(self, first_frame=None) -> str:
        """Run one exchange (the first, or a re-authentication starting with `first_frame`, its
        SaslHandshake); the principal, or Unauthenticated."""
        default_max = self.conn.max_frame
        self.conn.max_frame = min(default_max, self.sasl.max_receive_size)
        try:
            return await self._exchange(first_frame)
        finally:
            self.conn.max_frame = default_max

    async def _exchange(self, frame) -> str:
        exchange = None
        raw_tokens = False  # after SaslHandshake v0: bare token frames
        while True:
            if frame is None:
                frame = await self.conn.read_frame()
                if frame is None:
                    raise Unauthenticated()
            data = frame.data
            self.conn.release(frame)
            frame = None
            if raw_tokens:
                challenge = await self._evaluate(exchange, bytes(data), header=None)
                await self.server.send_raw(self.conn, challenge)
                if exchange.complete:
                    return self._established(exchange)
                continue
            header, pos = self._header(data)
            if header.api_key == apis.API_VERSIONS and self.principal is None and exchange is None:
                await self.server.answer(self.conn, data, self.peer, None)
            elif header.api_key == SASL_HANDSHAKE and exchange is None:
                exchange = await self._handshake(header, data, pos)
                raw_tokens = header.api_version == 0
            elif header.api_key == SASL_AUTHENTICATE and exchange is not None and not raw_tokens:
                request = self._decode(header, data, pos)
                challenge = await self._evaluate(exchange, request["auth_bytes"], header)
                lifetime_ms = self._session_lifetime_ms(exchange) if exchange.complete else 0
                await self.server.respond(self.conn, header, {
                    "error_code": 0, "auth_bytes": challenge, "session_lifetime": lifetime_ms})
                if exchange.complete:
                    return self._established(exchange)
            else:
                self._refuse(f"unexpected {_kafka_name(header.api_key)} request before authentication completed")

    def _header(self, data):
        try:
            header, pos = decode_request_header(data, apis.request_is_flexible)
        except DecodeError as exc:
            self._refuse(f"malformed request during SASL authentication: {exc}")
        if not apis.supported(header.api_key, header.api_version):
            self._refuse(f"unsupported API key {header.api_key} version {header.api_version} during SASL "
                         "authentication")
        return header, pos

    def _decode(self, header, data, pos) -> dict:
        try:
            request, _ = decode(apis.request_spec(header.api_key, header.api_version), data, pos, 16)
        except DecodeError as exc:
            self._refuse(f"malformed {_kafka_name(header.api_key)} request: {exc}")
        return request

    async def _handshake(self, header, data, pos):
        mechanism = self._decode(header, data, pos)["mechanism"]
        if self.principal is not None and mechanism != self.mechanism:
            error = code("ILLEGAL_SASL_STATE")
        elif mechanism not in self.sasl.mechanisms:
            error = code("UNSUPPORTED_SASL_MECHANISM")
        else:
            error = 0
        await self.server.respond(self.conn, header, {"error_code": error, "mechanisms": self.sasl.mechanisms})
        if error:
            why = (f"re-authentication with {mechanism!r} instead of {self.mechanism}" if error == code("ILLEGAL_SASL_STATE")
                   else f"unsupported SASL mechanism {mechanism!r} (enabled: {', '.join(self.sasl.mechanisms)})")
            self._refuse(why)
        self.mechanism = mechanism
        return self.sasl.exchange(mechanism, self.server.broker.scram_credentials)

    async def _evaluate(self, exchange, token: bytes, header) -> bytes:
        try:
            if exchange.blocking:
                challenge = await asyncio.to_thread(exchange.evaluate, token)
            else:
                challenge = exchange.evaluate(token)
            if exchange.complete and self.principal is not None and exchange.principal != self.principal:
                raise AuthenticationFailed(f"Cannot change principals during re-authentication from "
                                           f"{self.principal}: {exchange.principal}")
            return challenge
        except AuthenticationFailed as exc:
            await self._fail(exc, header)

    async def _fail(self, exc: AuthenticationFailed, header) -> None:
        log.info("Failed authentication with %s on listener %s (%s)", self.peer, self.server.listener.name,
                 exc.log_detail)
        # Kafka delays the answer to a failed authentication, which slows password guessing.
        await asyncio.sleep(self.sasl.failed_authentication_delay_s)
        if header is not None:
            await self.server.respond(self.conn, header, {
                "error_code": code("SASL_AUTHENTICATION_FAILED"), "error_message": str(exc), "auth_bytes": b""})
        raise Unauthenticated()

    def _refuse(self, why: str):
        log.info("closing connection from %s on listener %s: %s", self.peer, self.server.listener.name, why)
        raise Unauthenticated()

    def _session_lifetime_ms(self, exchange) -> int:
        """KIP-368: the shorter of connections.max.reauth.ms and the credential's own lifetime;
        0 (no limit) when neither applies."""
        limits = []
        if self.sasl.reauth_ms > 0:
            limits.append(self.sasl.reauth_ms)
        if exchange.lifetime_ms is not None:
            limits.append(max(0, exchange.lifetime_ms - int(time.time() * 1000)))
        return min(limits) if limits else 0

    def _established(self, exchange) -> str:
        lifetime_ms = self._session_lifetime_ms(exchange)
        self.expires_at = time.monotonic() + lifetime_ms / 1000 if lifetime_ms else None
        if self.principal is None:
            log.debug("authenticated %s on listener %s as %s with %s", self.peer, self.server.listener.name,
                      exchange.principal, self.mechanism)
        self.principal = exchange.principal
        return self.principal
