"""Who owns which partition of a consumer group, over time, as the group coordinator says.

`OwnershipWatcher` asks the coordinator every ~150 ms and stores each answer with the view's
positions from Redis, on one clock shared with the marks a notebook sets ("SIGKILL member-2").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd
from kafka.errors import KafkaError

from banku.adapters.kafka.clients import admin_client
from banku.adapters.redis.view import ReadModel
from banku.config import DEFAULT_GROUP, PARTITIONS, Settings
from banku.errors import BankuError, ServiceUnavailable
from banku.lessons.background import Worker
from banku.lessons.notebook import owners_in

Owners = dict[str, list[int]]


def describe_group(admin, settings: Settings, group: str = DEFAULT_GROUP) -> tuple[str, Owners]:
    """The group's state and member -> partitions, as the coordinator reports them.

    ``Dead`` is how the coordinator describes a group it does not know (yet). While a rebalance
    is under way some members are listed without partitions: in the classic (eager) protocol a
    member gives up what it owns when it rejoins and gets its new share when the rebalance ends.
    """
    group_id = settings.group_id(group)
    described = admin.describe_groups([group_id]).get(group_id, {})
    if described.get("error"):
        return "Dead", {}
    return described.get("group_state", "?"), owners_in(settings, described)


def owners_by_partition(owners: Owners, partitions: int = PARTITIONS) -> dict[int, list[str]]:
    """Partition -> the members that claim it (exactly one, when the group is healthy)."""
    table: dict[int, list[str]] = {p: [] for p in range(partitions)}
    for member, parts in owners.items():
        for p in parts:
            table.setdefault(p, []).append(member)
    return table


def each_partition_owned_once(owners: Owners, live: Iterable[str],
                              partitions: int = PARTITIONS) -> bool:
    """True when every partition has exactly one owner and that owner is a live member."""
    live = set(live)
    return all(len(who) == 1 and who[0] in live
               for who in owners_by_partition(owners, partitions).values())


def ownership_table(owners: Owners) -> pd.DataFrame:
    """A small table: one row per member, the partitions it owns (empty: it sits idle)."""
    rows = [{"member": m, "partitions": ", ".join(map(str, p)) or "(none: idle)"}
            for m, p in owners.items()]
    return pd.DataFrame(rows, columns=["member", "partitions"]).set_index("member")


@dataclass(frozen=True)
class Sample:
    """One look at the group: when (seconds since the watcher started), its state, who owns
    what, and how far the view got in each partition."""

    t: float
    state: str
    owners: Owners
    positions: dict[int, int]


class OwnershipWatcher(Worker):
    """Samples group ownership and the view's positions in the background."""

    name = "ownership-watcher"
    interval = 0.15
    MAX_FAILURES = 50  # looks in a row that may fail (a busy coordinator) before it gives up

    def __init__(self, settings: Settings, group: str = DEFAULT_GROUP) -> None:
        super().__init__()
        self.settings = settings
        self.group = group
        self.samples: list[Sample] = []
        self.marks: list[tuple[float, str]] = []
        self.gone: dict[str, float] = {}  # member -> when it was stopped
        self._origin = time.monotonic()
        self._new = threading.Condition()
        self._failures = 0
        self._view: ReadModel | None = None
        self._admin = None

    def now(self) -> float:
        return time.monotonic() - self._origin

    def mark(self, label: str, gone: str | None = None) -> float:
        """Note an event (a kill, a shutdown) at this instant and return its time; ``gone``
        names a member that stops now, so that the plot shows how long the coordinator still
        listed it."""
        t = self.now()
        self.marks.append((t, label))
        if gone is not None:
            self.gone[gone] = t
        return t

    def setup(self) -> None:
        self._view = ReadModel(self.settings)
        self._admin = admin_client(self.settings)

    def step(self) -> None:
        assert self._view is not None
        try:
            state, owners = describe_group(self._admin, self.settings, self.group)
            sample = Sample(self.now(), state, owners, self._view.positions())
        except (KafkaError, ServiceUnavailable):
            # One lost look is a gap in the timeline, not the end of the experiment.
            self._failures += 1
            if self._failures > self.MAX_FAILURES:
                raise
            return
        self._failures = 0
        with self._new:
            self.samples.append(sample)
            self._new.notify_all()

    def teardown(self) -> None:
        with self._new:
            self._new.notify_all()  # whoever waits: there will be no more samples
        for client in (self._admin, self._view):
            if client is not None:
                client.close()

    def latest(self) -> Sample:
        """The next sample taken from now on (the group as it is now)."""
        return self.wait_until(lambda s: True, after=self.now())

    def wait_until(self, predicate: Callable[[Sample], bool], after: float = 0.0,
                   timeout: float = 30.0) -> Sample:
        """The first sample taken at or after ``after`` for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._new:
            while True:
                for sample in self.samples[seen:]:
                    if sample.t >= after and predicate(sample):
                        return sample
                seen = len(self.samples)
                if self.error is not None:
                    raise BankuError(f"The ownership watcher stopped: {self.error}")
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    raise BankuError(f"The group did not reach that state within {timeout:.0f}s.")
                self._new.wait(min(left, 1.0))

    def wait_for_takeover(self, partitions: Iterable[int], live: Iterable[str], after: float,
                          timeout: float = 30.0) -> Sample:
        """The first stable sample after ``after`` in which live members own ``partitions`` and
        every partition has exactly one owner: the moment the work is picked up again."""
        partitions, live = list(partitions), set(live)

        def taken_over(sample: Sample) -> bool:
            by_partition = owners_by_partition(sample.owners)
            return (sample.state == "Stable"
                    and each_partition_owned_once(sample.owners, live)
                    and all(by_partition[p][0] in live for p in partitions))

        return self.wait_until(taken_over, after=after, timeout=timeout)

    def frame(self) -> pd.DataFrame:
        """The timeline as a table: one row per sample, the owner of each partition."""
        rows = []
        for s in self.samples:
            row: dict[str, object] = {"t": round(s.t, 2), "state": s.state}
            for p, who in owners_by_partition(s.owners).items():
                row[f"owner p{p}"] = ", ".join(who) or "-"
            rows.append(row)
        return pd.DataFrame(rows)

    def changes(self) -> pd.DataFrame:
        """Only the samples where the ownership or the state changed (a readable timeline)."""
        df = self.frame()
        if df.empty:
            return df
        cols = [c for c in df.columns if c != "t"]
        changed = (df[cols] != df[cols].shift()).any(axis=1)
        return df[changed].reset_index(drop=True)
