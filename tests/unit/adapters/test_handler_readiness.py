"""The handler's readiness, without servers: what its listeners do (and do not do), what its
`ready` lines mean to a reader, what a client that got no answer is told, and how long it waits."""

from __future__ import annotations

import json
import threading

import pytest

from banku import Settings, defaults
from banku.adapters.kafka import command_transport as ct
from banku.adapters.kafka import handler as handler_module
from banku.adapters.kafka.handler import CommandHandler
from banku.lessons.failover import ready_partitions

SETTINGS = Settings(bootstrap_servers="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0",
                    namespace="unit", commands="topic")


def _line(event: str, **fields: object) -> str:
    return json.dumps({"level": "info", "message": event, "event": event, **fields})


def test_ready_lines_add_partitions_and_a_rebalance_takes_them_back():
    log = [_line("started"), _line("assigned", partitions=[0, 1, 2]),
           "a line that is not JSON", "[1]", _line("ready", partition=0, partitions=[0])]
    assert ready_partitions(log) == [0]  # assigned is not ready
    log += [_line("ready", partition=1, partitions=[0, 1]),
            _line("ready", partition=2, partitions=[0, 1, 2])]
    assert ready_partitions(log) == [0, 1, 2]
    log += [_line("revoked", partitions=[0, 1, 2]), _line("assigned", partitions=[2])]
    assert ready_partitions(log) == []
    log.append(_line("ready", partition=2, partitions=[2]))
    assert ready_partitions(log) == [2]


def test_ready_partitions_reads_a_log_file_and_a_missing_one_is_empty(tmp_path):
    path = tmp_path / "handler-3.log"
    assert ready_partitions(path) == []
    path.write_text("\n".join([_line("assigned", partitions=[1]),
                               _line("ready", partition=1, partitions=[1])]) + "\n")
    assert ready_partitions(path) == ready_partitions(str(path)) == [1]


class _Consumer:
    def __init__(self) -> None:
        self.paused: set[int] = set()

    def pause(self, *tps) -> None:
        self.paused |= {tp.partition for tp in tps}

    def resume(self, *tps) -> None:
        self.paused -= {tp.partition for tp in tps}


class _Producer:
    def __init__(self) -> None:
        self.closed = False

    def close(self, timeout: float) -> None:
        self.closed = True


def test_the_listeners_only_take_note_the_slow_work_waits_for_the_loop(monkeypatch):
    """Listeners run on kafka-python's heartbeat thread: no producer is made there, none is
    closed there; the assigned partitions are paused until the handler is ready for them."""
    def no_producer_here(*args, **kwargs):
        raise AssertionError("a producer made inside a rebalance listener")

    monkeypatch.setattr(handler_module, "make_producer", no_producer_here)
    handler = CommandHandler(SETTINGS)
    handler._consumer = consumer = _Consumer()
    handler.assigned([0, 1])
    assert handler.preparing == [0, 1] and consumer.paused == {0, 1}
    assert handler.producers == {}

    old = handler.producers[2] = _Producer()
    handler.revoked([1, 2])
    assert handler.preparing == [0] and 2 not in handler.producers
    assert not old.closed  # closed later, in the loop
    handler._close_retired()
    assert old.closed


def test_prepare_makes_the_producers_then_resumes_and_reports_ready(monkeypatch, caplog):
    made = []

    class _Transactional(_Producer):
        def init_transactions(self) -> None:
            made.append(self)

    monkeypatch.setattr(handler_module, "make_producer", lambda *a, **k: _Transactional())
    handler = CommandHandler(SETTINGS)
    handler._consumer = consumer = _Consumer()
    caught_up = []
    monkeypatch.setattr(handler.state, "catch_up", lambda: caught_up.append(len(made)) or 0)
    handler.assigned([2, 0])
    with caplog.at_level("INFO", logger="banku.handler"):
        handler._prepare(threading.Event())
    assert len(made) == 2 and caught_up == [2]  # the ledger after every fencing
    assert sorted(handler.producers) == [0, 2] and handler.preparing == []
    assert consumer.paused == set()
    ready = [r for r in caplog.records if getattr(r, "event", None) == "ready"]
    assert [r.partition for r in ready] == [0, 2]


@pytest.mark.parametrize(("members", "starts_with", "says_start_one"), [
    (2, "A command handler is running (group unit.banku-handler has 2 member(s))", False),
    (0, "No command handler answered within 3s", True),
    (None, "No command handler answered within 3s", False),
])
def test_the_unanswered_sentence_says_whether_a_handler_runs(monkeypatch, members, starts_with,
                                                              says_start_one):
    monkeypatch.setattr(ct, "handler_members", lambda settings: members)
    client = ct.HandlerClient.__new__(ct.HandlerClient)
    client.settings, client.timeout = SETTINGS, 3
    told = client._unanswered(1, 1)
    assert told.startswith(starts_with), told
    assert ("start one with `banku handler`" in told) is says_start_one
    assert "1 of 1 command(s) unanswered" in told


def test_the_outcome_wait_covers_a_takeover_and_a_start():
    assert defaults.OUTCOME_TIMEOUT_S == (defaults.SESSION_TIMEOUT_MS
                                          + defaults.TRANSACTION_TIMEOUT_MS) / 1000 \
        + defaults.HANDLER_START_S
    assert defaults.OUTCOME_TIMEOUT_S > 30  # what held only on an idle machine
