"""Every stack the tests start, on ports derived from one base, below Linux's ephemeral range.

``./kit test`` sets ``BANKU_TEST_PORT_BASE`` (default 20000) and runs its session stack at the
base. Each other stack a test starts, stops and wipes gets a block of ten ports of its own:
Kafka node ``i`` on ``block + 2*(i-1)`` (controller on the next port), Redis on ``block + 9``.
All of them sit below 32768, outside the range Linux hands out for the local end of outgoing
connections, so no client connection can hold one of them when a server starts; and two runs
with different bases (say 20000 and 21000) never touch each other's servers.
"""

from __future__ import annotations

import os

from banku import Settings

BASE = int(os.environ.get("BANKU_TEST_PORT_BASE") or 20000)
assert 1024 < BASE and BASE + 200 < 32768, "BANKU_TEST_PORT_BASE must leave 200 ports below 32768"

# block number -> what runs there
SESSION = 0  # the session stack (conftest.py), started by ./kit test
FAULT_SINGLE = 1  # tests/fault: Redis and broker restarts
FAULT_CLUSTER = 2  # tests/fault: three brokers
FAULT_SECURED = 3  # tests/fault: SASL/PLAIN and a Redis password
NAMESPACES = 4  # tests/test_namespaces.py: reset --all-namespaces
STACK_SINGLE = 5  # tests/test_stack.py
STACK_CLUSTER = 6  # tests/test_stack.py, three brokers
WORKSHOP = 7  # tests/test_workshop_room.py: a secured room (Kafka at +0, Redis at +9); in its
#              spare ports, one after the other: test_offline.py's stack (Kafka +2, Redis +7)
#              and test_workshop_room.py's second room and refused room (Kafka +4, Redis +8)
ROOM_BENCH = 8  # benchmarks: the room
NOTEBOOK_05 = 10  # notebook 05's cluster: the session's ports + 100
ROOM_ATTACKS_REDIS = 11  # tests/fault/test_room_attacks_redis.py: a 3-learner room
ROOM_ATTACKS_KAFKA = 12  # tests/fault/test_room_attacks_kafka.py: a 3-learner room (Kafka +0,
#                         Redis +9); in its spare ports a plain stack (Kafka +4, Redis +8)
TLS = 13  # tests/test_tls.py: a --tls stack (Kafka +0, Redis +9); +4: a test TLS server;
#           a --tls room (Kafka +6, Redis +8)
HUB = 14  # tests/browser/test_room_hub.py: a --tls --hub room (Kafka +0, Redis +9); its hub at
#           `hub_port()` and the next two ports
TLS_CLUSTER = 16  # tests/test_tls.py: a --tls stack of three brokers (Kafka +0, +2, +4; Redis +9)


def hub_port() -> int:
    """The --hub room's JupyterHub (and its proxy's and hub's APIs at +1, +2): above the blocks."""
    return BASE + 500


def kafka_port(block: int) -> int:
    return BASE + 10 * block


def redis_port(block: int) -> int:
    return BASE + 10 * block + 9


def settings_for(block: int, brokers: int = 1, redis_password: str = "", **extra) -> Settings:
    """Settings naming the stack of ``block`` (all its brokers, so any may be the one down)."""
    servers = ",".join(f"127.0.0.1:{kafka_port(block) + 2 * i}" for i in range(brokers))
    auth = f":{redis_password}@" if redis_password else ""
    return Settings(bootstrap_servers=servers,
                    redis_url=f"redis://{auth}127.0.0.1:{redis_port(block)}/0", **extra)


def ports_of(block: int) -> set[int]:
    return set(range(kafka_port(block), kafka_port(block) + 10))
