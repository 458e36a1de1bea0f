"""Two writers racing for one account, and the log read with a plain consumer (notebook 07).

Notebook 06 writes these in front of the learner, cell by cell; notebook 07 imports them, so
that it can race `Bank`s in both modes without repeating them:

* `race`: several `Bank`s withdraw from one account at the same moment (a `Barrier`);
* `read_records`: every record of a topic, with a plain consumer, to the end offsets;
* `balance_in_log`: the kit's fold of those records for one account;
* `rounds`, `settle`: the same race many times, and one row per round (accepted, balances).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from kafka import KafkaConsumer, TopicPartition

from banku.application.bank import Bank
from banku.application.projector import Projector
from banku.config import Settings
from banku.domain.events import decode
from banku.domain.ledger import fold
from banku.errors import EventDecodeError, InsufficientFunds, ServiceUnavailable

__all__ = ["balance_in_log", "race", "read_records", "rounds", "settle"]


def race(banks: list[Bank], account: str, amount: int) -> list[dict[str, Any]]:
    """Each bank tries to withdraw ``amount`` at the same moment; returns what each was told."""
    start = threading.Barrier(len(banks))

    def attempt(bank: Bank) -> dict[str, Any]:
        start.wait(timeout=30)
        began = time.perf_counter()
        try:
            receipt = bank.withdraw(account, amount)
            outcome = "accepted"
            detail = (f"partition {receipt.partition}, offset {receipt.offset}" if receipt
                      else "accepted in a batch")
        except InsufficientFunds as refusal:
            outcome, detail = "refused", str(refusal)
        return {"outcome": outcome, "detail": detail, "ms": (time.perf_counter() - began) * 1000}

    with ThreadPoolExecutor(max_workers=len(banks)) as pool:
        return list(pool.map(attempt, banks))


def read_records(settings: Settings, topic: str, partitions: int | None = 3,
                 isolation_level: str = "read_committed", timeout: float = 60.0) -> list[Any]:
    """Every record of ``topic`` up to its end offsets, sorted by partition and offset
    (``partitions=None``: as many as the topic has). A broker that stops answering meanwhile
    is one sentence after ``timeout`` seconds, not a cell that never ends."""
    consumer = KafkaConsumer(**settings.kafka_options(), group_id=None,
                             enable_auto_commit=False, isolation_level=isolation_level)
    try:
        numbers = (range(partitions) if partitions is not None
                   else sorted(consumer.partitions_for_topic(topic) or ()))
        parts = [TopicPartition(topic, p) for p in numbers]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        # Transaction markers take offsets too: done when the *position* reaches the end.
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"Reading {topic} did not reach its end offsets within"
                                         f" {timeout:.0f}s: is the broker still up?")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return sorted(records, key=lambda rec: (rec.partition, rec.offset))


def balance_in_log(account: str, records: list[Any]) -> int:
    """The account's balance in the kit's fold (`banku.domain.ledger.fold`) of the records."""
    events = []
    for record in records:
        try:
            events.append(decode(record.value))
        except EventDecodeError:
            continue
    return fold(events).balances.get(account, 0)


def rounds(teller: Bank, bank_a: Bank, bank_b: Bank, mode: str, count: int = 20,
           prefix: str = "nb07tx") -> pd.DataFrame:
    """``count`` rounds: the teller opens an account with 100.00, then the two banks race for
    70.00 each. One row per attempt."""
    rows = []
    for n in range(count):
        name = f"{prefix}-{mode}-round-{n}"
        account = teller.create_account(f"{mode} round {n}", command_id=name)
        teller.deposit(account, 10_000, command_id=f"{name}-deposit")
        for attempt in race([bank_a, bank_b], account, 7000):
            rows.append({"mode": mode, "round": n, "account": account, **attempt})
    return pd.DataFrame(rows)


def settle(settings: Settings, table: pd.DataFrame, view: Bank) -> pd.DataFrame:
    """One row per round: withdrawals accepted, the balance folded from the log and in the view
    (after the projector has caught up); asserts that the two agree."""
    with Projector(settings) as projector:
        projector.run_until_caught_up(timeout=60)
    records = read_records(settings, settings.topic_name)
    summary = table.groupby(["mode", "round", "account"], as_index=False).agg(
        accepted=("outcome", lambda o: int((o == "accepted").sum())))
    summary["in the log"] = [balance_in_log(acc, records) for acc in summary["account"]]
    summary["in the view"] = [view.account(acc).balance  # type: ignore[union-attr]
                              for acc in summary["account"]]
    assert (summary["in the log"] == summary["in the view"]).all()
    assert (summary["in the log"] == 10_000 - 7000 * summary["accepted"]).all()
    return summary
