"""The Go tutorial's specs, ported, plus every refusal rule, against the real Kafka and Redis.

In the Go original the consumer refused a withdraw *after* it was in the log. Here refusals
happen on the command side, so each refusal test also checks that the topic did not grow.
"""

from __future__ import annotations

import json

import pytest

from banku import (
    AccountNotFound,
    Bank,
    BankAccount,
    CommandRejected,
    InsufficientFunds,
    InvalidAmount,
    InvalidName,
    Projector,
    SameAccountTransfer,
)
from tests.helpers import end_offsets, raw_records


def project(settings) -> None:
    with Projector(settings) as projector:
        projector.run_until_caught_up(timeout=120)


# --- the Go tutorial's specs -------------------------------------------------------------------
def test_create_gives_balance_zero(settings, bank):
    acc = bank.create_account("Adam Pahlevi")
    project(settings)
    assert bank.account(acc) == BankAccount(acc, "Adam Pahlevi", 0)


def test_deposits_add_up(settings, bank):
    acc = bank.create_account("Adam")
    bank.deposit(acc, 20)
    bank.deposit(acc, 25)
    project(settings)
    assert bank.account(acc).balance == 45


def test_withdraw_more_than_balance_is_refused(settings, bank):
    acc = bank.create_account("Adam")
    bank.deposit(acc, 20)
    before = end_offsets(settings)
    with pytest.raises(InsufficientFunds, match="Insufficient funds"):
        bank.withdraw(acc, 30)
    assert end_offsets(settings) == before
    project(settings)
    assert bank.account(acc).balance == 20


def test_withdraw_twice(settings, bank):
    acc = bank.create_account("Adam")
    bank.deposit(acc, 20)
    bank.withdraw(acc, 5)
    bank.withdraw(acc, 2)
    project(settings)
    assert bank.account(acc).balance == 13


def test_transfer_moves_money(settings, bank):
    source = bank.create_account("Source")
    target = bank.create_account("Target")
    bank.deposit(source, 100)
    bank.deposit(target, 50)
    bank.transfer(source, target, 30)
    project(settings)
    assert bank.account(source).balance == 70
    assert bank.account(target).balance == 80


def test_transfer_beyond_balance_is_refused_and_changes_nothing(settings, bank):
    source = bank.create_account("Source")
    target = bank.create_account("Target")
    bank.deposit(source, 50)
    bank.deposit(target, 100)
    before = end_offsets(settings)
    with pytest.raises(InsufficientFunds):
        bank.transfer(source, target, 150)
    assert end_offsets(settings) == before
    project(settings)
    assert bank.account(source).balance == 50
    assert bank.account(target).balance == 100


# --- wire format and keys ---------------------------------------------------------------------
def test_records_are_keyed_by_account_and_written_in_the_go_format(settings, bank):
    source = bank.create_account("Source")
    target = bank.create_account("Target")
    bank.deposit(source, 100)
    bank.transfer(source, target, 40)
    records = raw_records(settings)
    by_offset = sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset))
    values = [json.loads(r.value) for r in by_offset]
    assert values[0] == {"AccId": source, "Type": "CreateEvent", "AccName": "Source"}
    assert list(values[-1]) == ["AccId", "Type", "TargetId", "Amount"]
    assert values[-1] == {"AccId": source, "Type": "TransferEvent", "TargetId": target,
                          "Amount": 40}
    # A transfer is keyed by its source, so all of the source's events share one partition.
    source_partitions = {r.partition for r in records if r.key == source.encode()}
    assert len(source_partitions) == 1
    assert all(r.key for r in records)


def test_receipt_says_where_the_event_landed(settings, bank):
    acc = bank.create_account("Adam")
    receipt = bank.deposit(acc, 10)
    assert receipt.partition == bank.last_receipt.partition
    assert receipt.offset == end_offsets(settings)[receipt.partition] - 1
    assert json.loads(receipt.wire)["Amount"] == 10


# --- read your own writes, and other writers --------------------------------------------------
def test_read_your_own_writes_without_a_projector(bank):
    acc = bank.create_account("Adam")
    bank.deposit(acc, 100)
    bank.withdraw(acc, 100)  # would be refused if the deposit were not seen
    with pytest.raises(InsufficientFunds):
        bank.withdraw(acc, 1)


def test_a_second_bank_sees_what_the_first_wrote(settings, bank):
    acc = bank.create_account("Adam")
    bank.deposit(acc, 70)
    with Bank(settings) as other:
        other.withdraw(acc, 50)
    with pytest.raises(InsufficientFunds, match="has 20 cents"):
        bank.withdraw(acc, 21)


def test_batch_writes_validate_against_the_batch_itself(settings, bank):
    acc = bank.create_account("Adam")
    with bank.batch() as receipts:
        for _ in range(200):
            bank.deposit(acc, 5)
        bank.withdraw(acc, 1000)
    assert len(receipts) == 201
    with pytest.raises(InsufficientFunds):
        with bank.batch():
            bank.withdraw(acc, 1)
    project(settings)
    assert bank.account(acc).balance == 0


# --- every refusal rule -----------------------------------------------------------------------
BAD_AMOUNTS = [0, -1, -500, 2.5, 20.0, "20", "abc", None, True, False, 2**63, 10**30, [5],
               float("nan"), float("inf")]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_bad_amounts_are_refused_and_write_nothing(settings, bank, amount):
    source = bank.create_account("Source")
    target = bank.create_account("Target")
    bank.deposit(source, 1000)
    before = end_offsets(settings)
    for command in (lambda: bank.deposit(source, amount),
                    lambda: bank.withdraw(source, amount),
                    lambda: bank.transfer(source, target, amount)):
        with pytest.raises(InvalidAmount):
            command()
    assert end_offsets(settings) == before


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 101, None, 42, "two\nlines"], ids=repr)
def test_bad_names_are_refused_and_write_nothing(settings, bank, name):
    bank.create_account("Someone")  # so the topic exists and has an offset to compare
    before = end_offsets(settings)
    with pytest.raises(InvalidName):
        bank.create_account(name)
    assert end_offsets(settings) == before


def test_names_are_trimmed_and_unicode_is_kept(settings, bank):
    acc = bank.create_account("  Zoë 李 \U0001f600 ")
    long_ok = bank.create_account("y" * 100)
    project(settings)
    assert bank.account(acc).name == "Zoë 李 \U0001f600"
    assert bank.account(long_ok).name == "y" * 100


def test_unknown_accounts_are_refused(settings, bank):
    acc = bank.create_account("Adam")
    bank.deposit(acc, 100)
    before = end_offsets(settings)
    for command in (lambda: bank.deposit("no-such-id", 5),
                    lambda: bank.withdraw("no-such-id", 5),
                    lambda: bank.transfer(acc, "no-such-id", 5),
                    lambda: bank.transfer("no-such-id", acc, 5),
                    lambda: bank.deposit(None, 5)):
        with pytest.raises(AccountNotFound):
            command()
    assert end_offsets(settings) == before


def test_transfer_to_the_same_account_is_refused(settings, bank):
    acc = bank.create_account("Adam")
    bank.deposit(acc, 100)
    before = end_offsets(settings)
    with pytest.raises(SameAccountTransfer):
        bank.transfer(acc, acc, 10)
    assert end_offsets(settings) == before


def test_balance_cannot_overflow_64_bits(settings, bank):
    # One partition's records may move a balance by at most (2**63 - 1) // 3 (see model.py).
    limit = (2**63 - 1) // 3
    acc = bank.create_account("Rich")
    with pytest.raises(InvalidAmount, match="within one partition"):
        bank.deposit(acc, 2**63 - 1)
    bank.deposit(acc, limit)
    before = end_offsets(settings)
    with pytest.raises(InvalidAmount):
        bank.deposit(acc, 1)
    assert end_offsets(settings) == before
    project(settings)
    assert bank.account(acc).balance == limit


def test_every_refusal_is_a_command_rejected(bank):
    for cls in (InvalidAmount, AccountNotFound, InsufficientFunds, SameAccountTransfer,
                InvalidName):
        assert issubclass(cls, CommandRejected)
