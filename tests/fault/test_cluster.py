"""A three-broker cluster of the fault suite's own (`stack.up(..., brokers=3)`):
the leader of a partition is SIGKILLed while the kit's producer (acks=all, idempotent) writes.
The topic has replication factor 3 and min.insync.replicas=2, so one broker may go.

Production must go on once the controller has elected a new leader, and every acknowledged
record must be in the topic exactly once. The killed broker is restarted at the end and must
rejoin the in-sync replicas.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from banku import stack
from banku.adapters.kafka.clients import ensure_topic, make_producer
from tests.helpers import raw_records, wait_until


def describe(settings, topic: str) -> dict[int, dict]:
    """Partition -> leader_id, replica_nodes, isr_nodes (asked again if a dead broker answered)."""
    for attempt in range(5):
        try:
            admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_list,
                                     request_timeout_ms=10000)
            try:
                (described,) = admin.describe_topics([topic])
            finally:
                admin.close()
            return {p["partition_index"]: p for p in described["partitions"]}
        except KafkaError:
            if attempt == 4:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


class Producing(threading.Thread):
    """Sends DepositEvents with unique amounts, one at a time, each waiting for acks=all."""

    def __init__(self, settings, accounts: list[str]) -> None:
        super().__init__(daemon=True)
        self.settings, self.accounts = settings, accounts
        self.producer = make_producer(settings, linger_ms=0)
        self.acked: dict[int, tuple[int, float]] = {}  # amount -> (partition, when)
        self.failed: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.next_amount = 1

    def run(self) -> None:
        while not self.stop.is_set():
            amount, self.next_amount = self.next_amount, self.next_amount + 1
            acc = self.accounts[amount % len(self.accounts)]
            value = json.dumps({"AccId": acc, "Type": "DepositEvent", "Amount": amount})
            try:
                md = self.producer.send(self.settings.topic_name, key=acc.encode(),
                                        value=value.encode()).get(timeout=60)
            except Exception as exc:  # every failure is counted and reported
                self.failed.append((amount, f"{type(exc).__name__}: {exc}"))
                continue
            self.acked[amount] = (md.partition, time.monotonic())

    def acks_since(self, moment: float, partition: int | None = None) -> int:
        return sum(1 for p, when in self.acked.values()
                   if when > moment and (partition is None or p == partition))


def test_killing_a_partition_leader_with_acks_all_loses_nothing(cluster_stack, report):
    started = time.monotonic()
    settings = cluster_stack.with_namespace(f"t{uuid.uuid4().hex[:10]}")
    plan = stack.StackPlan.from_settings(cluster_stack, 3)
    ensure_topic(settings)
    before = describe(settings, settings.topic_name)
    assert all(sorted(p["replica_nodes"]) == [1, 2, 3] for p in before.values()), before
    leader = before[0]["leader_id"]

    accounts = [str(uuid.uuid4()) for _ in range(30)]
    producing = Producing(settings, accounts)
    producing.start()
    try:
        wait_until(lambda: producing.acks_since(0, 0) >= 50, 60, "acknowledged writes")
        pid = stack.kafka_pid(plan, leader)
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: not stack.pid_alive(pid, "kafka.Kafka"), 10, "the leader to die")
        # Production goes on: partition 0 gets a new leader, the others keep theirs.
        wait_until(lambda: producing.acks_since(killed_at, 0) >= 50
                   and producing.acks_since(killed_at) >= 200, 120,
                   "production to continue after the leader election")
        first_after = min(when for p, when in producing.acked.values()
                          if p == 0 and when > killed_at)
        during = describe(settings, settings.topic_name)
    finally:
        producing.stop.set()
        producing.join(timeout=90)
        producing.producer.close(timeout=30)
    new_leader = during[0]["leader_id"]
    assert new_leader not in (leader, -1), during[0]
    assert leader not in during[0]["isr_nodes"], during[0]

    # Every acknowledged record is in the topic exactly once.
    found = Counter(json.loads(r.value)["Amount"] for r in raw_records(settings))
    lost = [a for a in producing.acked if found[a] == 0]
    doubled = [a for a, n in found.items() if n > 1]
    unacked_written = [a for a, _ in producing.failed if found[a] == 1]

    # The killed broker comes back and catches up.
    stack.start_kafka_node(plan, leader)
    wait_until(lambda: stack.kafka_broker_count(cluster_stack) == 3, 120, "three brokers again")
    wait_until(lambda: leader in describe(settings, settings.topic_name)[0]["isr_nodes"], 120,
               "the restarted broker to rejoin the in-sync replicas")

    report(brokers=3, killed_leader=leader, new_leader=new_leader,
           acknowledged=len(producing.acked), send_errors=len(producing.failed),
           unacknowledged_but_written=len(unacked_written), lost=len(lost),
           doubled=len(doubled),
           election_pause_seconds=round(first_after - killed_at, 1),
           seconds=round(time.monotonic() - started, 1))
    assert not lost, f"acknowledged but missing: {lost[:10]}"
    assert not doubled, f"in the topic more than once: {doubled[:10]}"
    assert set(found) <= set(producing.acked) | {a for a, _ in producing.failed}
    assert not producing.failed, producing.failed[:3]
