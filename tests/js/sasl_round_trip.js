// KafkaJS over SASL (and TLS when a CA file is given): produce N records, read them back, print
// "RESULT consumed=<n>"; an authentication failure prints "RESULT error=<KafkaJS error name>: <message>".
// Usage: node sasl_round_trip.js <bootstrap> <topic> <mechanism> <user> <password> [ca.pem]
const fs = require("fs");
const { Kafka, logLevel } = require("kafkajs");

const [bootstrap, topic, mechanism, username, password, caFile] = process.argv.slice(2);
const N = 200;

async function main() {
  const kafka = new Kafka({
    clientId: "kafkajs-sasl",
    brokers: [bootstrap],
    ssl: caFile ? { ca: [fs.readFileSync(caFile, "utf-8")] } : false,
    sasl: { mechanism, username, password },
    logLevel: logLevel.NOTHING,
    retry: { retries: 2 },
  });
  const producer = kafka.producer();
  try {
    await producer.connect();
  } catch (err) {
    console.log(`RESULT error=${err.name}: ${err.message}`);
    return;
  }
  const messages = Array.from({ length: N }, (_, i) => ({ value: `js-${i}` }));
  await producer.send({ topic, messages });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `${topic}-group` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let consumed = 0;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${consumed} of ${N} records`)), 30000);
    consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value.toString() === `js-${consumed}`) consumed += 1;
        if (consumed === N) { clearTimeout(timer); resolve(); }
      },
    });
  });
  await consumer.disconnect();
  console.log(`RESULT consumed=${consumed}`);
}

main().catch((err) => { console.error(err); process.exit(1); });
