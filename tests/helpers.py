"""Test helpers that deliberately do NOT use the kit's own code paths.

`fold_topic` reads the topic with a plain kafka-python consumer and folds the JSON by hand, so a
bug in the kit's decoder or projector cannot hide behind the same bug in the check. `ROOT` is the
repository's folder; `wait_until` is how a test waits for a condition (never a bare sleep).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from banku import Settings
from banku.lessons.notebook import environment_for

ROOT = Path(__file__).resolve().parents[1]


def wait_until(check: Callable[[], object], timeout: float, what: str,
               interval: float = 0.2) -> object:
    """Call ``check`` every ``interval`` seconds until it returns something true, and return
    that; after ``timeout`` seconds, fail with "timed out ... waiting for <what>"."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def connection(settings: Settings) -> dict:
    """Where the servers are and, on a secured cluster, the SASL login (built here by hand)."""
    options: dict = {"bootstrap_servers": settings.bootstrap_list}
    if settings.kafka_username:
        options.update(security_protocol="SASL_PLAINTEXT", sasl_mechanism=settings.kafka_mechanism,
                       sasl_plain_username=settings.kafka_username,
                       sasl_plain_password=settings.kafka_password)
    return options


def raw_records(settings: Settings, topic: str | None = None, committed: bool = True) -> list:
    topic = topic or settings.topic_name
    # read_committed: an aborted transaction (a fenced handler's) never happened.
    consumer = KafkaConsumer(**connection(settings), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             isolation_level="read_committed" if committed
                             else "read_uncommitted")
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out = []
        deadline = time.monotonic() + 60
        # Transaction markers take offsets too: done when the *position* reaches the end.
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "reading the topic took too long"
            for recs in consumer.poll(timeout_ms=500).values():
                out.extend(r for r in recs if r.offset < ends[TopicPartition(r.topic, r.partition)])
        return out
    finally:
        consumer.close()


def fold_topic(settings: Settings) -> dict[str, int]:
    """Balances of every created account, folded by hand from the raw JSON on the topic."""
    created: set[str] = set()
    balances: dict[str, int] = {}
    for record in raw_records(settings):
        try:
            event = json.loads(record.value)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        amount = event.get("Amount")
        kind = event.get("Type")
        valid_amount = type(amount) is int and 0 < amount < 2**63
        if kind == "CreateEvent" and isinstance(event.get("AccName"), str) \
                and event["AccName"].strip():
            created.add(event["AccId"])
            balances.setdefault(event["AccId"], 0)
        elif kind == "DepositEvent" and valid_amount:
            balances[event["AccId"]] = balances.get(event["AccId"], 0) + amount
        elif kind == "WithdrawEvent" and valid_amount:
            balances[event["AccId"]] = balances.get(event["AccId"], 0) - amount
        elif kind == "TransferEvent" and valid_amount and event.get("TargetId") \
                and event["TargetId"] != event["AccId"]:
            balances[event["AccId"]] = balances.get(event["AccId"], 0) - amount
            balances[event["TargetId"]] = balances.get(event["TargetId"], 0) + amount
    return {acc: bal for acc, bal in balances.items() if acc in created}


def end_offsets(settings: Settings, topic: str | None = None) -> dict[int, int]:
    topic = topic or settings.topic_name
    consumer = KafkaConsumer(**connection(settings), group_id=None,
                             isolation_level="read_committed")
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()} if tps else {}
    finally:
        consumer.close()


def env_for(settings: Settings) -> dict[str, str]:
    """Environment variables that point a `banku` subprocess at these settings."""
    return environment_for(settings)


def banku(settings: Settings, *args: str, stdin: str | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `banku` command line (as `python -m banku`) in the test's namespace."""
    return subprocess.run([sys.executable, "-m", "banku", *args], input=stdin,
                          capture_output=True, text=True, env=env_for(settings), timeout=timeout)


def projector_process(settings: Settings, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "banku", "project", *args],
                            env=env_for(settings), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
