"""The fake clock an end-to-end test gives Haven (and, through it, Discord's own "now")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import pytest

from bot.clock import FakeClock

if TYPE_CHECKING:
    from tests.e2e.harness import HavenRunner


def haven_clock_at(when: datetime) -> Callable[[], FakeClock]:
    """A `haven_clock` fixture starting at `when`: `haven_clock = haven_clock_at(T0)` in a module."""

    @pytest.fixture
    def haven_clock() -> FakeClock:
        return FakeClock(when)

    return haven_clock


def fake_clock(haven: HavenRunner) -> FakeClock:
    """The FakeClock the running Haven reads (the module's `haven_clock`)."""
    clock = haven.running.services.clock
    assert isinstance(clock, FakeClock)
    return clock


async def run_jobs_at(haven: HavenRunner, when: datetime) -> None:
    """Set the clock to `when`, run the jobs due and wait for their handlers."""
    fake_clock(haven).set(when)
    await haven.running.services.jobs.run_due()
    await haven.running.services.jobs.drain()
