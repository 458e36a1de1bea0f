"""The bank's rules, in one place. Each rule raises its own `CommandRejected` subclass.

The command side (`banku.commands.Bank`) checks these *before* writing an event, so a refused
command leaves no trace in the log. The event decoder re-checks the shape rules (amount, name,
self-transfer) so that a record no valid command could have written is treated as poison.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from .errors import (
    AccountNotFound,
    InsufficientFunds,
    InvalidAmount,
    InvalidName,
    SameAccountTransfer,
)

MAX_AMOUNT = 2**63 - 1  # Redis HINCRBY works on signed 64-bit integers
MAX_BALANCE = 2**63 - 1
MAX_NAME_LENGTH = 100


def check_amount(amount: Any) -> int:
    """Amounts are positive whole numbers of minor units (cents): 2000 means 20.00."""
    # bool is a subclass of int in Python: True must not mean 1 cent.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(
            f"The amount must be a whole number of cents, not {type(amount).__name__}"
            f" {amount!r} (money is never a float: 20.00 is written 2000)."
        )
    if amount <= 0:
        raise InvalidAmount(f"The amount must be positive, got {amount}.")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"The amount {amount} is too large: at most {MAX_AMOUNT} cents.")
    return amount


def parse_amount(text: str) -> int:
    """Read an amount typed by a person ("2000"); refuse "20.5", "-3", "abc"."""
    cleaned = text.strip()
    if not cleaned.isascii() or not cleaned.lstrip("+-").isdigit():
        raise InvalidAmount(
            f"{text!r} is not a whole number of cents (write 2000 for 20.00)."
        )
    return check_amount(int(cleaned))


def check_name(name: Any) -> str:
    """Account names are text, non-empty after trimming, at most 100 characters."""
    if not isinstance(name, str):
        raise InvalidName(f"The account name must be text, not {type(name).__name__}.")
    trimmed = name.strip()
    if not trimmed:
        raise InvalidName("The account name is empty: give the account holder's name.")
    if len(trimmed) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"The account name is {len(trimmed)} characters long: at most {MAX_NAME_LENGTH}."
        )
    if any(ch in trimmed for ch in "\r\n\x00"):
        raise InvalidName("The account name must be a single line of text.")
    return trimmed


def check_account_exists(account_id: str, known: Container[str]) -> None:
    if not isinstance(account_id, str) or account_id not in known:
        raise AccountNotFound(
            f"There is no account {account_id!r} in this namespace; create it first"
            " (`banku create NAME` prints its id)."
        )


def check_not_same_account(source_id: str, target_id: str) -> None:
    if source_id == target_id:
        raise SameAccountTransfer(
            "A transfer needs two different accounts: source and target are the same."
        )


def check_funds(account_id: str, balance: int, amount: int) -> None:
    """The rule the Go original checked too late (in the consumer): refuse it up front."""
    if amount > balance:
        raise InsufficientFunds(
            f"Insufficient funds: account {account_id} has {balance} cents, cannot take {amount}."
        )


def check_balance_limit(account_id: str, balance: int, amount: int) -> None:
    if balance + amount > MAX_BALANCE:
        raise InvalidAmount(
            f"Account {account_id} would hold more than {MAX_BALANCE} cents; refused."
        )
