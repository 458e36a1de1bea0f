"""Forgetting a person in an immutable log: crypto-shredding of account names.

The topic keeps every event forever, and an account's name is personal data. With
``BANKU_ENCRYPT_NAMES=1`` the name never reaches the log in the clear: ``AccName`` carries
``enc:v1:<base64url(nonce + AES-GCM ciphertext)>``, sealed under a key of that account's own,
which is kept outside the log (Redis, ``[ns:]banku:keys``). The account id is bound to the
ciphertext as associated data, so a sealed name cannot be passed off as another account's.

``banku forget ID`` destroys the key. The ciphertext stays in the log, unreadable: the view and
every replay show the account with its balance and ``(forgotten)`` for its name. The Go wire
format stays valid: the ciphertext is just a string in ``AccName``.

Destroying a key in Redis is not the end of it: Redis's append-only file records every write,
the one that stored the key included, and keeps it until the file is rewritten. So `forget`
asks Redis to rewrite it (``BGREWRITEAOF``); where the Redis user may not (a managed Redis, a
workshop login), it says so, and an administrator must. Replicas and backups keep their own
copies: they need the same care.
"""

from __future__ import annotations

import base64
import logging
import os
import re

from banku.errors import AccountNotFound, BankuError

log = logging.getLogger("banku.names")

SEALED = "enc:v1:"
FORGOTTEN = "(forgotten)"
NO_KEY = "(name unavailable: no key)"
# What `NameVault.rewrite_history` reports.
REWRITING = "rewriting"
NO_HISTORY = "no append-only file"
_NONCE = 12
# A name is at most 100 characters (400 bytes of UTF-8); nonce and tag add 28 bytes.
_SEALED_SHAPE = re.compile(r"enc:v1:[A-Za-z0-9_-]{39,571}")


def is_sealed(name: object) -> bool:
    return isinstance(name, str) and name.startswith(SEALED)


def well_sealed(name: str) -> bool:
    """The shape of a sealed name (its content only the key can tell)."""
    return _SEALED_SHAPE.fullmatch(name) is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: bytes, account_id: str, name: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE)
    return SEALED + _b64(nonce + AESGCM(key).encrypt(nonce, name.encode(), account_id.encode()))


def unseal(key: bytes, account_id: str, sealed: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = _unb64(sealed[len(SEALED):])
    try:
        return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], account_id.encode()).decode()
    except (InvalidTag, ValueError):
        raise BankuError(f"the sealed name of account {account_id} does not open with its"
                         " key") from None


def shown_names(pairs: list[tuple[str, str]], keys: list[str | bytes | None],
                forgotten: list[object]) -> dict[str, str]:
    """Account id -> the name to show, given each pair's key (None: none) and whether its key
    was destroyed on purpose. The one rule for what a sealed name shows, whatever keeps the keys.
    """
    shown = {}
    for (account_id, sealed), key, gone in zip(pairs, keys, forgotten, strict=True):
        if key is not None:
            try:
                shown[account_id] = unseal(_unb64(key if isinstance(key, str) else key.decode()),
                                           account_id, sealed)
                continue
            except BankuError as exc:
                log.warning("%s; showing %r.", exc, NO_KEY, extra={"event": "bad_key"})
                shown[account_id] = NO_KEY
        elif gone:
            shown[account_id] = FORGOTTEN
        else:
            log.warning("No key for the sealed name of account %s, which was never"
                        " forgotten (was the Redis of the keys lost?); showing %r.",
                        account_id, NO_KEY, extra={"event": "missing_key"})
            shown[account_id] = NO_KEY
    return shown


def new_key() -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return _b64(AESGCM.generate_key(256))


def seal_with(key: str | bytes, account_id: str, name: str) -> str:
    return seal(_unb64(key if isinstance(key, str) else key.decode()), account_id, name)


def already_forgotten(account_id: str) -> BankuError:
    return BankuError(f"The name of account {account_id} was already forgotten.")


def not_sealed(account_id: str, in_view: bool) -> BankuError:
    """Why an account without a key cannot be forgotten."""
    if in_view:
        return BankuError(
            f"The name of account {account_id} was written in the clear"
            " (BANKU_ENCRYPT_NAMES was off when it was opened): a name in an immutable"
            " log cannot be forgotten."
        )
    return AccountNotFound(f"There is no account {account_id!r} with a sealed name in"
                           " this namespace.")
