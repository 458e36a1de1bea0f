"""Servers restarted under load, on a stack of our own (tests/ports.py: FAULT_SINGLE).

* Redis is stopped (SIGTERM) and, later, killed (SIGKILL) while `banku project` works; each
  time it is started again with `stack.start_redis`, and its append-only file brings back the view
  *and* the projector's positions, which live in the same file. The projector keeps retrying while
  Redis is away, then seeks back to the stored positions; a batch whose answer was lost is found
  applied by the compare-and-set on the positions and is not applied twice.
* Redis that stays away: `banku project` gives up after --redis-retry-seconds with one clear
  line and a non-zero exit; started again, it completes.
* Kafka's broker is SIGKILLed and restarted while a `Bank` writes: every acknowledged event is in
  the topic exactly once; every send that was not acknowledged surfaced as ServiceUnavailable.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter

import pytest

from banku import Bank, ServiceUnavailable, defaults, stack
from tests import ports
from tests.fault.util import ProjectorProcess, Traffic, banku, progress, view, write_mix
from tests.helpers import end_offsets, fold_topic, raw_records, wait_until


@pytest.fixture
def settings(single_stack):
    return single_stack.with_namespace(f"t{uuid.uuid4().hex[:10]}")


@pytest.fixture
def plan(single_stack):
    return stack.StackPlan.from_settings(single_stack)


def stop_redis(plan: stack.StackPlan, sig: int) -> None:
    pid = stack.redis_pid(plan)
    assert pid, "our redis-server is not running"
    os.kill(pid, sig)
    wait_until(lambda: not stack.pid_alive(pid, "redis-server"), 20, "redis-server to stop")


def start_redis(plan: stack.StackPlan, settings) -> None:
    stack.start_redis(plan)
    wait_until(lambda: stack.redis_answers(settings), 30, "redis-server to answer again")


def caught_up(settings) -> bool:
    return progress(settings) == sum(end_offsets(settings).values())


def assert_alive(projector: ProjectorProcess) -> bool:
    assert projector.alive(), f"the projector exited:\n{projector.log}"
    return True


def check_view(settings) -> dict[str, int]:
    """The view against an independent fold; returns the figures for the report."""
    total = sum(end_offsets(settings).values())
    expected = fold_topic(settings)
    state = view(settings)
    applied = state["stats"]["applied"]
    mismatches = sum(state["balances"].get(a) != b for a, b in expected.items())
    mismatches += len(set(state["balances"]) - set(expected))
    assert mismatches == 0, "the view differs from the fold of the topic"
    assert applied == total, f"{applied} records applied for {total} in the topic"
    return {"events": total, "applied": applied, "lost": max(0, total - applied),
            "doubled": max(0, applied - total), "mismatches": mismatches}


# --- Redis ------------------------------------------------------------------------------------
def test_redis_restarts_mid_projection_lose_nothing_and_double_nothing(
        settings, plan, tmp_path, report):
    started = time.monotonic()
    rng = random.Random(5)
    with Bank(settings) as bank:
        ids = [bank.create_account(f"Customer {i}") for i in range(30)]
        balances = dict.fromkeys(ids, 0)
        write_mix(bank, ids, balances, rng, 10_000)
        traffic = Traffic(bank, ids, balances, rate=1200)
        projector = ProjectorProcess(settings, tmp_path, "projector", "--batch-size", "200",
                                     "--retry-seconds", "60")
        traffic.start()
        restarts, outages = [], []
        try:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                before = wait_until(lambda: max(progress(settings), 0), 60, "projector progress")
                outages_seen = [e.get("event") for e in projector.events()].count("outage")
                stop_redis(plan, sig)
                down_at = time.monotonic()
                # Keep Redis away until the projector has met the outage, events waiting.
                wait_until(lambda n=outages_seen: [e.get("event") for e in projector.events()]
                           .count("outage") > n or not projector.alive(), 60,
                           "the projector to meet the outage")
                assert projector.alive(), projector.log
                start_redis(plan, settings)
                outages.append(round(time.monotonic() - down_at, 1))
                after = progress(settings)
                assert after >= before, "Redis came back with less than it had"
                wait_until(lambda a=after: assert_alive(projector) and progress(settings) > a, 60,
                           "the projector to apply events again after the restart")
                restarts.append(signal.Signals(sig).name)
        finally:
            traffic.stop.set()
            traffic.join(timeout=60)
        assert traffic.error is None, traffic.error
    try:
        wait_until(lambda: assert_alive(projector) and caught_up(settings), 90,
                   "the projector to catch up")
    finally:
        code = projector.terminate()
    log = projector.log
    assert code == 0, log
    events = [e.get("event") for e in projector.events()]
    assert events.count("outage") == 2 and events.count("resumed") == 2, log
    assert "Traceback" not in log, log
    figures = check_view(settings)
    report(redis_restarts=len(restarts), how=restarts, outage_seconds=outages,
           projector_exits=0, **figures, seconds=round(time.monotonic() - started, 1))


def test_redis_that_stays_down_stops_the_projector_with_one_clear_line(
        settings, plan, tmp_path, report):
    with Bank(settings) as bank:
        acc = bank.create_account("Stays Down")
        bank.deposit(acc, 100)
        projector = ProjectorProcess(settings, tmp_path, "projector", "--redis-retry-seconds", "3")
        try:
            wait_until(lambda: caught_up(settings), 60, "the projector to catch up")
            stop_redis(plan, signal.SIGTERM)
            down_at = time.monotonic()
            bank.deposit(acc, 5)  # the log goes on without Redis
            code = projector.wait(timeout=60)
            gave_up_after = round(time.monotonic() - down_at, 1)
        finally:
            projector.kill()
            if not stack.redis_answers(settings):
                start_redis(plan, settings)
    log = projector.log.strip().splitlines()
    assert code != 0
    assert log[-1].startswith(
        f"banku: Redis does not answer at redis://127.0.0.1:{ports.redis_port(ports.FAULT_SINGLE)}/0"
    ), log
    assert "banku stack up" in log[-1] and "Traceback" not in "\n".join(log), log
    # Started again with Redis back, the projector completes: the deposit made while Redis
    # was away is in the view, once.
    result = banku(settings, "project", "--until-caught-up")
    assert result.returncode == 0, result.stderr
    assert view(settings)["balances"] == {acc: 105} == fold_topic(settings)
    report(exit_code=code, gave_up_after_seconds=gave_up_after, message=log[-1],
           restarted_projector="completes", **check_view(settings))


# --- Kafka ------------------------------------------------------------------------------------
class Writer:
    """Deposits with unique amounts, so every event can be found in the topic by its content."""

    def __init__(self, bank: Bank, acc: str) -> None:
        self.bank, self.acc = bank, acc
        self.next_amount = 1
        self.acked: list[int] = []
        self.unacked: list[int] = []
        self.errors: list[str] = []

    def deposit(self) -> bool:
        amount, self.next_amount = self.next_amount, self.next_amount + 1
        try:
            self.bank.deposit(self.acc, amount)
        except ServiceUnavailable as exc:
            self.unacked.append(amount)
            self.errors.append(str(exc))
            return False
        self.acked.append(amount)
        return True


def test_broker_restarts_mid_production_keep_every_acknowledged_event_exactly_once(
        settings, plan, tmp_path, monkeypatch, report):
    started = time.monotonic()
    bank = Bank(settings)
    acc = bank.create_account("Broker Restart")
    writer = Writer(bank, acc)
    projector = ProjectorProcess(settings, tmp_path, "projector", "--batch-size", "100")
    broker_restarts, stalls = 0, []

    def restart_broker() -> None:
        stack.start_kafka_node(plan, 1)
        wait_until(lambda: stack.kafka_broker_count(settings) >= 1, 120, "the broker to return")

    try:
        # 1. A SIGKILL at a random moment while commands are sent one by one (each waits for
        #    its acknowledgement), and a restart at once. Commands wait, then go on.
        while len(writer.acked) < 50:
            writer.deposit()
        back = threading.Event()

        def crash_and_restart() -> None:
            time.sleep(random.Random(9).uniform(0.2, 1.0))
            os.kill(stack.kafka_pid(plan, 1), signal.SIGKILL)
            restart_broker()
            back.set()

        crash = threading.Thread(target=crash_and_restart)
        crash.start()
        after_back = 0
        deadline = time.monotonic() + 180
        while after_back < 30:
            assert time.monotonic() < deadline, "production did not resume after the restart"
            sent_at = time.monotonic()
            if writer.deposit() and back.is_set():
                after_back += 1
            stalls.append(time.monotonic() - sent_at)
        crash.join()
        broker_restarts += 1

        # 2. A batch in flight when the broker dies, and a caller that waits at most 3 s for an
        #    acknowledgement: the sends that are not acknowledged must be reported, not dropped.
        monkeypatch.setattr(defaults, "SEND_TIMEOUT_S", 3.0)
        in_batch: list[int] = []
        with pytest.raises(ServiceUnavailable) as refused:
            with bank.batch() as receipts:
                for _ in range(5):
                    in_batch.append(writer.next_amount)
                    bank.deposit(acc, writer.next_amount)
                    writer.next_amount += 1
                bank.log.flush()  # these five are acknowledged before the crash
                os.kill(stack.kafka_pid(plan, 1), signal.SIGKILL)
                wait_until(lambda: not stack.port_open(plan.broker_port(1)), 20, "the crash")
                for _ in range(3):
                    in_batch.append(writer.next_amount)
                    bank.deposit(acc, writer.next_amount)
                    writer.next_amount += 1
        batch_acked = [r.event.amount for r in receipts]
        writer.acked += batch_acked
        writer.unacked += [a for a in in_batch if a not in batch_acked]
        writer.errors.append(str(refused.value))
        message = str(refused.value)
        assert "did not acknowledge 3 of 8 events" in message, message
        assert "may or may not be in" in message, message
        monkeypatch.setattr(defaults, "SEND_TIMEOUT_S", 30.0)
        restart_broker()
        broker_restarts += 1
        for _ in range(20):  # the same Bank goes on once the broker is back
            assert writer.deposit(), writer.errors[-1]
        bank.close()  # flushes whatever the producer still holds

        wait_until(lambda: assert_alive(projector) and caught_up(settings), 120,
                   "the projector to catch up")
    finally:
        bank.close()
        code = projector.terminate()
    assert code == 0, projector.log
    assert "Traceback" not in projector.log, projector.log

    deposits = Counter()
    for record in raw_records(settings):
        event = json.loads(record.value)
        if event["Type"] == "DepositEvent":
            deposits[event["Amount"]] += 1
    lost = [a for a in writer.acked if deposits[a] == 0]
    doubled = [a for a, n in deposits.items() if n > 1]
    unknown = set(deposits) - set(writer.acked) - set(writer.unacked)
    landed_anyway = [a for a in writer.unacked if deposits[a] == 1]
    figures = check_view(settings)
    report(broker_restarts=broker_restarts, sends=len(writer.acked) + len(writer.unacked),
           acknowledged=len(writer.acked), unacknowledged_errors=len(writer.unacked),
           unacknowledged_but_written=len(landed_anyway), lost=len(lost), doubled=len(doubled),
           longest_wait_for_ack_seconds=round(max(stalls), 1),
           projector_outages_ridden=projector.log.count("Retrying for up to"),
           view_mismatches=figures["mismatches"], seconds=round(time.monotonic() - started, 1))
    assert not lost, f"acknowledged but missing: {lost}"
    assert not doubled, f"in the topic more than once: {doubled}"
    assert not unknown
    assert all("Kafka did not acknowledge" in e for e in writer.errors), writer.errors
