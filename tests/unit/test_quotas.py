"""Quota resolution and rate measurement (broker/quotas.py) on a real store in a temp dir."""

from __future__ import annotations

import pytest

from broker.quotas import (
    CLIENT_ID, CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE, USER, ClientQuotas, QuotaError, QuotaManager, Rate, entity_of)


def _set(store: ClientQuotas, entity: list[tuple[str, str | None]], **values: float) -> None:
    pairs = [{"entity_type": t, "entity_name": n} for t, n in entity]
    store.alter(entity_of(pairs), [{"key": k, "value": v, "remove": False} for k, v in values.items()], False)


def test_the_most_specific_entity_wins_in_kafkas_order(tmp_path):
    store = ClientQuotas(tmp_path)
    _set(store, [(CLIENT_ID, None)], producer_byte_rate=8)
    _set(store, [(CLIENT_ID, "app")], producer_byte_rate=7)
    _set(store, [(USER, None)], producer_byte_rate=6)
    _set(store, [(USER, None), (CLIENT_ID, None)], producer_byte_rate=5)
    _set(store, [(USER, None), (CLIENT_ID, "app")], producer_byte_rate=4)
    _set(store, [(USER, "alice")], producer_byte_rate=3)
    _set(store, [(USER, "alice"), (CLIENT_ID, None)], producer_byte_rate=2)
    _set(store, [(USER, "alice"), (CLIENT_ID, "app")], producer_byte_rate=1)
    assert store.lookup("alice", "app", PRODUCER_BYTE_RATE) == (("alice", "app"), 1)
    assert store.lookup("alice", "other", PRODUCER_BYTE_RATE) == (("alice", "other"), 2)
    assert store.lookup("bob", "app", PRODUCER_BYTE_RATE) == (("bob", "app"), 4)
    assert store.lookup("bob", "other", PRODUCER_BYTE_RATE) == (("bob", "other"), 5)
    assert store.lookup("bob", "app", CONSUMER_BYTE_RATE) is None
    # Persisted: a broker restarting reads the same quotas.
    assert ClientQuotas(tmp_path).quotas == store.quotas


def test_a_client_id_quota_is_shared_by_all_users_of_that_client_id(tmp_path):
    store = ClientQuotas(tmp_path)
    _set(store, [(CLIENT_ID, "shared")], producer_byte_rate=100)
    assert store.lookup("alice", "shared", PRODUCER_BYTE_RATE) == (("", "shared"), 100)
    assert store.lookup("bob", "shared", PRODUCER_BYTE_RATE) == (("", "shared"), 100)


@pytest.mark.parametrize("entity,key,value,message", [
    ([(CLIENT_ID, "c")], PRODUCER_BYTE_RATE, 1.5, "producer_byte_rate cannot be a fractional value."),
    ([(CLIENT_ID, "c")], "connection_creation_rate", 5, "Invalid configuration key connection_creation_rate"),
    ([(CLIENT_ID, "c")], PRODUCER_BYTE_RATE, -1, "must be a positive value"),
    ([("ip", "1.2.3.4"), (USER, "u")], "connection_creation_rate", 5, "IP entity should not be combined"),
])
def test_bad_quotas_are_refused(tmp_path, entity, key, value, message):
    store = ClientQuotas(tmp_path)
    with pytest.raises(QuotaError, match=message):
        _set(store, entity, **{key: value})
    assert store.quotas == {}


def test_rate_is_measured_over_at_least_ten_windows_then_throttles_in_proportion(tmp_path):
    rate = Rate()
    rate.record(10_000, 0)
    # One burst in the first second is spread over the 10 windows Kafka assumes at least.
    assert rate.window_ms(500) == 10_500 and rate.per_second(500) == pytest.approx(10_000 / 10.5)
    store = ClientQuotas(tmp_path)
    _set(store, [(CLIENT_ID, "c")], producer_byte_rate=1000)
    now = [0.0]
    manager = QuotaManager(store, PRODUCER_BYTE_RATE, clock=lambda: now[0])
    assert manager.record("u", "c", 5_000) == 0  # 5,000 B over 10 s: 500 B/s
    # 20,500 B over 10 s is 2,050 B/s: 1.05 x over the quota, for the 10 s window measured.
    assert manager.record("u", "c", 15_500) == 10_500
    assert manager.record("u", "other", 10**9) == 0  # no quota for that client id


def test_rates_of_clients_idle_for_an_hour_are_dropped(tmp_path):
    store = ClientQuotas(tmp_path)
    _set(store, [(CLIENT_ID, None)], producer_byte_rate=1000)
    now = [0.0]
    manager = QuotaManager(store, PRODUCER_BYTE_RATE, clock=lambda: now[0])
    for i in range(50):
        manager.record("u", f"short-lived-{i}", 10)
    assert len(manager.rates) == 50
    now[0] = 3_601.0  # an hour and a second later, one more client: the idle ones go
    manager.record("u", "new", 10)
    assert len(manager.rates) == 1 and ("", "new") in manager.rates
