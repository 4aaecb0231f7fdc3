"""Shared fixtures: a real demo target on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from surge.demo_target import DemoConfig, DemoTarget, running_demo_target


@pytest.fixture
def demo_target() -> Iterator[DemoTarget]:
    with running_demo_target(DemoConfig(latency_ms=1.0, seed=7)) as target:
        yield target
