"""Checks for notebook 08, changing events: which changes old readers survive, an upcaster
chain to version 3, and a version-3 record written to the real topic."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from banku.lessons.checks import NotYet, check, proven

# The changes of exercise 1, and whether the version-2 readers already running survive each
# one (every balance and every statement still right, with no code deployed).
CHANGES = (
    "TransferEvent gains a Reference field",
    "a new event type InterestPaid",
    "Amount is sent in euros (a float) instead of cents",
    "Memo is renamed Note",
    "every record gets a new header banku.trace",
)
_SURVIVED = (True, False, False, False, True)
_WHY = (
    "a tolerant reader ignores a field it does not know.",
    "think of FeeCharged: what did the version-1 projector do with a type it did not know?",
    "a tolerant reader applies a field it knows without asking what it means now.",
    "a version-2 reader looks for Memo: what does it show when the field is not there?",
    "the readers look up only the headers they know.",
)


@check("Give each change True (the running readers survive it) or False.")
def check_compatibility(answers: dict[str, Any]) -> bool:
    """Exercise 1: True or False for each change in `CHANGES`."""
    if not isinstance(answers, dict) or set(answers) != set(CHANGES):
        raise NotYet("Your answers must be a dict with exactly the five changes as keys.",
                     "start again from the cell as it was handed out.")
    if any(answers[change] is None for change in CHANGES):
        raise NotYet("Not answered yet: some answers are still None.",
                     "give each change True (the running readers survive it) or False.")
    if any(not isinstance(answers[change], bool) for change in CHANGES):
        raise NotYet("Each answer must be True or False.", "no quotes around True or False.")
    wrong = [n for n, change in enumerate(CHANGES) if answers[change] is not _SURVIVED[n]]
    if wrong:
        raise NotYet(f"{len(wrong)} of your 5 answers are not right yet.",
                     f"look again at change {wrong[0] + 1}: {_WHY[wrong[0]]}")
    return proven("Right: a new field or header is compatible; a new type, a new meaning and a"
                  " rename each need the readers upgraded first.")


# --- exercise 2: an upcaster chain ----------------------------------------------------------------
def _cases() -> list[tuple[str, dict[str, Any], int, dict[str, Any]]]:
    acc, other = "6f1c2a3e-0000-4000-8000-000000000001", "6f1c2a3e-0000-4000-8000-000000000002"
    return [
        ("a version-1 deposit (no header)", {"AccId": acc, "Type": "DepositEvent", "Amount": 500},
         1, {"AccId": acc, "Type": "DepositEvent", "Amount": 500, "Note": ""}),
        ("a version-2 withdrawal with a memo",
         {"AccId": acc, "Type": "WithdrawEvent", "Amount": 70, "Memo": "rent, March"}, 2,
         {"AccId": acc, "Type": "WithdrawEvent", "Amount": 70, "Note": "rent, March"}),
        ("a version-2 fee", {"AccId": acc, "Type": "FeeCharged", "Amount": 150, "Memo": "fee"}, 2,
         {"AccId": acc, "Type": "FeeCharged", "Amount": 150, "Note": "fee"}),
        ("a version-3 transfer",
         {"AccId": acc, "Type": "TransferEvent", "TargetId": other, "Amount": 9, "Note": "gift"}, 3,
         {"AccId": acc, "Type": "TransferEvent", "TargetId": other, "Amount": 9, "Note": "gift"}),
        ("a version-1 CreateEvent", {"AccId": acc, "Type": "CreateEvent", "AccName": "Ada"}, 1,
         {"AccId": acc, "Type": "CreateEvent", "AccName": "Ada"}),
    ]


@check("Write upcast_v3: for a version below 3 call upcast (v1 -> v2), then rename Memo to Note.")
def check_upcast_v3(upcast_v3: Callable[[dict[str, Any], int], dict[str, Any]]) -> bool:
    """Exercise 2: every version this reader knows is lifted to version 3; a newer one refused."""
    for what, event, version, wanted in _cases():
        given = copy.deepcopy(event)
        got = upcast_v3(given, version)
        if given != event:
            raise NotYet(f"Your upcaster changed the event it was given ({what}).",
                         "build a new dict ({**event, ...}): the record read is not yours to"
                         " change.")
        if not isinstance(got, dict):
            raise NotYet(f"For {what} your upcaster returned {type(got).__name__}, not a dict.",
                         "return the event in the version-3 shape.")
        if "Memo" in got:
            raise NotYet(f"For {what} the result still has a Memo field.",
                         "version 3 has Note instead of Memo: the old name must go.")
        if got != wanted:
            missing = sorted(set(wanted) - set(got))
            problem = (f"For {what} the result has no {missing[0]}." if missing else
                       f"For {what} the result is {json.dumps(got)}.")
            raise NotYet(problem, "chain the steps: upcast(event, version) lifts v1 to v2 (and"
                         " gives a movement its Memo), then rename v2 to v3.")
    try:
        upcast_v3({"AccId": "x", "Type": "DepositEvent", "Amount": 1}, 4)
    except NotImplementedError:
        raise
    except Exception:  # any refusal by name will do
        pass
    else:
        raise NotYet("A version-4 record was accepted.",
                     "a reader must refuse a version newer than itself instead of guessing.")
    return proven("upcast_v3 lifts versions 1, 2 and 3 to one shape, leaves the record read"
                  " untouched and refuses version 4.")


# --- exercise 3: a version-3 record on the topic --------------------------------------------------
def _recent_records(settings: Any, account_id: str, per_partition: int = 50) -> list[Any]:
    """The last records of each partition of the topic whose key is the account id (in order)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**settings.kafka_options(), group_id=None,
                             enable_auto_commit=False)
    try:
        parts = [TopicPartition(settings.topic_name, p)
                 for p in sorted(consumer.partitions_for_topic(settings.topic_name) or ())]
        consumer.assign(parts)
        ends = consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, max(0, ends[tp] - per_partition))
        found = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                found += [r for r in records if r.key == account_id.encode()]
        return sorted(found, key=lambda r: r.offset)
    finally:
        consumer.close()


def _version(record: Any) -> bytes | None:
    return next((value for name, value in record.headers or [] if name == "banku.schema"), None)


@check("Send one record with a raw producer: key Ada's id, headers=[(\"banku.schema\", b\"3\")]"
       " and a value with a Note.")
def check_v3_record(settings: Any, account_id: str) -> bool:
    """Exercise 3: the last of the account's records is a version-3 withdrawal of 400 cents."""
    mine = _recent_records(settings, account_id)
    v3 = [r for r in mine if _version(r) == b"3"]
    if not v3:
        if mine and b'"Note"' in (mine[-1].value or b""):
            raise NotYet("Your record has no banku.schema header of 3: a reader takes it for"
                         " version 1.", "headers=[(SCHEMA_HEADER, b\"3\")] in the send.")
        raise NotYet("There is no version-3 record keyed by Ada's id in the topic yet.",
                     "a raw KafkaProducer, key=ada.encode(), headers=[(\"banku.schema\", b\"3\")],"
                     " a value with a Note, then .get(timeout=10).")
    if len(v3) > 1:
        raise NotYet(f"There are {len(v3)} version-3 records for the account: the cell ran more"
                     " than once.", "Run All: the notebook resets its namespace first.")
    try:
        event = json.loads(v3[0].value)
    except (TypeError, ValueError):
        raise NotYet("Your record's value is not JSON.",
                     "value=json.dumps({...}).encode(), as in the cell that wrote version 2."
                     ) from None
    if "Memo" in event or "Note" not in event:
        raise NotYet("Your version-3 record has no Note (or still a Memo).",
                     "in version 3 the field is called Note.")
    wanted = {"AccId": account_id, "Type": "WithdrawEvent", "Amount": 400}
    wrong = [k for k, v in wanted.items() if event.get(k) != v]
    if wrong:
        raise NotYet(f"Your record's {wrong[0]} is {event.get(wrong[0])!r}, not"
                     f" {wanted[wrong[0]]!r}.", "a WithdrawEvent of 400 cents for Ada.")
    return proven(f"A version-3 WithdrawEvent of 400 cents is in partition {v3[0].partition},"
                  " keyed by Ada's id, with its Note: readers with upcast_v3 read it.")
