"""Checks for notebook 05 (broker failover): which partitions still take writes, a write refused
with NotEnoughReplicas, and the acknowledged records that acks=1 lost, counted.

`check_writable` runs the learner's function on partition states made here. The other two run
against the notebook's three-broker cluster: the learner's producer meets the real refusal, and
the learner's count is compared with the topic as the cluster returns it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from banku.config import Settings
from banku.lab.brokers import PartitionState
from banku.lessons.checks import NotYet, check, outcome_name, proven

__all__ = ["check_count_lost", "check_send_one", "check_writable", "writable_right"]

# Three partitions on brokers 1-3; partition 2's replica on broker 3 has fallen out of sync.
STATES = [PartitionState(0, 1, (1, 2, 3), (1, 2, 3)),
          PartitionState(1, 2, (1, 2, 3), (1, 2, 3)),
          PartitionState(2, 3, (1, 2, 3), (1, 3)),
          PartitionState(3, 1, (1, 2), (1, 2))]
CASES: list[tuple[list[int], Any, int]] = [
    (dead, acks, min_isr) for dead in ([], [1], [2], [3], [1, 2], [2, 3], [1, 3])
    for acks in ("all", 1) for min_isr in (2, 1)]


def writable_right(states: Iterable[PartitionState], dead: Iterable[int], acks: Any,
                   min_insync: int) -> list[int]:
    """Partitions that accept a write, once the dead brokers are out of every ISR."""
    gone = set(dead)
    out = []
    for s in states:
        alive = set(s.in_sync) - gone
        needed = min_insync if acks in ("all", -1) else 1
        if alive and len(alive) >= needed:
            out.append(s.partition)
    return out


def _replicas_not_isr(states: Iterable[PartitionState], dead: Iterable[int], acks: Any,
                      min_insync: int) -> list[int]:
    return writable_right([PartitionState(s.partition, s.leader, s.replicas, s.replicas)
                           for s in states], dead, acks, min_insync)


def _min_isr_for_all_acks(states: Iterable[PartitionState], dead: Iterable[int], acks: Any,
                          min_insync: int) -> list[int]:
    return writable_right(states, dead, "all", min_insync)


@check("A partition takes a write when at least one of its in-sync replicas is alive; with"
       " acks='all' at least min_insync of them must be.")
def check_writable(writable: Callable[..., Iterable[int]]) -> bool:
    """``writable(states, dead, acks, min_insync)`` -> the partitions that accept a write."""
    for dead, acks, min_isr in CASES:
        right = writable_right(STATES, dead, acks, min_isr)
        got = sorted(int(p) for p in writable(list(STATES), list(dead), acks, min_isr))
        if got == right:
            continue
        case = f"brokers {dead} down, acks={acks!r}, min.insync.replicas={min_isr}"
        if got == _min_isr_for_all_acks(STATES, dead, acks, min_isr):
            raise NotYet(f"With {case} you refuse writes that the leader accepts.",
                         "min.insync.replicas applies to acks='all' only: with acks=1 the"
                         " leader alone answers.")
        if got == _replicas_not_isr(STATES, dead, acks, min_isr):
            raise NotYet(f"With {case} you counted partition 2's replica on broker 3, which is"
                         " out of sync.",
                         "count the in-sync replicas (state.in_sync), not all the replicas.")
        raise NotYet(f"With {case} the writable partitions are {right}; yours: {got}.",
                     "take the dead brokers out of each partition's in_sync, then compare"
                     " what is left with what the acks setting needs.")
    return proven("writable knows what each acks setting needs: min.insync.replicas in-sync"
                  " replicas for acks=all, one live leader for acks=1.")


# --- exercise 2: NotEnoughReplicas -------------------------------------------------------------

@check("Send one record with the producer and wait for the broker's answer (a send returns a"
       " future); return 'acknowledged', or the class name of the KafkaError it raised.")
def check_send_one(send_one: Callable[[Any], Any], cluster: Settings, topic: str) -> bool:
    """``send_one(acks)`` against a topic whose ISR is down to its leader alone."""
    from banku.lab.brokers import partition_states

    (state,) = partition_states(cluster, topic)
    if len(state.in_sync) != 1:
        raise NotYet(f"{topic} has {len(state.in_sync)} replicas in sync, not one.",
                     "run the cell above again: it stops broker 2 and waits until the ISR is"
                     " down to the leader.")
    strict, loose = outcome_name(send_one("all")), outcome_name(send_one(1))
    if strict == "NotEnoughReplicasError" and loose == "acknowledged":
        return proven("with one replica in sync, acks=all was refused (NotEnoughReplicas) and"
                      " acks=1 accepted: min.insync.replicas guards acks=all only.")
    if strict == "KafkaTimeoutError":
        raise NotYet("acks='all' ended in a timeout, not in the broker's refusal.",
                     "keep retries=0 and enable_idempotence=False, so that the first answer is"
                     " the one you return.")
    if strict == "acknowledged":
        raise NotYet("Your acks='all' send was acknowledged: it did not use acks='all'.",
                     "make the producer with acks=acks, the argument.")
    raise NotYet(f"acks='all' gave {strict!r} and acks=1 gave {loose!r}.",
                 "wait for the broker's answer with .get(timeout=30) and return the error's"
                 " class name, or 'acknowledged'.")


# --- exercise 3: what acks=1 lost --------------------------------------------------------------
@check("Assign TopicPartition(topic, 0), seek_to_beginning, poll until your position reaches"
       " the end offset, decode the values, and count the acknowledged ones missing.")
def check_count_lost(count_lost: Callable[[str, set[str]], int], cluster: Settings,
                     topics: dict[str, str], acknowledged: dict[str, set[str]]) -> bool:
    """``count_lost(topic, acknowledged)``: how many acknowledged values the topic lacks."""
    from banku.lab.brokers import read_values

    for setting, topic in topics.items():
        kept = {value.decode() for value in read_values(cluster, topic)}
        right = len(acknowledged[setting] - kept)
        got = count_lost(topic, set(acknowledged[setting]))
        if got == right:
            continue
        if got == len(acknowledged[setting]) and right < got:
            raise NotYet(f"For {setting} you count every acknowledged record as lost.",
                         "record values are bytes: .decode() them before comparing with the"
                         " strings you sent; and read until the end offset.")
        raise NotYet(f"For {setting} {right} acknowledged records are missing; you say {got!r}.",
                     "count the acknowledged values that are *not* in the topic.")
    return proven("you read both topics from offset 0 and counted what each acks setting lost.")
