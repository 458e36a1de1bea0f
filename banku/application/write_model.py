"""The write model: the ledger the command side decides with, folded from the log.

CQRS has two models of the same bank. The *read model* (Redis, `banku.adapters.redis.view`) answers
questions; the *write model* here is what a command is checked against. It is nothing but the
fold of the events topic, kept up to date: before each decision it reads whatever anybody wrote
since it last looked (read your own writes, and everyone else's). Records it wrote itself are
already in the ledger and are skipped when they come back.

`Bank` (direct mode) and the command handler (topic mode) both keep one. A cold start begins
from the latest snapshot (`banku.application.snapshots`) and folds only the tail; after folding a
long tail
it leaves a new snapshot for the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from banku import defaults
from banku.application.ports import EventLog
from banku.domain.events import COMMAND_ID_HEADER, Event, decode
from banku.domain.ledger import Ledger, Receipt
from banku.errors import EventDecodeError

log = logging.getLogger("banku.snapshots")


def command_id_of(headers: Iterable[tuple[str, bytes]] | None) -> str | None:
    """The idempotency key a record carries in its ``banku.command`` header, if any."""
    for name, value in headers or ():
        if name == COMMAND_ID_HEADER:
            return value.decode("utf-8", "replace")
    return None


class WriteModel:
    """A `Ledger` that follows one topic: where it has read to, and what it wrote itself."""

    def __init__(self, log: EventLog, snapshot_every: int = defaults.SNAPSHOT_EVERY) -> None:
        self.log = log
        self.ledger = Ledger.empty()
        self.positions: dict[int, int] = {}  # partition -> next offset to fold
        self.snapshot_every = snapshot_every  # records folded before leaving a snapshot (0: never)
        self.folded_since_snapshot = 0
        self.started_from: str = "nothing"  # "a snapshot" or "offset zero", after the first fold
        self._own: set[tuple[int, int]] = set()  # (partition, offset) of our own writes
        self._started = False

    def partition_of(self, account_id: str) -> int:
        """The partition an event about this account goes to (its key's)."""
        return self.log.partition_for(account_id.encode())  # (the log remembers recent keys)

    def catch_up(self) -> int:
        """Fold every record written since we last looked; returns how many were read."""
        if not self._started:
            self.ledger.partitions = self.log.partitions
            self._started = True
            self._start_from_snapshot()
        ledger, own, read = self.ledger, self._own, 0
        for records in self.log.read(self.positions):
            read += len(records)
            for record in records:
                where = (record.partition, record.offset)
                if where in own:
                    own.discard(where)
                    continue
                try:
                    event = decode(record.value)
                except EventDecodeError:
                    continue  # not a fact: the projector sends it to the dead-letter topic
                if ledger.apply(event, record.partition):
                    command_id = command_id_of(record.headers)
                    if command_id is not None:
                        ledger.remember(command_id, Receipt(
                            event, record.partition, record.offset, record.timestamp,
                            command_id))
        self.folded_since_snapshot += read
        if self.snapshot_every and self.folded_since_snapshot >= self.snapshot_every:
            self.snapshot()
        return read

    # --- snapshots ---------------------------------------------------------------------------
    def _start_from_snapshot(self) -> None:
        from banku.application.snapshots import SnapshotRefused, from_bytes

        self.started_from = "offset zero"
        value = self.log.latest_snapshot()
        if value is None:
            return
        try:
            ledger, positions = from_bytes(value, self.log.topic_id(), self.log.end_offsets())
        except SnapshotRefused as why:
            log.warning("Ignoring the snapshot of %s: %s; folding the whole log instead.",
                        self.log.topic, why, extra={"event": "snapshot_refused"})
            return
        self.ledger, self.positions = ledger, positions
        self.started_from = "a snapshot"

    def snapshot(self) -> bool:
        """Leave the ledger and its positions where a cold start finds them. Only a ledger that
        is exactly the fold of the log up to its positions can be a snapshot: not while our own
        writes are still on their way back (a batch, an open transaction)."""
        from banku.application.snapshots import to_bytes

        if self._own or any(r.offset < 0 for r in self.ledger.commands.values()):
            return False
        self.log.save_snapshot(to_bytes(self.ledger, self.positions, self.log.topic_id()))
        self.folded_since_snapshot = 0
        return True

    def expect(self, event: Event, partition: int, command_id: str) -> None:
        """An event is on its way (a batch, a transaction): count it before Kafka answers."""
        self.ledger.apply(event, partition, decided=True)
        # Until Kafka answers, a retry of this command finds it here.
        self.ledger.remember(command_id, Receipt(event, partition, -1, -1, command_id))

    def landed(self, receipt: Receipt, expected: bool = False) -> None:
        """Our own event is in the log: skip it when it is read back."""
        if not expected:
            self.ledger.apply(receipt.event, receipt.partition, decided=True)
        self._own.add((receipt.partition, receipt.offset))
        if receipt.command_id is not None:
            self.ledger.remember(receipt.command_id, receipt)

    def forget(self) -> None:
        """Drop everything; the next catch-up folds the topic again from offset zero."""
        self.ledger = Ledger.empty()
        self.positions = {}
        self._own = set()
        self._started = False
