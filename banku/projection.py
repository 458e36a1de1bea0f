"""The projector's state machine, without Kafka or Redis: what to apply, and where it stands.

`Projection` decides, for each polled record, whether it is applied, skipped (the view already
has it) or sent to the dead-letter topic (it is not an event, or the view cannot hold it), and
builds the `Batch` that one atomic step writes to the view. `banku.projector.Projector` drives it
with a real consumer and Redis; the unit tests drive it with the in-memory adapters.

How a batch stays exact:

* **Positions.** For each partition it owns, the projection knows the position stored with the
  view (``expected``; -1 when there is none). A batch carries, per partition, the position it
  expects and the one after its last record; the view applies it only if the stored position is
  still the expected one (compare-and-set), so two projectors can never both apply a record.
* **Log order inside a batch.** Records are decided one by one, in their partition's order,
  against the partition's running shares of each balance (`banku.model.fact_refusal`). The batch
  then sends one net change per account. Netting cannot change the outcome: every record that
  was kept left every share within its limit at its own moment, so the sum of the shares, the
  balance, fits at every moment too, and the view applies the batch atomically, so no one sees
  the moments in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .errors import EventDecodeError
from .events import CreateEvent, Event, TransferEvent, balance_changes, decode
from .model import fact_refusal, part_limit
from .ports import Record

# partition, account ids -> (shares, opened) as stored in the view
Loader = Callable[[int, Iterable[str]], tuple[dict[str, int], set[str]]]


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
        # What the view holds for the owned partitions, loaded when first needed.
        self._shares: dict[tuple[str, int], int] = {}
        self._opened: set[tuple[str, int]] = set()
        self._loaded: set[tuple[str, int]] = set()

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
        self._loaded.clear()

    def _drop(self, partition: int) -> None:
        self._shares = {k: v for k, v in self._shares.items() if k[1] != partition}
        self._opened = {k for k in self._opened if k[1] != partition}
        self._loaded = {k for k in self._loaded if k[1] != partition}

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
            decoded: list[tuple[Record, Event | None, str]] = []
            needed: set[str] = set()
            for record in records:
                try:
                    event = decode(record.value)
                except EventDecodeError as exc:
                    decoded.append((record, None, str(exc)))
                    continue
                decoded.append((record, event, ""))
                needed.add(event.acc_id)
                if isinstance(event, TransferEvent):
                    needed.add(event.target_id)
            self._load(partition, needed, load)
            self._decide(partition, decoded, batch, dead)
            batch.positions[partition] = (expected, records[-1].offset + 1)
        batch.dead_letters = len(dead)
        return batch, dead

    def _load(self, partition: int, accounts: set[str], load: Loader) -> None:
        missing = [a for a in accounts if (a, partition) not in self._loaded]
        if not missing:
            return
        shares, opened = load(partition, missing)
        for account_id in missing:
            key = (account_id, partition)
            self._shares[key] = shares.get(account_id, 0)
            if account_id in opened:
                self._opened.add(key)
            self._loaded.add(key)

    def _decide(self, partition: int, decoded: list[tuple[Record, Event | None, str]],
                batch: Batch, dead: list[tuple[Record, str]]) -> None:
        # Work on copies of this partition's shares: the cache only changes once the batch is in.
        shares = {k: v for k, v in self._shares.items() if k[1] == partition}
        opened = {k for k in self._opened if k[1] == partition}
        deltas, share_deltas = batch.deltas, batch.shares
        limit = self.limit
        for record, event, reason in decoded:
            if event is None:
                dead.append((record, reason))
                continue
            refusal = fact_refusal(event, partition, shares, opened, limit)
            if refusal is not None:
                dead.append((record, f"cannot be applied: {refusal}"))
                continue
            if isinstance(event, CreateEvent):
                opened.add((event.acc_id, partition))
                batch.opens.append((event.acc_id, partition, event.acc_name))
            for account_id, delta in balance_changes(event):
                key = (account_id, partition)
                shares[key] = shares[key] + delta
                share_deltas[key] = share_deltas.get(key, 0) + delta
                deltas[account_id] = deltas.get(account_id, 0) + delta
            batch.applied += 1

    def applied(self, batch: Batch) -> None:
        """The view holds the batch now: move the positions and the cached shares on."""
        for partition, (_, nxt) in batch.positions.items():
            if partition in self.expected:
                self.expected[partition] = nxt
        for key, delta in batch.shares.items():
            self._shares[key] = self._shares.get(key, 0) + delta
        for account_id, partition, _ in batch.opens:
            self._opened.add((account_id, partition))
