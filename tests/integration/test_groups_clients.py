"""The consumer-group scenario (groups_scenario.py) with kafka-python, aiokafka and KafkaJS.

Each member runs in its own process: Python clients via groups_member.py, KafkaJS via
tests/js/group_member.js. KafkaJS is installed from the npm registry into tests/js/node_modules
by the fixture below the first time it is needed (CI starts from a clean clone).
"""

from __future__ import annotations


import pytest

from tests.conftest import JS_DIR, BrokerProcess, unique_topic
from tests.integration.groups_scenario import MemberProcess, python_member, run_membership_scenario
from tests.integration.test_groups import create_topic



@pytest.fixture(scope="module", params=["schemabus", "apache-kafka"])
def fast_broker(request, tmp_path_factory):
    """Our broker, and Apache Kafka (also with group.initial.rebalance.delay.ms=0), so the
    same group scenario shows any behaviour that differs."""
    if request.param == "apache-kafka":
        yield request.getfixturevalue("apache_kafka")
        return
    b = BrokerProcess(tmp_path_factory.mktemp("groups-clients") / "data", {"group.initial.rebalance.delay.ms": "0"})
    b.start()
    yield b
    b.stop()


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka"])
def test_python_clients_share_fail_over_and_resume(request, fast_broker, tmp_path, client):
    if client == "kafka-python" and request.node.callspec.params["fast_broker"] == "apache-kafka":
        # The control arm: once under full-suite load, kafka-python 3.0's third member never got
        # its partitions from Apache Kafka (the two others did). See test_broker_clients.
        request.applymarker(pytest.mark.xfail(reason="kafka-python against Apache Kafka stalled under load",
                                              strict=False))
    topic = unique_topic(f"grp-{client}")
    create_topic(fast_broker.bootstrap, topic)
    group = f"group-{topic}"
    run_membership_scenario(
        lambda name: python_member(client, fast_broker.bootstrap, group, topic, tmp_path, name),
        fast_broker.bootstrap, topic)


def test_kafkajs_shares_fails_over_and_resumes(fast_broker, tmp_path, kafkajs):
    topic = unique_topic("grp-kafkajs")
    create_topic(fast_broker.bootstrap, topic)
    group = f"group-{topic}"
    run_membership_scenario(
        lambda name: MemberProcess(
            name, [kafkajs, str(JS_DIR / "group_member.js"), fast_broker.bootstrap, group, topic], tmp_path),
        fast_broker.bootstrap, topic)
