"""In-memory adapters of the ports, for unit tests that run without servers.

They behave like the real ones where the bank's logic can tell: `MemoryLog` keeps records per
partition with offsets and serves feeds that can be rebalanced at will; `MemoryView` applies a
batch all-or-nothing with the same compare-and-set on positions, the same 64-bit limits and the
same naming rule as the Redis script. Notebooks and integration tests never use them: they run
against the real Kafka and Redis.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from banku.adapters.kafka.clients import PartitionMap
from banku.application.handling import Command, Handling, LogWriter
from banku.application.ports import Assignment, CommandTransport, Record
from banku.application.write_model import WriteModel
from banku.domain import sealing as names
from banku.domain.events import Event
from banku.domain.ledger import BankAccount, Receipt
from banku.domain.projection import Batch, source_of
from banku.domain.values import INT64_MAX
from banku.errors import BankuError, PositionConflict, ServiceUnavailable, ViewCorrupt

INT64 = (-INT64_MAX - 1, INT64_MAX)  # what Redis adds a balance within


class _Done:
    def __init__(self, partition: int, offset: int, timestamp: int) -> None:
        self._answer = (partition, offset, timestamp)

    def result(self) -> tuple[int, int, int]:
        return self._answer


class MemoryLog:
    """A topic in memory: an `EventLog` for `Bank` and `Feeds` for the projector."""

    def __init__(self, partitions: int = 3, topic: str = "banku-transactions") -> None:
        self.topic = topic
        self.partitions = partitions
        self.records: list[list[Record]] = [[] for _ in range(partitions)]
        self.down = False  # set to simulate a broker that does not answer
        self.snapshots: list[bytes] = []
        self._id = str(uuid.uuid4())
        self._lock = threading.Lock()
        # Kafka's default partitioner (murmur2), so a key lands where it would on the broker.
        self._partition_of = PartitionMap(partitions)
        self.handler: MemoryCommandTransport | None = None  # topic mode's one writer, once made

    def partition_for(self, key: bytes) -> int:
        return self._partition_of(key)

    def append(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]],
               partition: int, timestamp_ms: int | None = None, what: str = "event") -> _Done:
        if self.down:
            raise ServiceUnavailable("Kafka does not answer (the in-memory log is down).")
        with self._lock:
            log = self.records[partition]
            record = Record(partition, len(log), timestamp_ms or int(time.time() * 1000), key,
                            value, list(headers), self.topic)
            log.append(record)
        return _Done(partition, record.offset, record.timestamp)

    def flush(self) -> None:
        pass

    def read(self, positions: dict[int, int]) -> Iterator[list[Record]]:
        ends = self.end_offsets()
        for partition, end in ends.items():
            start = positions.get(partition, 0)
            if start < end:
                positions[partition] = end
                yield self.records[partition][start:end]

    def end_offsets(self) -> dict[int, int]:
        if self.down:
            raise ServiceUnavailable("Kafka does not answer (the in-memory log is down).")
        return {p: len(records) for p, records in enumerate(self.records)}

    def topic_id(self) -> str:
        return self._id

    def latest_snapshot(self) -> bytes | None:
        return self.snapshots[-1] if self.snapshots else None

    def save_snapshot(self, value: bytes) -> None:
        self.snapshots.append(value)

    def close(self) -> None:
        pass

    # --- Feeds ---------------------------------------------------------------------------------
    def partition_count(self) -> int:
        return self.partitions

    def group(self, listener: Assignment) -> MemoryFeed:
        return MemoryFeed(self, listener, range(self.partitions))

    def every_partition(self, listener: Assignment) -> MemoryFeed:
        return MemoryFeed(self, listener, range(self.partitions))


class MemoryCommandTransport(CommandTransport):
    """Topic mode in memory: the one command handler of a `MemoryLog`, deciding each command at
    once with the use case the Kafka handler runs (`banku.application.handling`): its own
    ledger, its memory of refusals, one writer for every `Bank` on the log."""

    _made = threading.Lock()

    def __init__(self, log: MemoryLog) -> None:
        self.log = log
        self.handling = Handling(WriteModel(log, snapshot_every=0))
        self.decided = 0
        self._lock = threading.Lock()

    @classmethod
    def of(cls, log: MemoryLog) -> MemoryCommandTransport:
        """The log's handler, made on first use: every `Bank` on one log shares it."""
        with cls._made:
            if log.handler is None:
                log.handler = cls(log)
            return log.handler

    def submit_many(self, commands: list[tuple[Event, str, int | None]],
                    ) -> list[Receipt | BankuError]:
        with self._lock:
            handling = self.handling
            try:
                handling.state.catch_up()  # what other writers (direct mode) wrote meanwhile
                outcomes, written = handling.decide_all(
                    [Command(cid, event, ts) for event, cid, ts in commands], LogWriter(self.log))
            except ServiceUnavailable:
                handling.state.forget()  # it may count events that were not written
                raise
            handling.landed(written)
            self.decided += len(commands)
            return outcomes

    def close(self) -> None:
        pass  # shared by every Bank on the log: it lives as long as the log


class MemoryFeed:
    """A consumer of a `MemoryLog`; `rebalance` plays the group coordinator."""

    def __init__(self, log: MemoryLog, listener: Assignment, partitions: Iterable[int],
                 max_records: int = 500) -> None:
        self.log, self.listener, self.max_records = log, listener, max_records
        self.owned: set[int] = set()
        self.positions: dict[int, int] = {}
        self.committed: dict[int, int] = {}
        self.closed = False
        self.rebalance(partitions)

    def rebalance(self, partitions: Iterable[int]) -> None:
        """Take the current partitions away and assign these (what a rebalance does)."""
        if self.owned:
            self.listener.revoked(sorted(self.owned))
        self.owned = set(partitions)
        self.positions = {p: self.committed.get(p, 0) for p in self.owned}
        for partition, offset in self.listener.assigned(sorted(self.owned)).items():
            self.seek(partition, offset)

    def assignment(self) -> set[int]:
        return set(self.owned)

    def seek(self, partition: int, offset: int) -> None:
        self.positions[partition] = offset

    def position(self, partition: int) -> int:
        return self.positions[partition]

    def poll(self, timeout_ms: int) -> dict[int, list[Record]]:
        if self.log.down:
            raise ServiceUnavailable("Kafka does not answer (the in-memory log is down).")
        polled = {}
        for partition in sorted(self.owned):
            start = self.positions[partition]
            records = self.log.records[partition][start:start + self.max_records]
            if records:
                polled[partition] = records
                self.positions[partition] = records[-1].offset + 1
        return polled

    def commit(self, positions: dict[int, int]) -> bool:
        self.committed.update(positions)
        return True

    def end_offsets(self) -> dict[int, int]:
        return self.log.end_offsets()

    def coordinator_silent_for(self) -> float:
        return 0.0

    def close(self) -> None:
        self.closed = True


class MemoryDeadLetters:
    """The dead-letter topic in a list: one letter per refused record, as in Kafka's adapter (a
    record refused again, by a replay, is not stored twice)."""

    def __init__(self) -> None:
        self.letters: list[tuple[Record, str]] = []

    def send(self, letters: list[tuple[Record, str]]) -> None:
        stored = {source_of(record) for record, _ in self.letters}
        for record, reason in letters:
            if source_of(record) not in stored:
                stored.add(source_of(record))
                self.letters.append((record, reason))

    def close(self) -> None:
        pass


class MemoryView:
    """The read model and tracking record in dicts, with the Redis script's rules."""

    def __init__(self) -> None:
        self.accounts_: dict[str, dict[str, Any]] = {}
        self.positions_: dict[int, int] = {}
        self.shares: dict[tuple[str, int], int] = {}
        self.opened: set[tuple[str, int]] = set()
        self.stats_ = {"applied": 0, "dead_letters": 0}
        self.fail_next: Exception | None = None  # raised by the next `apply`, which writes nothing
        # Name keys live beside the view, and (as in Redis) a wipe of the view keeps them.
        self.names_ = MemoryNameKeys(self)

    def positions(self) -> dict[int, int]:
        return dict(self.positions_)

    def tracking(self, partition: int, account_ids: Iterable[str],
                 ) -> tuple[dict[str, int], set[str]]:
        ids = list(account_ids)
        return ({a: self.shares[(a, partition)] for a in ids if (a, partition) in self.shares},
                {a for a in ids if (a, partition) in self.opened})

    def apply(self, batch: Batch) -> None:
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        for partition, (expected, _) in batch.positions.items():
            stored = self.positions_.get(partition, -1)
            if stored != expected:
                raise PositionConflict(f"partition {partition} is at {stored} in the view")
        for account_id, delta in batch.deltas.items():
            balance = self.accounts_.get(account_id, {}).get("Balance", 0)
            if not isinstance(balance, int) or not INT64[0] <= balance + delta <= INT64[1]:
                raise ViewCorrupt(f"account {account_id} cannot change by {delta}")
        for partition, (_, nxt) in batch.positions.items():
            self.positions_[partition] = nxt
        for account_id, partition, name in batch.opens:
            self.opened.add((account_id, partition))
            hash_ = self.accounts_.setdefault(account_id, {})
            if not any((account_id, q) in self.opened for q in range(partition)):
                hash_.update(Id=account_id, Name=name)
            hash_.setdefault("Balance", 0)
        for account_id, delta in batch.deltas.items():
            hash_ = self.accounts_.setdefault(account_id, {})
            hash_["Balance"] = hash_.get("Balance", 0) + delta
        for key, delta in batch.shares.items():
            self.shares[key] = self.shares.get(key, 0) + delta
        self.stats_["applied"] += batch.applied
        self.stats_["dead_letters"] += batch.dead_letters

    def wipe(self) -> int:
        count = len(self.accounts_)
        names = self.names_
        MemoryView.__init__(self)
        self.names_ = names  # as in Redis, wiping the view keeps the name keys
        return count

    def account(self, account_id: str) -> BankAccount | None:
        data = self.accounts_.get(account_id)
        if not data or "Id" not in data:
            return None
        return BankAccount(account_id, str(data["Name"]), int(data["Balance"]))

    def accounts(self) -> list[BankAccount]:
        found = [a for a in map(self.account, self.accounts_) if a]
        return sorted(found, key=lambda a: (a.name.lower(), a.id))

    def balances(self) -> dict[str, int]:
        return {a.id: a.balance for a in self.accounts()}

    def name_keys(self) -> MemoryNameKeys:
        return self.names_

    def stats(self) -> dict[str, int]:
        return dict(self.stats_)

    def close(self) -> None:
        pass


class MemoryNameKeys:
    """Name keys and forgotten accounts in dicts, with `banku.adapters.redis.name_keys.NameVault`'s
    rules."""

    def __init__(self, view: MemoryView) -> None:
        self.view = view
        self.keys: dict[str, str] = {}
        self.forgotten: set[str] = set()

    def seal(self, account_id: str, name: str) -> str:
        return names.seal_with(self.keys.setdefault(account_id, names.new_key()), account_id,
                               name)

    def reveal(self, sealed_names: Iterable[tuple[str, str]]) -> dict[str, str]:
        pairs = list(sealed_names)
        return names.shown_names(pairs, [self.keys.get(a) for a, _ in pairs],
                                 [a in self.forgotten for a, _ in pairs])

    def forget(self, account_id: str, view_key: str | None = None) -> str:
        if account_id in self.forgotten:
            raise names.already_forgotten(account_id)
        if account_id not in self.keys:
            raise names.not_sealed(account_id, "Id" in self.view.accounts_.get(account_id, {}))
        del self.keys[account_id]
        self.forgotten.add(account_id)
        if "Name" in self.view.accounts_.get(account_id, {}):
            self.view.accounts_[account_id]["Name"] = names.FORGOTTEN
        return names.NO_HISTORY  # nothing on disk keeps a copy
