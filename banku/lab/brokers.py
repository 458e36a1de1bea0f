"""A three-broker cluster for the broker-failover lesson: where it runs, who leads, kill a leader.

The cluster runs beside your usual stack, 100 ports higher (9192/9194/9196 for Kafka and 6479 for
Redis when your stack uses 9092 and 6379), so that killing its brokers never disturbs the broker
the other notebooks use.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, replace
from urllib.parse import urlparse, urlunparse

from kafka.errors import KafkaError

from .. import stack
from ..config import Settings
from ..kafka_io import admin_client

PORT_OFFSET = 100


def cluster_settings(base: Settings | None = None) -> Settings:
    """Settings for the three-broker cluster that sits 100 ports above ``base``'s servers."""
    base = base or Settings.from_env()
    host, _, port = base.bootstrap_list[0].rpartition(":")
    url = urlparse(base.redis_url)
    netloc = url.netloc.replace(f":{url.port or 6379}", f":{(url.port or 6379) + PORT_OFFSET}")
    if url.port is None:
        netloc = f"{netloc}:{6379 + PORT_OFFSET}"
    # Name all three brokers: a client must still find the cluster when broker 1 is the one killed.
    first = int(port) + PORT_OFFSET
    servers = ",".join(f"{host}:{first + 2 * i}" for i in range(3))
    return replace(base, bootstrap_servers=servers,
                   redis_url=urlunparse(url._replace(netloc=netloc)))


def start_cluster(settings: Settings) -> None:
    """Start (or find running) the three brokers; returns when all three answer."""
    stack.up(settings, brokers=3, log=lambda _: None, timeout=180)


def stop_cluster(settings: Settings) -> None:
    stack.down(settings, log=lambda _: None, wipe=True)


@dataclass(frozen=True)
class PartitionState:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]


def partition_states(settings: Settings, topic: str | None = None) -> list[PartitionState]:
    """Leader, replicas and in-sync replicas (ISR) of every partition, as the cluster reports."""
    topic = topic or settings.topic_name
    for attempt in range(20):
        try:
            with admin_client(settings) as admin:
                (described,) = admin.describe_topics([topic])
            if described.get("partitions"):
                break
            # A broker that has not yet heard of a new topic answers with no partitions.
        except KafkaError:
            # Asked a broker that just died: metadata moves on, ask again.
            if attempt == 19:
                raise
        time.sleep(0.5)
    return sorted(
        (PartitionState(p["partition_index"], p["leader_id"], tuple(sorted(p["replica_nodes"])),
                        tuple(sorted(p["isr_nodes"])))
         for p in described["partitions"]),
        key=lambda s: s.partition,
    )


def _plan(settings: Settings) -> stack.StackPlan:
    return stack.StackPlan.from_settings(settings, brokers=3)


def kill_broker(settings: Settings, node: int, sig: int = signal.SIGKILL) -> None:
    """Kill one broker process: SIGKILL is a crash (no clean shutdown, no goodbye)."""
    pid = stack.kafka_pid(_plan(settings), node)
    if pid:
        os.kill(pid, sig)


def broker_alive(settings: Settings, node: int) -> bool:
    return stack.kafka_pid(_plan(settings), node) is not None


def restart_broker(settings: Settings, node: int) -> None:
    """Start a killed broker again; it catches up from the others and rejoins the ISR."""
    if not broker_alive(settings, node):
        stack.start_kafka_node(_plan(settings), node)
