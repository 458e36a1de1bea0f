"""The projector against the real servers: exactly-once, replay, poison records, namespaces."""

from __future__ import annotations

import json
import random
import signal
import time

from kafka import KafkaProducer

from banku import Bank, Projector
from banku.adapters.redis.view import ReadModel
from tests.fault.util import write_mix
from tests.helpers import end_offsets, fold_topic, projector_process, raw_records


def busy_bank(bank: Bank, accounts: int = 20, events: int = 3000, seed: int = 1) -> list[str]:
    """Write a reproducible mix of valid commands (never refused) in one batch."""
    ids = [bank.create_account(f"Customer {i}") for i in range(accounts)]
    write_mix(bank, ids, dict.fromkeys(ids, 0), random.Random(seed), events)
    return ids


def view_balances(settings) -> dict[str, int]:
    view = ReadModel(settings)
    try:
        return view.balances()
    finally:
        view.close()


def test_view_equals_the_fold_and_running_twice_counts_nothing_twice(settings, bank):
    busy_bank(bank, events=2000)
    with Projector(settings) as projector:
        applied = projector.run_until_caught_up(timeout=120)
    total = sum(end_offsets(settings).values())
    assert applied == total
    assert view_balances(settings) == fold_topic(settings)
    with Projector(settings) as again:  # a new member: it resumes from the stored positions
        assert again.run_until_caught_up(timeout=120) == 0
    assert view_balances(settings) == fold_topic(settings)


def test_replay_rebuilds_the_same_view_and_twice_changes_nothing(settings, bank):
    busy_bank(bank, events=1000)
    with Projector(settings) as projector:
        projector.run_until_caught_up(timeout=120)
        first = view_balances(settings)
        projector.view.redis.hset(projector.view.account_key(next(iter(first))), "Balance", 1)
        assert view_balances(settings) != first  # the view is damaged ...
        projector.replay()
        assert view_balances(settings) == first  # ... and the log repairs it
        projector.replay()
        assert view_balances(settings) == first == fold_topic(settings)
        assert projector.view.stats()["applied"] == sum(end_offsets(settings).values())


def test_redelivered_records_are_not_applied_twice(settings, bank):
    acc = bank.create_account("Adam")
    bank.deposit(acc, 100)
    with Projector(settings, group_id="first") as projector:
        projector.run_until_caught_up()
    # A different consumer group has no committed offsets in Kafka, so Kafka delivers every
    # record again from offset 0: only the positions stored in Redis prevent a double count.
    with Projector(settings, group_id="second") as other:
        assert other.run_until_caught_up() == 0
    assert view_balances(settings) == {acc: 100}


def test_sigkill_at_several_points_loses_nothing_and_doubles_nothing(settings, bank):
    busy_bank(bank, accounts=30, events=20000, seed=7)
    expected = fold_topic(settings)
    total = sum(end_offsets(settings).values())
    view = ReadModel(settings)

    def progress() -> int:
        return sum(view.positions().values())

    rng = random.Random(3)
    kills = 0
    for _ in range(5):
        before = progress()
        proc = projector_process(settings, "--batch-size", "20", "--session-timeout-ms", "2000")
        deadline = time.monotonic() + 60
        # Kill it while it works: once it has applied at least one batch, at a random instant.
        while progress() == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        if progress() >= total:
            break
    assert kills >= 3
    assert 0 < progress(), "the killed projectors never applied anything"
    with Projector(settings) as survivor:
        survivor.run_until_caught_up(timeout=120)
    assert view_balances(settings) == expected
    assert view.stats()["applied"] == total
    view.close()


def test_records_from_the_go_producer_are_projected(settings, bank):
    """The Go producer sent no key and its own field order; the projector must not care."""
    bank.create_account("Someone")  # makes the topic
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_list)
    acc, other = "5e8a6d6e-1d7c-4c5e-9a63-3c1f7a1f0001", "5e8a6d6e-1d7c-4c5e-9a63-3c1f7a1f0002"
    go_values = [
        f'{{"AccId":"{acc}","Type":"CreateEvent","AccName":"Gopher"}}',
        f'{{"AccId":"{other}","Type":"CreateEvent","AccName":"Other"}}',
        f'{{"AccId":"{acc}","Type":"DepositEvent","Amount":100}}',
        f'{{"AccId":"{acc}","Type":"WithdrawEvent","Amount":30}}',
        f'{{"AccId":"{acc}","Type":"TransferEvent","TargetId":"{other}","Amount":20}}',
        f'{{"Type":"DepositEvent","Amount":5,"AccId":"{other}","EventId":"x","Version":2}}',
    ]
    for value in go_values:
        producer.send(settings.topic_name, value=value.encode(), partition=0)
    producer.flush()
    producer.close()
    with Projector(settings) as projector:
        projector.run_until_caught_up()
        assert projector.dead_letters == 0
    balances = view_balances(settings)
    assert balances[acc] == 50
    assert balances[other] == 25


POISON = [
    b"not json at all",
    b"\xff\xfe\xfd invalid utf-8",
    b"[1, 2, 3]",
    b'"just a string"',
    b"null",
    b'{"AccId": "a", "Type": "LoanEvent", "Amount": 5}',
    b'{"AccId": "a", "Type": "DepositEvent"}',
    b'{"Type": "DepositEvent", "Amount": 5}',
    b'{"AccId": "a", "Type": "DepositEvent", "Amount": -5}',
    b'{"AccId": "a", "Type": "DepositEvent", "Amount": "5"}',
    b'{"AccId": "a", "Type": "DepositEvent", "Amount": 5.5}',
    b'{"AccId": "a", "Type": "WithdrawEvent", "Amount": 99999999999999999999999}',
    b'{"AccId": "a", "Type": "TransferEvent", "TargetId": "a", "Amount": 5}',
    b'{"AccId": "", "Type": "CreateEvent", "AccName": "x"}',
    b'{"AccId": "b", "Type": "CreateEvent", "AccName": ""}',
    b'{"AccId": "a", "Type": "DepositEvent", "Amount": true}',
    b"",
]


def test_poison_records_go_to_the_dead_letter_topic_and_the_projector_goes_on(settings, bank):
    acc = bank.create_account("Adam")
    bank.deposit(acc, 100)
    with Projector(settings) as projector:
        projector.run_until_caught_up()
        before = view_balances(settings)
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap_list)
        for value in POISON:
            producer.send(settings.topic_name, key=acc.encode(), value=value)
        producer.flush()
        bank.deposit(acc, 1)  # a good event after the poison must still be applied
        projector.run_until_caught_up()
        assert projector.dead_letters == len(POISON)
        assert projector.view.stats()["dead_letters"] == len(POISON)
    assert view_balances(settings) == {**before, acc: before[acc] + 1}
    letters = raw_records(settings, settings.dlq_topic)
    assert sorted(r.value for r in letters) == sorted(POISON)
    for record in letters:
        headers = dict(record.headers)
        assert headers["banku.reason"].decode()
        assert headers["banku.source"].decode().startswith(settings.topic_name + "/")
    producer.close()


def test_namespaces_do_not_see_each_other(settings):
    alice = settings.with_namespace(settings.namespace + "-alice")
    bob = settings.with_namespace(settings.namespace + "-bob")
    with Bank(alice) as a_bank, Bank(bob) as b_bank:
        a = a_bank.create_account("Alice")
        a_bank.deposit(a, 10)
        b = b_bank.create_account("Bob")
        b_bank.deposit(b, 20)
        for s in (alice, bob):
            with Projector(s) as projector:
                projector.run_until_caught_up()
        assert view_balances(alice) == {a: 10}
        assert view_balances(bob) == {b: 20}
        assert b_bank.account(a) is None
        try:
            b_bank.deposit(a, 1)
        except Exception as exc:
            assert type(exc).__name__ == "AccountNotFound"
        else:
            raise AssertionError("Bob's bank accepted a deposit to Alice's account")
    assert alice.topic_name != bob.topic_name
    assert {json.loads(r.value)["AccId"] for r in raw_records(alice)} == {a}
    assert {json.loads(r.value)["AccId"] for r in raw_records(bob)} == {b}
