"""What a well-formed value looks like: amounts, names, account ids.

These are the shape rules, each raising its own `CommandRejected` subclass. Both the bank's
decisions (`banku.domain.rules`) and the strict event decoder (`banku.domain.events`) apply them,
so a record no valid command could have written is treated as poison. They know nothing of
events or ledgers, which is what lets `rules` import `events` without a cycle.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, TypeGuard

from banku.domain.sealing import well_sealed
from banku.errors import InvalidAmount, InvalidName, SameAccountTransfer

# An account id is a UUID in its canonical text form (the Go original used uuid4 strings). The
# shape is a rule, not a convenience: an id can then never be the name of one of the projector's
# own Redis keys (``banku:...``), nor reach into another namespace's keys (``alice:...``).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_account_id(value: object) -> TypeGuard[str]:
    """True for a UUID in canonical text form, the only shape an account id may have."""
    return type(value) is str and _well_formed_id(value)


# A bank has few accounts and many events per account: the decoder asks about the same ids again
# and again, and a cached answer is a sixteenth of the regular expression's cost. The answer
# depends on the text alone, so one bounded cache (the standard library's) serves every caller.
@lru_cache(maxsize=100_000)
def _well_formed_id(value: str) -> bool:
    return len(value) == 36 and _UUID.fullmatch(value) is not None


# The view adds balances with Redis's HINCRBY, on signed 64-bit integers: the one bound every
# amount, share and balance check is written against.
INT64_MAX = 2**63 - 1
MAX_AMOUNT = INT64_MAX  # an amount fits in a balance
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
    the person's name inside was checked, as text, before it was sealed."""
    if not well_sealed(name):
        raise InvalidName("The account name looks sealed (enc:v1:...) but is not a sealed name.")
    return name


def check_not_same_account(source_id: str, target_id: str) -> None:
    if source_id == target_id:
        raise SameAccountTransfer(
            "A transfer needs two different accounts: source and target are the same."
        )
