"""Notebook 07's checks that run the learner's code against the real stack: each passes on its
solution, and on the stub and on a plausible mistake prints what is wrong and its hint."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from banku import Bank, InsufficientFunds
from banku.lessons.checks import nb07
from tests.fault.util import HandlerProcess, every_partition_ready
from tests.helpers import wait_until


def _stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def _answer(capsys) -> str:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return out


# --- ten withdrawals through the handler ---------------------------------------------------------
@pytest.fixture
def topic_mode(settings):
    return replace(settings, commands="topic")


@pytest.fixture
def handler(topic_mode, tmp_path):
    started = HandlerProcess(topic_mode, tmp_path, "handler-1", "--session-timeout-ms", "6000")
    wait_until(lambda: every_partition_ready([started]), 120, "the handler to be ready")
    yield started
    assert started.terminate() == 0, started.log


def _withdrawals(settings):
    def ten_withdrawals(account):
        def one(_):
            with Bank(settings) as phone:
                try:
                    phone.withdraw(account, 3000)
                    return "accepted"
                except InsufficientFunds:
                    return "refused"

        with ThreadPoolExecutor(max_workers=10) as pool:
            return list(pool.map(one, range(10)))
    return ten_withdrawals


def test_ten_withdrawals(topic_mode, handler, capsys):
    assert nb07.check_ten_withdrawals(_withdrawals(topic_mode), topic_mode) is True
    assert _answer(capsys).startswith("✔ 3 accepted, 7 refused, 1000 cents")
    assert nb07.check_ten_withdrawals(_stub, topic_mode) is False
    assert "each with a Bank(topic_settings) of its own" in _answer(capsys)
    # A plausible mistake: the outcomes counted wrongly (every call reported accepted).
    assert nb07.check_ten_withdrawals(lambda account: ["accepted"] * 3 + ["refused"] * 6,
                                      topic_mode) is False
    assert "Return a list of ten strings" in _answer(capsys)
    assert nb07.check_ten_withdrawals(_withdrawals(topic_mode), replace(topic_mode,
                                      commands="direct")) is False
    assert "Pass topic_settings" in _answer(capsys)


# --- read, process, write ----------------------------------------------------------------------
def read_process_write(producer, records, group_metadata, out_topic):  # the solution
    producer.begin_transaction()
    offsets = {}
    for record in records:
        producer.send(out_topic, key=record.key, value=record.value)
        offsets[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(
            record.offset + 1, "", -1)
    try:
        producer.send_offsets_to_transaction(offsets, group_metadata)
        producer.commit_transaction()
    except CommitFailedError:
        producer.abort_transaction()
        return False
    return True


def with_the_group_name(producer, records, group_metadata, out_topic):  # mistake: no fencing
    return read_process_write(producer, records, group_metadata.group_id, out_topic)


def _without_abort(producer, records, group_metadata, out_topic):  # mistake: errors let through
    producer.begin_transaction()
    offsets = {TopicPartition(r.topic, r.partition): OffsetAndMetadata(r.offset + 1, "", -1)
               for r in records}
    for record in records:
        producer.send(out_topic, key=record.key, value=record.value)
    producer.send_offsets_to_transaction(offsets, group_metadata)
    producer.commit_transaction()
    return True


def left_open(producer, records, group_metadata, out_topic):  # mistake: caught, never aborted
    try:
        return _without_abort(producer, records, group_metadata, out_topic)
    except CommitFailedError:
        return False


def test_read_process_write(settings, capsys):
    assert nb07.check_read_process_write(read_process_write, settings) is True
    assert _answer(capsys).startswith("✔ the current member committed 6 outputs")
    assert nb07.check_read_process_write(_stub, settings) is False
    assert "send_offsets_to_transaction(offsets, group_metadata)" in _answer(capsys)
    assert nb07.check_read_process_write(with_the_group_name, settings) is False
    assert "not the group's name" in _answer(capsys)
    assert nb07.check_read_process_write(left_open, settings) is False
    assert "Call producer.abort_transaction() before you return False" in _answer(capsys)
    assert nb07.check_read_process_write(_without_abort, settings) is False
    assert "Catch CommitFailedError" in _answer(capsys)
