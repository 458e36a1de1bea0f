"""The state of the bank, and the fold that computes it from events.

The fold is the heart of event sourcing: the state of the bank is nothing but its events applied
in order. Balance arithmetic commutes, so the fold of all events gives the same balances however
the partitions interleave.

One subtlety makes the fold *deterministic* when the log holds records no rule ever checked
(another program may write to the topic): Kafka keeps order only within a partition, so whether
a record can be applied must depend on nothing but the records before it **in its own
partition**. `fact_refusal` is that decision, shared by the command side's `Ledger` and by the
projector, so both always agree on which records count.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field

from banku.domain.events import CreateEvent, Event, balance_changes, encode
from banku.domain.values import INT64_MAX

# The topic's partitions: a bank's state is kept per partition (each share of a balance), so the
# count belongs to the domain; `banku.config` reads it from here.
PARTITIONS = 3
# How many recent command ids a `Bank` (or the handler) remembers to answer a retried command with
# its first outcome. Older ids are forgotten: a retry is expected within moments, not weeks.
COMMAND_ID_WINDOW = 20_000
_LIMITS: dict[int, int] = {}  # partitions -> part_limit, computed once


def part_limit(partitions: int = PARTITIONS) -> int:
    """How far one partition's records may move one account's balance, up or down.

    Redis adds balances as signed 64-bit integers. If each partition's share of a balance stays
    within ±(2**63 - 1) // partitions, their sum always fits, whatever order the partitions are
    applied in; and each share depends only on its own partition's records, so the projector can
    decide about a record from its partition alone. With 3 partitions that is about 3.07e18
    cents, far beyond any real bank.
    """
    return INT64_MAX // max(1, partitions)


def fact_refusal(event: Event, partition: int, shares: Mapping[str, int],
                 opened: Container[str], limit: int,
                 changes: list[tuple[str, int]] | None = None) -> str | None:
    """Why a well-formed event in ``partition`` cannot be applied to the view (None: it can).

    ``shares`` holds *this partition's* share of each account's balance so far and ``opened``
    the accounts already opened in this partition: nothing from another partition is read, so
    the answer does not depend on how partitions interleave. ``changes`` is
    `balance_changes(event)`, when the caller has it already.
    """
    if type(event) is CreateEvent:
        if event.acc_id in opened:
            return f"account {event.acc_id} was already opened in partition {partition}"
        return None
    get = shares.get
    for account_id, delta in balance_changes(event) if changes is None else changes:
        if not -limit <= get(account_id, 0) + delta <= limit:
            return (f"it would move account {account_id}'s balance beyond ±{limit} cents within"
                    f" partition {partition}, more than the view can add up")
    return None


@dataclass(frozen=True)
class BankAccount:
    """One account as the read model shows it (money in cents)."""

    id: str
    name: str
    balance: int


@dataclass(frozen=True)
class Receipt:
    """Where an event landed: Kafka's answer to a send."""

    event: Event
    partition: int
    offset: int
    timestamp_ms: int
    command_id: str | None = None

    @property
    def wire(self) -> str:
        return encode(self.event).decode()


@dataclass
class Ledger:
    """Names and balances of every account, folded from events (the command side's memory).

    Beside each balance it keeps each partition's share of it (``shares[partition][account]``)
    and the accounts opened in each partition (``opened[partition]``), so that it applies exactly
    the records the projector applies, and the most recent command ids (``commands``), so that a
    retried command finds its first outcome.
    """

    names: dict[str, str] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    shares: dict[int, dict[str, int]] = field(default_factory=dict)
    opened: dict[int, set[str]] = field(default_factory=dict)
    named_in: dict[str, int] = field(default_factory=dict)  # account -> partition of its name
    commands: OrderedDict[str, Receipt] = field(default_factory=OrderedDict)
    partitions: int = PARTITIONS

    @classmethod
    def empty(cls, partitions: int = PARTITIONS) -> Ledger:
        return cls(partitions=partitions)

    @property
    def limit(self) -> int:
        return _LIMITS.get(self.partitions) or _LIMITS.setdefault(self.partitions,
                                                                   part_limit(self.partitions))

    def refusal(self, event: Event, partition: int) -> str | None:
        """Why the projector would not apply ``event`` in ``partition`` (None: it would)."""
        return fact_refusal(event, partition, self.shares.get(partition, {}),
                            self.opened.get(partition, ()), self.limit)

    def apply(self, event: Event, partition: int | None = None, decided: bool = False) -> bool:
        """Fold one event in. With its partition, a record the projector would refuse is left
        out (returns False); without, every event counts (a plain fold of trusted events).
        ``decided``: the event is one `rules.decide` just accepted, so it applies."""
        if partition is not None and not decided and self.refusal(event, partition) is not None:
            return False
        if isinstance(event, CreateEvent):
            account_id = event.acc_id
            if partition is None:
                self.names[account_id] = event.acc_name
            else:
                # Opened in several partitions (only another producer could do that): the name
                # shown is the one given in the lowest partition, whatever order they arrive in.
                self.opened.setdefault(partition, set()).add(account_id)
                if partition < self.named_in.get(account_id, partition + 1):
                    self.named_in[account_id] = partition
                    self.names[account_id] = event.acc_name
            self.balances.setdefault(account_id, 0)
            return True
        balances = self.balances
        shares = self.shares.setdefault(partition, {}) if partition is not None else None
        for account_id, delta in balance_changes(event):
            balances[account_id] = balances.get(account_id, 0) + delta
            if shares is not None:
                shares[account_id] = shares.get(account_id, 0) + delta
        return True

    def remember(self, command_id: str, receipt: Receipt) -> None:
        """Note a command's outcome; the oldest ids beyond the window are forgotten."""
        commands = self.commands
        commands[command_id] = receipt
        if len(commands) > COMMAND_ID_WINDOW:
            commands.popitem(last=False)

    def account(self, account_id: str) -> BankAccount | None:
        if account_id not in self.names:
            return None
        return BankAccount(account_id, self.names[account_id], self.balances.get(account_id, 0))

    def share(self, account_id: str, partition: int) -> int:
        """This partition's share of the account's balance."""
        return self.shares.get(partition, {}).get(account_id, 0)


def fold(events: Iterable[Event]) -> Ledger:
    """Apply every event in order and return the resulting ledger."""
    ledger = Ledger.empty()
    for event in events:
        ledger.apply(event)
    return ledger
