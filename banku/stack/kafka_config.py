"""Kafka's configuration for a local stack: one ``server.properties`` per node, and storage
formatted once (KRaft: every node of a cluster with the same cluster id).
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from banku.errors import StackError
from banku.stack.jars import java_base
from banku.stack.plan import StackPlan, private_dir, write_private

# Failover demos use short session timeouts; the broker must allow them.
GROUP_MIN_SESSION_TIMEOUT_MS = 1000
# Kafka's defaults, written out because notebook 05 relies on them: a follower's fetch waits at
# the leader at most this long for new records (so a paused follower has no fetch left there
# after it) ...
REPLICA_FETCH_WAIT_MAX_MS = 500
# ... and a follower that has not caught up for this long drops out of the in-sync replicas.
REPLICA_LAG_TIME_MAX_MS = 30_000

# What one request may cost the broker. Kafka reads a whole request into memory before it looks at
# what is inside, up to socket.request.max.bytes (100 MiB by default): seven producers sending 95 MB
# each filled a 512 MiB heap. The kit's largest record is a snapshot (kafka_io.COMPACTED_CONFIG:
# at most 16 MiB, on a topic that allows it); every other topic keeps Kafka's 1 MiB.
MAX_RECORD_BYTES = 16 * 1024 * 1024
MESSAGE_MAX_BYTES = 1024 * 1024 + 12  # Kafka's default, written out: a record of the log is tiny
SOCKET_REQUEST_MAX_BYTES = MAX_RECORD_BYTES + 1024 * 1024  # the largest record and its request
# All requests being read or waiting to be handled, together: the broker stops reading sockets
# (and so slows every producer down) rather than run out of its heap.
QUEUED_MAX_REQUEST_BYTES = 96 * 1024 * 1024

# A room's connections. Without --host every learner (and a hub's notebooks) connects from
# 127.0.0.1; with --host, each learner's own machine is one address. A learner's notebook holds a
# handful of clients with one or two connections each (measured in
# tests/fault/test_room_attacks_kafka.py), so 40 learners need a few hundred; the caps leave room
# for a hundred learners and stop a flood.
ROOM_MAX_CONNECTIONS = 2000
ROOM_MAX_CONNECTIONS_PER_IP = 200  # one learner's machine
ROOM_MAX_CONNECTIONS_HERE = 1500  # the room's own machine: the hub's learners, the instructor
# What a learner may create: a topic has at most this many partitions (the kit's have 3, a
# notebook's demo 1), and its configs stay within what the kit's own topics use.
ROOM_MAX_PARTITIONS = 12
ROOM_MIN_SEGMENT_MS = 600_000  # the snapshot topic's segment.ms (kafka_io.COMPACTED_CONFIG)
ROOM_MIN_SEGMENT_BYTES = 16 * 1024 * 1024


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
        f"message.max.bytes={MESSAGE_MAX_BYTES}",
        f"socket.request.max.bytes={SOCKET_REQUEST_MAX_BYTES}",
        f"queued.max.request.bytes={QUEUED_MAX_REQUEST_BYTES}",
    ]
    if plan.tls:
        lines += tls_properties(plan)
    if plan.room:
        lines += room_properties(plan)
    elif plan.kafka_username:
        user, password = plan.kafka_username, plan.kafka_password
        lines += [
            "sasl.enabled.mechanisms=PLAIN",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            f"listener.name.{client.lower()}.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{user}" password="{password}" user_{user}="{password}";',
        ]
    return "\n".join(lines) + "\n"


def tls_properties(plan: StackPlan) -> list[str]:
    """`banku stack up --tls`: the client listener (and so the brokers among themselves) speaks
    TLS with the stack's certificate (`banku.stack.tls`, PEM files Kafka reads as they are); the
    KRaft controller listener stays on 127.0.0.1 without it."""
    from banku.stack.tls import CA_FILE, SERVER_PEM

    return [
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={plan.tls_dir / SERVER_PEM}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={plan.tls_dir / CA_FILE}",
        "ssl.client.auth=none",
        "ssl.endpoint.identification.algorithm=https",
    ]


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
        f"listener.name.{plan.client_protocol.lower()}.{ROOM_MECHANISM.lower()}"
        f".sasl.jaas.config={scram}"
        f' required username="{ADMIN_USER}" password="{keys.admin_password}";',
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f"listener.name.controller.plain.sasl.jaas.config={plain} required"
        f' username="{ADMIN_USER}" password="{keys.controller_password}"'
        f' user_{ADMIN_USER}="{keys.controller_password}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN_USER};User:{INSTRUCTOR_USER}",
        *room_limits(plan),
    ]


def room_limits(plan: StackPlan) -> list[str]:
    """What one learner may take of the room's broker: connections, and what they create (the
    topic policy, `banku.stack.policy`). Rates per learner are client quotas, set with each login
    (`banku.lab.room_access.set_quotas`)."""
    from banku.stack.policy import POLICY_CLASS

    here = ["127.0.0.1"] + ([plan.advertised_host] if plan.listen_host != "127.0.0.1" else [])
    overrides = ",".join(f"{host}:{ROOM_MAX_CONNECTIONS_HERE}" for host in here)
    return [
        f"max.connections={ROOM_MAX_CONNECTIONS}",
        f"max.connections.per.ip={ROOM_MAX_CONNECTIONS_PER_IP}",
        f"max.connections.per.ip.overrides={overrides}",
        f"create.topic.policy.class.name={POLICY_CLASS}",
        f"alter.config.policy.class.name={POLICY_CLASS}",
        f"banku.room.max.partitions={ROOM_MAX_PARTITIONS}",
        f"banku.room.max.message.bytes={MAX_RECORD_BYTES}",
        f"banku.room.min.segment.ms={ROOM_MIN_SEGMENT_MS}",
        f"banku.room.min.segment.bytes={ROOM_MIN_SEGMENT_BYTES}",
    ]


def format_users(plan: StackPlan) -> list[str]:
    """``--add-scram`` arguments: a room's first users exist from the start (learners are added
    later through the admin API, without a restart). They hold passwords, so they reach Java in an
    argument file (`format_storage`), never on its command line."""
    if not plan.room:
        return []
    users = [(ADMIN_USER, plan.room.admin_password),
             (INSTRUCTOR_USER, plan.room.instructor_password)]
    return [arg for name, password in users
            for arg in ("--add-scram", f"{ROOM_MECHANISM}=[name={name},password={password}]")]


def _quoted(arg: str) -> str:
    """One argument of a Java @argfile: in double quotes, backslashes and quotes escaped."""
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def new_cluster_id() -> str:
    """A random cluster id in Kafka's form: a UUID as url-safe base64, 22 characters.

    Like Kafka's own ``Uuid.randomUuid()``, never one that starts with ``-``: the storage tool's
    argument parser would read ``-t -abc...`` as an option and refuse to format.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(plan: StackPlan, node: int, cluster_id: str, libs: Path,
                   classpath: tuple[Path, ...] = ()) -> None:
    """Format a node's storage once; ``classpath``: what else the broker loads (the storage tool
    checks that server.properties names classes it can find)."""
    data = plan.node_dir(node) / "data"
    if (data / "meta.properties").exists():
        return
    private_dir(data)
    props = plan.node_dir(node) / "server.properties"
    args = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
            *format_users(plan)]
    # Java's own @argfile: what `ps` shows is "java ... @/path", the passwords stay in a file only
    # we can read, deleted as soon as the tool has run.
    argfile = plan.node_dir(node) / "format.args"
    write_private(argfile, "\n".join(_quoted(arg) for arg in args) + "\n")
    try:
        result = subprocess.run([*java_base(libs, classpath), f"@{argfile}"],
                                capture_output=True, text=True, umask=0o077)
    finally:
        argfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise StackError(
            f"Formatting Kafka storage for node {node} failed: "
            + (result.stderr or result.stdout).strip().splitlines()[-1:][0]
        )
