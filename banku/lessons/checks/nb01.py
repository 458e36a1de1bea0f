"""Checks for notebook 01 (producing events): a key's partition, an event on the wire in the Go
original's format, and the decisions of the command side (a withdrawal, a transfer).

The right answers come from elsewhere than the learner's reasoning: the partition from
kafka-python's murmur2 and, when the notebook passes them, from where the broker put the
records; the bytes from the kit's encoder (the Go original's JSON); the decisions from the
rules listed in the notebook, as cases written out here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kafka.partitioner.default import murmur2

from banku.domain.events import (
    CreateEvent,
    DepositEvent,
    Event,
    TransferEvent,
    WithdrawEvent,
    encode,
)
from banku.errors import (
    AccountNotFound,
    CommandRejected,
    InsufficientFunds,
    InvalidAmount,
    SameAccountTransfer,
)
from banku.lessons.checks import NotYet, check, proven

__all__ = ["check_decide_transfer", "check_decide_withdrawal", "check_go_wire",
           "check_partition_of"]


# --- exercise 1: the partition of a key ----------------------------------------------------------
def _partition(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


# Keys whose murmur2 is negative as a 32-bit number are where `abs` or a missing mask goes wrong.
KEYS = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"banku:check01:{n}")) for n in range(40)] + ["21", ""]


@check("Read how kafka-python's producer turns a key into a partition (run"
       " `DefaultPartitioner??` in a cell): murmur2 of the key's bytes, then a number in"
       " range(partitions).")
def check_partition_of(partition_of: Callable[[str, int], int],
                       placed: Mapping[str, int] | None = None) -> bool:
    """``placed``: account id -> the partition the broker reported (a 3-partition topic)."""
    for key, partition in sorted((placed or {}).items()):
        got = partition_of(key, 3)
        if got != partition:
            raise NotYet(f"partition_of({key!r}, 3) says {got!r}, but Kafka stored that"
                         f" account's records in partition {partition}.", _why(key, 3, got))
    for partitions in (3, 6, 1):
        for key in KEYS:
            got = partition_of(key, partitions)
            if got != _partition(key, partitions):
                raise NotYet(f"partition_of({key!r}, {partitions}) says {got!r}; the producer"
                             " would pick another partition.", _why(key, partitions, got))
    where = "and where the broker put this notebook's records, " if placed else ""
    return proven(f"partition_of agrees with the producer's partitioner on {len(KEYS) * 3} keys"
                  f" {where}for 1, 3 and 6 partitions: a key's partition is known before"
                  " anything is sent.")


def _why(key: str, partitions: int, got: object) -> str:
    hashed = murmur2(key.encode())
    if not isinstance(got, int) or isinstance(got, bool):
        return "return the partition as a whole number (an int)."
    if got == hashed % partitions or got == abs(hashed) % partitions:
        return ("murmur2 gives a signed 32-bit number; the partitioner clears its sign bit"
                " with & 0x7FFFFFFF (not abs) before taking it modulo the partitions.")
    if not 0 <= got < partitions:
        return f"a partition of a {partitions}-partition topic is one of 0 to {partitions - 1}."
    return ("hash the key's UTF-8 bytes (key.encode()) with kafka-python's murmur2, as the"
            " producer does; Python's own hash() differs from run to run.")


# --- exercise 2: an event on the wire, as the Go original wrote it ----------------------------
ADA = "3f2b8c1e-6a4d-4e5f-9a7b-1c2d3e4f5a6b"
BEN = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
WIRE_CASES: list[Event] = [
    CreateEvent(ADA, "Ada Lovelace"),
    DepositEvent(ADA, 2000),
    WithdrawEvent(ADA, 550),
    TransferEvent(ADA, BEN, 125),
    CreateEvent(BEN, "Mehmet Yılmaz"),
]


@check("Build a dict with the Go field names, in the Go struct's order, then turn it into"
       " JSON bytes the way Go writes them.")
def check_go_wire(go_wire: Callable[[Event], bytes]) -> bool:
    for event in WIRE_CASES:
        want = encode(event)
        got = go_wire(event)
        if got == want:
            continue
        said = f"go_wire({event!r}) returned {_short(got)}."
        if isinstance(got, str):
            raise NotYet(said, "Kafka stores bytes: encode the JSON text as UTF-8 (.encode()).")
        if not isinstance(got, bytes):
            raise NotYet(said, "return the record's value: bytes of JSON.")
        try:
            decoded = json.loads(got)
        except ValueError:
            raise NotYet(said, "that is not JSON: json.dumps writes it.") from None
        wire = event.to_wire()
        if not isinstance(decoded, dict) or set(decoded) != set(wire):
            found = sorted(decoded) if isinstance(decoded, dict) else type(decoded).__name__
            raise NotYet(f"{said} Its fields are {found}.",
                         f"a {type(event).__name__} has the Go original's fields, exactly"
                         " spelled: AccId, Type, then AccName, or Amount, or TargetId and Amount.")
        if decoded != wire:
            raise NotYet(said, "a field has the wrong value: Type is the event's type name, and"
                         " Amount stays a whole number of cents.")
        if list(decoded) != list(wire):
            raise NotYet(said, "same fields, another order: Go writes a struct's fields in the"
                         " order they are declared (AccId, Type, ... as listed above).")
        if b"\\u" in got:
            raise NotYet(said, "Go writes non-ASCII letters as UTF-8, not as \\u escapes:"
                         " json.dumps(..., ensure_ascii=False).")
        raise NotYet(said, "Go's json.Marshal writes no spaces: json.dumps(...,"
                     " separators=(',', ':')).")
    return proven(f"go_wire writes all four event types byte for byte as the Go original did"
                  f" ({len(WIRE_CASES)} events): a Go producer and this kit can share the topic.")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 140 else text[:128] + "... (cut)"


# --- exercises 3 and 4: the command side decides -------------------------------------------------
ZED = "00000000-0000-4000-8000-0000000000ff"  # never opened
BALANCES = {ADA: 5000, BEN: 0}
NAMES = {ADA: "Ada", BEN: "Ben", ZED: "an account never opened"}
Refusal = type[CommandRejected]
WITHDRAWALS: list[tuple[str, Any, Refusal | None]] = [
    (ADA, 2000, None),
    (ADA, 5000, None),  # all of it: allowed
    (ADA, 5001, InsufficientFunds),
    (BEN, 1, InsufficientFunds),
    (ZED, 100, AccountNotFound),
    (ADA, 0, InvalidAmount),
    (ADA, -300, InvalidAmount),
    (ADA, 12.5, InvalidAmount),  # money is never a float
    (ADA, "2000", InvalidAmount),
]
TRANSFERS: list[tuple[str, str, Any, Refusal | None]] = [
    (ADA, BEN, 3000, None),
    (ADA, BEN, 5000, None),
    (ADA, ADA, 100, SameAccountTransfer),
    (ADA, ZED, 100, AccountNotFound),
    (ZED, ADA, 100, AccountNotFound),
    (BEN, ADA, 1, InsufficientFunds),
    (ADA, BEN, 6000, InsufficientFunds),
    (ADA, BEN, 0, InvalidAmount),
    (ADA, BEN, 99.99, InvalidAmount),
]
RULE_OF = {
    InvalidAmount: "an amount is a positive whole number of cents (an int, never a float or"
                   " text): refuse anything else with InvalidAmount",
    AccountNotFound: "an account must have been opened (be in balances), or AccountNotFound",
    InsufficientFunds: "an account cannot give more than its balance (all of it is fine):"
                       " InsufficientFunds",
    SameAccountTransfer: "a transfer needs two different accounts: SameAccountTransfer",
}


def _decision(call: Callable[[], Any], shown: str, wanted: dict | None,
              refusal: Refusal | None) -> None:
    try:
        outcome = call()
    except NotImplementedError:
        raise
    except CommandRejected as refused:
        if refusal is None:
            raise NotYet(f"{shown} refused with {type(refused).__name__}, but it breaks no rule.",
                         "write the event when every rule passes.") from None
        if not isinstance(refused, refusal):
            raise NotYet(f"{shown} refused with {type(refused).__name__}, but the rule it breaks"
                         f" is another one.", RULE_OF[refusal] + ".") from None
        return
    except Exception as error:  # the learner's refusal may be any exception
        raise NotYet(f"{shown} raised {type(error).__name__}: {error}.",
                     "refuse with the kit's classes (from banku import InsufficientFunds, ...),"
                     " so every caller can tell a refusal from a bug.") from None
    if refusal is not None:
        raise NotYet(f"{shown} returned {_short(outcome)}: an event would be written.",
                     RULE_OF[refusal] + ".")
    if outcome != wanted:
        raise NotYet(f"{shown} returned {_short(outcome)}.",
                     "an accepted command returns its event as the dict the producer sends:"
                     " the Go field names, as in the cells above.")


def _unchanged(balances: dict[str, int]) -> None:
    if balances != BALANCES:
        raise NotYet("Your function changed the balances it was given.",
                     "deciding changes nothing: the balance moves when the event is folded"
                     " into the ledger, after it was written.")


@check("Go through the rules in the order listed; the first one a command breaks decides its"
       " refusal.")
def check_decide_withdrawal(decide_withdrawal: Callable[[dict[str, int], str, Any], dict]) -> bool:
    for acc, amount, refusal in WITHDRAWALS:
        balances = dict(BALANCES)
        wanted = {"AccId": acc, "Type": "WithdrawEvent", "Amount": amount}
        _decision(lambda: decide_withdrawal(balances, acc, amount),  # noqa: B023 - called at once
                  f"Withdrawing {amount!r} cents from {NAMES[acc]} ({BALANCES.get(acc)} cents)",
                  wanted, refusal)
        _unchanged(balances)
    return proven(f"decide_withdrawal accepts and refuses as the rules say ({len(WITHDRAWALS)}"
                  " cases): an overdraft is refused before anything reaches the log.")


@check("Go through the rules in the order listed (a transfer has two accounts to look up);"
       " the first one a command breaks decides its refusal.")
def check_decide_transfer(decide_transfer: Callable[[dict[str, int], str, str, Any], dict]) -> bool:
    for source, target, amount, refusal in TRANSFERS:
        balances = dict(BALANCES)
        wanted = {"AccId": source, "Type": "TransferEvent", "TargetId": target, "Amount": amount}
        _decision(lambda: decide_transfer(balances, source, target, amount),  # noqa: B023
                  f"Transferring {amount!r} cents from {NAMES[source]} to {NAMES[target]}",
                  wanted, refusal)
        _unchanged(balances)
    return proven(f"decide_transfer accepts and refuses as the rules say ({len(TRANSFERS)}"
                  " cases): a transfer is one fact, decided once, on the source's balance.")
