"""Kafka's configuration for a local stack: one ``server.properties`` per node, and storage
formatted once (KRaft: every node of a cluster with the same cluster id).
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from ..errors import StackError
from .jars import java_base
from .plan import StackPlan

# Failover demos use short session timeouts; the broker must allow them.
GROUP_MIN_SESSION_TIMEOUT_MS = 1000
# Kafka's defaults, written out because notebook 05 relies on them: a follower's fetch waits at
# the leader at most this long for new records (so a paused follower has no fetch left there
# after it) ...
REPLICA_FETCH_WAIT_MAX_MS = 500
# ... and a follower that has not caught up for this long drops out of the in-sync replicas.
REPLICA_LAG_TIME_MAX_MS = 30_000


def server_properties(plan: StackPlan, node: int) -> str:
    voters = ",".join(
        f"{n}@127.0.0.1:{plan.controller_port(n)}" for n in range(1, plan.brokers + 1)
    )
    replication = 3 if plan.brokers >= 3 else 1
    min_isr = 2 if plan.brokers >= 3 else 1
    client = plan.client_protocol
    controller = "SASL_PLAINTEXT" if plan.room else "PLAINTEXT"
    lines = [
        "process.roles=broker,controller",
        f"node.id={node}",
        f"controller.quorum.voters={voters}",
        f"listeners={client}://{plan.listen_host}:{plan.broker_port(node)},"
        f"CONTROLLER://127.0.0.1:{plan.controller_port(node)}",
        f"advertised.listeners={client}://{plan.advertised_host}:{plan.broker_port(node)}",
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={client}",
        f"listener.security.protocol.map={client}:{client},CONTROLLER:{controller}",
        f"log.dirs={plan.node_dir(node) / 'data'}",
        "num.partitions=3",
        # Topics are created on purpose, with 3 partitions; a typo must not create one.
        "auto.create.topics.enable=false",
        f"default.replication.factor={replication}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={replication}",
        f"transaction.state.log.replication.factor={replication}",
        f"transaction.state.log.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        f"group.min.session.timeout.ms={GROUP_MIN_SESSION_TIMEOUT_MS}",
        "log.retention.hours=-1",
        # A crashed broker is fenced after 3 s without heartbeats (default 9 s), so failover
        # lessons show a leader election in seconds.
        "broker.session.timeout.ms=3000",
        "broker.heartbeat.interval.ms=1000",
        f"replica.fetch.wait.max.ms={REPLICA_FETCH_WAIT_MAX_MS}",
        f"replica.lag.time.max.ms={REPLICA_LAG_TIME_MAX_MS}",
    ]
    if plan.room:
        lines += room_properties(plan)
    elif plan.kafka_username:
        user, password = plan.kafka_username, plan.kafka_password
        lines += [
            "sasl.enabled.mechanisms=PLAIN",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{user}" password="{password}" user_{user}="{password}";',
        ]
    return "\n".join(lines) + "\n"


ROOM_MECHANISM = "SCRAM-SHA-256"
ADMIN_USER, INSTRUCTOR_USER = "admin", "instructor"


def room_properties(plan: StackPlan) -> list[str]:
    """A workshop room: SCRAM logins (users live in the cluster's metadata, so learners can be
    added while it runs) and ACLs, with nothing allowed that no ACL allows.

    The KRaft controller listener gets a static PLAIN login rather than PLAINTEXT: over
    PLAINTEXT the broker would register with its own controller as ``User:ANONYMOUS``, which
    would then have to be a super user, and so would anybody else on that port.
    """
    keys = plan.room
    assert keys is not None
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return [
        f"sasl.enabled.mechanisms={ROOM_MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={ROOM_MECHANISM}",
        f"listener.name.sasl_plaintext.{ROOM_MECHANISM.lower()}.sasl.jaas.config={scram}"
        f' required username="{ADMIN_USER}" password="{keys.admin_password}";',
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f"listener.name.controller.plain.sasl.jaas.config={plain} required"
        f' username="{ADMIN_USER}" password="{keys.controller_password}"'
        f' user_{ADMIN_USER}="{keys.controller_password}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN_USER};User:{INSTRUCTOR_USER}",
    ]


def format_users(plan: StackPlan) -> list[str]:
    """``--add-scram`` arguments: a room's first users exist from the start (learners are added
    later through the admin API, without a restart)."""
    if not plan.room:
        return []
    users = [(ADMIN_USER, plan.room.admin_password),
             (INSTRUCTOR_USER, plan.room.instructor_password)]
    return [arg for name, password in users
            for arg in ("--add-scram", f"{ROOM_MECHANISM}=[name={name},password={password}]")]


def new_cluster_id() -> str:
    """A random cluster id in Kafka's form: a UUID as url-safe base64, 22 characters.

    Like Kafka's own ``Uuid.randomUuid()``, never one that starts with ``-``: the storage tool's
    argument parser would read ``-t -abc...`` as an option and refuse to format.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(plan: StackPlan, node: int, cluster_id: str, libs: Path) -> None:
    data = plan.node_dir(node) / "data"
    if (data / "meta.properties").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    props = plan.node_dir(node) / "server.properties"
    result = subprocess.run(
        [*java_base(libs), "kafka.tools.StorageTool", "format", "-t", cluster_id,
         "-c", str(props), *format_users(plan)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise StackError(
            f"Formatting Kafka storage for node {node} failed: "
            + (result.stderr or result.stdout).strip().splitlines()[-1:][0]
        )
