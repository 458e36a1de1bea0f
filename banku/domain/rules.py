"""The bank's rules, in one place. Each rule raises its own `CommandRejected` subclass.

`decide(ledger, event, partition_of)` is the one decision: given what the bank knows (a `Ledger`)
and the event a command would write, it returns the event to write or raises the refusal. Every
way into the log goes through it: `Bank`'s command methods, `Bank.submit` (a recorded event
loaded again) and the command handler. So a refused command leaves no trace in the log, and no
path can write what another would refuse. The event decoder re-checks the shape rules (amount,
name, self-transfer) so that a record no valid command could have written is treated as poison.

Nothing here talks to Kafka or Redis: these rules run, and are tested, in microseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

from banku.domain.events import CreateEvent, DepositEvent, Event, TransferEvent, WithdrawEvent
from banku.domain.sealing import is_sealed
from banku.domain.values import (
    MAX_AMOUNT,
    MAX_NAME_LENGTH,
    check_amount,
    check_name,
    check_not_same_account,
    check_sealed_name,
    is_account_id,
    parse_amount,
    shown,
)
from banku.errors import (
    AccountExists,
    AccountNotFound,
    InsufficientFunds,
    InvalidAccountId,
    InvalidAmount,
    InvalidCommandId,
)

if TYPE_CHECKING:
    from banku.domain.ledger import Ledger

# The shape rules live in `banku.domain.values` (the decoder applies them too); they are the
# bank's rules all the same, so they are read here as well.
__all__ = ["MAX_AMOUNT", "MAX_NAME_LENGTH", "check_account_exists", "check_amount",
           "check_command_id", "check_funds", "check_name", "check_new_account",
           "check_not_same_account", "check_sealed_name", "check_share_limit", "decide",
           "parse_amount", "shown"]

def check_account_exists(account_id: str, known: Container[str]) -> None:
    if not isinstance(account_id, str) or account_id not in known:
        raise AccountNotFound(
            f"There is no account {shown(account_id)} in this namespace; create it first"
            " (`banku create NAME` prints its id)."
        )


def check_funds(account_id: str, balance: int, amount: int) -> None:
    """The rule the Go original checked too late (in the consumer): refuse it up front."""
    if amount > balance:
        raise InsufficientFunds(
            f"Insufficient funds: account {account_id} has {balance} cents, cannot take {amount}."
        )


def check_share_limit(ledger: Ledger, account_id: str, partition: int, delta: int) -> None:
    """The view adds balances as 64-bit integers; see `banku.domain.ledger.part_limit` for why the
    limit applies to each partition's share of a balance rather than to the whole."""
    limit = ledger.limit
    if not -limit <= ledger.share(account_id, partition) + delta <= limit:
        raise InvalidAmount(
            f"Refused: account {account_id} would move by more than {limit} cents within one"
            " partition of the log, more than the read model can add up."
        )


def check_new_account(account_id: Any, ledger: Ledger) -> None:
    if not is_account_id(account_id):
        raise InvalidAccountId(
            f"An account id is a UUID (like 3f2b8c1e-...), not {shown(account_id)}."
        )
    if account_id in ledger.names:
        raise AccountExists(f"Account {account_id} already exists.")


def check_command_id(command_id: Any) -> None:
    """An idempotency key: any non-empty text of sane length (a uuid is made up when absent)."""
    if command_id is None:
        return
    if not isinstance(command_id, str) or not command_id.strip() or len(command_id) > 200 \
            or not command_id.isprintable():
        raise InvalidCommandId(
            f"A command id is printable text of 1 to 200 characters, not {shown(command_id)}."
        )


# --- the one decision ------------------------------------------------------------------------
def decide(ledger: Ledger, event: Event, partition_of: Callable[[str], int]) -> Event:
    """Check the event a command would write against everything the ledger knows.

    Returns the event to write (a name comes back trimmed) or raises the `CommandRejected`
    subclass of the first rule it breaks. ``partition_of(account_id)`` says which partition the
    event will be written to (its key's), needed for the 64-bit limit of the read model.
    """
    if isinstance(event, CreateEvent):
        name = check_sealed_name(event.acc_name) if is_sealed(event.acc_name) \
            else check_name(event.acc_name)
        check_new_account(event.acc_id, ledger)
        return event if name == event.acc_name else CreateEvent(event.acc_id, name)
    if isinstance(event, DepositEvent):
        check_amount(event.amount)
        check_account_exists(event.acc_id, ledger.names)
        check_share_limit(ledger, event.acc_id, partition_of(event.acc_id), event.amount)
        return event
    if isinstance(event, WithdrawEvent):
        check_amount(event.amount)
        check_account_exists(event.acc_id, ledger.names)
        check_funds(event.acc_id, ledger.balances[event.acc_id], event.amount)
        check_share_limit(ledger, event.acc_id, partition_of(event.acc_id), -event.amount)
        return event
    if isinstance(event, TransferEvent):
        check_amount(event.amount)
        check_account_exists(event.acc_id, ledger.names)
        check_account_exists(event.target_id, ledger.names)
        check_not_same_account(event.acc_id, event.target_id)
        check_funds(event.acc_id, ledger.balances[event.acc_id], event.amount)
        partition = partition_of(event.acc_id)  # a transfer travels with its source account
        check_share_limit(ledger, event.acc_id, partition, -event.amount)
        check_share_limit(ledger, event.target_id, partition, event.amount)
        return event
    raise TypeError(f"not an event: {event!r}")
