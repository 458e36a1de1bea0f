"""The projector's state machine on the in-memory adapters: assignment, redelivery, fencing,
dead letters, the 64-bit limits, failures inside the atomic step. No servers; the same
behaviour is proved against the real Kafka and Redis in tests/test_projector.py and tests/fault/.
"""

from __future__ import annotations

import json
import uuid

import pytest

from banku import Bank, Projector, ServiceUnavailable, Settings, ViewCorrupt
from banku.adapters.memory import MemoryDeadLetters, MemoryLog, MemoryView
from banku.domain.ledger import part_limit

LIMIT = part_limit(3)
A, B = str(uuid.UUID(int=0xA)), str(uuid.UUID(int=0xB))


def put(log: MemoryLog, value, partition: int = 0) -> None:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    log.append(None, raw, [], partition)


def create(account: str, name: str) -> dict:
    return {"AccId": account, "Type": "CreateEvent", "AccName": name}


def deposit(account: str, amount) -> dict:
    return {"AccId": account, "Type": "DepositEvent", "Amount": amount}


def withdraw(account: str, amount) -> dict:
    return {"AccId": account, "Type": "WithdrawEvent", "Amount": amount}


def projector(log: MemoryLog, view: MemoryView, dead: MemoryDeadLetters | None = None,
              ) -> Projector:
    return Projector(Settings(), view=view, feeds=log, dead_letters=dead or MemoryDeadLetters())


def test_the_reproduction_of_the_overflow_record():
    """The issue's log: two deposits of 2**63 - 1 among valid events, one partition, no keys."""
    log, view, dead = MemoryLog(), MemoryView(), MemoryDeadLetters()
    for value in (create(A, "A"), create(B, "B"), deposit(A, 10), deposit(A, 2**63 - 1),
                  deposit(B, 50), deposit(A, 2**63 - 1), deposit(B, 25), withdraw(A, 3)):
        put(log, value)
    assert projector(log, view, dead).run_until_caught_up() == 8
    assert view.balances() == {A: 7, B: 75}
    assert [(r.offset, "beyond" in why) for r, why in dead.letters] == [(3, True), (5, True)]
    assert view.positions() == {0: 8} and view.stats() == {"applied": 6, "dead_letters": 2}
    live = view.balances()
    projector(log, view).replay()
    assert view.balances() == live


def test_bookkeeping_names_as_account_ids_are_dead_letters():
    log, view, dead = MemoryLog(), MemoryView(), MemoryDeadLetters()
    for bad in ("banku:positions", "x:banku:positions", "alice:banku:positions", "a" * 36):
        put(log, create(bad, "sneaky"))
        put(log, deposit(bad, 5))
    put(log, create(A, "A"))
    projector(log, view, dead).run_until_caught_up()
    assert len(dead.letters) == 8 and all("UUID" in why for _, why in dead.letters)
    assert view.positions() == {0: 9} and view.balances() == {A: 0}


def test_a_record_that_overflows_in_log_order_is_refused_whatever_else_is_in_its_batch():
    log, view, dead = MemoryLog(), MemoryView(), MemoryDeadLetters()
    put(log, create(A, "A"))
    put(log, deposit(A, LIMIT - 5))
    put(log, deposit(A, 10))  # over the limit at its own moment ...
    put(log, withdraw(A, 10))  # ... although the batch's net change would fit
    projector(log, view, dead).run_until_caught_up()
    assert view.balances() == {A: LIMIT - 15}
    assert [r.offset for r, _ in dead.letters] == [2]


def test_the_view_does_not_depend_on_how_partitions_interleave():
    """Opened in two partitions (another producer could), moved near the limit in each."""
    def log_with(first: int, second: int) -> MemoryLog:
        log = MemoryLog()
        put(log, create(A, f"from {first}"), first)
        put(log, create(A, f"from {second}"), second)
        for p in (first, second):
            put(log, deposit(A, LIMIT), p)
            put(log, deposit(A, 1), p)  # refused in both: each partition's share is at its limit
        return log

    views = []
    for first, second in ((0, 2), (2, 0)):
        log, view, dead = log_with(first, second), MemoryView(), MemoryDeadLetters()
        feed_order = projector(log, view, dead)
        feed_order.run_until_caught_up()
        views.append((view.balances(), view.account(A).name, len(dead.letters)))
    assert views[0] == views[1] == ({A: 2 * LIMIT}, "from 0", 2)


def test_a_duplicate_create_in_one_partition_is_a_dead_letter():
    log, view, dead = MemoryLog(), MemoryView(), MemoryDeadLetters()
    put(log, create(A, "First"))
    put(log, create(A, "Second"))
    projector(log, view, dead).run_until_caught_up()
    assert view.account(A).name == "First" and "already opened" in dead.letters[0][1]


@pytest.mark.parametrize("poison", [
    b"\xff\xfe", b"", b"null", b"[1,2]", b'"text"', b"{", json.dumps(deposit(A, 1.5)).encode(),
    json.dumps(deposit(A, True)).encode(), json.dumps(deposit(A, -4)).encode(),
    json.dumps(deposit(A, "4")).encode(), json.dumps({"AccId": A, "Type": "Nope"}).encode(),
    json.dumps({"AccId": A, "Type": "TransferEvent", "TargetId": A, "Amount": 1}).encode(),
    json.dumps(create(A, "bad\nname")).encode(), None,
])
def test_poison_goes_to_the_dead_letters_and_the_projector_carries_on(poison):
    log, view, dead = MemoryLog(), MemoryView(), MemoryDeadLetters()
    put(log, create(A, "A"))
    log.append(None, poison, [], 0)
    put(log, deposit(A, 5))
    projector(log, view, dead).run_until_caught_up()
    assert view.balances() == {A: 5}
    assert [r.offset for r, _ in dead.letters] == [1] and dead.letters[0][1]


def test_redelivered_records_are_skipped_after_a_rebalance():
    log, view = MemoryLog(), MemoryView()
    bank = Bank(Settings(), log=log, view=view)
    a = bank.create_account("A")
    for _ in range(20):
        bank.deposit(a, 1)
    member = projector(log, view)
    member.poll_once()  # as a group member; the feed owns every partition
    feed = member._feed
    feed.committed.clear()  # Kafka's committed offsets lost: redelivery from 0
    feed.rebalance(range(3))
    while member.poll_once():
        pass
    assert view.balances() == {a: 20} and view.stats()["applied"] == 21


def test_two_projectors_on_one_view_never_apply_a_record_twice():
    log, view = MemoryLog(), MemoryView()
    bank = Bank(Settings(), log=log, view=view)
    a = bank.create_account("A")
    first, second = projector(log, view), projector(log, view)
    first.poll_once()
    second.poll_once()  # finds the positions moved: conflict, re-reads them, applies nothing
    for _ in range(5):
        bank.deposit(a, 10)
    assert second.poll_once() == 5
    assert first.poll_once() == 0  # its batch conflicts; it seeks to the stored positions
    assert view.balances() == {a: 50} and view.stats()["applied"] == 6


def test_a_failed_atomic_step_moves_nothing_and_the_next_poll_applies_it_once():
    log, view = MemoryLog(), MemoryView()
    bank = Bank(Settings(), log=log, view=view)
    a = bank.create_account("A")
    bank.deposit(a, 7)
    member = projector(log, view)
    view.fail_next = ServiceUnavailable("Redis does not answer (injected).")
    with pytest.raises(ServiceUnavailable):
        member.poll_once()
    assert view.positions() == {} and view.balances() == {}
    member.poll_once()
    assert view.balances() == {a: 7} and view.stats()["applied"] == 2
    view.fail_next = ViewCorrupt("a hand-edited balance (injected)")
    bank.deposit(a, 1)
    with pytest.raises(ViewCorrupt):
        member.poll_once()
    assert view.balances() == {a: 7}
    member.poll_once()
    assert view.balances() == {a: 8}


def test_a_temporary_projector_holds_nothing_afterwards():
    log, view = MemoryLog(), MemoryView()
    bank = Bank(Settings(), log=log, view=view)
    a = bank.create_account("A")
    first = projector(log, view)
    assert first.run_until_caught_up() == 1
    assert first._feed is None
    bank.deposit(a, 3)
    assert projector(log, view).run_until_caught_up() == 1
    assert view.balances() == {a: 3}


def test_the_ledger_and_the_projector_agree_on_every_record():
    """What the command side folds is what the view shows, foreign records included."""
    log, view = MemoryLog(), MemoryView()
    for value in (create(A, "A"), deposit(A, LIMIT), deposit(A, 1), create(B, "B"),
                  create(B, "B again"), b"junk", withdraw(B, 5)):
        put(log, value)
    projector(log, view).run_until_caught_up()
    bank = Bank(Settings(), log=log, view=view)
    bank.refresh()
    assert {k: v for k, v in bank.ledger.balances.items()} == view.balances()
    assert bank.ledger.names == {a.id: a.name for a in view.accounts()}
