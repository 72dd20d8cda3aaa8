"""The overview page: what is running and how to reach it."""

from __future__ import annotations

from flask import Blueprint, render_template

from console.backends import SERVICE_TIMEOUT_S, ServiceError
from console.routes import backends
from console.topics import add_figures, topic_rows

bp = Blueprint("overview", __name__)
nav = ("overview.index", "Overview")


def _status(fetch):
    """(value, None) or (None, the error a page shows in its place): one unreachable service must not
    hide the others."""
    try:
        return fetch(), None
    except ServiceError as exc:
        return None, exc.message
    except Exception as exc:  # a Kafka or registry client error: its text is the user's best clue
        return None, str(exc)


def _broker():
    cluster = backends().admin.describe_cluster(request_timeout=SERVICE_TIMEOUT_S).result()
    rows = [row for row in topic_rows(backends().admin) if not row.internal]
    metrics_note = add_figures(rows, backends().broker_metrics_url)  # sizes and rates: console/topics.py
    return {"cluster_id": cluster.cluster_id, "controller": cluster.controller,
            "brokers": sorted(cluster.nodes, key=lambda n: n.id),
            "topics": len(rows), "partitions": sum(row.partitions for row in rows),
            "under_replicated": sum(row.under_replicated for row in rows), "metrics_note": metrics_note,
            "size": sum(row.size or 0 for row in rows), **_total_rates(rows)}


def _total_rates(rows) -> dict:
    """Per-second totals; None until a second scrape of the broker's metrics gives a rate."""
    return {name: None if all(getattr(row, name) is None for row in rows)
            else round(sum(getattr(row, name) or 0 for row in rows), 1)
            for name in ("messages_in", "bytes_in", "bytes_out")}


def _registry():
    client = backends().schema_registry
    if client is None:
        raise ServiceError("Schema Registry", "not configured")
    return {"url": backends().registry["url"], "subjects": len(client.get_subjects()),
            "compatibility": client.get_compatibility(), "mode": client.get_mode()}


def _connect():
    info = backends().connect("GET", "/")
    return {"url": backends().connect_url, "version": info.get("version"),
            "cluster": info.get("kafka_cluster_id"), "connectors": len(backends().connect("GET", "/connectors"))}


def _rest_proxy():
    clusters = backends().rest_proxy("GET", "/v3/clusters")["data"]
    return {"url": backends().rest_url, "clusters": [c["cluster_id"] for c in clusters]}


@bp.get("/")
def index():
    return render_template("overview.html", title="Overview",
                           broker=_status(_broker), registry=_status(_registry),
                           connect=_status(_connect), rest=_status(_rest_proxy))
