"""Crypto-shredding (BANKU_ENCRYPT_NAMES=1) against the real Kafka and Redis: no plaintext name
anywhere in the topic, `banku forget ID` and a replay leave the balance and lose the name, and
every wrong use is one clear line that changes nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from banku import AccountNotFound, Bank, BankuError, Projector
from banku.adapters.redis.name_keys import NameVault
from banku.adapters.redis.view import ReadModel
from banku.domain.sealing import FORGOTTEN, NO_HISTORY, NO_KEY, REWRITING
from tests.helpers import banku, raw_records, wait_until

NAMES = ["Ada Lovelace", "Grace Hopper", "Zoë Ångström"]


@pytest.fixture
def sealed(settings):
    return replace(settings, encrypt_names=True)


def everything_in_the_topic(settings) -> bytes:
    """Every key, value and header of every record, as one byte string."""
    parts = []
    for topic in (settings.topic_name, settings.snapshots_topic):
        for record in raw_records(settings, topic):
            parts += [record.key or b"", record.value or b""]
            parts += [name.encode() + value for name, value in record.headers or []]
    return b"\n".join(parts)


def test_no_plaintext_name_reaches_the_topic_and_forgetting_keeps_the_balances(sealed):
    with Bank(sealed) as bank:
        ids = [bank.create_account(name) for name in NAMES]
        for n, account in enumerate(ids):
            bank.deposit(account, 1000 * (n + 1))
        bank.transfer(ids[0], ids[1], 250)
        bank.state.snapshot()
    raw = everything_in_the_topic(sealed)
    for name in NAMES:
        assert name.encode() not in raw and name.encode("utf-16-le") not in raw
    assert raw.count(b"enc:v1:") >= len(NAMES)
    with Projector(sealed) as projector:
        projector.run_until_caught_up()
        view = projector.view
        assert sorted(a.name for a in view.accounts()) == sorted(NAMES)
        before = view.balances()

        forgotten = banku(sealed, "forget", ids[0])
        assert forgotten.returncode == 0, forgotten.stderr
        assert view.account(ids[0]).name == FORGOTTEN  # at once, in the view
        projector.replay()
        assert view.balances() == before
        assert view.account(ids[0]).name == FORGOTTEN
        assert {view.account(i).name for i in ids[1:]} == set(NAMES[1:])
    assert NAMES[0].encode() not in everything_in_the_topic(sealed)


def test_wrong_uses_of_forget_are_one_line_and_change_nothing(sealed):
    with Bank(replace(sealed, encrypt_names=False)) as clear, Bank(sealed) as bank:
        in_the_clear = clear.create_account("Written In The Clear")
        account = bank.create_account("Once")
    with Projector(sealed) as projector:
        projector.run_until_caught_up()
    unknown = banku(sealed, "forget", "00000000-0000-4000-8000-000000000000")
    plaintext = banku(sealed, "forget", in_the_clear)
    first = banku(sealed, "forget", account)
    twice = banku(sealed, "forget", account)
    for result, words in ((unknown, "There is no account"), (plaintext, "in the clear"),
                          (twice, "already forgotten")):
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert first.returncode == 0, first.stderr
    with ReadModel(sealed) as view:
        vault = NameVault(view.redis, sealed.key_prefix)
        assert view.redis.scard(vault.forgotten_key) == 1
        assert view.redis.hlen(vault.keys_key) == 0  # the clear name never had a key


def test_a_key_lost_without_forgetting_is_said_not_a_crash(sealed, caplog):
    with Bank(sealed) as bank:
        account = bank.create_account("Keyless")
        bank.deposit(account, 42)
    with ReadModel(sealed) as view:
        view.redis.hdel(NameVault(view.redis, sealed.key_prefix).keys_key, account)
    with Projector(sealed) as projector, caplog.at_level("WARNING", logger="banku.names"):
        projector.run_until_caught_up()
        shown = projector.view.account(account)
    assert shown.balance == 42 and shown.name == NO_KEY
    assert any("never forgotten" in r.getMessage() for r in caplog.records)


def test_unknown_account_refusal_is_a_command_rejected(sealed):
    with ReadModel(sealed) as view:
        with pytest.raises(AccountNotFound):
            NameVault(view.redis, sealed.key_prefix).forget("nobody", view.account_key("x"))
    assert issubclass(AccountNotFound, BankuError)


def _persistence_files(redis_client) -> list[Path]:
    """The files of the test stack's Redis where its append-only file lives (a local server)."""
    folder = Path(redis_client.config_get("dir")["dir"])
    folder /= redis_client.config_get("appenddirname").get("appenddirname", "")
    return sorted(p for p in folder.glob("appendonly*") if p.is_file())


def test_a_destroyed_key_leaves_the_disk_of_redis_too(sealed):
    """Redis's append-only file logs every write: the HSETNX that stored the key stays in it
    after the key is deleted, until the file is rewritten. `forget` has Redis rewrite it."""
    with Bank(sealed) as bank:
        account = bank.create_account("Kept On Disk")
        vault = bank.names
        key = vault.redis.hget(vault.keys_key, account)
        key = key if isinstance(key, bytes) else key.encode()
        redis_client = vault.redis
        assert int(redis_client.info("persistence")["aof_enabled"]), "the stack keeps an AOF"

        def on_disk() -> bool:
            return any(key in p.read_bytes() for p in _persistence_files(redis_client))

        # appendfsync everysec: the key reaches the file within about a second
        wait_until(on_disk, 10, "the key to be written to the append-only file")

        assert vault.forget(account, bank.view.account_key(account)) == REWRITING
        wait_until(lambda: not on_disk(), 30,
                   "the destroyed key to leave Redis's append-only file")


def test_a_redis_that_may_not_rewrite_its_file_is_said(sealed):
    """A Redis user without BGREWRITEAOF (a managed Redis, a workshop login) forgets all the
    same, and is told that the file keeps the key until an administrator rewrites it."""
    from redis.exceptions import NoPermissionError

    class Refusing:
        def __init__(self, real):
            self.real = real

        def info(self, section):
            return self.real.info(section)

        def bgrewriteaof(self):
            raise NoPermissionError("this user has no permissions to run the 'bgrewriteaof'"
                                    " command")

    with ReadModel(sealed) as view:
        said = NameVault(Refusing(view.redis), sealed.key_prefix).rewrite_history()
    assert said not in (REWRITING, NO_HISTORY)
    assert "BGREWRITEAOF" in said and "NoPermissionError" in said and "\n" not in said
