"""Fixtures of the crash tests: how many kills a case gets (``STROM_CRASH_KILLS``, default
10: ``make crash-quick``). Their own Kafka broker: ``own_broker`` of tests/conftest.py."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def kills() -> int:
    """Kills per case."""
    return int(os.environ.get("STROM_CRASH_KILLS", "10"))
