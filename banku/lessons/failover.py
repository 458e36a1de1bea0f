"""Watch a consumer group fail over: members as real processes, a takeover timed, the check.

Notebook 04 kills one projector with SIGKILL and stops another with SIGTERM while events keep
arriving, and measures how long their partitions had no working owner. This module gathers what
it uses, each piece small:

* `Members` (here): `banku project` processes in one group, so that a kill is a real crash.
* `hand_over` (here): stop one member and time the takeover, as the coordinator reports it.
* `fold_of_topic`, `caught_up` (here): nothing lost, nothing doubled.
* `ready_partitions` (here): what a `banku handler` says it can decide, which the coordinator's
  list of owners does not tell (notebook 07).
* `OwnershipWatcher` and the ownership helpers (`watcher`), `Traffic`, `Polling` and
  `stop_leftovers` (`background`), `plot_timeline` (`timeline`).
"""

from __future__ import annotations

import collections
import json
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from banku.adapters.kafka.clients import end_offsets, make_reader, read_to_end
from banku.adapters.redis.view import ReadModel
from banku.config import DEFAULT_GROUP, Settings
from banku.domain.events import decode
from banku.domain.ledger import Ledger, fold
from banku.errors import BankuError, EventDecodeError
from banku.lessons.background import Polling, Traffic, Worker, stop_leftovers, stop_processes, track
from banku.lessons.notebook import start_projector_process
from banku.lessons.timeline import plot_timeline
from banku.lessons.watcher import (
    Owners,
    OwnershipWatcher,
    Sample,
    describe_group,
    each_partition_owned_once,
    owners_by_partition,
    ownership_table,
)

__all__ = [
    "Members", "Owners", "OwnershipWatcher", "Polling", "Sample", "Takeover", "Traffic", "Worker",
    "caught_up", "describe_group", "each_partition_owned_once", "fold_of_topic", "hand_over",
    "owners_by_partition", "ownership_table", "plot_timeline", "ready_partitions",
    "stop_leftovers",
]


class Members:
    """`banku project` processes in one consumer group, each named by its Kafka client id."""

    def __init__(self, settings: Settings, group: str = DEFAULT_GROUP, *,
                 session_timeout_ms: int = 3000, batch_size: int = 500) -> None:
        self.settings = settings
        self.group = group
        self.session_timeout_ms = session_timeout_ms
        self.batch_size = batch_size
        self.processes: dict[str, subprocess.Popen] = {}
        self.restarted: list[str] = []  # members `wait_for_group` had to restart
        self._stopped: set[str] = set()  # members stopped on purpose
        self._logs: dict[str, collections.deque[str]] = {}

    def start(self, *names: str) -> None:
        """Start one process per name (they join the group on their own)."""
        for name in names:
            if name in self.processes and self.processes[name].poll() is None:
                raise BankuError(f"{name} is already running.")
            process = track(start_projector_process(
                self.settings, "--group", self.group,
                "--session-timeout-ms", str(self.session_timeout_ms),
                "--client-id", name, "--batch-size", str(self.batch_size), "--log-json",
            ))
            self.processes[name] = process
            self._stopped.discard(name)
            log: collections.deque[str] = collections.deque(maxlen=200)
            self._logs[name] = log
            # Drain stderr: a full pipe would block the member in the middle of a batch.
            threading.Thread(target=_drain, args=(process, log), daemon=True).start()

    def alive(self) -> list[str]:
        return sorted(n for n, p in self.processes.items() if p.poll() is None)

    def kill(self, name: str) -> None:
        """SIGKILL: a crash. The member cannot say goodbye; the coordinator must notice."""
        self._stopped.add(name)
        self.processes[name].kill()
        self.processes[name].wait(10)

    def terminate(self, name: str, timeout: float = 15.0) -> None:
        """SIGTERM: a clean stop. The member finishes its batch and leaves the group."""
        self._stopped.add(name)
        stop_processes([self.processes[name]], timeout)

    def stop_all(self) -> int:
        """Stop every member cleanly; returns how many were still running."""
        self._stopped.update(self.processes)
        return stop_processes(self.processes.values())

    def log(self, name: str) -> list[str]:
        """What the member wrote on stderr (its last 200 lines): why it stopped, if it did."""
        return list(self._logs.get(name, ()))

    def claimed(self, name: str) -> list[int] | None:
        """The partitions the member itself last reported (None: not yet), read from the
        ``event`` field of its ``--log-json`` lines, never from the wording of a message."""
        for line in reversed(self.log(name)):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "assigned":
                return sorted(entry.get("partitions", []))
            if entry.get("event") == "revoked":
                return []
        return None

    def _check_crashes(self) -> None:
        for name, process in self.processes.items():
            if name not in self._stopped and process.poll() is not None:
                last = " / ".join(self.log(name)[-3:]) or "no output"
                raise BankuError(f"{name} exited on its own (status {process.returncode}): {last}")

    def settled(self, sample: Sample) -> bool:
        """The group is stable, each partition has one live owner, and every live member
        reports owning exactly what the coordinator says it owns."""
        live = self.alive()
        return (sample.state == "Stable" and set(sample.owners) == set(live)
                and each_partition_owned_once(sample.owners, live)
                and all(self.claimed(n) == sample.owners[n] for n in live))

    def wait_for_group(self, watcher: OwnershipWatcher, timeout: float = 60.0) -> Sample:
        """Wait until the group has `settled`.

        kafka-python 3.0.12 can strand a member that joins before it has the topic's metadata:
        it never applies its assignment, stops heartbeating and is dropped, while its process
        runs on. Such a member never reports what the coordinator lists for it; after two
        session timeouts of that it is restarted (and named in ``restarted``).
        """
        deadline = time.monotonic() + timeout
        patience = 2 * self.session_timeout_ms / 1000 + 2
        stuck_since: dict[str, float] = {}
        after = watcher.now()
        while True:
            self._check_crashes()
            left = deadline - time.monotonic()
            if left <= 0:
                raise BankuError(f"The group did not settle within {timeout:.0f}s.")
            sample = watcher.wait_until(lambda s: True, after=after, timeout=left)
            after = sample.t + 1e-6
            if self.settled(sample):
                return sample
            now = time.monotonic()
            for name in self.alive():
                if name in sample.owners and self.claimed(name) == sample.owners[name]:
                    stuck_since.pop(name, None)
                elif now - stuck_since.setdefault(name, now) > patience:
                    self.kill(name)  # stuck, and not in the group anyway
                    self.start(name)
                    self.restarted.append(name)
                    stuck_since.pop(name)


def ready_partitions(log: str | Path | Iterable[str]) -> list[int]:
    """The command partitions a ``banku handler --log-json`` says it can decide now, from its
    log file (a path) or its lines, read by their ``event`` field.

    The group coordinator lists a handler as an owner as soon as it assigns the partitions; the
    handler can decide them only after it has made their producers, fenced the previous owner and
    caught its ledger up. ``ready`` adds a partition; ``assigned`` and ``revoked`` take the ones
    they name away until the next ``ready``.
    """
    if isinstance(log, (str, Path)):
        path = Path(log)
        log = path.read_text(errors="replace").splitlines() if path.exists() else []
    ready: set[int] = set()
    for line in log:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # not one of its JSON lines
        if not isinstance(entry, dict):
            continue
        if entry.get("event") == "ready" and isinstance(entry.get("partition"), int):
            ready.add(entry["partition"])
        elif entry.get("event") in ("assigned", "revoked"):
            ready -= set(entry.get("partitions", []))
    return sorted(ready)


def _drain(process: subprocess.Popen, log: collections.deque[str]) -> None:
    if process.stderr is not None:
        for line in process.stderr:
            log.append(line.rstrip())


@dataclass(frozen=True)
class Takeover:
    """How one member's partitions changed hands (times in seconds after it was stopped)."""

    member: str
    how: str
    partitions: list[int]
    listed_for: float  # the coordinator still listed the member as an owner this long
    seconds: float  # until live members owned its partitions in a stable group
    owners: Owners  # who owned what then


def hand_over(members: Members, watcher: OwnershipWatcher, name: str,
              how: str = "SIGKILL") -> Takeover:
    """Stop one member (``how``: SIGKILL, a crash, or SIGTERM, a clean leave) and time how
    long its partitions had no working owner, as the group coordinator reports it."""
    if how not in ("SIGKILL", "SIGTERM"):
        raise ValueError(f"how is 'SIGKILL' or 'SIGTERM', not {how!r}")
    settled = watcher.wait_until(lambda s: s.state == "Stable" and each_partition_owned_once(
        s.owners, members.alive()), after=watcher.now())
    partitions = settled.owners.get(name, [])
    t = watcher.mark(f"{how} {name}", gone=name)
    members.kill(name) if how == "SIGKILL" else members.terminate(name)
    dropped = watcher.wait_until(lambda s: name not in s.owners, after=t)
    taken = watcher.wait_for_takeover(partitions, members.alive(), after=t)
    return Takeover(name, how, partitions, dropped.t - t, taken.t - t, taken.owners)


def fold_of_topic(settings: Settings) -> Ledger:
    """Fold every event in the topic, read with a plain consumer (no projector, no Redis)."""
    reader = make_reader(settings)
    events = []
    try:
        for records in read_to_end(reader, {}, settings.topic_name):
            for record in records:
                try:
                    events.append(decode(record.value))
                except EventDecodeError:
                    continue  # not a fact; the projector sends it to the dead-letter topic
    finally:
        reader.close()
    return fold(events)


def caught_up(settings: Settings, view: ReadModel) -> bool:
    """True when the view's position in every partition is the partition's end offset."""
    ends = end_offsets(settings)
    return bool(ends) and view.positions() == {p: e for p, e in ends.items() if e > 0}
