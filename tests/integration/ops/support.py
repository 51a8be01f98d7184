"""Helpers of the operations tests: step a runner until a condition holds, scrape /metrics."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from strom.runtime.runner import Runner

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def drive(runner: Runner, done: Callable[[], bool], *, timeout: float = 60.0) -> None:
    """Step ``runner`` until ``done()`` (checked every few steps), at most ``timeout`` s; then
    checkpoint."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _ in range(5):
            runner.step(timeout=0.1)
        if done():
            runner.checkpoint()
            return
    raise AssertionError(f"not done within {timeout} s")


def scrape(url: str) -> Samples:
    """Every sample served at ``url``/metrics, by (name, labels)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample ``name`` whose labels include ``labels``; None when there is none."""
    found = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(found) <= 1, f"{name} {labels} matches {len(found)} samples"
    return found[0] if found else None
