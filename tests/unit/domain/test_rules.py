"""Every rule and refusal of the bank, without servers: `rules.decide` and a `Bank` on the
in-memory log. The same refusals are checked against the real Kafka in tests/test_bank.py.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banku import (
    AccountExists,
    AccountNotFound,
    Bank,
    CommandRejected,
    InsufficientFunds,
    InvalidAccountId,
    InvalidAmount,
    InvalidCommandId,
    InvalidName,
    SameAccountTransfer,
    Settings,
)
from banku.adapters.memory import MemoryLog, MemoryView
from banku.domain.events import CreateEvent, DepositEvent, TransferEvent, WithdrawEvent
from banku.domain.ledger import Ledger, part_limit
from banku.domain.rules import decide

LIMIT = part_limit(3)


def memory_bank() -> tuple[Bank, MemoryLog]:
    log = MemoryLog()
    return Bank(Settings(), log=log, view=MemoryView()), log


def written(log: MemoryLog) -> int:
    return sum(log.end_offsets().values())


# --- the Go tutorial's specs, on the ledger ------------------------------------------------------
def test_the_go_tutorials_ledger_specs():
    bank, _ = memory_bank()
    adam = bank.create_account("Adam Pahlevi")
    assert bank.ledger.balances[adam] == 0
    bank.deposit(adam, 20)
    bank.deposit(adam, 25)
    assert bank.ledger.balances[adam] == 45
    with pytest.raises(InsufficientFunds, match="Insufficient funds"):
        bank.withdraw(adam, 50)
    bank.withdraw(adam, 5)
    bank.withdraw(adam, 2)
    assert bank.ledger.balances[adam] == 38
    source, target = bank.create_account("Source"), bank.create_account("Target")
    bank.deposit(source, 100)
    bank.deposit(target, 50)
    bank.transfer(source, target, 30)
    assert (bank.ledger.balances[source], bank.ledger.balances[target]) == (70, 80)
    with pytest.raises(InsufficientFunds):
        bank.transfer(source, target, 150)
    assert (bank.ledger.balances[source], bank.ledger.balances[target]) == (70, 80)


# --- every refusal writes nothing ----------------------------------------------------------------
BAD_AMOUNTS = [0, -1, -(2**63), 2**63, 10**400, 12.5, 20.0, "2000", "abc", None, True, False,
               [5], {"cents": 5}, float("nan")]
BAD_NAMES = ["", "   ", "\u200b", "x" * 101, "Ada\nLovelace", "Eve\x00", "\u202eevE", 42, None]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_bad_amounts_are_refused_by_every_command(amount):
    bank, log = memory_bank()
    a, b = bank.create_account("A"), bank.create_account("B")
    bank.deposit(a, 100)
    before = written(log)
    for command in (lambda: bank.deposit(a, amount), lambda: bank.withdraw(a, amount),
                    lambda: bank.transfer(a, b, amount)):
        with pytest.raises(InvalidAmount):
            command()
    assert written(log) == before


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_names_are_refused(name):
    bank, log = memory_bank()
    with pytest.raises(InvalidName):
        bank.create_account(name)
    assert written(log) == 0


def test_names_in_any_script_are_welcome_and_trimmed():
    bank, _ = memory_bank()
    for name in ("Zoë", "محمد", "שלום", "山田太郎", "👩‍💻 Ada"):
        assert bank.ledger.names[bank.create_account(f"  {name}  ")] == name


def test_unknown_accounts_same_account_and_funds():
    bank, log = memory_bank()
    a, b = bank.create_account("A"), bank.create_account("B")
    bank.deposit(a, 100)
    before = written(log)
    cases = [
        (lambda: bank.deposit(str(uuid.uuid4()), 5), AccountNotFound),
        (lambda: bank.withdraw("no-such-id", 5), AccountNotFound),
        (lambda: bank.transfer(a, str(uuid.uuid4()), 5), AccountNotFound),
        (lambda: bank.transfer("x", a, 5), AccountNotFound),
        (lambda: bank.deposit(None, 5), AccountNotFound),
        (lambda: bank.transfer(a, a, 10), SameAccountTransfer),
        (lambda: bank.withdraw(b, 1), InsufficientFunds),
        (lambda: bank.transfer(a, b, 101), InsufficientFunds),
        (lambda: bank.deposit(a, 5, command_id=""), InvalidCommandId),
        (lambda: bank.deposit(a, 5, command_id="x" * 201), InvalidCommandId),
    ]
    for command, refusal in cases:
        with pytest.raises(refusal):
            command()
    assert written(log) == before


def test_a_recorded_create_is_refused_twice_and_needs_a_uuid():
    bank, log = memory_bank()
    account = str(uuid.uuid4())
    bank.submit(CreateEvent(account, "Once"))
    with pytest.raises(AccountExists):
        bank.submit(CreateEvent(account, "Twice"))
    with pytest.raises(InvalidAccountId):
        bank.submit(CreateEvent("banku:positions", "Sneaky"))
    assert written(log) == 1


def test_the_64_bit_limit_is_per_partition_share():
    bank, log = memory_bank()
    a, b = bank.create_account("A"), bank.create_account("B")
    bank.deposit(a, LIMIT)
    with pytest.raises(InvalidAmount, match="within one partition"):
        bank.deposit(a, 1)
    # The target's share in the *source's* partition is what a transfer moves.
    bank.deposit(b, 10)
    if bank.log.partition_for(a.encode()) != bank.log.partition_for(b.encode()):
        bank.transfer(b, a, 10)  # a's share in b's partition: 10, fine
        assert bank.ledger.balances[a] == LIMIT + 10
    assert written(log) == 4 + (1 if bank.ledger.balances[a] > LIMIT else 0)


def test_every_refusal_is_a_command_rejected():
    for cls in (InvalidAmount, AccountNotFound, InsufficientFunds, SameAccountTransfer,
                InvalidName, AccountExists, InvalidAccountId, InvalidCommandId):
        assert issubclass(cls, CommandRejected)


# --- idempotency ---------------------------------------------------------------------------------
def test_the_same_command_id_writes_once_and_returns_the_first_outcome():
    bank, log = memory_bank()
    a = bank.create_account("A", command_id="open-a")
    assert bank.create_account("A", command_id="open-a") == a
    first = bank.deposit(a, 500, command_id="pay-1")
    again = bank.deposit(a, 500, command_id="pay-1")
    assert again == first and written(log) == 2 and bank.ledger.balances[a] == 500
    # A second Bank on the same log knows the id from the record header.
    other = Bank(Settings(), log=log, view=MemoryView())
    assert other.deposit(a, 500, command_id="pay-1") == first
    assert written(log) == 2
    # Inside a batch, too.
    with bank.batch():
        bank.deposit(a, 7, command_id="pay-2")
        bank.deposit(a, 7, command_id="pay-2")
    assert written(log) == 3 and bank.ledger.balances[a] == 507


# --- one decision for commands and recorded events ---------------------------------------------
ACCOUNTS = [str(uuid.UUID(int=i)) for i in range(1, 5)]
ids = st.sampled_from(ACCOUNTS + ["not-a-uuid", str(uuid.UUID(int=99))])
amounts = st.one_of(st.integers(-5, 3 * LIMIT), st.sampled_from([0, 1, LIMIT, 2**63 - 1, 2**63]),
                    st.floats(allow_nan=False), st.booleans(), st.text(max_size=3))
events = st.one_of(
    st.builds(CreateEvent, ids, st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "Ada"]))),
    st.builds(DepositEvent, ids, amounts),
    st.builds(WithdrawEvent, ids, amounts),
    st.builds(TransferEvent, ids, ids, amounts),
)


def _apply_command(bank: Bank, event) -> None:
    """The command method a person would call for this event."""
    if isinstance(event, CreateEvent):
        bank.submit(event)  # create_account makes up its own id; a recorded one is submitted
    elif isinstance(event, DepositEvent):
        bank.deposit(event.acc_id, event.amount)
    elif isinstance(event, WithdrawEvent):
        bank.withdraw(event.acc_id, event.amount)
    else:
        bank.transfer(event.acc_id, event.target_id, event.amount)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, max_size=25))
def test_submit_and_the_command_methods_refuse_the_same_things(history):
    by_submit, _ = memory_bank()
    by_command, _ = memory_bank()
    for event in history:
        outcomes = []
        for bank, do in ((by_submit, lambda b, e: b.submit(e)), (by_command, _apply_command)):
            try:
                do(bank, event)
                outcomes.append("accepted")
            except CommandRejected as refusal:
                outcomes.append(type(refusal).__name__)
        assert outcomes[0] == outcomes[1], event
        assert by_submit.ledger.balances == by_command.ledger.balances


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=30))
def test_what_decide_accepts_the_projector_always_applies(history):
    ledger = Ledger.empty(3)

    def partition_of(account_id: str) -> int:
        return int(uuid.UUID(account_id)) % 3

    for event in history:
        try:
            decided = decide(ledger, event, partition_of)
        except CommandRejected:
            continue
        partition = partition_of(decided.acc_id)
        assert ledger.refusal(decided, partition) is None, decided
        assert ledger.apply(decided, partition)
        assert all(balance >= 0 for balance in ledger.balances.values())
