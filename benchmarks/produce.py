"""Producing events: the kit's batched path against one synchronous send per event.

* the kit: `with bank.batch():` and ordinary commands inside. Each command is still checked
  against the bank's rules one by one; Kafka's acknowledgements are collected at the end.
* the baseline: the same producer settings (acks=all, idempotent) but ``linger_ms=0`` (the best
  setting for it), and ``send(...).get()`` for every event: one round trip per event.

Each round runs half the baseline before the kit and half after, so both see the same machine;
the ratio is the median over the rounds.
"""

from __future__ import annotations

import random
import time

from banku import Bank
from banku.adapters.kafka.clients import make_producer
from banku.config import Settings
from banku.domain.events import DepositEvent, TransferEvent, WithdrawEvent, encode, key_of

from .common import Result, Sizes, fresh, median, movements, stopwatch

TITLE = "Producing events"
ACCOUNTS = 50


def plan_commands(ids: list[str], count: int, seed: int = 2) -> list[tuple[str, tuple]]:
    """A mix of commands the bank will accept (balances are tracked, nothing is overdrawn)."""
    plan: list[tuple[str, tuple]] = []
    for event in movements(ids, count, random.Random(seed)):
        if isinstance(event, TransferEvent):
            plan.append(("transfer", (event.acc_id, event.target_id, event.amount)))
        elif isinstance(event, WithdrawEvent):
            plan.append(("withdraw", (event.acc_id, event.amount)))
        else:
            plan.append(("deposit", (event.acc_id, event.amount)))
    return plan


def batched(bank: Bank, plan: list[tuple[str, tuple]]) -> tuple[float, float]:
    """Wall and CPU seconds for the kit's fast path to check, send and have acknowledged every
    command. The bank first catches up with the log (untimed): a batch starts by reading what
    was written since the bank last looked, here the previous round's events."""
    bank.refresh()
    cpu = time.process_time()
    with stopwatch() as elapsed:
        with bank.batch() as receipts:
            for command, args in plan:
                getattr(bank, command)(*args)
    cpu = time.process_time() - cpu
    if len(receipts) != len(plan):
        raise RuntimeError(f"{len(receipts)} of {len(plan)} commands were acknowledged")
    return elapsed(), cpu


def synchronous(settings: Settings, ids: list[str], count: int) -> float:
    """Seconds for ``count`` deposits, each sent and waited for before the next."""
    producer = make_producer(settings, linger_ms=0)
    topic = settings.topic_name
    try:
        with stopwatch() as elapsed:
            for i in range(count):
                event = DepositEvent(ids[i % len(ids)], 1_000 + i)
                producer.send(topic, key=key_of(event), value=encode(event)).get(timeout=30)
    finally:
        producer.close(timeout=10)
    return elapsed()


def run(base: Settings, sizes: Sizes) -> Result:
    result = Result("produce", TITLE)
    settings = fresh(base, "bench-produce")
    kit_rates: list[float] = []
    kit_cpu: list[float] = []
    sync_rates: list[float] = []
    ratios: list[float] = []
    with Bank(settings) as bank:
        with bank.batch():
            ids = [bank.create_account(f"Customer {i:03d}") for i in range(ACCOUNTS)]
        plan = plan_commands(ids, sizes.produce_events)
        half = sizes.sync_events // 2
        for _ in range(sizes.produce_rounds):
            # The plan only ever spends what it deposited itself, so it can run again and again.
            sync_seconds = synchronous(settings, ids, half)
            kit_seconds, cpu_seconds = batched(bank, plan)
            kit = len(plan) / kit_seconds
            kit_cpu.append(cpu_seconds / len(plan) * 1e6)
            sync_seconds += synchronous(settings, ids, sizes.sync_events - half)
            sync = sizes.sync_events / sync_seconds
            kit_rates.append(kit)
            sync_rates.append(sync)
            ratios.append(kit / sync)
        # Context: the kit's commands outside a batch (catch up, check, send, wait, each time).
        with stopwatch() as unbatched:
            for i in range(sizes.unbatched_commands):
                bank.deposit(ids[i % len(ids)], 100)
    kit = median(kit_rates)
    one_by_one = sizes.unbatched_commands / unbatched()
    rounds = f"median of {sizes.produce_rounds}"
    result.figure(f"kit `with bank.batch():`, {len(plan):,} checked commands ({rounds})", kit,
                  "events/s")
    result.figure(f"one synchronous send per event, {sizes.sync_events:,} events ({rounds})",
                  median(sync_rates), "events/s")
    result.figure(f"kit commands outside a batch, {sizes.unbatched_commands} (context)",
                  one_by_one, "events/s")
    result.figure("CPU per event in the batch (context)", median(kit_cpu), "us")
    result.ratio("batched / one synchronous send per event", median(ratios), 20.0)
    result.ratio("batched / kit commands outside a batch (context)", kit / one_by_one)
    result.note(
        "Each round sends half of the synchronous baseline, the whole batch, then the other"
        " half; the ratio is the median of the rounds' ratios. The baseline sends pre-built"
        " deposits with linger_ms=0 and checks no rules; the batch checks every command."
        f" Ratio per round: {', '.join(f'{r:.1f}' for r in ratios)}."
    )
    return result
