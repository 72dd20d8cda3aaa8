"""Reading a service's /metrics in tests: urllib and prometheus_client's parser, as a scraper would."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, headers: dict | None = None) -> dict[str, list[tuple[dict, float]]]:
    """sample name -> [(labels, value)]."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    samples: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples, name: str, **labels) -> float | None:
    """The one sample of `name` whose labels include `labels` (None when there is none)."""
    found = [v for l, v in samples.get(name, []) if all(l.get(k) == str(w) for k, w in labels.items())]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


def total(samples, name: str, **labels) -> float:
    return sum(v for l, v in samples.get(name, []) if all(l.get(k) == str(w) for k, w in labels.items()))


def status_of(url: str, method: str = "GET", headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers or {}),
                                    timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
