"""The `DeadLetterSink` port: each refused record is kept with its reason and its source, once,
however often it is refused again (a replay refuses the same records)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from banku import Settings, bootstrap
from banku.adapters.memory import MemoryDeadLetters
from banku.application.ports import DeadLetterSink, Record
from banku.domain.projection import source_of
from banku.lab.workshop import dead_letters


@pytest.fixture
def sink(side: str, settings: Settings) -> Iterator[DeadLetterSink]:
    made = MemoryDeadLetters() if side == "memory" else bootstrap.dead_letters(settings)
    yield made
    made.close()


def kept(sink: DeadLetterSink, settings: Settings) -> list[tuple[object, ...]]:
    if isinstance(sink, MemoryDeadLetters):
        found = [(source_of(r), reason, r.value) for r, reason in sink.letters]
    else:
        found = [(letter["source"], letter["reason"], letter["value"])
                 for letter in dead_letters(settings)]
    return sorted(found)  # type: ignore[arg-type]


def test_each_refused_record_is_kept_once_with_its_reason_and_source(sink, settings):
    topic = settings.topic_name
    poison = Record(0, 3, 1_700_000_000_000, b"k", b"not json", [], topic)
    overflow = Record(1, 0, 1_700_000_000_000, b"k", b'{"Type":"DepositEvent"}', [], topic)
    sink.send([(poison, "not JSON"), (overflow, "cannot be applied")])
    sink.send([(poison, "not JSON (again, in a replay)")])
    assert kept(sink, settings) == [(f"{topic}/0/3", "not JSON", b"not json"),
                                    (f"{topic}/1/0", "cannot be applied",
                                     b'{"Type":"DepositEvent"}')]
