"""Worker-to-worker HTTP: REST calls forwarded to the leader (or a task's owner) and the internal
task-config publication, as Kafka's RestClient makes them: JSON in and out, only the caller's
Authorization header copied, two hops at most (`forward=true`, then `forward=false`)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import urllib3

from connect.herder import HerderError

_http = urllib3.PoolManager(num_pools=8, maxsize=8, retries=False,
                            timeout=urllib3.Timeout(connect=5.0, read=90.0))
CONFLICT = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"


def send(method: str, url: str, body: bytes | None, headers: dict) -> urllib3.BaseHTTPResponse:
    try:
        return _http.request(method, url, body=body, headers={"Accept": "application/json",
                                                              "Content-Type": "application/json", **headers})
    except urllib3.exceptions.HTTPError as exc:
        raise HerderError(500, f"IO Error trying to forward REST request: {exc}") from None


def request_json(method: str, url: str, body: bytes | None, headers: dict):
    """The parsed answer; a status >= 400 raises HerderError with the other worker's status and message."""
    response = send(method, url, body, headers)
    if response.status >= 400:
        try:
            message = json.loads(response.data).get("message", "")
        except (ValueError, AttributeError):
            message = response.data.decode("utf-8", "replace")
        raise HerderError(response.status, message)
    return json.loads(response.data) if response.data else None


def forward_url(base: str, path: str, args: dict) -> str | None:
    """Where to send a request that this worker cannot serve, or None when it has already been
    forwarded twice."""
    hop = args.get("forward")
    if hop == "false":
        return None
    query = {k: v for k, v in args.items() if k != "forward"}
    query["forward"] = "false" if hop == "true" else "true"
    return base.rstrip("/") + path + "?" + urlencode(query)
