"""The `EventLog` port: append, read back, partitions, snapshots, idempotent command ids."""

from __future__ import annotations

import uuid

from kafka import KafkaProducer

from banku import Bank, Settings, bootstrap
from banku.adapters.memory import MemoryLog, MemoryView
from banku.application.ports import EventLog, Record
from banku.domain.events import COMMAND_ID_HEADER
from tests.helpers import connection, raw_records


def read_all(log: EventLog, positions: dict[int, int]) -> list[Record]:
    return [record for batch in log.read(positions) for record in batch]


def test_appended_records_are_read_back_in_order_with_their_offsets(log):
    assert log.partitions == 3
    assert log.end_offsets() == {0: 0, 1: 0, 2: 0}
    sent = [log.append(b"k", f"value {n}".encode(), [("h", str(n).encode())], n % 3,
                       timestamp_ms=1_700_000_000_000 + n) for n in range(7)]
    log.flush()
    answers = [s.result() for s in sent]
    assert [(p, o) for p, o, _ in answers] == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1),
                                               (0, 2)]
    assert [t for _, _, t in answers] == [1_700_000_000_000 + n for n in range(7)]
    assert log.end_offsets() == {0: 3, 1: 2, 2: 2}
    positions: dict[int, int] = {}
    records = read_all(log, positions)
    assert positions == {0: 3, 1: 2, 2: 2}
    by_partition = {p: [r for r in records if r.partition == p] for p in range(3)}
    assert [r.value for r in by_partition[0]] == [b"value 0", b"value 3", b"value 6"]
    assert [r.offset for r in by_partition[0]] == [0, 1, 2]
    first = by_partition[1][0]
    assert (first.key, first.timestamp) == (b"k", 1_700_000_000_001)
    assert ("h", b"1") in list(first.headers)
    assert first.topic == log.topic
    assert read_all(log, positions) == []  # nothing new since


def test_reading_starts_where_the_positions_say(log):
    for n in range(4):
        log.append(None, f"{n}".encode(), [], 0).result()
    records = read_all(log, {0: 2})
    assert [(r.offset, r.value) for r in records] == [(0 + 2, b"2"), (3, b"3")]


def test_snapshots_are_kept_beside_the_log_and_the_topic_has_one_identity(log):
    assert log.latest_snapshot() is None
    log.save_snapshot(b"first")
    log.save_snapshot(b"second")
    assert log.latest_snapshot() == b"second"
    assert log.topic_id() and log.topic_id() == log.topic_id()


def test_the_partition_of_a_key_is_the_same_on_both_sides(log):
    memory = MemoryLog(partitions=3)
    keys = [str(uuid.uuid4()).encode() for _ in range(200)]
    assert [log.partition_for(k) for k in keys] == [memory.partition_for(k) for k in keys]
    assert len({log.partition_for(k) for k in keys}) == 3


def test_the_in_memory_partitioner_puts_a_key_where_the_broker_does(settings: Settings):
    """kafka-python's own producer, given no partition, picks it with the default partitioner;
    the records then say where they landed."""
    real = bootstrap.event_log(settings)
    assert real.partitions == 3  # the topic exists now, with three partitions
    real.close()
    producer = KafkaProducer(**connection(settings))
    keys = [str(uuid.uuid4()).encode() for _ in range(60)]
    try:
        for key in keys:
            producer.send(settings.topic_name, key=key, value=b"x")
        producer.flush(timeout=60)
    finally:
        producer.close()
    landed = {r.key: r.partition for r in raw_records(settings)}
    memory = MemoryLog(partitions=3)
    assert landed == {key: memory.partition_for(key) for key in keys}


def test_a_command_id_writes_once_whichever_bank_sends_it_again(settings: Settings, log):
    with Bank(settings, log=log, view=MemoryView()) as bank:
        account = bank.create_account("Once", command_id="open")
        first = bank.deposit(account, 5, command_id="pay")
        assert bank.deposit(account, 5, command_id="pay") == first
        assert bank.create_account("Once", command_id="open") == account
    with Bank(settings, log=log, view=MemoryView()) as other:  # folds the log from the start
        assert other.deposit(account, 5, command_id="pay") == first
    records = read_all(log, {})
    ids = [dict(r.headers).get(COMMAND_ID_HEADER) for r in records]
    assert sorted(ids) == [b"open", b"pay"]
