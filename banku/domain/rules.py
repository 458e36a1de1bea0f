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

import re
import unicodedata
from collections.abc import Container
from typing import TYPE_CHECKING, Any

from banku.errors import (
    AccountExists,
    AccountNotFound,
    InsufficientFunds,
    InvalidAccountId,
    InvalidAmount,
    InvalidCommandId,
    InvalidName,
    SameAccountTransfer,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from banku.domain.events import Event
    from banku.domain.ledger import Ledger

MAX_AMOUNT = 2**63 - 1  # Redis HINCRBY works on signed 64-bit integers
MAX_NAME_LENGTH = 100


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so that a 10,000-character input does not
    make a 10,000-character error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 12]}... ({len(text)} chars)"


def check_amount(amount: Any) -> int:
    """Amounts are positive whole numbers of minor units (cents): 2000 means 20.00."""
    # bool is a subclass of int in Python: True must not mean 1 cent.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(
            f"The amount must be a whole number of cents, not {type(amount).__name__}"
            f" {shown(amount)} (money is never a float: 20.00 is written 2000)."
        )
    if amount <= 0:
        raise InvalidAmount(f"The amount must be positive, got {amount}.")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"The amount {amount} is too large: at most {MAX_AMOUNT} cents.")
    return amount


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+\Z")


def parse_amount(text: str) -> int:
    """Read an amount typed by a person ("2000"); refuse "20.5", "-3", "abc"."""
    cleaned = text.strip()
    if not _WHOLE_NUMBER.match(cleaned):
        raise InvalidAmount(
            f"{shown(text)} is not a whole number of cents (write 2000 for 20.00)."
        )
    if len(cleaned.lstrip("+-").lstrip("0")) > len(str(MAX_AMOUNT)):
        # Python would refuse to even read a number of more than 4,300 digits (ValueError).
        if cleaned.startswith("-"):
            raise InvalidAmount(f"The amount must be positive, got {shown(cleaned, 40)}.")
        raise InvalidAmount(
            f"The amount {shown(cleaned, 40)} is too large: at most {MAX_AMOUNT} cents."
        )
    return check_amount(int(cleaned))


# Invisible characters trimmed from both ends like spaces (a zero-width space, a byte-order mark).
_TRIM = re.compile(r"^[\s\u200b\ufeff]+|[\s\u200b\ufeff]+$")
# Embedding, override and isolate controls reorder the text around them, so that a name can
# display as another one ("Trojan Source"); they have no place in a name.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_name(name: Any) -> str:
    """Account names are text, non-empty after trimming, at most 100 characters.

    Any script is welcome (Arabic and Hebrew names, accents, emoji, a zero-width joiner inside a
    name). Refused: names with no visible character, control characters (NUL, tab, newline ...),
    line separators, bidirectional override/isolate controls, and lone surrogates (not Unicode
    text: they cannot be written as UTF-8).
    """
    if not isinstance(name, str):
        raise InvalidName(f"The account name must be text, not {type(name).__name__}.")
    trimmed = _TRIM.sub("", name)
    if len(trimmed) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"The account name is {len(trimmed)} characters long: at most {MAX_NAME_LENGTH}."
        )
    categories = {unicodedata.category(ch) for ch in trimmed}
    if "Cs" in categories:
        raise InvalidName("The account name is not valid Unicode text (a lone surrogate).")
    if categories & {"Cc", "Zl", "Zp"}:
        raise InvalidName("The account name must be a single line of printable text.")
    if _BIDI_CONTROLS.intersection(trimmed):
        raise InvalidName(
            "The account name contains a bidirectional override or isolate control, which can"
            " make it display as a different name."
        )
    if not any(c[0] in "LNPS" for c in categories):
        raise InvalidName("The account name is empty: give the account holder's name.")
    return trimmed


def check_sealed_name(name: str) -> str:
    """A name sealed for crypto-shredding (`banku.domain.sealing`): only its shape can be checked;
    the
    person's name inside was checked, as text, before it was sealed."""
    from banku.domain.sealing import well_sealed

    if not well_sealed(name):
        raise InvalidName("The account name looks sealed (enc:v1:...) but is not a sealed name.")
    return name


def check_account_exists(account_id: str, known: Container[str]) -> None:
    if not isinstance(account_id, str) or account_id not in known:
        raise AccountNotFound(
            f"There is no account {shown(account_id)} in this namespace; create it first"
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
    from banku.domain.events import is_account_id

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
    from banku.domain.events import CreateEvent, DepositEvent, TransferEvent, WithdrawEvent
    from banku.domain.sealing import is_sealed

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
