"""Checks for notebook 04 (consumer-group failover): a rebalance listener that keeps a book of
who owns what, the `range` assignor written out, and a member too slow for
``max.poll.interval.ms``.

The listener is first called by hand with the two kinds of rebalance of the classic protocol
(eager: everything revoked, then the new share; cooperative, KIP-429: only what moves), then,
given the notebook's settings, used by two real consumers whose books must match what the group
coordinator says. The slow member runs against the real broker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from banku.config import Settings
from banku.lessons.checks import NotYet, check, outcome_name, proven

__all__ = ["check_owner_book", "check_range_assign", "check_too_slow", "range_right"]

TOPIC = "banku-transactions"


def _tps(*partitions: int, topic: str = TOPIC) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in partitions]


def _owned(book: dict, name: str) -> set[int]:
    value = book.get(name, set())
    try:
        return {int(p) for p in value}
    except (TypeError, ValueError):
        raise NotYet(f"book[{name!r}] is {value!r}, not a set of partition numbers.",
                     "keep partition numbers (tp.partition), not TopicPartition objects.") from None


# --- exercise 1: the listener ------------------------------------------------------------------
@check("In on_partitions_revoked take the revoked partitions' numbers (tp.partition) out of"
       " self.book[self.name]; in on_partitions_assigned add the assigned ones.")
def check_owner_book(listener_class: type, settings: Settings | None = None,
                     group: str = "banku-book") -> bool:
    """The listener keeps ``book[name]`` equal to the partitions the member owns now."""
    book: dict[str, Any] = {}
    alice = listener_class("alice", book)
    # An eager rebalance (kafka-python's): everything revoked, then the new share.
    alice.on_partitions_assigned(_tps(0, 1, 2))
    if _owned(book, "alice") != {0, 1, 2}:
        raise NotYet(f"After assigned [0, 1, 2] the book says {book.get('alice')!r}.",
                     "on_partitions_assigned adds the partitions it is given to"
                     " self.book[self.name] (start from an empty set).")
    alice.on_partitions_revoked(_tps(0, 1, 2))
    if _owned(book, "alice"):
        raise NotYet("After revoked [0, 1, 2] alice still owns"
                     f" {sorted(_owned(book, 'alice'))}.",
                     "on_partitions_revoked removes the partitions it names.")
    alice.on_partitions_assigned(_tps(0, 1))
    # A cooperative rebalance (KIP-429): only partition 1 moves away, then partition 2 arrives.
    alice.on_partitions_revoked(_tps(1))
    alice.on_partitions_assigned(_tps(2))
    if _owned(book, "alice") != {0, 2}:
        raise NotYet("In a cooperative rebalance (revoked [1], then assigned [2], while owning"
                     f" [0, 1]) the book says {sorted(_owned(book, 'alice'))}, not [0, 2].",
                     "a cooperative rebalance names only the partitions that move: add to and"
                     " remove from the set, never replace it.")
    bob = listener_class("bob", book)
    bob.on_partitions_assigned(_tps(1))
    if _owned(book, "alice") != {0, 2} or _owned(book, "bob") != {1}:
        raise NotYet("With two members, one book: bob's assignment changed alice's entry (or"
                     " bob's is missing).",
                     "each listener writes only self.book[self.name].")
    if settings is not None:
        _real_group(listener_class, settings, group)
    return proven("your listener keeps the book for eager and cooperative rebalances, and two real"
                  " members' books match the group coordinator.")


def _real_group(listener_class: type, settings: Settings, group: str) -> None:
    from banku.lessons.background import Polling
    from banku.lessons.notebook import group_ownership, wait_for

    book: dict[str, Any] = {}
    running = []
    try:
        for name in ("alice", "bob"):
            consumer = KafkaConsumer(**settings.kafka_options(), client_id=name,
                                     group_id=settings.group_id(group),
                                     enable_auto_commit=False)
            consumer.subscribe([settings.topic_name], listener=listener_class(name, book))
            running.append(Polling(consumer).start())

        def agree() -> bool:
            coordinator = group_ownership(settings, group)
            return (len(coordinator) == 2
                    and sorted(p for parts in coordinator.values() for p in parts) == [0, 1, 2]
                    and all(_owned(book, n) == set(parts) for n, parts in coordinator.items()))

        try:
            wait_for(agree, timeout=60, interval=0.3)
        except Exception:  # the kit's timeout, said as the learner's problem
            raise NotYet("With alice and bob in a real group, the book does not match what the"
                         f" coordinator says: book {book!r}, coordinator"
                         f" {group_ownership(settings, group)!r}.",
                         "use the name given to __init__ as the key, and keep numbers.") from None
    finally:
        for worker in running:
            worker.stop()


# --- exercise 2: the range assignor ------------------------------------------------------------
def range_right(members: list[str], partitions: int) -> dict[str, list[int]]:
    """Kafka's `range` assignor for one topic: members sorted, each a run of consecutive
    partitions, the first ``partitions % len(members)`` members one more than the others."""
    ordered = sorted(members)
    share, extra = divmod(partitions, len(ordered))
    out, start = {}, 0
    for i, member in enumerate(ordered):
        count = share + (1 if i < extra else 0)
        out[member] = list(range(start, start + count))
        start += count
    return out


def _round_robin(members: list[str], partitions: int) -> dict[str, list[int]]:
    ordered = sorted(members)
    return {m: list(range(i, partitions, len(ordered))) for i, m in enumerate(ordered)}


def _extra_last(members: list[str], partitions: int) -> dict[str, list[int]]:
    ordered = sorted(members)
    share, extra = divmod(partitions, len(ordered))
    out, start = {}, 0
    for i, member in enumerate(ordered):
        count = share + (1 if i >= len(ordered) - extra else 0)
        out[member] = list(range(start, start + count))
        start += count
    return out


CASES = [(["alice", "bob", "carol"], 3), (["bob", "alice"], 3),
         (["dave", "carol", "bob", "alice"], 3), (["m1", "m2", "m3"], 7), (["solo"], 3),
         (["e", "d", "c", "b", "a"], 12)]


@check("Sort the members; each gets len(partitions) // len(members) consecutive partitions,"
       " and the first len(partitions) % len(members) of them one more.")
def check_range_assign(range_assign: Callable[[list[str], int], dict[str, list[int]]]) -> bool:
    """``range_assign(members, partitions)`` -> {member: [partition, ...]}, as `range` does."""
    for members, partitions in CASES:
        right = range_right(members, partitions)
        got = range_assign(list(members), partitions)
        if not isinstance(got, dict):
            raise NotYet(f"range_assign returned {type(got).__name__}, not a dict.",
                         "return {member: [partitions]} with every member as a key.")
        got = {m: sorted(int(p) for p in ps) for m, ps in got.items()}
        if got == right:
            continue
        case = f"{len(members)} members and {partitions} partitions"
        if set(got) != set(members):
            raise NotYet(f"With {case} the members in your answer are {sorted(got)}.",
                         "every member is a key, even one that gets nothing ([]): an idle"
                         " member is a warm spare.")
        if got == _round_robin(members, partitions):
            raise NotYet(f"With {case} you dealt the partitions like cards (round robin).",
                         "range gives each member a *run* of consecutive partitions.")
        if got == _extra_last(members, partitions):
            raise NotYet(f"With {case} the last members got the extra partitions.",
                         "the first members in sorted order get one more.")
        raise NotYet(f"With {case} range gives {right}; yours gives {got}.",
                     "sort the members first: the leader must compute the same split whoever"
                     " it is.")
    return proven("range_assign splits partitions as Kafka's `range` assignor does, idle members"
                  " included.")


# --- exercise 3: too slow for max.poll.interval.ms ---------------------------------------------

@check("Poll until consumer.assignment() is not empty and records came back, time.sleep(pause),"
       " then consumer.commit() at once: return 'committed', or the exception's class name.")
def check_too_slow(too_slow: Callable[[KafkaConsumer, float], Any], settings: Settings,
                   group: str = "banku-slow") -> bool:
    """``too_slow(consumer, pause)``: a member that stops polling for ``pause`` seconds."""
    outcomes = {}
    for pause in (6.0, 0.5):
        # A new group each time: it starts from offset 0, so there are always records to poll.
        fresh = f"{group}-{uuid.uuid4().hex[:8]}"
        consumer = KafkaConsumer(**settings.kafka_options(), client_id=f"slow-{pause}",
                                 group_id=settings.group_id(fresh), enable_auto_commit=False,
                                 auto_offset_reset="earliest", max_poll_interval_ms=2000,
                                 session_timeout_ms=10_000, heartbeat_interval_ms=500)
        consumer.subscribe([settings.topic_name])
        started = time.monotonic()
        try:
            outcomes[pause] = outcome_name(too_slow(consumer, pause))
        finally:
            consumer.close(autocommit=False)
        if time.monotonic() - started < pause:
            raise NotYet(f"too_slow(consumer, {pause}) returned before {pause} s had passed.",
                         "time.sleep(pause) between the poll that got records and the commit.")
    slow, quick = outcomes[6.0], outcomes[0.5]
    if slow == "CommitFailedError" and quick == "committed":
        return proven("a member silent for longer than max.poll.interval.ms (2 s here) left the"
                      " group on its own, though its heartbeats went on: its commit failed.")
    if slow == quick == "committed":
        raise NotYet("After 6 s without a poll the commit still worked.",
                     "commit right after the pause: a poll() first would rejoin the group and"
                     " hide what happened; and poll until you really have records.")
    if quick != "committed":
        raise NotYet(f"Even after a 0.5 s pause the outcome was {quick!r}.",
                     "return the string 'committed' when consumer.commit() raises nothing.")
    raise NotYet(f"After the long pause the outcome was {slow!r}.",
                 "catch the exception from consumer.commit() and return type(error).__name__.")
