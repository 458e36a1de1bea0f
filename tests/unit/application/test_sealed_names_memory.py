"""Sealed names (crypto-shredding) on the in-memory adapters: the contract's
`Bank(settings, log=MemoryLog(), view=MemoryView())` works with BANKU_ENCRYPT_NAMES too, and the
name keys behave as `banku.adapters.redis.name_keys.NameVault` does on Redis
(tests/test_forgetting.py)."""

from __future__ import annotations

import pytest

from banku import Bank, Projector, Settings
from banku.adapters.memory import MemoryDeadLetters, MemoryLog, MemoryView
from banku.domain.sealing import FORGOTTEN, NO_KEY, is_sealed
from banku.errors import AccountNotFound, BankuError

SEALED = Settings(encrypt_names=True)


def project(log: MemoryLog, view: MemoryView) -> Projector:
    return Projector(SEALED, view=view, feeds=log, dead_letters=MemoryDeadLetters())


def test_a_sealed_name_never_reaches_the_log_and_the_view_opens_it():
    log, view = MemoryLog(), MemoryView()
    with Bank(SEALED, log=log, view=view) as bank:
        ada = bank.create_account("Ada Lovelace")
        bank.deposit(ada, 500)
    values = [r.value for batch in log.read({p: 0 for p in range(3)}) for r in batch]
    assert values and not any(b"Ada" in v for v in values)
    assert any(is_sealed(v.decode().split('"AccName":"')[-1].split('"')[0]) for v in values)
    project(log, view).run_until_caught_up()
    assert view.account(ada).name == "Ada Lovelace" and view.account(ada).balance == 500


def test_forget_blanks_the_name_and_a_replay_keeps_it_forgotten():
    log, view = MemoryLog(), MemoryView()
    with Bank(SEALED, log=log, view=view) as bank:
        ada = bank.create_account("Ada Lovelace")
        grace = bank.create_account("Grace Hopper")
        project(log, view).run_until_caught_up()
        bank.names.forget(ada)
        assert view.account(ada).name == FORGOTTEN
        project(log, view).replay()
        assert view.account(ada).name == FORGOTTEN
        assert view.account(grace).name == "Grace Hopper"
        with pytest.raises(BankuError, match="already forgotten"):
            bank.names.forget(ada)


def test_wrong_uses_are_refused_and_change_nothing():
    log, view = MemoryLog(), MemoryView()
    with Bank(Settings(), log=log, view=view) as clear:
        plain = clear.create_account("In The Clear")
    project(log, view).run_until_caught_up()
    with pytest.raises(BankuError, match="written in the clear"):
        view.name_keys().forget(plain)
    with pytest.raises(AccountNotFound):
        view.name_keys().forget("00000000-0000-4000-8000-000000000000")
    assert view.account(plain).name == "In The Clear" and not view.name_keys().forgotten


def test_a_lost_key_shows_that_the_name_is_unavailable():
    log, view = MemoryLog(), MemoryView()
    with Bank(SEALED, log=log, view=view) as bank:
        ada = bank.create_account("Ada Lovelace")
    view.name_keys().keys.clear()  # the key store lost, not forgotten
    project(log, view).run_until_caught_up()
    assert view.account(ada).name == NO_KEY
