"""The failover helpers' logic: ownership checks, the timeline, members' own reports, workers."""

from __future__ import annotations

import collections

import pytest

from banku import Settings
from banku.lessons.failover import (
    Members,
    OwnershipWatcher,
    Sample,
    Worker,
    each_partition_owned_once,
    hand_over,
    owners_by_partition,
    ownership_table,
    stop_leftovers,
)
from tests.helpers import wait_until


def test_each_partition_needs_exactly_one_live_owner():
    healthy = {"member-1": [0], "member-2": [1, 2]}
    assert each_partition_owned_once(healthy, ["member-1", "member-2"])
    # an owner that is gone does not count
    assert not each_partition_owned_once(healthy, ["member-2"])
    # a partition nobody owns, or two members claiming one
    assert not each_partition_owned_once({"member-1": [0, 1]}, ["member-1"])
    assert not each_partition_owned_once({"a": [0, 1, 2], "b": [2]}, ["a", "b"])


def test_owners_by_partition_and_the_idle_member():
    owners = {"member-1": [0], "member-2": [1], "member-3": [2], "member-4": []}
    assert owners_by_partition(owners) == {0: ["member-1"], 1: ["member-2"], 2: ["member-3"]}
    table = ownership_table(owners)
    assert table.loc["member-4", "partitions"] == "(none: idle)"
    assert table.loc["member-1", "partitions"] == "0"


def test_changes_keeps_only_the_moments_something_changed():
    watcher = OwnershipWatcher(Settings())
    same = {"member-1": [0], "member-2": [1], "member-3": [2]}
    watcher.samples += [
        Sample(0.0, "Stable", same, {}),
        Sample(0.2, "Stable", same, {}),
        Sample(0.4, "PreparingRebalance", {"member-2": [1], "member-3": [2]}, {}),
        Sample(0.6, "Stable", {"member-2": [0, 1], "member-3": [2]}, {}),
    ]
    changes = watcher.changes()
    assert list(changes["t"]) == [0.0, 0.4, 0.6]
    assert list(changes["owner p0"]) == ["member-1", "-", "member-2"]


def test_a_member_reports_its_last_assignment():
    members = Members(Settings())
    # what `banku project --log-json` writes: one JSON object per line
    members._logs["member-1"] = collections.deque([
        '{"level": "info", "message": "Projecting t as group g", "event": "started"}',
        '{"level": "info", "message": "assigned partitions []", "event": "assigned",'
        ' "partitions": []}',
        '{"level": "info", "message": "...", "event": "assigned", "partitions": [2, 0]}',
        '{"level": "warning", "message": "assigned partitions [1]", "event": "dead_letter"}',
        "a line that is not JSON",
    ])
    assert members.claimed("member-1") == [0, 2]
    assert members.claimed("member-2") is None
    members._logs["member-3"] = collections.deque([
        '{"event": "assigned", "partitions": [1]}', '{"event": "revoked", "partitions": [1]}'])
    assert members.claimed("member-3") == []


class Counting(Worker):
    """Counts its steps; fails at step ``fail_at`` if given."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.steps, self.fail_at, self.closed = 0, fail_at, False

    def step(self) -> None:
        self.steps += 1
        if self.steps == self.fail_at:
            raise RuntimeError("boom")

    def teardown(self) -> None:
        self.closed = True


def test_a_worker_loops_until_stopped_then_tears_down():
    worker = Counting().start()
    wait_until(lambda: worker.steps >= 3, 10, "the worker's third step", interval=0.01)
    assert worker.running
    worker.stop()
    assert not worker.running and worker.closed and worker.error is None


def test_a_failing_worker_keeps_its_error_and_still_tears_down():
    worker = Counting(fail_at=2).start()
    worker._thread.join(10)
    assert isinstance(worker.error, RuntimeError) and worker.closed and worker.steps == 2


def test_leftover_workers_are_stopped():
    worker = Counting().start()
    stop_leftovers()
    assert not worker.running and worker.closed


def test_hand_over_knows_two_ways_to_stop():
    with pytest.raises(ValueError, match="SIGKILL"):
        hand_over(Members(Settings()), OwnershipWatcher(Settings()), "member-1", "SIGINT")
