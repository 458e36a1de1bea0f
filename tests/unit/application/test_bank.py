"""`Bank` (`banku.application.bank`) on the in-memory adapters, in both modes: direct (the bank
decides and writes) and topic (the in-memory command handler `banku.bootstrap` picks for a
`MemoryLog` decides). Each command writes exactly one event where its receipt says; each refused
command raises its own `CommandRejected` class and writes nothing; one command id is one event.
The same behaviour against the real Kafka and Redis: tests/test_bank.py."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace

import pytest

from banku import Bank, Projector, Settings
from banku.adapters.memory import MemoryCommandTransport, MemoryDeadLetters, MemoryLog, MemoryView
from banku.application.write_model import command_id_of
from banku.domain.events import CreateEvent, DepositEvent, TransferEvent, WithdrawEvent, decode
from banku.domain.ledger import BankAccount, Receipt, fold, part_limit
from banku.errors import (
    AccountExists,
    AccountNotFound,
    CommandRejected,
    InsufficientFunds,
    InvalidAccountId,
    InvalidAmount,
    InvalidCommandId,
    InvalidName,
    SameAccountTransfer,
    ServiceUnavailable,
)

UNKNOWN = str(uuid.UUID(int=0xDEAD))
MODES = {"direct": Settings(), "topic": replace(Settings(), commands="topic")}


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def bank_on(log: MemoryLog, mode: str) -> Bank:
    return Bank(MODES[mode], log=log, view=MemoryView())


def written(log: MemoryLog) -> list[tuple[object, str | None]]:
    """Every event in the log with its command id, partition by partition."""
    return [(decode(r.value), command_id_of(r.headers)) for part in log.records for r in part]


def balances(log: MemoryLog) -> dict[str, int]:
    """The balances the log holds, folded here (not the bank's own ledger)."""
    return fold(event for event, _ in written(log)).balances


def at(log: MemoryLog, receipt: Receipt):
    """The record a receipt points at."""
    return log.records[receipt.partition][receipt.offset]


# --- each command writes one event -----------------------------------------------------------
def test_each_command_writes_one_event_in_its_accounts_partition(mode):
    log = MemoryLog()
    bank = bank_on(log, mode)
    ada, grace = bank.create_account("Ada"), bank.create_account("  Grace  ")
    assert str(uuid.UUID(ada)) == ada and str(uuid.UUID(grace)) == grace and ada != grace
    receipts = [bank.deposit(ada, 100), bank.withdraw(ada, 30), bank.transfer(ada, grace, 20)]
    moves = [DepositEvent(ada, 100), WithdrawEvent(ada, 30), TransferEvent(ada, grace, 20)]
    assert Counter(e for e, _ in written(log)) == Counter(
        [CreateEvent(ada, "Ada"), CreateEvent(grace, "Grace"), *moves])  # the name trimmed
    adas = log.records[log.partition_for(ada.encode())]
    assert [decode(r.value) for r in adas if r.key == ada.encode()] == [
        CreateEvent(ada, "Ada"), *moves]  # in the order they were decided
    for receipt, event in zip(receipts, moves, strict=True):
        assert receipt.event == event
        assert receipt.partition == log.partition_for(ada.encode())  # a transfer: its source's
        record = at(log, receipt)
        assert decode(record.value) == event and record.key == ada.encode()
        assert command_id_of(record.headers) == receipt.command_id is not None
    assert bank.last_receipt == receipts[-1]
    assert balances(log) == {ada: 50, grace: 20}


def test_the_ledger_of_a_direct_bank_is_the_fold_of_the_log():
    log = MemoryLog()
    bank = bank_on(log, "direct")
    ada, grace = bank.create_account("Ada"), bank.create_account("Grace")
    bank.deposit(ada, 70)
    bank.transfer(ada, grace, 25)
    assert bank.ledger.balances == balances(log) == {ada: 45, grace: 25}
    assert bank.ledger.names == {ada: "Ada", grace: "Grace"}


def test_a_bank_reads_what_another_bank_wrote_before_it_decides(mode):
    log = MemoryLog()
    first, second = bank_on(log, mode), bank_on(log, mode)
    ada = first.create_account("Ada")
    first.deposit(ada, 100)
    second.withdraw(ada, 100)  # the second bank sees the first one's deposit
    with pytest.raises(InsufficientFunds):
        first.withdraw(ada, 1)  # and the first sees the second one's withdrawal
    assert balances(log) == {ada: 0}


def test_the_view_shows_what_a_projector_applied_from_the_banks_events(mode):
    log, view = MemoryLog(), MemoryView()
    bank = Bank(MODES[mode], log=log, view=view)
    ada = bank.create_account("Ada")
    bank.deposit(ada, 40)
    assert bank.account(ada) is None  # the read side knows only what was projected
    Projector(Settings(), view=view, feeds=log, dead_letters=MemoryDeadLetters()) \
        .run_until_caught_up()
    assert bank.account(ada) == BankAccount(ada, "Ada", 40)
    assert bank.accounts() == [BankAccount(ada, "Ada", 40)]


def test_topic_mode_on_a_memory_log_goes_through_the_logs_one_handler():
    log = MemoryLog()
    bank = bank_on(log, "topic")
    ada = bank.create_account("Ada")
    bank.deposit(ada, 5)
    assert isinstance(log.handler, MemoryCommandTransport) and log.handler.decided == 2
    assert log.handler.handling.state.ledger.balances == {ada: 5}


# --- a refused command writes nothing ------------------------------------------------------
LIMIT = part_limit(3)
REFUSED = [
    ("deposit nothing", lambda bank, a, b: bank.deposit(a, 0), InvalidAmount),
    ("deposit a fraction", lambda bank, a, b: bank.deposit(a, 12.5), InvalidAmount),
    ("deposit a negative amount", lambda bank, a, b: bank.deposit(a, -5), InvalidAmount),
    ("deposit into no account", lambda bank, a, b: bank.deposit(UNKNOWN, 5), AccountNotFound),
    ("withdraw too much", lambda bank, a, b: bank.withdraw(a, 101), InsufficientFunds),
    ("withdraw from an empty account", lambda bank, a, b: bank.withdraw(b, 1), InsufficientFunds),
    ("withdraw from no account", lambda bank, a, b: bank.withdraw(UNKNOWN, 1), AccountNotFound),
    ("transfer too much", lambda bank, a, b: bank.transfer(a, b, 101), InsufficientFunds),
    ("transfer to itself", lambda bank, a, b: bank.transfer(a, a, 1), SameAccountTransfer),
    ("transfer to no account", lambda bank, a, b: bank.transfer(a, UNKNOWN, 1), AccountNotFound),
    ("transfer from no account", lambda bank, a, b: bank.transfer(UNKNOWN, a, 1),
     AccountNotFound),
    ("open with a blank name", lambda bank, a, b: bank.create_account("   "), InvalidName),
    ("open an account twice", lambda bank, a, b: bank.submit(CreateEvent(a, "Again")),
     AccountExists),
    ("open an account whose id is no UUID",
     lambda bank, a, b: bank.submit(CreateEvent("banku:positions", "X")), InvalidAccountId),
    ("an empty command id", lambda bank, a, b: bank.deposit(a, 5, command_id=""),
     InvalidCommandId),
    ("more than the view can add up", lambda bank, a, b: bank.deposit(a, LIMIT), InvalidAmount),
]


@pytest.mark.parametrize(("command", "refusal"), [(c, r) for _, c, r in REFUSED],
                         ids=[name for name, _, _ in REFUSED])
def test_a_refused_command_raises_its_own_class_and_writes_nothing(mode, command, refusal):
    log = MemoryLog()
    bank = bank_on(log, mode)
    a, b = bank.create_account("A"), bank.create_account("B")
    paid = bank.deposit(a, 100)
    before = written(log)
    ledger = (dict(bank.ledger.names), dict(bank.ledger.balances))
    with pytest.raises(CommandRejected) as refused:
        command(bank, a, b)
    assert type(refused.value) is refusal, refused.value
    assert str(refused.value)  # a sentence for the learner
    assert written(log) == before
    assert (bank.ledger.names, bank.ledger.balances) == ledger
    assert bank.last_receipt == paid


def test_a_log_that_does_not_answer_is_no_refusal_and_the_retry_writes_once(mode):
    log = MemoryLog()
    bank = bank_on(log, mode)
    ada = bank.create_account("Ada")
    log.down = True
    with pytest.raises(ServiceUnavailable) as unavailable:
        bank.deposit(ada, 5, command_id="pay")
    assert not isinstance(unavailable.value, CommandRejected)
    log.down = False
    assert [e for e, _ in written(log)] == [CreateEvent(ada, "Ada")]
    bank.deposit(ada, 5, command_id="pay")  # the retry, once the log answers
    bank.deposit(ada, 5, command_id="pay")
    assert balances(log) == {ada: 5}


# --- one command id, one event -------------------------------------------------------------
AGAIN = [  # (name, the command with an amount, the balances of A and B after it ran once)
    ("deposit", lambda bank, a, b, amount: bank.deposit(a, amount, command_id="once"),
     (110, 0)),
    ("withdraw", lambda bank, a, b, amount: bank.withdraw(a, amount, command_id="once"),
     (90, 0)),
    ("transfer", lambda bank, a, b, amount: bank.transfer(a, b, amount, command_id="once"),
     (90, 10)),
]


@pytest.mark.parametrize(("command", "after"), [(c, after) for _, c, after in AGAIN],
                         ids=[name for name, _, _ in AGAIN])
def test_the_same_command_id_twice_is_one_event_and_the_first_receipt(mode, command, after):
    log = MemoryLog()
    bank = bank_on(log, mode)
    a, b = bank.create_account("A"), bank.create_account("B")
    bank.deposit(a, 100)
    first = command(bank, a, b, 10)
    again = command(bank, a, b, 10)
    different = command(bank, a, b, 99)  # an id names one outcome, whatever else is sent
    assert first.command_id == "once" and again == first and different == first
    assert [cid for _, cid in written(log)].count("once") == 1
    assert len(written(log)) == 4
    assert balances(log) == {a: after[0], b: after[1]}


def test_the_same_command_id_from_a_bank_started_afterwards_is_still_one_event(mode):
    log = MemoryLog()
    ada = bank_on(log, mode).create_account("Ada")
    first = bank_on(log, mode).deposit(ada, 30, command_id="salary")
    restarted = bank_on(log, mode)  # another process, or the same after a restart
    assert restarted.deposit(ada, 30, command_id="salary") == first
    assert [cid for _, cid in written(log)].count("salary") == 1
    assert balances(log) == {ada: 30}


def test_opening_an_account_twice_with_one_command_id_is_one_account(mode):
    log = MemoryLog()
    bank = bank_on(log, mode)
    ada = bank.create_account("Ada", command_id="open-ada")
    assert bank.create_account("Ada", command_id="open-ada") == ada
    assert bank_on(log, mode).create_account("Ada", command_id="open-ada") == ada
    assert bank.create_account("Ada", command_id="open-another") != ada
    assert [e for e, cid in written(log) if cid == "open-ada"] == [CreateEvent(ada, "Ada")]
    assert len(written(log)) == 2


# --- a batch (direct mode) ---------------------------------------------------------------------
def test_a_batch_decides_each_command_against_the_batchs_own_events():
    log = MemoryLog()
    bank = bank_on(log, "direct")
    ada = bank.create_account("Ada")
    with bank.batch() as receipts:
        bank.deposit(ada, 100)
        bank.withdraw(ada, 60)
        with pytest.raises(InsufficientFunds):
            bank.withdraw(ada, 50)  # 40 left by the batch itself
        assert receipts == []  # answered at the end of the block
    assert [r.event for r in receipts] == [DepositEvent(ada, 100), WithdrawEvent(ada, 60)]
    assert [r.offset for r in receipts] == [1, 2]
    assert [decode(at(log, r).value) for r in receipts] == [r.event for r in receipts]
    assert balances(log) == bank.ledger.balances == {ada: 40}
