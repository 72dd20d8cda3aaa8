"""SaslHandshake and SaslAuthenticate outside an authentication, and the SCRAM credential APIs.

During authentication the connection's SaslSession (broker/sasl/authenticator.py) answers
SaslHandshake and SaslAuthenticate itself; these handlers only see them once a client is
authenticated, or on a listener without SASL, and answer ILLEGAL_SASL_STATE as Kafka's
KafkaApis does. Registering them is what advertises them in ApiVersions.

DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554) manage the SCRAM users
(broker/sasl/scram.py), so `kafka-configs --alter --add-config 'SCRAM-SHA-256=[password=...]'
--entity-type users` and any AdminClient work.
"""

from __future__ import annotations

import collections
import logging

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.protocol import apis
from broker.protocol.errors import code
from broker.sasl.scram import MAX_ITERATIONS, MECHANISM_CODES, MECHANISM_NAMES, MIN_ITERATIONS, ScramCredential

log = logging.getLogger("schemabus.broker")


@apis.handler(17, 0, 1)
async def sasl_handshake(broker, ctx, request):
    return {"error_code": code("ILLEGAL_SASL_STATE"), "mechanisms": _mechanisms(ctx)}


@apis.handler(36, 0, 2)
async def sasl_authenticate(broker, ctx, request):
    why = ("SaslAuthenticate request received after successful authentication" if ctx.listener.sasl is not None
           else f"SaslAuthenticate request received on listener {ctx.listener.name}, which does not use SASL")
    return {"error_code": code("ILLEGAL_SASL_STATE"), "error_message": why, "auth_bytes": b""}


def _mechanisms(ctx) -> list[str]:
    return list(ctx.listener.sasl.mechanisms) if ctx.listener.sasl is not None else []


def _cluster_allowed(broker, ctx, operation: Operation) -> bool:
    return broker.authorizer.authorize(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME)


@apis.handler(50, 0, 0)
async def describe_user_scram_credentials(broker, ctx, request):
    if not _cluster_allowed(broker, ctx, Operation.DESCRIBE):
        return {"error_code": code("CLUSTER_AUTHORIZATION_FAILED"), "results": []}
    store = broker.scram_credentials
    names = [user["name"] for user in request["users"] or ()]
    counts = collections.Counter(names)
    results = []
    for name in sorted(store.users) if not names else list(dict.fromkeys(names)):
        if counts[name] > 1:
            results.append(_user_error(name, "DUPLICATE_RESOURCE", "Cannot describe SCRAM credentials for the "
                                       f"same user twice in a single request: {name}"))
        elif name not in store.users:
            results.append(_user_error(name, "RESOURCE_NOT_FOUND",
                                       f"Attempt to describe a user credential that does not exist: {name}"))
        else:
            results.append({"user": name, "error_code": 0, "credential_infos": [
                {"mechanism": MECHANISM_CODES[mechanism], "iterations": credential.iterations}
                for mechanism, credential in sorted(store.users[name].items())]})
    return {"error_code": 0, "results": results}


def _user_error(user: str, error: str, message: str) -> dict:
    return {"user": user, "error_code": code(error), "error_message": message, "credential_infos": []}


@apis.handler(51, 0, 0)
async def alter_user_scram_credentials(broker, ctx, request):
    deletions, upsertions = request["deletions"] or [], request["upsertions"] or []
    users = list(dict.fromkeys([d["name"] for d in deletions] + [u["name"] for u in upsertions]))
    if not _cluster_allowed(broker, ctx, Operation.ALTER):
        return {"results": [{"user": user, "error_code": code("CLUSTER_AUTHORIZATION_FAILED")} for user in users]}
    store = broker.scram_credentials
    errors: dict[str, tuple[str, str]] = {}
    seen = collections.Counter((op["name"], op["mechanism"]) for op in deletions + upsertions)
    for (user, _), count in seen.items():
        if count > 1:
            errors.setdefault(user, ("DUPLICATE_RESOURCE", "A user credential cannot be altered twice in the same "
                                     "request"))
    for op in deletions:
        _check(errors, op, store, deleting=True)
    for op in upsertions:
        _check(errors, op, store, deleting=False)
    apply_deletions = [(op["name"], MECHANISM_NAMES[op["mechanism"]]) for op in deletions if op["name"] not in errors]
    apply_upserts = [(op["name"], MECHANISM_NAMES[op["mechanism"]], ScramCredential.from_salted_password(
        MECHANISM_NAMES[op["mechanism"]], op["salt"], op["salted_password"], op["iterations"]))
        for op in upsertions if op["name"] not in errors]
    if apply_deletions or apply_upserts:
        store.apply(apply_upserts, apply_deletions)
        log.info("SCRAM credentials altered by %s: %d upserted, %d deleted", ctx.principal, len(apply_upserts),
                 len(apply_deletions))
    return {"results": [{"user": user, "error_code": code(errors[user][0]) if user in errors else 0,
                         "error_message": errors[user][1] if user in errors else None} for user in users]}


def _check(errors: dict, op: dict, store, deleting: bool) -> None:
    """Record the first reason (Kafka's error and message) `op` cannot be applied."""
    user = op["name"]
    if user in errors:
        return
    if not user:
        errors[user] = ("UNACCEPTABLE_CREDENTIAL", "Username must not be empty")
    elif op["mechanism"] not in MECHANISM_NAMES:
        errors[user] = ("UNSUPPORTED_SASL_MECHANISM", "Unknown SCRAM mechanism")
    elif deleting and store.get(user, MECHANISM_NAMES[op["mechanism"]]) is None:
        errors[user] = ("RESOURCE_NOT_FOUND", "Attempt to delete a user credential that does not exist")
    elif not deleting and op["iterations"] < MIN_ITERATIONS:
        errors[user] = ("UNACCEPTABLE_CREDENTIAL", "Too few iterations")
    elif not deleting and op["iterations"] > MAX_ITERATIONS:
        errors[user] = ("UNACCEPTABLE_CREDENTIAL", "Too many iterations")
    elif not deleting and (not op["salt"] or not op["salted_password"]):
        errors[user] = ("UNACCEPTABLE_CREDENTIAL", "Salt and salted password must not be empty")
