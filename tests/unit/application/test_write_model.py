"""The write model (`banku.application.write_model`) on the in-memory log: the ledger the command
side decides with is the fold of the events topic, read from where it last looked, leaving out
exactly the records the projector leaves out, remembering the command id each record carries,
and counting its own writes once. No servers; snapshots have their own tests (test_snapshots)."""

from __future__ import annotations

import uuid

from kafka.partitioner.default import murmur2

from banku.adapters.memory import MemoryLog
from banku.application.write_model import WriteModel, command_id_of
from banku.domain.events import (
    COMMAND_ID_HEADER,
    SCHEMA_HEADER,
    CreateEvent,
    DepositEvent,
    TransferEvent,
    WithdrawEvent,
    encode,
    headers_for,
    key_of,
)
from banku.domain.ledger import BankAccount, Receipt, part_limit

A, B, C = (str(uuid.UUID(int=n)) for n in (0xA, 0xB, 0xC))
T0 = 1_700_000_000_000  # a record timestamp (ms), given so that receipts are known exactly


def put(log: MemoryLog, event, command_id: str | None = None, partition: int | None = None,
        timestamp_ms: int = T0) -> tuple[int, int, int]:
    """Append an event as another writer would (no rule checks it); (partition, offset, ts)."""
    key = key_of(event)
    where = log.partition_for(key) if partition is None else partition
    headers = headers_for(command_id) if command_id is not None else []
    return log.append(key, encode(event), headers, where, timestamp_ms).result()


def model(log: MemoryLog) -> WriteModel:
    return WriteModel(log, snapshot_every=0)


# --- the command id header ---------------------------------------------------------------------
def test_the_command_id_is_read_from_its_header_and_only_from_it():
    assert command_id_of(headers_for("pay-7")) == "pay-7"
    assert command_id_of([(SCHEMA_HEADER, b"1"), (COMMAND_ID_HEADER, b"retry-1")]) == "retry-1"
    assert command_id_of([(SCHEMA_HEADER, b"1")]) is None
    assert command_id_of([]) is None and command_id_of(None) is None
    assert command_id_of([(COMMAND_ID_HEADER, b"caf\xe9")]) == "caf\ufffd"  # not UTF-8: replaced


# --- the fold --------------------------------------------------------------------------------
def test_before_the_first_catch_up_it_knows_nothing():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"))
    state = model(log)
    assert state.started_from == "nothing"
    assert state.ledger.names == {} and state.positions == {}


def test_catching_up_folds_every_record_and_returns_how_many_it_read():
    log = MemoryLog()
    for event in (CreateEvent(A, "Ada"), CreateEvent(B, "Grace"), DepositEvent(A, 100),
                  WithdrawEvent(A, 30), TransferEvent(A, B, 20)):
        put(log, event)
    state = model(log)
    assert state.catch_up() == 5
    assert state.started_from == "offset zero"
    assert state.ledger.account(A) == BankAccount(A, "Ada", 50)
    assert state.ledger.account(B) == BankAccount(B, "Grace", 20)
    assert state.positions == {p: end for p, end in log.end_offsets().items() if end}


def test_it_reads_on_from_where_it_stopped_and_sees_every_writer():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"))
    put(log, DepositEvent(A, 100))
    state = model(log)
    assert state.catch_up() == 2
    assert state.catch_up() == 0  # nothing new: nothing read, nothing counted twice
    assert state.ledger.balances[A] == 100
    put(log, DepositEvent(A, 5))  # someone else writes meanwhile
    assert state.catch_up() == 1
    assert state.ledger.balances[A] == 105


def test_the_ledger_takes_the_logs_partition_count_and_its_64_bit_limit():
    state = model(MemoryLog(partitions=5))
    state.catch_up()
    assert state.ledger.partitions == 5
    assert state.ledger.limit == part_limit(5) != part_limit(3)


def test_an_account_goes_to_its_keys_partition_under_kafkas_partitioner():
    state = model(MemoryLog())
    for account in (A, B, C, "Ada"):
        assert state.partition_of(account) == (murmur2(account.encode()) & 0x7FFFFFFF) % 3


# --- what the fold leaves out: what the projector leaves out -------------------------------
def test_a_record_that_is_not_an_event_is_read_and_left_out():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"))
    partition = log.partition_for(A.encode())
    log.append(A.encode(), b"not json", [], partition)
    log.append(A.encode(), b'{"AccId": "x", "Type": "FeeCharged"}', [], partition)
    put(log, DepositEvent(A, 7))
    state = model(log)
    assert state.catch_up() == 4  # every record is read ...
    assert state.ledger.balances == {A: 7}  # ... and only the events count


def test_an_account_opened_twice_in_one_partition_keeps_its_first_name():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"), command_id="open-1")
    put(log, CreateEvent(A, "Impostor"), command_id="open-2")  # same key: same partition
    state = model(log)
    state.catch_up()
    assert state.ledger.names[A] == "Ada"
    assert "open-1" in state.ledger.commands and "open-2" not in state.ledger.commands


def test_a_record_beyond_its_partitions_64_bit_share_is_left_out():
    log = MemoryLog()
    limit = part_limit(3)
    put(log, CreateEvent(A, "Ada"))
    put(log, DepositEvent(A, limit))
    put(log, DepositEvent(A, 1), command_id="one-too-many")
    state = model(log)
    state.catch_up()
    assert state.ledger.balances[A] == limit
    assert "one-too-many" not in state.ledger.commands


def test_a_fact_no_rule_checked_still_counts_as_the_projector_counts_it():
    """An overdraft written by another producer is in the log: the write model folds the log,
    it does not judge it (the rules judge commands, before they are written)."""
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"))
    put(log, WithdrawEvent(A, 40))
    state = model(log)
    state.catch_up()
    assert state.ledger.balances[A] == -40


# --- command ids -------------------------------------------------------------------------------
def test_each_records_command_id_is_remembered_with_where_it_landed():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"), command_id="open")
    partition, offset, _ = put(log, DepositEvent(A, 9), command_id="pay", timestamp_ms=T0 + 5)
    put(log, DepositEvent(A, 1))  # no header: nothing to remember
    state = model(log)
    state.catch_up()
    assert state.ledger.commands["pay"] == Receipt(DepositEvent(A, 9), partition, offset,
                                                   T0 + 5, "pay")
    assert list(state.ledger.commands) == ["open", "pay"]


# --- its own writes ----------------------------------------------------------------------------
def test_an_expected_event_counts_at_once_and_its_id_is_known_before_kafka_answers():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"))
    state = model(log)
    state.catch_up()
    partition = state.partition_of(A)
    state.expect(DepositEvent(A, 25), partition, "pay")
    assert state.ledger.balances[A] == 25
    assert state.ledger.commands["pay"].offset == -1  # on its way
    assert not state.snapshot()  # not the fold of the log up to its positions
    assert log.snapshots == []


def test_its_own_write_counts_once_when_it_is_read_back():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"))
    state = model(log)
    state.catch_up()
    event, partition = DepositEvent(A, 25), state.partition_of(A)
    state.expect(event, partition, "pay")
    _, offset, timestamp = put(log, event, command_id="pay")
    receipt = Receipt(event, partition, offset, timestamp, "pay")
    state.landed(receipt, expected=True)
    assert state.ledger.commands["pay"] == receipt
    assert state.catch_up() == 1  # read, and skipped: it is already in the ledger
    assert state.ledger.balances[A] == 25
    assert state.snapshot() and len(log.snapshots) == 1


def test_a_write_not_expected_before_counts_when_it_lands():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"))
    state = model(log)
    state.catch_up()
    event = DepositEvent(A, 8)
    partition, offset, timestamp = put(log, event, command_id="pay")
    state.landed(Receipt(event, partition, offset, timestamp, "pay"))
    assert state.ledger.balances[A] == 8
    state.catch_up()
    assert state.ledger.balances[A] == 8


# --- snapshots on the way --------------------------------------------------------------------
def test_it_leaves_a_snapshot_once_it_has_folded_snapshot_every_records():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"))
    for _ in range(3):
        put(log, DepositEvent(A, 1))
    state = WriteModel(log, snapshot_every=5)
    state.catch_up()
    assert log.snapshots == [] and state.folded_since_snapshot == 4
    put(log, DepositEvent(A, 1))
    state.catch_up()
    assert len(log.snapshots) == 1 and state.folded_since_snapshot == 0
    never = model(log)
    never.catch_up()
    assert len(log.snapshots) == 1  # snapshot_every=0: never


# --- forgetting ------------------------------------------------------------------------------
def test_forgetting_drops_everything_and_the_next_catch_up_folds_from_offset_zero():
    log = MemoryLog()
    put(log, CreateEvent(A, "Ada"), command_id="open")
    put(log, DepositEvent(A, 12), command_id="pay")
    state = model(log)
    state.catch_up()
    before = (dict(state.ledger.names), dict(state.ledger.balances), dict(state.ledger.commands))
    state.forget()
    assert state.ledger.names == {} and state.positions == {}
    assert state.catch_up() == 2
    assert (state.ledger.names, state.ledger.balances, dict(state.ledger.commands)) == before
