"""ACLs seen by KafkaJS: a SASL broker with StandardAuthorizer (User:admin, a PLAIN user, is the
super user) and SCRAM users; KafkaJS's admin creates, describes and deletes ACLs, and its producer,
denied WRITE, gets TOPIC_AUTHORIZATION_FAILED where an allowed one writes."""

from __future__ import annotations

import json
import subprocess

from confluent_kafka.admin import NewTopic

from tests.conftest import JS_DIR, unique_topic
from tests.integration.test_sasl import ADMIN_PASSWORD, add_scram_user, admin_client, sasl_broker

STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SCRIPT = str(JS_DIR / "acl_clients.js")
WRITER_PASSWORD = "writer-pw-2b7e1"
DENIED_PASSWORD = "denied-pw-c40a9"


def kafkajs_step(node: str, broker, step: str, mechanism: str, user: str, password: str, topic: str,
                 *principals: str) -> str:
    proc = subprocess.run([node, SCRIPT, step, broker.bootstrap, mechanism, user, password, topic, *principals],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{step} as {user}: {proc.stdout}{proc.stderr[-3000:]}"
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return line[len("RESULT "):]


def test_kafkajs_admin_manages_acls_and_a_producer_denied_write_is_refused(tmp_path, kafkajs):
    broker = sasl_broker(tmp_path, extra={"authorizer.class.name": STANDARD_AUTHORIZER,
                                          "super.users": "User:admin"}).start()
    topic = unique_topic("acl-js")
    try:
        admin = admin_client(broker)
        add_scram_user(admin, "js-writer", WRITER_PASSWORD)
        add_scram_user(admin, "js-denied", DENIED_PASSWORD)
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)

        def as_admin(step, *principals):
            return kafkajs_step(kafkajs, broker, step, "plain", "admin", ADMIN_PASSWORD, topic, *principals)

        def as_user(step, user, password):
            return kafkajs_step(kafkajs, broker, step, "scram-sha-512", user, password, topic)

        assert as_admin("create-acls", "User:js-writer", "User:js-denied") == "created"
        assert json.loads(as_admin("describe-acls").removeprefix("acls=")) == [
            "User:js-denied DESCRIBE ALLOW", "User:js-denied WRITE DENY", "User:js-writer WRITE ALLOW"]

        assert as_user("produce", "js-writer", WRITER_PASSWORD) == "sent=5"
        # The DENY wins over the ALLOW DESCRIBE: Metadata shows the topic, Produce is refused,
        # not retried (TOPIC_AUTHORIZATION_FAILED is not retriable).
        refused = as_user("produce", "js-denied", DENIED_PASSWORD)
        assert refused.startswith("error=KafkaJSProtocolError type=TOPIC_AUTHORIZATION_FAILED retriable=false"), refused
        # Not a super user, no cluster ACL: DescribeAcls is refused.
        refused = as_user("describe-acls", "js-writer", WRITER_PASSWORD)
        assert "type=CLUSTER_AUTHORIZATION_FAILED" in refused, refused

        assert as_admin("delete-acls") == "deleted=3"
        assert as_admin("describe-acls") == "acls=[]"
        # No ACL names the topic any more and allow.everyone.if.no.acl.found is false.
        refused = as_user("produce", "js-writer", WRITER_PASSWORD)
        assert "type=TOPIC_AUTHORIZATION_FAILED" in refused, refused
    finally:
        broker.stop()
    log = broker.log_text()
    assert WRITER_PASSWORD not in log and DENIED_PASSWORD not in log and ADMIN_PASSWORD not in log
