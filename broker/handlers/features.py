"""UpdateFeatures: `kafka-features upgrade / downgrade` moving a finalized feature level."""

from __future__ import annotations

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.features import SAFE_DOWNGRADE, UPGRADE, FeatureUpdateError
from broker.protocol import apis
from broker.protocol.errors import code


def _updates(request, version: int) -> list[tuple[str, int, int]]:
    """(feature, level, upgrade type); v0 says only whether a downgrade is allowed."""
    return [(u["feature"], u["max_version_level"],
             u.get("upgrade_type", UPGRADE) if version >= 1 else (SAFE_DOWNGRADE if u["allow_downgrade"] else UPGRADE))
            for u in request["feature_updates"]]


def _answer(updates, version: int, error: str | None = None, message: str | None = None,
            per_feature: bool = True) -> dict:
    answer = {"throttle_time": 0, "error_code": code(error) if error else 0, "error_message": message}
    if version < 2:
        # v0-v1 list a result per feature, none when the update failed validation as a whole;
        # Kafka sends the message "NONE" with a success.
        answer["results"] = [{"feature": name, "error_code": answer["error_code"],
                              "error_message": message if error else "NONE"}
                             for name, _, _ in updates] if per_feature else []
    return answer


@apis.handler(57, 0, 2)
async def update_features(broker, ctx, request):
    version = ctx.api_version
    updates = _updates(request, version)
    if not broker.authorizer.authorize(ctx, Operation.ALTER, ResourceType.CLUSTER, CLUSTER_NAME):
        return _answer(updates, version, "CLUSTER_AUTHORIZATION_FAILED")
    try:
        broker.features.update(updates, validate_only=bool(request.get("validate_only")))
    except FeatureUpdateError as exc:
        return _answer(updates, version, "INVALID_UPDATE_VERSION", str(exc), per_feature=False)
    return _answer(updates, version)
