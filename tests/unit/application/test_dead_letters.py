"""One dead letter per refused record (topic, partition, offset), whatever replays happen."""

from __future__ import annotations

import json
import uuid

from banku import Projector, Settings
from banku.adapters.memory import MemoryDeadLetters, MemoryLog, MemoryView
from banku.domain.projection import (
    REASON_HEADER,
    SOURCE_HEADER,
    Record,
    dead_letter_headers,
    source_of,
)

A = str(uuid.UUID(int=0xA))


def put(log: MemoryLog, value: dict | bytes, partition: int = 0) -> None:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    log.append(None, raw, [], partition)


def the_overflow_log() -> MemoryLog:
    """The Go original's overflow: a deposit of 2**63 - 1 beyond what the view can add up."""
    log = MemoryLog()
    put(log, {"AccId": A, "Type": "CreateEvent", "AccName": "A"})
    put(log, {"AccId": A, "Type": "DepositEvent", "Amount": 10})
    put(log, {"AccId": A, "Type": "DepositEvent", "Amount": 2**63 - 1})
    put(log, b"not json", partition=1)
    return log


def projector(log: MemoryLog, view: MemoryView, dead: MemoryDeadLetters) -> Projector:
    return Projector(Settings(), view=view, feeds=log, dead_letters=dead)


def test_a_replay_does_not_write_a_refused_record_twice():
    log, view, dead = the_overflow_log(), MemoryView(), MemoryDeadLetters()
    projector(log, view, dead).run_until_caught_up()
    first = [(source_of(r), why) for r, why in dead.letters]
    assert [s for s, _ in first] == ["banku-transactions/0/2", "banku-transactions/1/0"]
    for _ in range(2):
        projector(log, view, dead).replay()
    assert [(source_of(r), why) for r, why in dead.letters] == first
    assert view.balances() == {A: 10}


def test_a_record_refused_after_the_letters_is_still_written():
    log, view, dead = the_overflow_log(), MemoryView(), MemoryDeadLetters()
    projector(log, view, dead).run_until_caught_up()
    put(log, b"[]", partition=2)
    projector(log, view, dead).replay()
    assert [source_of(r) for r, _ in dead.letters] == [
        "banku-transactions/0/2", "banku-transactions/1/0", "banku-transactions/2/0"]


def test_one_batch_naming_a_record_twice_stores_it_once():
    dead = MemoryDeadLetters()
    record = Record(1, 7, 0, None, b"x", topic="t")
    dead.send([(record, "bad"), (record, "bad again")])
    assert dead.letters == [(record, "bad")]


def test_the_headers_name_the_reason_and_the_source():
    record = Record(2, 41, 0, b"k", b"v", topic="ns.banku-transactions")
    assert dead_letter_headers(record, "why") == [
        (REASON_HEADER, b"why"), (SOURCE_HEADER, b"ns.banku-transactions/2/41")]
