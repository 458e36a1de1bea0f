"""The projector's state machine, without Kafka or Redis: what to apply, and where it stands.

`Projection` decides, for each polled record, whether it is applied, skipped (the view already
has it) or sent to the dead-letter topic (it is not an event, or the view cannot hold it), and
builds the `Batch` that one atomic step writes to the view. `banku.application.projector.Projector`
drives it
with a real consumer and Redis; the unit tests drive it with the in-memory adapters.

How a batch stays exact:

* **Positions.** For each partition it owns, the projection knows the position stored with the
  view (``expected``; -1 when there is none). A batch carries, per partition, the position it
  expects and the one after its last record; the view applies it only if the stored position is
  still the expected one (compare-and-set), so two projectors can never both apply a record.
* **Log order inside a batch.** Records are decided one by one, in their partition's order,
  against the partition's running shares of each balance (`banku.domain.ledger.fact_refusal`). The
  batch
  then sends one net change per account. Netting cannot change the outcome: every record that
  was kept left every share within its limit at its own moment, so the sum of the shares, the
  balance, fits at every moment too, and the view applies the batch atomically, so no one sees
  the moments in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from banku.domain.events import CreateEvent, Event, TransferEvent, balance_changes, decode
from banku.domain.ledger import fact_refusal, part_limit
from banku.errors import EventDecodeError

# partition, account ids -> (shares, opened) as stored in the view
Loader = Callable[[int, Iterable[str]], tuple[dict[str, int], set[str]]]


@dataclass(frozen=True)
class Record:
    """A record as read from the log (kafka-python's ConsumerRecord has the same fields)."""

    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = ""


# A dead letter is the refused record as it was, with two headers: why it was refused, and where
# it came from. The source (topic/partition/offset) names the record exactly, so a dead-letter
# sink can keep one letter per refused record however often the log is replayed.
REASON_HEADER = "banku.reason"
SOURCE_HEADER = "banku.source"


def source_of(record: Record) -> str:
    """Where a record came from, as a dead letter's source header says it:
    topic/partition/offset."""
    return f"{record.topic}/{record.partition}/{record.offset}"


def dead_letter_headers(record: Record, reason: str) -> list[tuple[str, bytes]]:
    return [(REASON_HEADER, reason.encode()), (SOURCE_HEADER, source_of(record).encode())]


@dataclass
class Batch:
    """What one batch of records does to the view, written in one atomic step."""

    # partition -> (position expected in the view or -1 for none, next position after the batch)
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)
    # (account, partition, name): the account's first opening in that partition
    opens: list[tuple[str, int, str]] = field(default_factory=list)
    deltas: dict[str, int] = field(default_factory=dict)  # account -> net change of its balance
    shares: dict[tuple[str, int], int] = field(default_factory=dict)  # net change of each share
    applied: int = 0
    dead_letters: int = 0


class Projection:
    """Where each owned partition stands, and each partition's shares of the balances."""

    def __init__(self, partitions: int) -> None:
        self.limit = part_limit(partitions)
        self.expected: dict[int, int] = {}  # partition -> position stored in the view (-1: none)
        # What the view holds for the owned partitions, loaded when first needed:
        # partition -> account -> share, and partition -> accounts opened there.
        self._shares: dict[int, dict[str, int]] = {}
        self._opened: dict[int, set[str]] = {}

    # --- ownership ---------------------------------------------------------------------------
    def assigned(self, partitions: Iterable[int], stored: dict[int, int]) -> dict[int, int]:
        """Take partitions over; returns where to seek each (the stored position, or 0)."""
        seeks = {}
        for p in partitions:
            self.expected[p] = stored.get(p, -1)
            seeks[p] = max(0, stored.get(p, 0))
            self._drop(p)
        return seeks

    def revoked(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self.expected.pop(p, None)
            self._drop(p)

    def forget(self) -> None:
        """Everything cached may be stale (another projector moved ahead): reload on next use."""
        self.expected.clear()
        self._shares.clear()
        self._opened.clear()

    def _drop(self, partition: int) -> None:
        self._shares.pop(partition, None)
        self._opened.pop(partition, None)

    # --- one batch ---------------------------------------------------------------------------
    def build(self, polled: dict[int, list[Record]], load: Loader,
              ) -> tuple[Batch, list[tuple[Record, str]]]:
        """Decide every polled record; returns the batch and the dead letters with reasons."""
        batch = Batch()
        dead: list[tuple[Record, str]] = []
        for partition, records in polled.items():
            expected = self.expected.get(partition)
            if expected is None or not records:
                continue  # revoked while this batch was in flight
            if records[0].offset < expected:
                # Delivered again (after a crash or a seek): skip what the view already has.
                records = [r for r in records if r.offset >= expected]
                if not records:
                    continue
            # Records that are not events cannot change anything: straight to the dead letters.
            # The others are decided below, in order, once the shares they touch are known.
            decoded: list[tuple[Record, Event]] = []
            known = self._shares.setdefault(partition, {})
            needed: set[str] = set()
            for record in records:
                try:
                    event = decode(record.value)
                except EventDecodeError as exc:
                    dead.append((record, str(exc)))
                    continue
                decoded.append((record, event))
                if event.acc_id not in known:
                    needed.add(event.acc_id)
                if type(event) is TransferEvent and event.target_id not in known:
                    needed.add(event.target_id)
            if needed:
                self._load(partition, needed, load)
            self._decide(partition, decoded, batch, dead)
            batch.positions[partition] = (expected, records[-1].offset + 1)
        batch.dead_letters = len(dead)
        return batch, dead

    def _load(self, partition: int, accounts: set[str], load: Loader) -> None:
        shares, opened = load(partition, accounts)
        known = self._shares.setdefault(partition, {})
        for account_id in accounts:
            known[account_id] = shares.get(account_id, 0)
        self._opened.setdefault(partition, set()).update(opened)

    def _decide(self, partition: int, decoded: list[tuple[Record, Event]],
                batch: Batch, dead: list[tuple[Record, str]]) -> None:
        # Work on copies of this partition's shares: the cache only changes once the batch is in.
        before = self._shares[partition]
        shares = dict(before)
        opened = set(self._opened.get(partition, ()))
        limit = self.limit
        applied = 0
        for record, event in decoded:
            changes = balance_changes(event)
            refusal = fact_refusal(event, partition, shares, opened, limit, changes)
            if refusal is not None:
                dead.append((record, f"cannot be applied: {refusal}"))
                continue
            if type(event) is CreateEvent:
                opened.add(event.acc_id)
                batch.opens.append((event.acc_id, partition, event.acc_name))
            for account_id, delta in changes:
                shares[account_id] += delta
            applied += 1
        batch.applied += applied
        # A partition's records change each balance by exactly what they change its share by.
        deltas = batch.deltas
        for account_id, share in shares.items():
            moved = share - before[account_id]
            if moved:
                batch.shares[(account_id, partition)] = moved
                deltas[account_id] = deltas.get(account_id, 0) + moved

    def applied(self, batch: Batch) -> None:
        """The view holds the batch now: move the positions and the cached shares on."""
        for partition, (_, nxt) in batch.positions.items():
            if partition in self.expected:
                self.expected[partition] = nxt
        for (account_id, partition), delta in batch.shares.items():
            known = self._shares.setdefault(partition, {})
            known[account_id] = known.get(account_id, 0) + delta
        for account_id, partition, _ in batch.opens:
            self._opened.setdefault(partition, set()).add(account_id)
