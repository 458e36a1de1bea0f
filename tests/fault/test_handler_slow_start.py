"""A handler that is slow to get ready, in notebook 07's order: the handlers are stopped with
SIGTERM, a client sends a command while none runs and gives up, a new handler starts and the
client sends the same command id again.

The new handler's producers each take `DELAY_S` to initialise (`tests.fault.slow_handler`), so
getting ready takes three times that, twice its session timeout: as long, for the group, as a
start on a busy machine. Before the fix the handler did that work inside kafka-python's rebalance
listener, on the thread that sends the heartbeats; the coordinator listed it as the owner of every
partition, dropped it a session timeout later, and it started over, again and again, while the
client's wait ran out. Now it prepares in its own loop, says ``ready`` per partition, and the
client is told the truth while it waits: a handler runs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from banku import Bank, ServiceUnavailable, Settings
from banku.adapters.kafka.command_transport import HandlerClient
from banku.domain.events import DepositEvent
from tests.fault.util import HandlerProcess, every_partition_ready
from tests.helpers import fold_topic, raw_records, wait_until

DELAY_S, SESSION_MS = 3.0, 3000


class SlowHandler(HandlerProcess):
    program = ("-m", "tests.fault.slow_handler")


def _ids(settings, topic: str | None = None) -> Counter:
    return Counter(value.decode() for record in raw_records(settings, topic)
                   for name, value in record.headers or [] if name == "banku.command")


def test_a_handler_slow_to_get_ready_answers_the_command_sent_while_none_ran(
        settings, tmp_path, report):
    """Notebook 07, c44-c48, with a slow start: the command sent while no handler ran is
    answered, once; meanwhile the client hears that a handler runs."""
    topic_mode = replace(settings, commands="topic")
    first = [HandlerProcess(topic_mode, tmp_path, f"handler-{n}", "--session-timeout-ms", "6000")
             for n in (1, 2)]
    started = list(first)
    try:
        _notebook_06_with_a_slow_start(topic_mode, tmp_path, first, started, report)
    finally:  # a failed check must not leave a handler running
        for handler in started:
            if handler.alive():
                handler.terminate()


def _notebook_06_with_a_slow_start(topic_mode: Settings, tmp_path: Path, first: list,
                                   started: list, report: Callable[..., None]) -> None:
    wait_until(lambda: every_partition_ready(first), 120, "the first handlers to be ready")
    with Bank(topic_mode) as phone:
        account = phone.create_account("Adam and Eve, handled", command_id="slow-open")
        phone.deposit(account, 10_000, command_id="slow-salary")

        # Notebook 07, c44: both handlers leave cleanly.
        for handler in first:
            assert handler.terminate() == 0, handler.log

        # c46: an impatient client, no handler running: the sentence says to start one.
        impatient = HandlerClient(topic_mode, timeout=3)
        early = HandlerClient(topic_mode, timeout=1)
        try:
            with pytest.raises(ServiceUnavailable) as none_runs:
                impatient.submit(DepositEvent(account, 2500), "slow-rent")
            assert str(none_runs.value).startswith("No command handler answered within 3s")
            assert "start one with `banku handler`" in str(none_runs.value)

            # c48, on a busy machine: the new handler owns every partition long before it can
            # decide one of them.
            slow = SlowHandler(topic_mode, tmp_path, "handler-3", "--session-timeout-ms",
                               str(SESSION_MS), BANKU_TEST_INIT_DELAY_S=str(DELAY_S))
            started.append(slow)
            wait_until(slow.assigned, 120, "handler-3 to be given the command partitions")
            assigned_at = time.monotonic()
            assert slow.ready() == []
            with pytest.raises(ServiceUnavailable) as not_ready:
                early.submit(DepositEvent(account, 100), "slow-early")
            told = str(not_ready.value)
            assert told.startswith("A command handler is running"), told
            assert "start one with" not in told

            wait_until(lambda: slow.ready() == [0, 1, 2], 120, "handler-3 to be ready")
            ready_after = time.monotonic() - assigned_at
            began = time.monotonic()
            rent = phone.deposit(account, 2500, command_id="slow-rent")
            answered_after = time.monotonic() - began
            again = phone.deposit(account, 2500, command_id="slow-rent")
            assert rent == again
            assert phone.deposit(account, 100, command_id="slow-early") is not None
        finally:
            impatient.close()
            early.close()

    # It stayed in the group while it got ready: one assignment, nothing taken back.
    events = [e for e in slow.events() if e.get("event") in ("assigned", "revoked")]
    assert [e["event"] for e in events if e.get("partitions")] == ["assigned"], slow.log
    assert slow.terminate() == 0, slow.log
    assert "Traceback" not in slow.log, slow.log

    events_by_id = _ids(topic_mode)
    commands_by_id = _ids(topic_mode, topic_mode.commands_topic)
    assert events_by_id["slow-rent"] == 1 and events_by_id["slow-early"] == 1
    assert commands_by_id["slow-rent"] == 3 and commands_by_id["slow-early"] == 2
    assert fold_topic(topic_mode)[account] == 10_000 + 2500 + 100
    report(init_delay_s=DELAY_S, session_timeout_ms=SESSION_MS,
           assigned_to_ready_s=round(ready_after, 1), answer_after_ready_s=round(answered_after, 2),
           events_for_the_retried_id=1, commands_for_the_retried_id=3)
