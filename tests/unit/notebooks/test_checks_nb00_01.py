"""The checks of notebooks 00 and 01 (no servers): each passes on its solution, and answers the
stub as handed out and the likely mistakes with its one line and hint, never a traceback."""

from __future__ import annotations

import json

import pytest
from kafka.partitioner.default import murmur2

from banku import AccountNotFound, InsufficientFunds, InvalidAmount, SameAccountTransfer
from banku.config import Settings
from banku.domain.events import CreateEvent, DepositEvent, TransferEvent, WithdrawEvent
from banku.lessons import notebook
from banku.lessons.checks import nb00, nb01


def said(capsys) -> str:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, f"a check prints one line: {out!r}"
    return out


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- 00 -------------------------------------------------------------------------------------------
def topic_of(namespace, notebook_name):
    return notebook.notebook_settings(notebook_name, Settings(namespace=namespace)).topic_name


def test_00_topic_of(capsys):
    assert nb00.check_topic_of(topic_of) is True
    assert said(capsys).startswith("✔")
    assert nb00.check_topic_of(stub) is False
    assert "Not written yet" in said(capsys)


@pytest.mark.parametrize("mistake, hint", [
    (lambda ns, nb: f"{ns}.{nb}.banku-transactions", "let the kit join the names"),
    (lambda ns, nb: f"{ns}-{nb}.banku-transactions", "no namespace of your own"),
    (lambda ns, nb: f"{ns}.banku-transactions", "namespace of its own"),
])
def test_00_topic_of_mistakes(mistake, hint, capsys):
    assert nb00.check_topic_of(mistake) is False
    out = said(capsys)
    assert out.startswith("✘") and hint in out and "bob-nb02" not in out


# --- 01, exercise 1 -------------------------------------------------------------------------------
def partition_of(key, partitions):
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def test_01_partition_of(capsys):
    placed = {key: partition_of(key, 3) for key in nb01.KEYS[:4]}
    assert nb01.check_partition_of(partition_of, placed) is True
    assert "where the broker put" in said(capsys)
    assert nb01.check_partition_of(stub) is False
    assert "DefaultPartitioner" in said(capsys)


@pytest.mark.parametrize("mistake, hint", [
    (lambda key, n: murmur2(key.encode()) % n, "& 0x7FFFFFFF"),
    (lambda key, n: abs(murmur2(key.encode())) % n, "(not abs)"),
    (lambda key, n: (murmur2(key.encode()) & 0x7FFFFFFF) % 3, "another partition"),
    (lambda key, n: sum(key.encode()) % n, "murmur2"),
    (lambda key, n: str(partition_of(key, n)), "an int"),
])
def test_01_partition_of_mistakes(mistake, hint, capsys):
    assert nb01.check_partition_of(mistake) is False
    out = said(capsys)
    assert out.startswith("✘") and hint in out, out


def test_01_partition_of_disagreeing_with_the_broker(capsys):
    key = nb01.KEYS[0]
    assert nb01.check_partition_of(partition_of, {key: (partition_of(key, 3) + 1) % 3}) is False
    assert "Kafka stored that account's records in partition" in said(capsys)


# --- 01, exercise 2 -------------------------------------------------------------------------------
FIELDS = {"CreateEvent": [("AccId", "acc_id"), ("AccName", "acc_name")],
          "DepositEvent": [("AccId", "acc_id"), ("Amount", "amount")],
          "WithdrawEvent": [("AccId", "acc_id"), ("Amount", "amount")],
          "TransferEvent": [("AccId", "acc_id"), ("TargetId", "target_id"), ("Amount", "amount")]}


def go_wire(event, separators=(",", ":"), ensure_ascii=False, order=True, as_text=False):
    kind = type(event).__name__
    fields = FIELDS[kind]
    wire = {fields[0][0]: getattr(event, fields[0][1]), "Type": kind}
    wire.update({name: getattr(event, attribute) for name, attribute in fields[1:]})
    if not order:
        wire = dict(sorted(wire.items()))
    text = json.dumps(wire, separators=separators, ensure_ascii=ensure_ascii)
    return text if as_text else text.encode()


def test_01_go_wire(capsys):
    assert nb01.check_go_wire(go_wire) is True
    assert said(capsys).startswith("✔")
    assert nb01.check_go_wire(stub) is False
    assert "Not written yet" in said(capsys)


@pytest.mark.parametrize("mistake, hint", [
    (lambda e: go_wire(e, separators=None), "no spaces"),
    (lambda e: go_wire(e, ensure_ascii=True), "ensure_ascii=False"),
    (lambda e: go_wire(e, order=False), "order they are declared"),
    (lambda e: go_wire(e, as_text=True), "Kafka stores bytes"),
    (lambda e: json.dumps({"acc_id": e.acc_id, "Type": type(e).__name__}).encode(),
     "exactly spelled"),
])
def test_01_go_wire_mistakes(mistake, hint, capsys):
    assert nb01.check_go_wire(mistake) is False
    out = said(capsys)
    assert out.startswith("✘") and hint in out, out


def test_the_wire_cases_are_the_four_types():
    kinds = {type(e) for e in nb01.WIRE_CASES}
    assert kinds == {CreateEvent, DepositEvent, WithdrawEvent, TransferEvent}


# --- 01, exercises 3 and 4 ------------------------------------------------------------------------
def valid_amount(amount):
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount(f"not a positive whole number of cents: {amount!r}")


def decide_withdrawal(balances, acc_id, amount):
    valid_amount(amount)
    if acc_id not in balances:
        raise AccountNotFound(acc_id)
    if amount > balances[acc_id]:
        raise InsufficientFunds(acc_id)
    return {"AccId": acc_id, "Type": "WithdrawEvent", "Amount": amount}


def decide_transfer(balances, source, target, amount):
    valid_amount(amount)
    for acc in (source, target):
        if acc not in balances:
            raise AccountNotFound(acc)
    if source == target:
        raise SameAccountTransfer(source)
    if amount > balances[source]:
        raise InsufficientFunds(source)
    return {"AccId": source, "Type": "TransferEvent", "TargetId": target, "Amount": amount}


def test_01_decide(capsys):
    assert nb01.check_decide_withdrawal(decide_withdrawal) is True
    assert said(capsys).startswith("✔")
    assert nb01.check_decide_transfer(decide_transfer) is True
    assert said(capsys).startswith("✔")
    for checker in (nb01.check_decide_withdrawal, nb01.check_decide_transfer):
        assert checker(stub) is False
        assert "Not written yet" in said(capsys)


def overdraws(balances, acc_id, amount):  # the Go original: no funds check
    valid_amount(amount)
    if acc_id not in balances:
        raise AccountNotFound(acc_id)
    return {"AccId": acc_id, "Type": "WithdrawEvent", "Amount": amount}


def takes_floats(balances, acc_id, amount):
    if not amount > 0:
        raise InvalidAmount(amount)
    return decide_withdrawal(balances, acc_id, int(amount) if amount == int(amount) else 1) \
        if isinstance(amount, (int, float)) and not isinstance(amount, bool) else \
        decide_withdrawal(balances, acc_id, amount)


def strict_overdraft(balances, acc_id, amount):  # refuses taking all of it
    if isinstance(amount, int) and acc_id in balances and amount == balances[acc_id]:
        raise InsufficientFunds(acc_id)
    return decide_withdrawal(balances, acc_id, amount)


def spends(balances, acc_id, amount):  # changes the balance while deciding
    event = decide_withdrawal(balances, acc_id, amount)
    balances[acc_id] -= amount
    return event


def value_error(balances, acc_id, amount):
    if acc_id not in balances:
        raise ValueError("no such account")
    return decide_withdrawal(balances, acc_id, amount)


@pytest.mark.parametrize("mistake, hint", [
    (overdraws, "InsufficientFunds"),
    (takes_floats, "never a float"),
    (strict_overdraft, "breaks no rule"),
    (spends, "deciding changes nothing"),
    (value_error, "the kit's classes"),
])
def test_01_decide_withdrawal_mistakes(mistake, hint, capsys):
    assert nb01.check_decide_withdrawal(mistake) is False
    out = said(capsys)
    assert out.startswith("✘") and hint in out, out


def same_account_allowed(balances, source, target, amount):
    if source == target:
        return {"AccId": source, "Type": "TransferEvent", "TargetId": target, "Amount": amount}
    return decide_transfer(balances, source, target, amount)


def target_unchecked(balances, source, target, amount):
    balances = {**balances, target: 0}
    return decide_transfer(balances, source, target, amount)


def wrong_shape(balances, source, target, amount):
    decide_transfer(balances, source, target, amount)
    return {"AccId": source, "Type": "TransferEvent", "Target": target, "Amount": amount}


@pytest.mark.parametrize("mistake, hint", [
    (same_account_allowed, "SameAccountTransfer"),
    (target_unchecked, "AccountNotFound"),
    (wrong_shape, "the Go field names"),
])
def test_01_decide_transfer_mistakes(mistake, hint, capsys):
    assert nb01.check_decide_transfer(mistake) is False
    out = said(capsys)
    assert out.startswith("✘") and hint in out, out
