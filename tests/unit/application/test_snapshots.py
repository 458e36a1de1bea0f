"""Snapshots of the write model on the in-memory log: a cold start from the latest snapshot
folds only the tail and knows exactly what a full fold knows; a snapshot that is corrupt, of
another schema, of another topic or ahead of the log is refused with one warning."""

from __future__ import annotations

import gzip
import json
import logging

import pytest

from banku import Bank, InsufficientFunds, Settings
from banku.adapters.memory import MemoryLog, MemoryView
from banku.application.snapshots import from_bytes, to_bytes


def busy_log(commands: int = 300) -> tuple[MemoryLog, list[str]]:
    log = MemoryLog()
    bank = Bank(Settings(), log=log, view=MemoryView())
    accounts = [bank.create_account(f"Customer {n}") for n in range(5)]
    for n in range(commands):
        bank.deposit(accounts[n % 5], 10 + n, command_id=f"pay-{n}")
    bank.withdraw(accounts[0], 5)
    return log, accounts


def cold(log: MemoryLog, **kwargs) -> Bank:
    bank = Bank(Settings(), log=log, view=MemoryView())
    bank.state.snapshot_every = kwargs.get("snapshot_every", 0)
    bank._catch_up()
    return bank


def test_a_cold_start_from_a_snapshot_knows_what_a_full_fold_knows():
    log, accounts = busy_log()
    full = cold(log)
    assert full.state.started_from == "offset zero" and full.state.snapshot()
    for _ in range(20):  # the tail after the snapshot
        full.deposit(accounts[1], 1)
    warm = cold(log)
    assert warm.state.started_from == "a snapshot"
    again = cold(MemoryLog())  # a control: nothing to start from
    assert again.state.started_from == "offset zero"
    refolded = Bank(Settings(), log=log, view=MemoryView())
    refolded.state._start_from_snapshot = lambda: None  # the full fold, for comparison
    refolded._catch_up()
    for field in ("names", "balances", "shares", "opened", "named_in"):
        assert getattr(warm.ledger, field) == getattr(refolded.ledger, field), field
    # The snapshot carried the command ids: a retry after the cold start writes nothing.
    before = sum(log.end_offsets().values())
    assert warm.deposit(accounts[0], 10, command_id="pay-0").offset >= 0
    assert sum(log.end_offsets().values()) == before
    with pytest.raises(InsufficientFunds):
        warm.withdraw(accounts[2], 10**9)


def test_a_long_fold_leaves_a_snapshot_for_the_next_cold_start():
    log, _ = busy_log(commands=120)
    assert not log.snapshots
    cold(log, snapshot_every=100)
    assert len(log.snapshots) == 1
    assert cold(log).state.started_from == "a snapshot"


def _tamper(value: bytes, **changes) -> bytes:
    outer = json.loads(gzip.decompress(value))
    body = json.loads(outer["body"])
    body.update(changes)
    outer["body"] = json.dumps(body)
    if "sha256" in changes:
        outer["sha256"] = changes["sha256"]
    else:
        import hashlib

        outer["sha256"] = hashlib.sha256(outer["body"].encode()).hexdigest()
    return gzip.compress(json.dumps(outer).encode())


@pytest.mark.parametrize("spoil,why", [
    (lambda v: b"not gzip at all", "corrupt"),
    (lambda v: v[:-7], "corrupt"),
    (lambda v: _tamper(v, balances={"x": 1}, sha256="0" * 64), "checksum"),
    (lambda v: _tamper(v, schema=99), "schema 99"),
    (lambda v: _tamper(v, topic_id="another"), "another topic"),
    (lambda v: _tamper(v, positions={"0": 10**9}), "ahead of the log"),
])
def test_a_bad_snapshot_is_refused_with_one_warning_and_a_full_fold(spoil, why, caplog):
    log, accounts = busy_log(commands=60)
    good = cold(log)
    expected = dict(good.ledger.balances)
    good.state.snapshot()
    log.snapshots.append(spoil(log.snapshots[-1]))
    with caplog.at_level(logging.WARNING, logger="banku.snapshots"):
        bank = cold(log)
    assert bank.state.started_from == "offset zero"
    assert bank.ledger.balances == expected
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and why in warnings[0] and "folding the whole log" in warnings[0]


def test_no_snapshot_while_our_own_writes_are_on_their_way():
    log, accounts = busy_log(commands=10)
    bank = cold(log)
    with bank.batch():
        bank.deposit(accounts[0], 1)
        assert not bank.state.snapshot()
    bank._catch_up()
    assert bank.state.snapshot()
    ledger, positions = from_bytes(log.snapshots[-1], log.topic_id(), log.end_offsets())
    ends = {p: end for p, end in log.end_offsets().items() if end}  # a partition never read: none
    assert positions == ends and ledger.balances == bank.ledger.balances
    assert to_bytes(ledger, positions, log.topic_id())  # a snapshot survives the round trip
