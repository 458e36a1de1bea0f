"""The state an account is in, and the fold that computes it from events.

The fold is the heart of event sourcing: the state of the bank is nothing but its events applied
in order. Balance arithmetic commutes, so the fold of all events gives the same balances however
the three partitions interleave.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .events import CreateEvent, Event, balance_changes


@dataclass(frozen=True)
class BankAccount:
    """One account as the read model shows it (money in cents)."""

    id: str
    name: str
    balance: int


@dataclass
class Ledger:
    """Names and balances of every account, folded from events (the command side's memory)."""

    names: dict[str, str]
    balances: dict[str, int]

    @classmethod
    def empty(cls) -> Ledger:
        return cls({}, {})

    def apply(self, event: Event) -> None:
        if isinstance(event, CreateEvent):
            self.names[event.acc_id] = event.acc_name
            self.balances.setdefault(event.acc_id, 0)
        for account_id, delta in balance_changes(event):
            self.balances[account_id] = self.balances.get(account_id, 0) + delta

    def account(self, account_id: str) -> BankAccount | None:
        if account_id not in self.names:
            return None
        return BankAccount(account_id, self.names[account_id], self.balances.get(account_id, 0))


def fold(events: Iterable[Event]) -> Ledger:
    """Apply every event in order and return the resulting ledger."""
    ledger = Ledger.empty()
    for event in events:
        ledger.apply(event)
    return ledger
