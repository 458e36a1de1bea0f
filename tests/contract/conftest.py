"""The contract suite: one set of cases, run against the in-memory adapters (`memory`) and the
real ones (`real`: Kafka and Redis, the session's stack). Whatever the bank's logic can tell
apart must be the same on both sides; the unit tests trust the in-memory side because of it.

Each fixture gives a fresh namespace on the real side (the root conftest's ``settings``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from banku import Settings, bootstrap
from banku.adapters.memory import MemoryLog, MemoryView
from banku.application.ports import EventLog, Feeds, ViewStore

SIDES = ["memory", "real"]


@pytest.fixture(params=SIDES)
def side(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def log(side: str, settings: Settings) -> Iterator[EventLog]:
    """An empty events topic of three partitions."""
    made: EventLog = (MemoryLog(partitions=3, topic=settings.topic_name) if side == "memory"
                      else bootstrap.event_log(settings))
    yield made
    made.close()


@pytest.fixture
def feeds(side: str, settings: Settings, log: EventLog) -> Iterator[Feeds]:
    """The projector's feeds on the same topic as ``log``."""
    if side == "memory":
        assert isinstance(log, MemoryLog)
        yield log
        return
    made = bootstrap.feeds(settings, settings.group_id("contract"),
                           {"client_id": "contract", "session_timeout_ms": 6000,
                            "heartbeat_interval_ms": 1000})
    yield made
    made.close()  # type: ignore[attr-defined]


@pytest.fixture
def view(side: str, settings: Settings) -> Iterator[ViewStore]:
    made: ViewStore = MemoryView() if side == "memory" else bootstrap.view(settings)
    yield made
    if side == "real":
        made.wipe()
    made.close()
