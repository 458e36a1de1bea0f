"""Checks for notebook 10, forgetting a person: sealing a name with associated data, forgetting
an account and proving it, and the compacted-topic alternative with a tombstone."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from banku.lessons.checks import NotYet, check, proven

Seal = Callable[[bytes, str, str], str]
Open = Callable[[bytes, str, str], str]


def _refuses(open_name: Open, key: bytes, account_id: str, sealed: str) -> bool:
    """True when open_name raises (any error but NotImplementedError) instead of returning."""
    try:
        open_name(key, account_id, sealed)
    except NotImplementedError:
        raise
    except Exception:  # InvalidTag, BankuError, ValueError: any refusal will do
        return True
    return False


@check("Write seal_name and open_name with AESGCM: a fresh 12-byte nonce, the account id as"
       " associated data, \"enc:v1:\" + base64url(nonce + ciphertext) without padding.")
def check_sealing(seal_name: Seal, open_name: Open) -> bool:
    """Exercise 1: a name sealed and opened as the kit does it."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from banku.domain.sealing import SEALED, seal, unseal

    key, account, other = AESGCM.generate_key(256), str(uuid.uuid4()), str(uuid.uuid4())
    name = "Grace Hopper"
    sealed = seal_name(key, account, name)
    if not isinstance(sealed, str) or not sealed.startswith(SEALED):
        raise NotYet(f"seal_name returned {sealed!r:.40}, not a text starting with {SEALED!r}.",
                     "the sealed form travels in the AccName string of the Go wire format.")
    if name in sealed or name.encode().hex() in sealed:
        raise NotYet("The name can be read in what seal_name returned.",
                     "encrypt it: AESGCM(key).encrypt(nonce, name.encode(), associated data).")
    opened = open_name(key, account, sealed)
    if opened != name:
        raise NotYet(f"open_name gave back {opened!r}, not {name!r}.",
                     "decrypt with the same nonce (the first 12 bytes) and decode the bytes.")
    if seal_name(key, account, name) == sealed:
        raise NotYet("Sealing the same name twice gave the same text: the nonce was reused.",
                     "a fresh os.urandom(12) for every seal; it travels with the ciphertext.")
    if not _refuses(open_name, key, other, sealed):
        raise NotYet("A sealed name opened for another account id.",
                     "pass account_id.encode() as associated data to encrypt and decrypt.")
    if not _refuses(open_name, AESGCM.generate_key(256), account, sealed):
        raise NotYet("A sealed name opened with another key.", "use the key you are given.")
    flipped = sealed[:-10] + ("A" if sealed[-10] != "A" else "B") + sealed[-9:]
    if not _refuses(open_name, key, account, flipped):
        raise NotYet("A changed sealed name still opened.",
                     "AESGCM's decrypt checks the tag; do not catch InvalidTag and go on.")
    try:
        kit_opened = unseal(key, account, sealed)
    except Exception:  # the kit's own refusal, said as the problem
        kit_opened = None
    if kit_opened != name:
        raise NotYet("The kit cannot open your sealed name.",
                     "after \"enc:v1:\": base64.urlsafe_b64encode(nonce + ciphertext), with the"
                     " '=' padding stripped.")
    try:
        kit_sealed_opened = open_name(key, account, seal(key, account, name))
    except NotImplementedError:
        raise
    except Exception:  # said as the problem below
        kit_sealed_opened = None
    if kit_sealed_opened != name:
        raise NotYet("open_name cannot open a name the kit sealed.",
                     "add the '=' padding back before base64.urlsafe_b64decode.")
    return proven("seal_name and open_name seal as the kit does: a fresh nonce each time, the"
                  " account id bound as associated data, any change refused.")


@check("Forget her with bank.names.forget(account_id, view.account_key(account_id)), then"
       " replay the view.")
def check_forgotten(bank: Any, view: Any, account_id: str, balance_before: int) -> bool:
    """Exercise 2: no key opens the name any more, and the view keeps the balance."""
    from banku.domain.sealing import FORGOTTEN, NO_KEY, is_sealed

    bank.state.catch_up()
    sealed = bank.ledger.names.get(account_id)
    if not is_sealed(sealed):
        raise NotYet("That account has no sealed name in the log.",
                     "pass the id of an account opened with encrypt_names=True.")
    shown = bank.names.reveal([(account_id, sealed)])[account_id]
    if shown == NO_KEY:
        raise NotYet("Her key is gone, but she is not noted as forgotten: the kit takes it for a"
                     " lost key.", "bank.names.forget deletes the key and notes the id in one"
                     " step; put the key back (r.hset) and use it.")
    if shown != FORGOTTEN:
        raise NotYet("Her key still opens her name: nothing was forgotten yet.",
                     "bank.names.forget(account_id, view.account_key(account_id)), then a"
                     " replay.")
    account = view.account(account_id)
    if account is None or account.name != FORGOTTEN:
        shown_name = account.name if account else None
        raise NotYet(f"The key is destroyed, but the view shows {shown_name!r}.",
                     "replay the view from offset zero (Projector(...).replay()).")
    if account.balance != balance_before:
        raise NotYet(f"The balance in the view is {account.balance}, not {balance_before}.",
                     "forgetting takes the name only; replay the whole log.")
    return proven(f"The name is gone for good: no key opens it, and the view shows {FORGOTTEN}"
                  f" with the balance of {balance_before} cents.")


# --- exercise 3: the compacted-topic alternative --------------------------------------------------
def _names_cases() -> list[tuple[str, list[tuple[bytes, bytes | None]], dict[str, str]]]:
    a, b, c = "acc-a", "acc-b", "acc-c"
    return [
        ("three names", [(a.encode(), b"Ada"), (b.encode(), b"Bea"), (c.encode(), b"Cy")],
         {a: "Ada", b: "Bea", c: "Cy"}),
        ("a name changed", [(a.encode(), b"Ada"), (a.encode(), b"Ada King")], {a: "Ada King"}),
        ("a tombstone", [(a.encode(), b"Ada"), (b.encode(), b"Bea"), (a.encode(), None)],
         {b: "Bea"}),
        ("a key written again after its tombstone",
         [(a.encode(), b"Ada"), (a.encode(), None), (a.encode(), "Åsa".encode())], {a: "Åsa"}),
    ]


class _Record:
    def __init__(self, key: bytes, value: bytes | None, offset: int) -> None:
        self.key, self.value, self.offset, self.partition = key, value, offset, 0
        self.headers: list[tuple[str, bytes]] = []


def _topic_records(settings: Any, topic: str) -> list[Any]:
    """Every record of a topic, from offset 0 to the end offsets, partition by partition."""
    from banku.lessons.races import read_records

    return read_records(settings, topic, partitions=None, isolation_level="read_uncommitted")


@check("Write names_from (the latest value of each key wins; a value of None removes the key),"
       " then send the tombstone: her key, value=None.")
def check_tombstone(names_from: Callable[[list[Any]], dict[str, str]], settings: Any, topic: str,
                    account_id: str) -> bool:
    """Exercise 3: a compacted topic's reader, and the tombstone on the real topic."""
    for what, pairs, wanted in _names_cases():
        got = names_from([_Record(k, v, n) for n, (k, v) in enumerate(pairs)])
        if got != wanted:
            hint = {"a tombstone": "a record whose value is None deletes its key: del, or pop.",
                    "a name changed": "the later record of a key replaces the earlier one."
                    }.get(what, "keys and values are bytes: decode them to text.")
            raise NotYet(f"For {what} names_from gave {got!r}, not {wanted!r}.", hint)
    records = _topic_records(settings, topic)
    hers = [r for r in records if r.key == account_id.encode()]
    if not hers:
        raise NotYet("The names topic has no record for that account.",
                     "run the cell that writes the names, or Run All.")
    if hers[-1].value is not None:
        raise NotYet("Her latest record in the names topic still carries her name.",
                     "send her tombstone: key her id, value=None, then flush.")
    names = names_from(records)
    if account_id in names:
        raise NotYet("names_from still finds her on the real topic.",
                     "the records come in offset order: the tombstone is her latest.")
    older = sum(1 for r in hers if r.value is not None)
    return proven("Her latest record is a tombstone and no reader of the latest values finds"
                  f" her; the {older} older record(s) with her name stay in the topic until the"
                  " log cleaner compacts it.")
