"""Watching a running worker from outside: its /metrics, and the output topics."""

from __future__ import annotations

import urllib.request
from collections import Counter
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["scrape", "counter_total"]

Labels = frozenset[tuple[str, str]]


def scrape(url: str, timeout: float = 2.0) -> dict[str, dict[Labels, float]]:
    """Counter and gauge samples by metric name (``_total`` suffix kept) and label set."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
        text = response.read().decode("utf-8")
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def counter_total(
    samples: Mapping[str, Mapping[Labels, float]], name: str, **match: str
) -> float:
    """Sum of a counter's samples whose labels include ``match``."""
    wanted = set(match.items())
    return sum(v for labels, v in samples.get(name, {}).items() if wanted <= labels)


def by_label(samples: Mapping[str, Mapping[Labels, float]], name: str, label: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for labels, value in samples.get(name, {}).items():
        out[dict(labels).get(label, "")] += int(value)
    return out
