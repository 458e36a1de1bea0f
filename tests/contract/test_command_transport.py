"""The `CommandTransport` port (topic mode): commands handed to the one writer of their account
come back as receipts or as the refusals direct mode gives; a command id has one outcome for
good. On the real side a `CommandHandler` runs in this process and decides them in
transactions; on the in-memory side the `MemoryLog`'s own handler decides them at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from banku import AccountNotFound, InsufficientFunds, Receipt, Settings, bootstrap
from banku.adapters.kafka.handler import CommandHandler
from banku.adapters.memory import MemoryLog
from banku.application.ports import CommandTransport, EventLog
from banku.domain.events import CreateEvent, DepositEvent, WithdrawEvent, decode

A = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
GHOST = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def transport(side: str, settings: Settings) -> Iterator[tuple[CommandTransport, EventLog]]:
    topic_mode = replace(settings, commands="topic")
    if side == "memory":
        log = MemoryLog(topic=topic_mode.topic_name)
        yield bootstrap.command_transport(topic_mode, log), log
        return
    log = bootstrap.event_log(topic_mode)
    handler = CommandHandler(topic_mode, client_id="contract-handler")
    stop = threading.Event()
    thread = threading.Thread(target=handler.run, args=(stop,), daemon=True)
    thread.start()
    client = bootstrap.command_transport(topic_mode, log)
    try:
        yield client, log
    finally:
        client.close()
        stop.set()
        thread.join(60)
        log.close()
    assert not thread.is_alive()


def test_commands_come_back_as_receipts_or_refusals_one_outcome_per_id(transport):
    commands, log = transport
    opened = commands.submit(CreateEvent(A, "Ada"), "open")
    assert isinstance(opened, Receipt) and opened.command_id == "open"
    assert opened.partition == log.partition_for(A.encode())
    paid = commands.submit(DepositEvent(A, 100), "pay", timestamp_ms=1_700_000_000_000)
    assert paid.timestamp_ms == 1_700_000_000_000
    assert commands.submit(DepositEvent(A, 100), "pay") == paid  # sent again: the first answer
    with pytest.raises(InsufficientFunds) as refused:
        commands.submit(WithdrawEvent(A, 101), "take")
    commands.submit(DepositEvent(A, 100), "top-up")
    with pytest.raises(InsufficientFunds) as again:  # the same id: the same refusal, for good
        commands.submit(WithdrawEvent(A, 101), "take")
    assert str(again.value) == str(refused.value)
    results = commands.submit_many([(DepositEvent(A, 1), "m1", None),
                                    (WithdrawEvent(A, 10**6), "m2", None),
                                    (DepositEvent(GHOST, 1), "m3", None)])
    assert isinstance(results[0], Receipt) and results[0].command_id == "m1"
    assert isinstance(results[1], InsufficientFunds)
    assert isinstance(results[2], AccountNotFound)
    events = [decode(r.value) for batch in log.read({}) for r in batch]
    assert events == [CreateEvent(A, "Ada"), DepositEvent(A, 100), DepositEvent(A, 100),
                      DepositEvent(A, 1)]
