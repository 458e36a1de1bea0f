"""The command handler (BANKU_COMMANDS=topic) against the real Kafka and Redis: one writer per
account, the same refusals as direct mode, idempotent command ids, dead letters for records that
are not commands. The handlers run as real `banku handler` processes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from kafka import KafkaProducer

from banku import (
    AccountNotFound,
    Bank,
    InsufficientFunds,
    InvalidAmount,
    InvalidName,
    Projector,
    SameAccountTransfer,
)
from banku.adapters.kafka.handler import CommandHandler
from banku.lab.workshop import dead_letters
from tests.fault.util import HandlerProcess, env_for, every_partition_ready
from tests.helpers import fold_topic, raw_records, wait_until


@pytest.fixture
def topic_mode(settings):
    return replace(settings, commands="topic")


@pytest.fixture
def handlers(topic_mode, tmp_path):
    """Two `banku handler` processes in the namespace's group, stopped cleanly afterwards."""
    started = [HandlerProcess(topic_mode, tmp_path, f"handler-{n}", "--session-timeout-ms", "6000")
               for n in (1, 2)]
    # Ready, not merely assigned: owning a partition comes before being able to decide it.
    wait_until(lambda: every_partition_ready(started), 120, "the handlers to be ready")
    yield started
    for handler in started:
        assert handler.terminate() == 0, handler.log
        assert "Traceback" not in handler.log, handler.log


def command_ids_in(settings) -> list[str]:
    ids = []
    for record in raw_records(settings):
        for name, value in record.headers or []:
            if name == "banku.command":
                ids.append(value.decode())
    return ids


def test_ten_concurrent_withdrawals_of_30_from_100_accept_exactly_three(topic_mode, handlers):
    with Bank(topic_mode) as bank:
        account = bank.create_account("Contested")
        bank.deposit(account, 100)
    env = env_for(topic_mode, BANKU_COMMANDS="topic")
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: subprocess.run(
            [sys.executable, "-m", "banku", "withdraw", account, "30"], env=env,
            capture_output=True, text=True, timeout=180), range(10)))
    accepted = [r for r in results if r.returncode == 0]
    refused = [r for r in results if r.returncode != 0]
    assert len(accepted) == 3, [r.stderr for r in results]
    assert all("Insufficient funds" in r.stderr for r in refused), [r.stderr for r in refused]
    assert all(r.stderr.count("\n") == 1 for r in refused)  # one line each
    with Projector(topic_mode) as projector:
        projector.run_until_caught_up()
        assert projector.view.balances() == {account: 10} == fold_topic(topic_mode)


@pytest.mark.parametrize("mode", ["direct", "topic"])
def test_the_same_command_id_twice_writes_one_event(topic_mode, handlers, mode):
    settings = replace(topic_mode, commands=mode)
    with Bank(settings) as bank:
        account = bank.create_account("Once", command_id=f"{mode}-open")
        assert bank.create_account("Once", command_id=f"{mode}-open") == account
        first = bank.deposit(account, 250, command_id=f"{mode}-pay")
        again = bank.deposit(account, 250, command_id=f"{mode}-pay")
    assert again == first
    with Bank(settings) as other:  # a new process: the log remembers
        assert other.deposit(account, 250, command_id=f"{mode}-pay") == first
    ids = command_ids_in(settings)
    assert ids.count(f"{mode}-pay") == 1 and ids.count(f"{mode}-open") == 1
    assert fold_topic(settings) == {account: 250}


def test_a_batch_aborted_by_a_rebalance_does_not_decide_a_decided_command_again(topic_mode):
    """A rebalance that fails a batch's commit makes the handler fold its ledger again; the
    commands it committed before must be in the new fold, or a retried one is paid twice."""
    from kafka.errors import CommitFailedError

    handler = CommandHandler(topic_mode, client_id="in-process")
    stop = threading.Event()
    thread = threading.Thread(target=handler.run, args=(stop,), daemon=True)
    thread.start()
    failed: list[int] = []
    try:
        with Bank(topic_mode) as bank:
            account = bank.create_account("Paid once", command_id="aborted-open")
            first = bank.deposit(account, 100, command_id="aborted-pay")
            for partition, producer in list(handler.producers.items()):
                def fail_once(offsets, metadata, original=producer.send_offsets_to_transaction,
                              partition=partition):
                    if not failed:
                        failed.append(partition)
                        raise CommitFailedError("rebalanced mid-batch (injected)")
                    return original(offsets, metadata)

                producer.send_offsets_to_transaction = fail_once
            again = bank.deposit(account, 100, command_id="aborted-pay")
    finally:
        stop.set()
        thread.join(60)
    assert failed, "no batch was aborted"
    assert again == first
    assert command_ids_in(topic_mode).count("aborted-pay") == 1
    assert fold_topic(topic_mode) == {account: 100}


def _refusals(bank: Bank, ghost: str) -> list[tuple[str, type]]:
    a = bank.create_account("A")
    b = bank.create_account("B")
    bank.deposit(a, 100)
    cases = [(lambda: bank.withdraw(a, 101), InsufficientFunds),
             (lambda: bank.transfer(a, b, 500), InsufficientFunds),
             (lambda: bank.deposit(a, 0), InvalidAmount),
             (lambda: bank.deposit(a, 12.5), InvalidAmount),
             (lambda: bank.withdraw(a, -3), InvalidAmount),
             (lambda: bank.deposit(ghost, 5), AccountNotFound),
             (lambda: bank.transfer(a, a, 5), SameAccountTransfer),
             (lambda: bank.create_account("  "), InvalidName)]
    seen = []
    for command, expected in cases:
        with pytest.raises(expected) as refusal:
            command()
        seen.append((expected.__name__, str(refusal.value).replace(a, "A").replace(b, "B")))
    return seen


def test_refusals_are_the_same_classes_and_sentences_in_both_modes(topic_mode, handlers):
    ghost = "00000000-0000-4000-8000-000000000000"
    with Bank(replace(topic_mode, commands="direct",
                      namespace=topic_mode.namespace + "d")) as direct:
        in_direct = _refusals(direct, ghost)
    with Bank(topic_mode) as through_handler:
        in_topic = _refusals(through_handler, ghost)
    assert in_topic == in_direct


def test_records_that_are_not_commands_go_to_the_commands_dlq(topic_mode, handlers):
    with Bank(topic_mode) as bank:
        account = bank.create_account("Survivor")
    producer = KafkaProducer(bootstrap_servers=topic_mode.bootstrap_list)
    poison = [(b"not json", None), (b'{"Type":"Steal","AccId":"x"}', b"cmd-steal"),
              (b"[1]", b"cmd-list"), (b'{"Type":"Deposit","AccId":"x"}', b"cmd-no-amount")]
    for value, cid in poison:
        headers = [("banku.command", cid)] if cid else []
        producer.send(topic_mode.commands_topic, key=account.encode(), value=value,
                      headers=headers).get(timeout=30)
    producer.close()
    with Bank(topic_mode) as bank:
        bank.deposit(account, 70)  # the handler carried on
    topic = topic_mode.commands_dlq_topic
    letters = wait_until(lambda: len(dead_letters(topic_mode, topic)) >= 4
                         and dead_letters(topic_mode, topic), 60, "four dead letters")
    reasons = sorted(letter["reason"] for letter in letters)
    assert len(letters) == 4 and all(reasons), reasons
    assert any("not JSON" in r for r in reasons) and any("unknown command" in r for r in reasons)
    assert fold_topic(topic_mode) == {account: 70}


def test_a_handler_stopped_with_sigterm_hands_its_partitions_over(topic_mode, handlers):
    first, second = handlers
    wait_until(lambda: first.assigned() and second.assigned(), 120, "both handlers to own some")
    assert first.terminate() == 0, first.log
    events = [e.get("event") for e in first.events()]
    assert events[-1] == "stopped" and "revoked" in events
    with Bank(topic_mode) as bank:  # every partition still answers, through the other handler
        accounts = [bank.create_account(f"After {n}") for n in range(6)]
        for account in accounts:
            bank.deposit(account, 1)
    assert sorted(fold_topic(topic_mode).values()) == [1] * 6
