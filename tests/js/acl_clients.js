// KafkaJS against a broker with an authorizer, over SASL_PLAINTEXT: one step per run, one
// "RESULT ..." line for the Python test to check.
// Usage: node acl_clients.js <step> <bootstrap> <mechanism> <user> <password> <topic> [principals...]
//   produce                           send 5 records: "RESULT sent=5", or the refusal as
//                                     "RESULT error=<error name> type=<Kafka error> retriable=<bool> message=<message>"
//   create-acls <writer> <denied>     the writer may WRITE the topic; the denied principal may
//                                     DESCRIBE it but a DENY takes WRITE away: "RESULT created"
//   describe-acls                     the topic's ACLs, sorted: "RESULT acls=<json>"
//   delete-acls                       "RESULT deleted=<number of ACLs>"
const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } =
  require("kafkajs");

const [step, bootstrap, mechanism, username, password, topic, ...principals] = process.argv.slice(2);

const kafka = new Kafka({
  clientId: "kafkajs-acls",
  brokers: [bootstrap],
  sasl: { mechanism, username, password },
  logLevel: logLevel.NOTHING,
  retry: { retries: 2 },
});

const topicFilter = {
  resourceType: AclResourceTypes.TOPIC, resourceName: topic, resourcePatternType: ResourcePatternTypes.LITERAL,
};
const names = (table, value) => Object.keys(table).find((k) => table[k] === value);

// KafkaJS wraps the broker's refusal (a KafkaJSProtocolError carrying the error's name as `type`)
// in retry errors; the type is looked up along the chain of causes.
function refusal(err) {
  let type;
  for (let e = err; e && !type; e = e.cause || e.originalError) type = e.type;
  return `error=${err.name} type=${type} retriable=${err.retriable} message=${err.message}`;
}

async function withAdmin(run) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await run(admin);
  } finally {
    await admin.disconnect();
  }
}

async function main() {
  if (step === "produce") {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      const messages = Array.from({ length: 5 }, (_, i) => ({ value: `acl-${i}` }));
      await producer.send({ topic, messages, acks: -1 });
      return "sent=5";
    } catch (err) {
      return refusal(err);
    } finally {
      await producer.disconnect();
    }
  }
  if (step === "create-acls") {
    const [writer, denied] = principals;
    const acl = (principal, operation, permissionType) => ({
      ...topicFilter, principal, host: "*", operation, permissionType,
    });
    await withAdmin((admin) => admin.createAcls({ acl: [
      acl(writer, AclOperationTypes.WRITE, AclPermissionTypes.ALLOW),
      acl(denied, AclOperationTypes.DESCRIBE, AclPermissionTypes.ALLOW),
      acl(denied, AclOperationTypes.WRITE, AclPermissionTypes.DENY),
    ] }));
    return "created";
  }
  // KafkaJS sends a principal or host left undefined as null: any.
  const anyEntry = { operation: AclOperationTypes.ANY,
                     permissionType: AclPermissionTypes.ANY };
  if (step === "describe-acls") {
    try {
      const { resources } = await withAdmin((admin) => admin.describeAcls({ ...topicFilter, ...anyEntry }));
      const acls = resources.flatMap((r) => r.acls.map((a) =>
        `${a.principal} ${names(AclOperationTypes, a.operation)} ${names(AclPermissionTypes, a.permissionType)}`));
      return `acls=${JSON.stringify(acls.sort())}`;
    } catch (err) {
      return refusal(err);
    }
  }
  if (step === "delete-acls") {
    const { filterResponses } = await withAdmin((admin) => admin.deleteAcls({ filters: [{ ...topicFilter, ...anyEntry }] }));
    return `deleted=${filterResponses.reduce((n, f) => n + f.matchingAcls.length, 0)}`;
  }
  throw new Error(`unknown step ${step}`);
}

main().then((line) => console.log(`RESULT ${line}`)).catch((err) => { console.error(err); process.exit(1); });
