"""The `Feeds` and `Feed` ports: the projector's consumers, owning every partition or as a
member of a group, told where to start by their listener."""

from __future__ import annotations

from banku.application.ports import EventLog, Feed, Record
from tests.helpers import wait_until


class Listener:
    """Says where each assigned partition starts, and remembers what it was told."""

    def __init__(self, start: dict[int, int] | None = None) -> None:
        self.start = start or {}
        self.assigned_calls: list[list[int]] = []
        self.revoked_calls: list[list[int]] = []

    def assigned(self, partitions: list[int]) -> dict[int, int]:
        self.assigned_calls.append(sorted(partitions))
        return {p: self.start.get(p, 0) for p in partitions}

    def revoked(self, partitions: list[int]) -> None:
        self.revoked_calls.append(sorted(partitions))


def write(log: EventLog, counts: dict[int, int]) -> None:
    sent = [log.append(b"k", f"{p}/{n}".encode(), [], p)
            for p, count in counts.items() for n in range(count)]
    log.flush()
    for s in sent:
        s.result()


def poll_until(feed: Feed, count: int, timeout: float = 60) -> dict[int, list[Record]]:
    """Everything the feed delivers until ``count`` records came (Kafka may need some polls)."""
    got: dict[int, list[Record]] = {}

    def enough() -> bool:
        for partition, records in feed.poll(200).items():
            got.setdefault(partition, []).extend(records)
        return sum(map(len, got.values())) >= count

    wait_until(enough, timeout, f"{count} records from the feed", interval=0)
    return got


def offsets(got: dict[int, list[Record]]) -> dict[int, list[int]]:
    return {p: [r.offset for r in records] for p, records in sorted(got.items())}


def test_a_feed_owning_every_partition_starts_where_its_listener_says(log, feeds):
    write(log, {0: 3, 1: 2, 2: 1})
    assert feeds.partition_count() == 3
    assert feeds.end_offsets() == log.end_offsets() == {0: 3, 1: 2, 2: 1}
    listener = Listener(start={0: 1})
    feed = feeds.every_partition(listener)
    try:
        assert listener.assigned_calls == [[0, 1, 2]] and feed.assignment() == {0, 1, 2}
        got = poll_until(feed, 5)
        assert offsets(got) == {0: [1, 2], 1: [0, 1], 2: [0]}
        assert got[0][0].value == b"0/1"
        assert [feed.position(p) for p in range(3)] == [3, 2, 1]
        feed.seek(1, 0)
        assert offsets(poll_until(feed, 2)) == {1: [0, 1]}  # delivered again
        assert feed.commit({0: 3, 1: 2}) is True
        assert feed.end_offsets() == {0: 3, 1: 2, 2: 1}
        assert feed.coordinator_silent_for() == 0.0  # outside any group
    finally:
        feed.close()


def test_a_group_member_alone_is_given_every_partition(log, feeds):
    write(log, {0: 1, 2: 2})
    listener = Listener()
    feed = feeds.group(listener)
    try:
        got = poll_until(feed, 3)  # joining the group happens inside poll
        assert offsets(got) == {0: [0], 2: [0, 1]}
        assert feed.assignment() == {0, 1, 2}
        assert listener.assigned_calls[-1] == [0, 1, 2]
        assert 0.0 <= feed.coordinator_silent_for() < 60
    finally:
        feed.close()


def test_a_feed_sees_records_appended_after_it_started(log, feeds):
    listener = Listener()
    feed = feeds.every_partition(listener)
    try:
        assert feed.poll(100) == {}
        write(log, {1: 2})
        assert offsets(poll_until(feed, 2)) == {1: [0, 1]}
    finally:
        feed.close()
