"""An instance's identity (Confluent's SchemaRegistryIdentity JSON) and the forwarding settings, from
Confluent's property names. No processes: tests/registry/test_forwarding.py runs real instances."""

from __future__ import annotations

import json
import socket

import pytest

from registry.forwarding import STATIC_HEADERS, ForwardingSettings
from registry.identity import Identity, resolve


def test_json_shape_and_round_trip():
    me = Identity("reg-1.example.com", 8081, True, "https")
    assert json.loads(me.to_json()) == {"version": 1, "host": "reg-1.example.com", "port": 8081,
                                        "master_eligibility": True, "scheme": "https"}
    assert list(json.loads(me.to_json())) == ["version", "host", "port", "master_eligibility", "scheme"]
    assert Identity.from_json(me.to_json()) == me
    assert me.url == "https://reg-1.example.com:8081"
    # An older instance's plain client.id is not an identity; a missing scheme is http (Confluent's default).
    assert Identity.from_json("schemabus-registry") is None
    assert Identity.from_json('{"host": "h", "port": 1}') == Identity("h", 1, True, "http")


def test_listener_host_port_and_overrides():
    listeners = [("http", "127.0.0.1", 18081), ("https", "0.0.0.0", 18443)]
    assert resolve({}, listeners) == Identity("127.0.0.1", 18081, True, "http")
    # inter.instance.protocol picks the listener; a wildcard host becomes this machine's name.
    assert resolve({"inter.instance.protocol": "https"}, listeners) == Identity(socket.getfqdn(), 18443, True, "https")
    assert resolve({"host.name": "reg.internal", "host.port": "9000"}, listeners) == \
        Identity("reg.internal", 9000, True, "http")
    # The deprecated names win when set, as in Confluent.
    assert not resolve({"leader.eligibility": "false"}, listeners).eligible
    assert not resolve({"master.eligibility": "false", "leader.eligibility": "true"}, listeners).eligible
    assert resolve({"schema.registry.inter.instance.protocol": "https", "inter.instance.protocol": "http"},
                   listeners).scheme == "https"


@pytest.mark.parametrize("properties", [{"leader.eligibility": "maybe"}, {"inter.instance.protocol": "ftp"},
                                        {"host.port": "http"}])
def test_bad_values_name_the_property(properties):
    with pytest.raises(ValueError, match=next(iter(properties))):
        resolve(properties, [("http", "127.0.0.1", 8081)])


def test_forwarding_settings():
    settings = ForwardingSettings.from_properties({"inter.instance.headers.whitelist": "X-Tenant, X-Trace",
                                                   "leader.connect.timeout.ms": "1500",
                                                   "schemabus.leader.wait.ms": "250"})
    assert settings.headers == (*STATIC_HEADERS, "X-Tenant", "X-Trace")
    assert settings.connect_timeout_s == 1.5 and settings.read_timeout_s == 60.0 and settings.leader_wait_s == 0.25
    assert settings.tls is None
    assert ForwardingSettings.from_properties({}, https=True).tls is not None
    with pytest.raises(ValueError, match="leader.read.timeout.ms"):
        ForwardingSettings.from_properties({"leader.read.timeout.ms": "soon"})
