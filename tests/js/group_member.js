// One KafkaJS consumer-group member, for tests/integration/test_groups_clients.py.
//
//     node group_member.js BOOTSTRAP GROUP TOPIC
//
// Same line protocol as tests/integration/groups_member.py: one JSON object per line with
// `t` = CLOCK_MONOTONIC seconds (process.hrtime is the same clock as Python's
// time.monotonic on Linux): ready, assignment, record, commit, closed. SIGTERM leaves the
// group and exits; SIGKILL is the crash.
"use strict";

const { Kafka, logLevel } = require("kafkajs");

const [bootstrap, groupId, topic] = process.argv.slice(2);
const SESSION_TIMEOUT_MS = 6000;
const HEARTBEAT_INTERVAL_MS = 500;

function emit(event, fields = {}) {
  const t = Number(process.hrtime.bigint()) / 1e9;
  process.stdout.write(JSON.stringify({ t, event, ...fields }) + "\n");
}

async function main() {
  const kafka = new Kafka({ clientId: "kafkajs-member", brokers: [bootstrap], logLevel: logLevel.WARN });
  const consumer = kafka.consumer({
    groupId, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: HEARTBEAT_INTERVAL_MS,
    // KafkaJS rejoins only between fetches: a short long-poll keeps rebalances quick.
    maxWaitTimeInMs: 500,
    retry: { retries: 20 },
  });
  let lastAssignment = null;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const partitions = (payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b);
    const key = JSON.stringify(partitions);
    if (key !== lastAssignment) {
      lastAssignment = key;
      emit("assignment", { partitions });
    }
  });
  let stopping = false;
  process.on("SIGTERM", async () => {
    if (stopping) return;
    stopping = true;
    await consumer.disconnect();
    emit("closed");
    process.exit(0);
  });

  emit("ready");
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      if (batch.messages.length === 0) return;
      for (const m of batch.messages) {
        emit("record", { p: batch.partition, o: Number(m.offset) });
      }
      const next = String(Number(batch.messages[batch.messages.length - 1].offset) + 1);
      try {
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
        emit("commit", { p: batch.partition, o: Number(next) });
      } catch (err) {
        emit("commit_failed", { error: String(err) });
      }
    },
  });
}

main().catch((err) => {
  emit("error", { error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
