"""`schemabus status`'s metrics part: scrape each service's /metrics and print its headline numbers.

The URLs default to where `schemabus up` serves them (broker 127.0.0.1:9308, the registry, REST
Proxy and Connect on their own ports). A service that does not answer is reported, not an error:
`status` fails only for the broker and registry themselves (cli/admin.py).
"""

from __future__ import annotations

import base64
import ssl
import time
import urllib.error
import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

DEFAULT_BROKER_METRICS = "http://127.0.0.1:9308/metrics"
DEFAULT_REST_URL = "http://127.0.0.1:8082"
DEFAULT_CONNECT_URL = "http://127.0.0.1:8083"
SCRAPE_TIMEOUT_S = 5.0
TOP = 10


class Samples:
    """A scrape's samples by name: name -> [(labels, value)]."""

    def __init__(self, text: str):
        self.by_name: dict[str, list[tuple[dict, float]]] = defaultdict(list)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.by_name[sample.name].append((sample.labels, sample.value))

    def total(self, name: str, **match) -> float:
        return sum(v for labels, v in self.by_name.get(name, ()) if all(labels.get(k) == m for k, m in match.items()))

    def by(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for labels, value in self.by_name.get(name, ()):
            out[labels.get(label, "")] += value
        return dict(out)

    def rows(self, name: str) -> list[tuple[dict, float]]:
        return list(self.by_name.get(name, ()))


def metrics_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/metrics") else f"{base}/metrics"


def scrape(url: str, user_info: str | None = None, ca_file: str | None = None) -> Samples:
    request = urllib.request.Request(url, headers={"Accept": "text/plain"})
    if user_info:
        request.add_header("Authorization", "Basic " + base64.b64encode(user_info.encode()).decode())
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") and ca_file else None
    with urllib.request.urlopen(request, timeout=SCRAPE_TIMEOUT_S, context=context) as answer:
        return Samples(answer.read().decode("utf-8", "replace"))


def _n(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 3)


def broker_summary(s: Samples, before: Samples | None = None, interval_s: float = 0.0) -> dict:
    partitions = s.by("kafka_topic_partitions", "topic")
    messages = s.by("kafka_server_brokertopicmetrics_messagesin_total", "topic")
    bytes_in = s.by("kafka_server_brokertopicmetrics_bytesin_total", "topic")
    bytes_out = s.by("kafka_server_brokertopicmetrics_bytesout_total", "topic")
    topics = sorted(set(partitions) | set(messages), key=lambda t: (-messages.get(t, 0), t))
    summary = {
        "topics": len(partitions),
        "partitions": _n(s.total("kafka_server_replicamanager_partitioncount")),
        "under_min_isr_partitions": _n(s.total("kafka_server_replicamanager_underminisrpartitioncount")),
        "messages_in": _n(sum(messages.values())),
        "bytes_in": _n(sum(bytes_in.values())),
        "bytes_out": _n(sum(bytes_out.values())),
        "requests": {k: _n(v) for k, v in sorted(s.by("kafka_network_requestmetrics_requests_total", "request").items(),
                                                  key=lambda kv: -kv[1])},
        "top_topics": [{"topic": t, "partitions": _n(partitions.get(t, 0)), "messages_in": _n(messages.get(t, 0)),
                        "bytes_in": _n(bytes_in.get(t, 0)), "bytes_out": _n(bytes_out.get(t, 0))}
                       for t in topics[:TOP]],
        "top_group_lags": [{"group": labels["consumergroup"], "topic": labels["topic"],
                            "partition": int(labels["partition"]), "lag": _n(lag)}
                           for labels, lag in sorted(s.rows("kafka_consumergroup_lag"), key=lambda r: -r[1])[:TOP]],
    }
    if before is not None and interval_s > 0:
        for key, name in (("messages_in_per_s", "kafka_server_brokertopicmetrics_messagesin_total"),
                          ("bytes_in_per_s", "kafka_server_brokertopicmetrics_bytesin_total"),
                          ("bytes_out_per_s", "kafka_server_brokertopicmetrics_bytesout_total")):
            summary[key] = round((s.total(name) - before.total(name)) / interval_s, 1)
    return summary


def _requests(s: Samples, prefix: str) -> tuple[int, list[str]]:
    rows = defaultdict(float)
    for labels, value in s.rows(f"{prefix}_requests_total"):
        rows[f"{labels.get('method')} {labels.get('endpoint')}"] += value
    top = sorted(rows.items(), key=lambda kv: -kv[1])[:5]
    return _n(sum(rows.values())), [f"{k} {_n(v)}" for k, v in top]


def registry_summary(s: Samples) -> dict:
    total, top = _requests(s, "schema_registry")
    errors = _n(sum(v for labels, v in s.rows("schema_registry_requests_total")
                    if labels.get("status", "").startswith("5")))
    return {"schemas": {k: _n(v) for k, v in sorted(s.by("schema_registry_schemas", "type").items())},
            "subjects": _n(s.total("schema_registry_subjects")),
            "role": "leader" if s.total("schema_registry_master_slave_role") == 1 else "follower",
            "requests": total, "server_errors": errors, "top_requests": top}


def rest_summary(s: Samples) -> dict:
    total, top = _requests(s, "kafka_rest")
    return {"requests": total, "records_produced": _n(s.total("kafka_rest_produced_records_total")),
            "records_consumed": _n(s.total("kafka_rest_consumed_records_total")), "top_requests": top}


def connect_summary(s: Samples) -> dict:
    statuses = [labels.get("status") for labels, value in s.rows("kafka_connect_connector_status") if value == 1]
    worker = "kafka_connect_connect_worker_metrics"
    total, _ = _requests(s, "kafka_connect")
    return {"connectors": _n(s.total(f"{worker}_connector_count")), "connectors_running": statuses.count("running"),
            "connectors_failed": statuses.count("failed"), "tasks": _n(s.total(f"{worker}_task_count")),
            "tasks_running": _n(s.total(f"{worker}_connector_running_task_count")),
            "tasks_failed": _n(s.total(f"{worker}_connector_failed_task_count")), "requests": total}


def collect(args, registry_auth: tuple[str | None, str | None]) -> dict:
    """Every service's summary (or why it has none), by service name."""
    targets = [("broker", args.broker_metrics, (None, None)),
               ("schema registry", metrics_url(args.registry_url), registry_auth),
               ("REST Proxy", metrics_url(args.rest_url), (None, None)),
               ("Kafka Connect", metrics_url(args.connect_url), (None, None))]
    out = {}
    for name, url, (user_info, ca_file) in targets:
        try:
            samples = scrape(url, user_info, ca_file)
            if name == "broker":
                before = None
                if args.interval > 0:
                    before = samples
                    time.sleep(args.interval)
                    samples = scrape(url)
                summary = broker_summary(samples, before, args.interval)
            else:
                summary = {"schema registry": registry_summary, "REST Proxy": rest_summary,
                           "Kafka Connect": connect_summary}[name](samples)
            out[name] = {"url": _safe(url), **summary}
        except (OSError, urllib.error.URLError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            out[name] = {"url": _safe(url), "error": f"no metrics: {reason}"}
    return out


def _safe(url: str) -> str:
    """A URL without user:password@."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


def _table(rows: list[dict], indent: str) -> list[str]:
    if not rows:
        return []
    columns = list(rows[0])
    cells = [[str(r[c]) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = [indent + "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += [indent + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return lines


def render(summaries: dict) -> str:
    lines = ["metrics:"]
    for name, s in summaries.items():
        lines.append(f"  {name} {s['url']}")
        if "error" in s:
            lines.append(f"    {s['error']}")
            continue
        if name == "broker":
            lines.append(f"    topics {s['topics']}, partitions {s['partitions']}, "
                         f"under min ISR {s['under_min_isr_partitions']}")
            lines.append(f"    messages in {s['messages_in']}, bytes in {s['bytes_in']}, bytes out {s['bytes_out']}")
            if "messages_in_per_s" in s:
                lines.append(f"    per second: messages in {s['messages_in_per_s']}, bytes in {s['bytes_in_per_s']}, "
                             f"bytes out {s['bytes_out_per_s']}")
            lines.append("    requests " + ", ".join(f"{k} {v}" for k, v in list(s["requests"].items())[:8]))
            lines += _table(s["top_topics"], "    ")
            if s["top_group_lags"]:
                lines += _table(s["top_group_lags"], "    ")
            else:
                lines.append("    no consumer group offsets")
        elif name == "schema registry":
            lines.append("    schemas " + ", ".join(f"{k} {v}" for k, v in s["schemas"].items())
                         + f"; subjects {s['subjects']}; role {s['role']}")
            lines.append(f"    requests {s['requests']} (5xx {s['server_errors']}): " + ", ".join(s["top_requests"]))
        elif name == "REST Proxy":
            lines.append(f"    requests {s['requests']}; records produced {s['records_produced']}, "
                         f"consumed {s['records_consumed']}")
        else:
            lines.append(f"    connectors {s['connectors']} (running {s['connectors_running']}, failed "
                         f"{s['connectors_failed']}); tasks {s['tasks']} (running {s['tasks_running']}, failed "
                         f"{s['tasks_failed']}); requests {s['requests']}")
    return "\n".join(lines)


def add_arguments(p) -> None:
    p.add_argument("--broker-metrics", default=DEFAULT_BROKER_METRICS, metavar="URL",
                   help="the broker's Prometheus endpoint (schemabus.metrics.listen; default %(default)s)")
    p.add_argument("--rest-url", default=DEFAULT_REST_URL, help="the REST Proxy (its /metrics is read)")
    p.add_argument("--connect-url", default=DEFAULT_CONNECT_URL, help="Kafka Connect's REST API (its /metrics)")
    p.add_argument("--interval", type=float, default=0.0, metavar="SECONDS",
                   help="scrape the broker twice this far apart and print per-second rates too")
    p.add_argument("--no-metrics", action="store_true", help="only check that the broker and registry are up")
