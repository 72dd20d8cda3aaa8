"""The API keys this broker implements, the versions it advertises, and their handlers.

Handlers register with `@handler(api_key, min_version, max_version)`. Only registered
APIs are advertised in ApiVersions: clients never call what is not advertised.
A handler is `async def h(broker, ctx, request: dict) -> dict | None` (None = no
response, e.g. Produce with acks=0).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Awaitable, Callable

from broker.protocol import fastpath
from broker.protocol.codec import MessageSpec, api_name, message_spec

API_VERSIONS = 18


@dataclass(frozen=True)
class Api:
    key: int
    name: str
    min_version: int
    max_version: int
    fn: Callable[..., Awaitable[dict | None]]


REGISTRY: dict[int, Api] = {}


def handler(key: int, min_version: int, max_version: int):
    def register(fn):
        REGISTRY[key] = Api(key, api_name(key), min_version, max_version, fn)
        return fn
    return register


def supported(key: int, version: int) -> bool:
    api = REGISTRY.get(key)
    return api is not None and api.min_version <= version <= api.max_version


@lru_cache(maxsize=None)
def request_spec(key: int, version: int) -> MessageSpec:
    return message_spec(key, version, "request")


@lru_cache(maxsize=None)
def response_spec(key: int, version: int) -> MessageSpec:
    return message_spec(key, version, "response")


def request_is_flexible(key: int, version: int) -> bool | None:
    """Whether the request header is v2; None when we do not know this api/version."""
    if not supported(key, version):
        return None
    if key == fastpath.PRODUCE:  # without compiling the spec: its codec is fastpath's
        return version >= fastpath.FLEXIBLE_FROM
    return request_spec(key, version).flexible


def response_is_flexible(key: int, version: int) -> bool:
    """Whether the response body of this (supported) api/version is flexible."""
    if key == fastpath.PRODUCE:
        return version >= fastpath.FLEXIBLE_FROM
    return response_spec(key, version).flexible
