"""The ports: what the bank needs from a log and from a view, without saying Kafka or Redis.

`Bank` talks to an `EventLog`; the projector reads a `Feed`, writes a `ViewStore` and sends what
it cannot apply to a `DeadLetterSink`. Each port has two adapters: the real one
(`banku.adapters.kafka.event_log`, `banku.adapters.redis.view`), used by the notebooks, the CLI and
the integration tests,
and an in-memory one (`banku.adapters.memory`) with the same behaviour, for unit tests of the rules
and of
the projector's state machine that run in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from banku.domain.events import Event
from banku.domain.ledger import BankAccount, Receipt
from banku.domain.projection import Batch
from banku.domain.projection import Record as Record  # a record as read from the log
from banku.errors import BankuError


class Sent(Protocol):
    """A send in flight."""

    def result(self) -> tuple[int, int, int]:
        """(partition, offset, timestamp) once acknowledged; raises ServiceUnavailable if not."""


class EventLog(Protocol):
    """The command side's log: append records, read them back from positions, see the end."""

    topic: str

    @property
    def partitions(self) -> int:
        """How many partitions the topic has."""

    def partition_for(self, key: bytes) -> int:
        """The partition a record with this key goes to (Kafka's default partitioner)."""

    def append(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]],
               partition: int, timestamp_ms: int | None = None, what: str = "event") -> Sent:
        """Send one record; ``what`` names it in a failure's sentence."""

    def flush(self) -> None: ...

    def read(self, positions: dict[int, int]) -> Iterator[list[Record]]:
        """Batches of records from ``positions`` (partition -> next offset, updated as records
        arrive) up to the end offsets as they were when the call began."""

    def end_offsets(self) -> dict[int, int]: ...

    def topic_id(self) -> str:
        """The topic's identity: a topic deleted and created again under its name has another."""

    def latest_snapshot(self) -> bytes | None:
        """The newest snapshot of the write model kept beside this log (None: there is none)."""

    def save_snapshot(self, value: bytes) -> None: ...

    def close(self) -> None: ...


class Assignment(Protocol):
    """Told when a feed gains or loses partitions (a consumer group's rebalance)."""

    def assigned(self, partitions: list[int]) -> dict[int, int]:
        """Partitions taken over; returns where the feed must start reading each."""

    def revoked(self, partitions: list[int]) -> None: ...


class Feed(Protocol):
    """Where a projector's records come from: a consumer owning some partitions of the topic."""

    def assignment(self) -> set[int]: ...

    def seek(self, partition: int, offset: int) -> None: ...

    def position(self, partition: int) -> int:
        """The next offset the feed will read (past skipped transaction markers, too)."""

    def poll(self, timeout_ms: int) -> dict[int, list[Record]]: ...

    def commit(self, positions: dict[int, int]) -> bool:
        """Tell the log how far we got (for lag tools); False if it could not be told, which is
        not the caller's problem (the view's positions are the truth)."""

    def end_offsets(self) -> dict[int, int]: ...

    def coordinator_silent_for(self) -> float:
        """Seconds since the group's coordinator last answered (0 for a feed outside a group):
        a member silent for several sessions rejoins rather than wait to be told."""

    def close(self) -> None: ...


class Feeds(Protocol):
    """Opens feeds on one topic: as a member of a consumer group, or owning every partition."""

    def group(self, listener: Assignment) -> Feed: ...

    def every_partition(self, listener: Assignment) -> Feed: ...

    def partition_count(self) -> int: ...

    def end_offsets(self) -> dict[int, int]: ...


class DeadLetterSink(Protocol):
    def send(self, letters: list[tuple[Record, str]]) -> None:
        """Store each record with its reason; returns only once all are stored."""

    def close(self) -> None: ...


class NameKeys(Protocol):
    """The per-account keys that seal account names (crypto-shredding), kept outside the log."""

    def seal(self, account_id: str, name: str) -> str:
        """The name sealed under the account's key (made now, or the one a retry made)."""

    def reveal(self, sealed_names: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Account id -> the name to show: opened, ``(forgotten)`` or unavailable."""

    def forget(self, account_id: str, view_key: str | None = None) -> str:
        """Destroy the account's key and blank its name in the view; says what became of
        copies on disk. Refused (BankuError), changing nothing, if there is nothing to forget."""


class ViewStore(Protocol):
    """The read model and the projector's tracking record, changed together or not at all."""

    def positions(self) -> dict[int, int]:
        """Partition -> next offset to apply, as stored with the view."""

    def tracking(self, partition: int, account_ids: Iterable[str],
                 ) -> tuple[dict[str, int], set[str]]:
        """For one partition: each account's share of its balance, and the accounts opened."""

    def apply(self, batch: Batch) -> None:
        """Write a batch and its positions atomically: all of it, or nothing (then raise
        PositionConflict if another projector moved a position, ViewCorrupt if the view holds
        something the projector did not write)."""

    def wipe(self) -> int: ...

    def account(self, account_id: str) -> BankAccount | None: ...

    def accounts(self) -> list[BankAccount]: ...

    def balances(self) -> dict[str, int]: ...

    def stats(self) -> dict[str, int]: ...

    def name_keys(self) -> NameKeys:
        """The keys of sealed names, kept beside this view."""

    def close(self) -> None: ...


class CommandTransport(Protocol):
    """Topic mode's way to the one writer of each account: hand commands over, get outcomes.

    The real adapter (`banku.adapters.kafka.command_transport.HandlerClient`) writes them to the
    commands topic and waits for the handler's answers; the in-memory one
    (`banku.adapters.memory.MemoryCommandTransport`) decides them at once with the same use case
    (`banku.application.handling`)."""

    def submit(self, event: Event, command_id: str, timestamp_ms: int | None = None) -> Receipt:
        """The receipt of the accepted command; raises its refusal (`CommandRejected`).

        Shared by the adapters, which subclass this port: one command is a batch of one."""
        (result,) = self.submit_many([(event, command_id, timestamp_ms)])
        if isinstance(result, Exception):
            raise result
        return result

    def submit_many(self, commands: list[tuple[Event, str, int | None]],
                    ) -> list[Receipt | BankuError]:
        """Hand every command over, then collect every outcome (a receipt, or the refusal)."""

    def close(self) -> None: ...
