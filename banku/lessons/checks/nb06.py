"""Checks for notebook 06 (two writers, one account): the fold by hand, the three-way race
predicted, and an idempotent writer."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from banku.lessons.checks import NotYet, check, proven
from banku.lessons.races import balance_in_log

__all__ = ["check_balance_by_hand", "check_idempotent", "check_three_banks",
           "THREE_BANKS_DEPOSIT", "THREE_BANKS_AMOUNT"]

# The three-way race of the notebook: one deposit, three withdrawals decided on the same read.
THREE_BANKS_DEPOSIT = 10_000
THREE_BANKS_AMOUNT = 4_000


def _record(value: dict[str, Any] | bytes, offset: int) -> SimpleNamespace:
    """What the lesson's `read_records` returns: a record with a value in bytes."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return SimpleNamespace(value=raw, partition=0, offset=offset, headers=[])


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"banku:check06:{i}")) for i in range(n)]


def _cases() -> list[tuple[str, list[SimpleNamespace], str, int]]:
    a, b, c = _ids(3)
    opened: list[dict[str, Any]] = [{"AccId": a, "Type": "CreateEvent", "AccName": "A"},
              {"AccId": b, "Type": "CreateEvent", "AccName": "B"},
              {"AccId": a, "Type": "DepositEvent", "Amount": 10_000},
              {"AccId": b, "Type": "DepositEvent", "Amount": 500}]
    cases: list[tuple[str, list[dict[str, Any]], str, int]] = [
        ("deposits and withdrawals", opened + [
            {"AccId": a, "Type": "WithdrawEvent", "Amount": 7_000},
            {"AccId": a, "Type": "WithdrawEvent", "Amount": 7_000}], a, -4_000),
        ("a transfer out of the account", opened + [
            {"AccId": a, "Type": "TransferEvent", "TargetId": b, "Amount": 2_500}], a, 7_500),
        ("a transfer into the account", opened + [
            {"AccId": a, "Type": "TransferEvent", "TargetId": b, "Amount": 2_500}], b, 3_000),
        ("another account's events only", opened, c, 0),
        ("a field it does not know (readers ignore them)", opened + [
            {"AccId": b, "Type": "DepositEvent", "Amount": 100, "Memo": "rent"}], b, 600),
    ]
    return [(what, [_record(v, i) for i, v in enumerate(values)], acc, want)
            for what, values, acc, want in cases]


@check("Read each record's JSON (json.loads(record.value)) and add up the amounts that"
       " concern the account: deposits and transfers in add, withdrawals and transfers out"
       " subtract.")
def check_balance_by_hand(balance_by_hand: Callable[[str, list], int],
                          records: list | None = None) -> bool:
    """Run the learner's fold on made-up records, then (if given) on every account of the
    real log, against the kit's own fold."""
    for what, made_up, account, want in _cases():
        got = balance_by_hand(account, made_up)
        if got != want:
            hint = ("A transfer moves money out of AccId and into TargetId."
                    if "transfer" in what else
                    "Count only the events whose AccId (or TargetId) is the account."
                    if "another" in what else
                    "Look at every event's Type and Amount; a withdrawal subtracts.")
            raise NotYet(f"With {what}, your fold gives {got!r} cents; the log says {want}.",
                         hint)
    if records is not None:
        accounts = {json.loads(r.value).get("AccId") for r in records}
        for account in sorted(a for a in accounts if a):
            want = balance_in_log(account, records)
            got = balance_by_hand(account, records)
            if got != want:
                raise NotYet(f"On the real log, account {account} folds to {got!r} cents with"
                             f" your code and {want} with the kit's.",
                             "Compare the event types you handle with those in the log.")
        return proven(f"your fold agrees with the kit's on the real log ({len(accounts)}"
                      " account(s)), and on transfers in and out, other accounts and unknown"
                      " fields.")
    return proven("your fold handles deposits, withdrawals, transfers in and out, other"
                  " accounts and unknown fields.")


@check("Return a pair: (how many of the three withdrawals are accepted, the balance in cents"
       " that the fold of the log gives afterwards).")
def check_three_banks(prediction: Callable[[], tuple[int, int]]) -> bool:
    """The three-way race: 100.00 in the account, three Banks each withdraw 40.00, and each is
    held after reading the log until all three have read it."""
    answer = prediction()
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise NotYet(f"Your prediction is {answer!r}.",
                     "Return two numbers: (accepted, balance), e.g. return 1, 6000.")
    accepted, balance = answer
    if accepted != 3:
        raise NotYet(f"You predict {accepted!r} accepted withdrawals.",
                     "Each Bank checks 40.00 against what it read, and all three read the log"
                     " before anyone wrote: what did each of them see?")
    if balance != THREE_BANKS_DEPOSIT - 3 * THREE_BANKS_AMOUNT:
        raise NotYet(f"Three accepted, right; but you predict a balance of {balance!r} cents.",
                     "The fold adds up every event in the log, in cents: the deposit and every"
                     " withdrawal written.")
    return proven("three accepted, −20.00: each Bank decided on the same stale read. Run the"
                  " next cell to see it happen.")


def _fresh_log() -> tuple[list[int], Callable[[int], int]]:
    log: list[int] = []

    def write(amount: int) -> int:
        log.append(amount)
        return len(log) - 1  # the new event's offset
    return log, write


@check("Before writing, ask whether this command id was decided already; and think about"
       " when to remember it: before the write, or after it succeeded?")
def check_idempotent(handle: Callable[[str, int, dict, Callable[[int], int]], int]) -> bool:
    """`handle(command_id, amount, decided, write)` -> the offset of the command's event."""
    log, write = _fresh_log()
    decided: dict[str, int] = {}
    first = handle("rent-2026-12", 2_500, decided, write)
    again = handle("rent-2026-12", 2_500, decided, write)
    if len(log) != 1:
        raise NotYet(f"The same command id sent twice wrote {len(log)} events.",
                     "A repeated id must write nothing: look it up in `decided` before you"
                     " write.")
    if again != first:
        raise NotYet(f"The retry got {again!r}, the first attempt {first!r}.",
                     "A retry gets the first outcome back (the offset stored under the id),"
                     " so the client learns what happened the first time.")
    handle("rent-2027-01", 2_500, decided, write)
    if len(log) != 2:
        raise NotYet("Two different intentions with the same amount wrote"
                     f" {len(log) - 1} event(s) between them after the first.",
                     "Remember outcomes by command id only: January's rent is not December's,"
                     " even for the same amount.")
    # A write that fails must leave the id free, or the retry is swallowed and nothing written.
    log, write = _fresh_log()
    decided = {}
    failures = [ConnectionError("the broker did not answer")]

    def flaky(amount: int) -> int:
        if failures:
            raise failures.pop()
        return write(amount)

    try:
        handle("salary-2026-12", 300_000, decided, flaky)
    except ConnectionError:
        pass
    retried = handle("salary-2026-12", 300_000, decided, flaky)
    if len(log) != 1:
        raise NotYet("The first write failed, and the retry with the same id wrote nothing:"
                     " the salary is lost.",
                     "Remember the id only after the write succeeded (as 02's projector stores"
                     " its position with the effect, never before).")
    if retried != 0:
        raise NotYet(f"The retry after a failed write returned {retried!r}, not its event's"
                     " offset.", "Return what `write` returned.")
    return proven("a repeated command id writes nothing and gets the first outcome, two"
                  " intentions stay two, and a failed write can be retried.")
