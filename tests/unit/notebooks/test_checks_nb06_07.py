"""The checks of notebooks 06 and 07 that need no server: each passes on its solution, and on
the stub and on a plausible mistake it prints what is wrong and its hint (never a traceback).

The checks that run against the real stack (07's ten withdrawals and read-process-write) are
tested the same way in tests/test_checks_nb07.py.
"""

from __future__ import annotations

import json

import pytest

from banku.lessons.checks import nb06, nb07


def _stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def _answer(capsys) -> str:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # one line
    return out


# --- 06, exercise 1: the fold by hand ---------------------------------------------------------
def balance_by_hand(account, records):  # the solution
    balance = 0
    for record in records:
        event = json.loads(record.value)
        if event.get("AccId") == account and event["Type"] == "DepositEvent":
            balance += event["Amount"]
        elif event.get("AccId") == account and event["Type"] in ("WithdrawEvent", "TransferEvent"):
            balance -= event["Amount"]
        elif event.get("TargetId") == account:
            balance += event["Amount"]
    return balance


def no_transfers_in(account, records):  # a plausible mistake: the credit side forgotten
    balance = 0
    for record in records:
        event = json.loads(record.value)
        if event.get("AccId") != account:
            continue
        if event["Type"] == "DepositEvent":
            balance += event["Amount"]
        elif event["Type"] in ("WithdrawEvent", "TransferEvent"):
            balance -= event["Amount"]
    return balance


def every_account(account, records):  # a plausible mistake: no filter on the account
    total = 0
    for record in records:
        event = json.loads(record.value)
        sign = {"DepositEvent": 1, "WithdrawEvent": -1}.get(event["Type"], 0)
        total += sign * event.get("Amount", 0)
    return total


def test_06_fold_by_hand(capsys):
    assert nb06.check_balance_by_hand(balance_by_hand) is True
    assert _answer(capsys).startswith("✔ ")
    assert nb06.check_balance_by_hand(_stub) is False
    out = _answer(capsys)
    assert out.startswith("✘ Not written yet") and "json.loads(record.value)" in out
    assert nb06.check_balance_by_hand(no_transfers_in) is False
    assert "Hint: A transfer moves money out of AccId and into TargetId" in _answer(capsys)
    assert nb06.check_balance_by_hand(every_account) is False
    assert "✘ " in _answer(capsys)


def test_06_fold_by_hand_on_a_real_log_compares_with_the_kits_fold(capsys):
    from types import SimpleNamespace

    a = "3f1c0f0e-8c5e-4c8e-9a55-2f1f2a3b4c5d"
    b = "7d2e1f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
    values = [{"AccId": a, "Type": "CreateEvent", "AccName": "A"},
              {"AccId": b, "Type": "CreateEvent", "AccName": "B"},
              {"AccId": a, "Type": "DepositEvent", "Amount": 900},
              {"AccId": a, "Type": "TransferEvent", "TargetId": b, "Amount": 400}]
    records = [SimpleNamespace(value=json.dumps(v).encode()) for v in values]
    assert nb06.check_balance_by_hand(balance_by_hand, records) is True
    assert "on the real log (2 account(s))" in _answer(capsys)


# --- 06, exercise 2: the three-way race, predicted ------------------------------------------------
def test_06_three_banks(capsys):
    assert nb06.check_three_banks(lambda: (3, 10_000 - 3 * 4_000)) is True
    assert _answer(capsys).startswith("✔ three accepted")
    assert nb06.check_three_banks(_stub) is False
    assert "Not written yet" in _answer(capsys)
    assert nb06.check_three_banks(lambda: (2, 2_000)) is False  # as if they took turns
    assert "what did each of them see?" in _answer(capsys)
    assert nb06.check_three_banks(lambda: (3, 0)) is False  # "never below zero"
    assert "every withdrawal written" in _answer(capsys)
    assert nb06.check_three_banks(lambda: 3) is False
    assert "Return two numbers" in _answer(capsys)


# --- 06, exercise 3: an idempotent writer ---------------------------------------------------------
def handle(command_id, amount, decided, write):  # the solution
    if command_id in decided:
        return decided[command_id]
    offset = write(amount)
    decided[command_id] = offset
    return offset


def marks_first(command_id, amount, decided, write):  # mistake: remembered before the write
    if command_id in decided:
        return decided[command_id]
    decided[command_id] = None
    decided[command_id] = write(amount)
    return decided[command_id]


def by_amount(command_id, amount, decided, write):  # mistake: the amount taken for the intention
    if amount in decided:
        return decided[amount]
    decided[amount] = write(amount)
    return decided[amount]


def forgets(command_id, amount, decided, write):  # mistake: a retry gets nothing back
    if command_id in decided:
        return None
    decided[command_id] = write(amount)
    return decided[command_id]


def test_06_idempotent(capsys):
    assert nb06.check_idempotent(handle) is True
    assert _answer(capsys).startswith("✔ ")
    assert nb06.check_idempotent(_stub) is False
    assert "ask whether this command id was decided already" in _answer(capsys)
    assert nb06.check_idempotent(marks_first) is False
    assert "Remember the id only after the write succeeded" in _answer(capsys)
    assert nb06.check_idempotent(by_amount) is False
    assert "January's rent is not December's" in _answer(capsys)
    assert nb06.check_idempotent(forgets) is False
    assert "A retry gets the first outcome back" in _answer(capsys)


# --- 07, exercise 2: the markers, predicted -------------------------------------------------------
def test_07_markers(capsys):
    assert nb07.check_markers(lambda: (10, ["deposit 3", "deposit 4", "deposit 5"])) is True
    assert _answer(capsys).startswith("✔ end offset 10")
    assert nb07.check_markers(_stub) is False
    assert "Not written yet" in _answer(capsys)
    assert nb07.check_markers(lambda: (8, ["deposit 3", "deposit 4", "deposit 5"])) is False
    assert "each ended transaction adds a marker" in _answer(capsys)
    zombie_seen = ["deposit 3", "deposit 4", "zombie deposit", "deposit 5"]
    assert nb07.check_markers(lambda: (10, zombie_seen)) is False
    assert "aborted records are never returned" in _answer(capsys)


@pytest.mark.parametrize("check", [nb06.check_balance_by_hand, nb06.check_three_banks,
                                   nb06.check_idempotent, nb07.check_markers])
def test_a_check_that_meets_any_error_says_one_line(check, capsys):
    def broken(*args, **kwargs):
        raise KeyError("Type")

    assert check(broken) is False
    assert _answer(capsys).startswith("✘ Your code raised KeyError")
