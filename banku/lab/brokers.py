"""A three-broker cluster for the broker-failover lesson (notebook 05): start it, see who leads,
and break it on purpose (kill, pause and restart brokers).

The cluster runs beside your usual stack, 100 ports higher (9192/9194/9196 for Kafka and 6479 for
Redis when your stack uses 9092 and 6379), so that killing its brokers never disturbs the broker
the other notebooks use.

**Whose cluster it is.** Those ports are fixed, so on a shared server every learner's notebook
05 would find the same cluster. The one that starts it writes down who it is (user and
namespace) in the cluster's directory; only that owner may kill, pause, restart or stop its
brokers. Anyone else is refused with `ClusterNotYours`, before anything happens: on a shared
server, notebook 05 is a demo the instructor runs (instructors/README.md).
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from urllib.parse import urlparse, urlunparse

from kafka.errors import KafkaError

from banku import stack
from banku.adapters.kafka.clients import (
    TOPIC_CONFIG,
    admin_client,
    delete_topics,
    make_reader,
    read_to_end,
)
from banku.config import Settings
from banku.errors import ServiceUnavailable, StackError
from banku.stack.kafka_config import REPLICA_FETCH_WAIT_MAX_MS

PORT_OFFSET = 100
NODES = (1, 2, 3)
OWNER_FILE = "owner.json"


class ClusterNotYours(StackError):
    """The three-broker cluster was started by someone else: it is not ours to break or stop."""


class NoClusterHere(StackError):
    """The settings log in or speak TLS: a room's or a managed service's servers, where notebook
    05 has no machine of its own to start three brokers on."""


def cluster_settings(base: Settings | None = None) -> Settings:
    """Settings for the three-broker cluster that sits 100 ports above ``base``'s servers.

    That cluster is the learner's own: plaintext, no logins, on this machine. Settings with a
    login or TLS name someone else's servers (a workshop room, a managed Kafka), so they are
    refused in one sentence before anything starts."""
    base = base or Settings.from_env()
    url = urlparse(base.redis_url)
    if base.kafka_username or base.kafka_protocol != "PLAINTEXT" or url.scheme == "rediss" \
            or url.password:
        raise NoClusterHere(
            "Notebook 05 starts a three-broker cluster of its own on this machine, and these"
            f" settings name servers with a login or TLS ({base.kafka_protocol} at"
            f" {base.bootstrap_servers}): a workshop room's or a managed service's. Watch the"
            " instructor's demo, or run the notebook on a machine of your own without an env"
            " file (./kit lab).")
    host, _, port = base.bootstrap_list[0].rpartition(":")
    netloc = url.netloc.replace(f":{url.port or 6379}", f":{(url.port or 6379) + PORT_OFFSET}")
    if url.port is None:
        netloc = f"{netloc}:{6379 + PORT_OFFSET}"
    # Name all three brokers: a client must still find the cluster when broker 1 is the one killed.
    first = int(port) + PORT_OFFSET
    servers = ",".join(f"{host}:{first + 2 * i}" for i in range(3))
    return replace(base, bootstrap_servers=servers,
                   redis_url=urlunparse(url._replace(netloc=netloc)))


def _plan(settings: Settings) -> stack.StackPlan:
    return stack.StackPlan.from_settings(settings, brokers=3)


# --- whose cluster ------------------------------------------------------------------------------
def me(settings: Settings) -> dict[str, str]:
    """Who this notebook is: the user running it and its namespace."""
    return {"user": getpass.getuser(), "namespace": settings.namespace}


def owner(settings: Settings) -> dict[str, str] | None:
    """Who started the cluster, as written down when it was started (None: nobody said)."""
    try:
        return json.loads((_plan(settings).directory / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None


def owned(settings: Settings) -> bool:
    """True when the cluster was started by this user in this namespace."""
    found = owner(settings) or {}
    return {k: found.get(k) for k in ("user", "namespace")} == me(settings)


def _running(plan: stack.StackPlan) -> bool:
    """Whether any broker of the cluster runs: one we know by pid, or anything on its ports."""
    return any(stack.kafka_pid(plan, n) or stack.port_open(plan.broker_port(n)) for n in NODES)


def _not_yours(settings: Settings, doing: str) -> ClusterNotYours:
    found = owner(settings)
    who = (f"{found.get('user')} (namespace {found.get('namespace') or '(default)'!r},"
           f" since {found.get('started', '?')})" if found else "someone else (not a notebook)")
    return ClusterNotYours(
        f"Not {doing} the three-broker cluster at {settings.bootstrap_servers}: {who} started"
        " it. Notebook 05 only breaks and stops a cluster it started itself; on a shared server"
        " it is the instructor's demo, so watch it there."
    )


def _require_owner(settings: Settings, doing: str) -> stack.StackPlan:
    if not owned(settings):
        raise _not_yours(settings, doing)
    return _plan(settings)


def start_cluster(settings: Settings) -> None:
    """Start the three brokers (or find our own running); returns when all three answer.

    A cluster that someone else started is refused with `ClusterNotYours`: it is theirs.
    """
    plan = _plan(settings)
    if _running(plan):
        if not owned(settings):
            raise _not_yours(settings, "using")
    else:
        plan.directory.mkdir(parents=True, exist_ok=True)
        started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        (plan.directory / OWNER_FILE).write_text(json.dumps({**me(settings), "started": started}))
    stack.up(settings, brokers=3, log=lambda _: None, timeout=180)


def stop_cluster(settings: Settings) -> None:
    """Stop the three brokers and delete their data (only the cluster's owner may)."""
    plan = _require_owner(settings, "stopping")
    _signal(plan, NODES, signal.SIGCONT)  # a paused JVM would ignore the SIGTERM
    stack.down(settings, log=lambda _: None, wipe=True)


# --- breaking it ----------------------------------------------------------------------------------
def _signal(plan: stack.StackPlan, nodes: Iterable[int], sig: int) -> list[int]:
    """Send ``sig`` to the running brokers among ``nodes``; returns their pids."""
    sent = []
    for node in nodes:
        pid = stack.kafka_pid(plan, node)
        if pid:
            os.kill(pid, sig)
            sent.append(pid)
    return sent


def kill_broker(settings: Settings, node: int, sig: int = signal.SIGKILL) -> None:
    """Kill one broker process: SIGKILL is a crash (no clean shutdown, no goodbye)."""
    _signal(_require_owner(settings, "killing a broker of"), [node], sig)


def restart_broker(settings: Settings, node: int) -> None:
    """Start a killed broker again; it catches up from the others and rejoins the ISR."""
    plan = _require_owner(settings, "restarting a broker of")
    if not stack.kafka_pid(plan, node):
        stack.start_kafka_node(plan, node)


@contextmanager
def paused(settings: Settings, nodes: Iterable[int]) -> Iterator[None]:
    """Freeze brokers with SIGSTOP for the duration of a ``with`` block, SIGCONT after it.

    A frozen broker is neither dead nor slow to its peers at first: its connections stay open,
    it stays in the in-sync replicas until ``replica.lag.time.max.ms`` (30 s) has passed. Its
    last fetch, though, is still parked at the leader, which answers it with whatever arrives
    within ``replica.fetch.wait.max.ms``; the answer waits in the frozen broker's socket and is
    applied when it wakes. So the block starts only once twice that time has passed: from then
    on nothing written to the leader reaches the frozen brokers. They are always woken on the
    way out, whatever happened (a stopped JVM ignores SIGTERM: it could not even be shut down).
    """
    plan = _require_owner(settings, "pausing brokers of")
    stopped: list[int] = []
    try:
        for node in nodes:
            stopped += _signal(plan, [node], signal.SIGSTOP)
        time.sleep(2 * REPLICA_FETCH_WAIT_MAX_MS / 1000)  # a broker-side deadline, not a guess
        yield
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


# --- what the cluster says ------------------------------------------------------------------------
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
        except (KafkaError, ServiceUnavailable):
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


def create_topic_on(settings: Settings, topic: str, replicas: list[int],
                    timeout: float = 60.0) -> PartitionState:
    """A new topic of one partition stored on ``replicas`` in that order: the first one leads.

    A topic of that name left by an earlier run is deleted first. The topic gets the kit's
    ``min.insync.replicas=2``. Returns once the first replica leads and all are in sync.
    """
    _require_owner(settings, "creating a demonstration topic on")
    delete_topics(settings, [topic])
    config = {**TOPIC_CONFIG, "min.insync.replicas": "2"}
    with admin_client(settings) as admin:
        admin.create_topics({topic: {"assignments": {0: list(replicas)}, "configs": config}})
    deadline = time.monotonic() + timeout
    while True:
        (state,) = partition_states(settings, topic)
        if state.leader == replicas[0] and set(state.in_sync) == set(replicas):
            return state
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"{topic} did not get its leader and replicas in sync.")
        time.sleep(0.2)


def read_values(settings: Settings, topic: str) -> list[bytes]:
    """Every record value in the topic, from offset 0 to its end (no consumer group)."""
    reader = make_reader(settings)
    try:
        return [r.value for batch in read_to_end(reader, {}, topic) for r in batch]
    finally:
        reader.close()
