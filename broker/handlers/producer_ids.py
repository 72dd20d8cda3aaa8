"""InitProducerId for idempotent producers (transactional ids arrive with transactions)."""

from __future__ import annotations

from broker.protocol import apis
from broker.protocol.errors import code

MAX_EPOCH = 32767


@apis.handler(22, 0, 4)
async def init_producer_id(broker, ctx, request):
    if request.get("transactional_id") is not None:
        # Transactions are not implemented yet: refuse clearly rather than pretend.
        return {"throttle_time": 0, "error_code": code("UNSUPPORTED_VERSION"), "producer_id": -1, "producer_epoch": -1}
    producer_id = request.get("producer_id", -1)
    epoch = request.get("producer_epoch", -1)
    if producer_id >= 0 and 0 <= epoch < MAX_EPOCH - 1:
        # KIP-360: an idempotent producer recovering from an error bumps its own epoch,
        # which resets its sequence numbers on every partition.
        return {"throttle_time": 0, "error_code": 0, "producer_id": producer_id, "producer_epoch": epoch + 1}
    return {"throttle_time": 0, "error_code": 0, "producer_id": broker.producer_ids.next_id(), "producer_epoch": 0}
