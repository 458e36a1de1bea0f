"""The write model: the ledger the command side decides with, folded from the log.

CQRS has two models of the same bank. The *read model* (Redis, `banku.read_model`) answers
questions; the *write model* here is what a command is checked against. It is nothing but the
fold of the events topic, kept up to date: before each decision it reads whatever anybody wrote
since it last looked (read your own writes, and everyone else's). Records it wrote itself are
already in the ledger and are skipped when they come back.

`Bank` (direct mode) and the command handler (topic mode) both keep one.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import EventDecodeError
from .events import COMMAND_ID_HEADER, Event, decode
from .model import Ledger, Receipt
from .ports import EventLog


def command_id_of(headers: Iterable[tuple[str, bytes]] | None) -> str | None:
    """The idempotency key a record carries in its ``banku.command`` header, if any."""
    for name, value in headers or ():
        if name == COMMAND_ID_HEADER:
            return value.decode("utf-8", "replace")
    return None


class WriteModel:
    """A `Ledger` that follows one topic: where it has read to, and what it wrote itself."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.ledger = Ledger.empty()
        self.positions: dict[int, int] = {}  # partition -> next offset to fold
        self._own: set[tuple[int, int]] = set()  # (partition, offset) of our own writes
        self._started = False

    def partition_of(self, account_id: str) -> int:
        """The partition an event about this account goes to (its key's)."""
        return self.log.partition_for(account_id.encode())

    def catch_up(self) -> int:
        """Fold every record written since we last looked; returns how many were read."""
        if not self._started:
            self.ledger.partitions = self.log.partitions
            self._started = True
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
        return read

    def expect(self, event: Event, partition: int, command_id: str) -> None:
        """An event is on its way (a batch, a transaction): count it before Kafka answers."""
        self.ledger.apply(event, partition)
        # Until Kafka answers, a retry of this command finds it here.
        self.ledger.remember(command_id, Receipt(event, partition, -1, -1, command_id))

    def landed(self, receipt: Receipt, expected: bool = False) -> None:
        """Our own event is in the log: skip it when it is read back."""
        if not expected:
            self.ledger.apply(receipt.event, receipt.partition)
        self._own.add((receipt.partition, receipt.offset))
        if receipt.command_id is not None:
            self.ledger.remember(receipt.command_id, receipt)

    def forget(self) -> None:
        """Drop everything; the next catch-up folds the topic again from offset zero."""
        self.ledger = Ledger.empty()
        self.positions = {}
        self._own = set()
        self._started = False
