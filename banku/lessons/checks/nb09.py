"""Checks for notebook 09, snapshots: a fold that starts from a snapshot, the checks that refuse
a bad snapshot, and a forged snapshot that a new write side must refuse."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from banku.lessons.checks import NotYet, check, proven

A, B, C = ("0b6f7c8e-0000-4000-8000-00000000000a", "0b6f7c8e-0000-4000-8000-00000000000b",
           "0b6f7c8e-0000-4000-8000-00000000000c")


def _moves(event: dict[str, Any]) -> list[tuple[str, int]]:
    kind, acc = event["Type"], event["AccId"]
    if kind == "CreateEvent":
        return [(acc, 0)]
    if kind == "DepositEvent":
        return [(acc, event["Amount"])]
    if kind == "WithdrawEvent":
        return [(acc, -event["Amount"])]
    return [(acc, -event["Amount"]), (event["TargetId"], event["Amount"])]


def _fold(snapshot: dict[str, Any], records: list[tuple[int, int, dict[str, Any]]],
          skip: Callable[[int, int], bool]) -> dict[str, int]:
    balances = dict(snapshot["balances"])
    for partition, offset, event in records:
        if not skip(partition, offset):
            for acc, delta in _moves(event):
                balances[acc] = balances.get(acc, 0) + delta
    return balances


def _tail_case() -> tuple[dict[str, Any], list[tuple[int, int, dict[str, Any]]]]:
    """A snapshot at partition 0: 3, partition 1: 2 (nothing of partition 2 yet) and the
    records a reader meets when it starts a little before those positions."""
    snapshot: dict[str, Any] = {"positions": {0: 3, 1: 2}, "balances": {A: 5_000, B: 1_000}}
    records: list[tuple[int, int, dict[str, Any]]] = [
        (0, 1, {"AccId": A, "Type": "DepositEvent", "Amount": 2_000}),  # in the snapshot
        (0, 2, {"AccId": A, "Type": "WithdrawEvent", "Amount": 500}),  # in the snapshot
        (1, 1, {"AccId": B, "Type": "DepositEvent", "Amount": 1_000}),  # in the snapshot
        (0, 3, {"AccId": A, "Type": "TransferEvent", "TargetId": B, "Amount": 700}),  # tail
        (1, 2, {"AccId": B, "Type": "WithdrawEvent", "Amount": 300}),  # tail
        (2, 0, {"AccId": C, "Type": "CreateEvent", "AccName": "Cy"}),  # tail
        (2, 1, {"AccId": C, "Type": "DepositEvent", "Amount": 900}),  # tail
        (0, 4, {"AccId": A, "Type": "DepositEvent", "Amount": 100}),  # tail
    ]
    return snapshot, records


@check("Write fold_tail: start from a copy of the snapshot's balances and apply only the records"
       " at or after the snapshot's position in their partition.")
def check_fold_tail(fold_tail: Callable[[dict[str, Any], list[Any]], dict[str, int]]) -> bool:
    """Exercise 1: the balances after the tail, from the snapshot."""
    snapshot, records = _tail_case()
    given = copy.deepcopy(snapshot)
    got = fold_tail(given, list(records))
    if given != snapshot:
        raise NotYet("Your fold changed the snapshot it was given.",
                     "start from dict(snapshot[\"balances\"]): a snapshot is read, never changed;"
                     " the next cold start needs it as it was.")
    positions = snapshot["positions"]
    right = _fold(snapshot, records, lambda p, o: o < positions.get(p, 0))
    if got == right:
        return proven("fold_tail starts from the snapshot and applies each record of the tail"
                      " once: the same balances as a fold from offset zero.")
    if got == _fold(snapshot, records, lambda p, o: False):
        raise NotYet("Records the snapshot already counted were applied again.",
                      "skip a record whose offset is below the snapshot's position in its"
                      " partition.")
    if got == _fold(snapshot, records, lambda p, o: o <= positions.get(p, -1)):
        raise NotYet("The first record of the tail in each partition was skipped.",
                     "a position is the *next* offset to fold: the record at that offset is not"
                     " in the snapshot yet.")
    if got == _fold(snapshot, records, lambda p, o: p not in positions or o < positions[p]):
        raise NotYet("The records of a partition the snapshot has no position for were skipped.",
                     "no position for a partition means the snapshot holds none of it: start"
                     " that partition at offset 0.")
    if not isinstance(got, dict):
        raise NotYet(f"fold_tail returned {type(got).__name__}, not a dict of balances.",
                     "return the balances: account id -> cents.")
    wrong = [acc for acc in sorted(right) if got.get(acc) != right[acc]] or sorted(got)
    raise NotYet(f"The balances are not right: account {wrong[0]} has {got.get(wrong[0])}.",
                 "start from the snapshot's balances and add each tail record's moves(event).")


# --- exercise 2: refusing a bad snapshot ----------------------------------------------------------
TOPIC_ID = "Ynlnb3Rzbm9wc2hvdF90b3A"


def _snapshot(body: dict[str, Any], checksum_of: dict[str, Any] | None = None) -> bytes:
    text = json.dumps(body, separators=(",", ":"))
    other = json.dumps(checksum_of, separators=(",", ":")) if checksum_of else text
    outer = {"sha256": hashlib.sha256(other.encode()).hexdigest(), "body": text}
    return gzip.compress(json.dumps(outer).encode())


def _refusal_cases() -> list[tuple[str, bytes, bool]]:
    """(what, value, refused?) for ends {0: 10, 1: 8, 2: 5}."""
    good = {"schema": 1, "topic_id": TOPIC_ID, "positions": {"0": 7, "1": 6, "2": 2},
            "balances": {A: 5_000, B: 700}}
    return [
        ("a good snapshot", _snapshot(good), False),
        ("a good snapshot at the very end of the log",
         _snapshot({**good, "positions": {"0": 10, "1": 8, "2": 5}}), False),
        ("bytes that are not gzip at all", b"not a snapshot", True),
        ("a snapshot whose body was changed after its checksum was taken",
         _snapshot({**good, "balances": {A: 1_005_000, B: 700}}, checksum_of=good), True),
        ("a snapshot of schema 2", _snapshot({**good, "schema": 2}), True),
        ("a snapshot of another topic of that name (deleted and created again)",
         _snapshot({**good, "topic_id": "c29tZSBvdGhlciB0b3BpYw"}), True),
        ("a snapshot ahead of the log", _snapshot({**good, "positions": {"0": 7, "1": 9, "2": 2}}),
         True),
    ]


@check("Write why_refused: return None for a snapshot that may be used, else a sentence saying"
       " why not (corrupt, checksum, schema, topic id, ahead of the log).")
def check_why_refused(why_refused: Callable[[bytes, str, dict[int, int]], str | None]) -> bool:
    """Exercise 2: the four checks, and a good snapshot let through."""
    ends = {0: 10, 1: 8, 2: 5}
    for what, value, refused in _refusal_cases():
        try:
            said = why_refused(value, TOPIC_ID, dict(ends))
        except NotImplementedError:
            raise
        except Exception as error:  # the learner's code may raise anything
            raise NotYet(f"For {what} your function raised {type(error).__name__}: {error}.",
                         "catch what a broken snapshot makes gzip or json raise (OSError,"
                         " ValueError) and return a reason instead.") from None
        if refused and not said:
            raise NotYet(f"{what[0].upper()}{what[1:]} was let through.",
                         "read the four checks in the paragraph above the exercise again.")
        if not refused and said:
            raise NotYet(f"{what[0].upper()}{what[1:]} was refused: {said}",
                         "a position equal to the end offset is fine: the snapshot holds the"
                         " whole log." if "end" in what else "compare each position with the"
                         " end offset of its partition, and the topic id with the topic's.")
        if refused and not isinstance(said, str):
            raise NotYet(f"For {what} your function returned {said!r}, not a sentence.",
                         "the reason goes into the warning a learner reads.")
    return proven("why_refused lets a good snapshot through and refuses garbage, a changed body,"
                  " another schema, another topic and a snapshot ahead of the log.")


# --- exercise 3: a forged snapshot ----------------------------------------------------------------
class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _open(value: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    outer = json.loads(gzip.decompress(value))
    return outer, json.loads(outer["body"])


@check("Write forge: gzip.decompress, json.loads twice, add to one balance, json.dumps the body"
       " back and keep the old sha256.")
def check_forgery(forge: Callable[[bytes], bytes], genuine: bytes, log: Any) -> bool:
    """Exercise 3: the forgery of the genuine snapshot, written as the latest snapshot in the
    log, is refused by a new write side."""
    try:
        outer, body = _open(genuine)
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        raise NotYet("The snapshot given to forge is not a genuine one.",
                     "pass `value`, the snapshot taken apart above (Run All).") from None
    forged = forge(genuine)
    if not isinstance(forged, bytes):
        raise NotYet(f"forge returned {type(forged).__name__}, not bytes.",
                     "a snapshot record's value is gzip.compress(...) of the outer JSON.")
    try:
        forged_outer, forged_body = _open(forged)
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        raise NotYet("Your forgery is not gzip'd JSON with a body: a reader would refuse it as"
                     " garbage, not as a forgery.", "gzip.compress(json.dumps({\"sha256\": ...,"
                     " \"body\": ...}).encode()).") from None
    if forged_body.get("balances") == body.get("balances"):
        raise NotYet("No balance in your forgery differs from the genuine snapshot.",
                     "add 1_000_000 to one account's balance in the body.")
    if forged_outer.get("sha256") != outer["sha256"]:
        if forged_outer.get("sha256") == hashlib.sha256(forged_outer["body"].encode()).hexdigest():
            raise NotYet("Your forgery carries a checksum that matches its changed body: it is"
                         " perfect, and a new Bank would believe it (read the next paragraph).",
                         "for this exercise keep the genuine snapshot's sha256.")
        raise NotYet("Your forgery's sha256 is neither the old one nor that of its body.",
                     "keep outer[\"sha256\"] as it was.")
    read, why = _cold_start(log, forged)
    if not why:
        raise NotYet("A new write side started from your forgery.",
                     "keep the old checksum and change the body: then they cannot match.")
    reason = why[0].split(": ", 1)[-1].split(";")[0]  # "it is corrupt (its checksum ...)"
    return proven(f"Your forged snapshot was refused, {reason}: a new write side folded all"
                  f" {read} records instead.")


def _cold_start(log: Any, value: bytes) -> tuple[int, list[str]]:
    """Write the value as the latest snapshot and fold as a new write side: (records read, the
    refusals it logged)."""
    from banku.application import write_model
    from banku.application.write_model import WriteModel

    logger = write_model.log  # where a refused snapshot is said
    captured, handlers, propagate = _Captured(), list(logger.handlers), logger.propagate
    logger.handlers, logger.propagate = [captured], False  # the check says it in its one line
    try:
        log.save_snapshot(value)
        newcomer = WriteModel(log, snapshot_every=0)
        read = newcomer.catch_up()
        return read, [m for m in captured.messages if "Ignoring the snapshot" in m] \
            if newcomer.started_from == "offset zero" else []
    finally:
        logger.handlers, logger.propagate = handlers, propagate
