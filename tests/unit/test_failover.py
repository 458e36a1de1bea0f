"""The failover helpers' pure logic: ownership checks, the timeline, members' own reports."""

from __future__ import annotations

import collections

from banku import Settings
from banku.lessons.failover import (
    Members,
    OwnershipWatcher,
    Sample,
    each_partition_owned_once,
    owners_by_partition,
    ownership_table,
)


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
