"""Small helpers around kafka-python: topics, producers, end offsets, reading a topic to its end.

Every call turns "Kafka is not there" into a `ServiceUnavailable` with a sentence that says what
to do, instead of a traceback from deep inside the client.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from kafka.partitioner import DefaultPartitioner

from .config import PARTITIONS, Settings
from .errors import ServiceUnavailable

# The log is the source of truth: an event-sourced topic keeps its records forever.
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}
# After a broker restart, reconnect within a second or two (kafka-python backs off up to 30 s;
# the Java client's default is 1 s).
RECONNECT_BACKOFF_MAX_MS = 2000


def kafka_down(settings: Settings, exc: BaseException | None = None) -> ServiceUnavailable:
    detail = f" ({type(exc).__name__})" if exc else ""
    return ServiceUnavailable(
        f"Kafka does not answer at {settings.bootstrap_servers}{detail}. Start it with"
        " `banku stack up`, or check KAFKA_BOOTSTRAP_SERVERS."
    )


def login_refused(settings: Settings, reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Kafka at {settings.bootstrap_servers} refused the SASL/PLAIN login of user"
        f" {settings.kafka_username!r} ({reason}); check KAFKA_SASL_USERNAME and"
        " KAFKA_SASL_PASSWORD."
    )


def _any_port_open(settings: Settings) -> bool:
    for server in settings.bootstrap_list:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), 0.5):
                return True
        except (OSError, ValueError):
            continue
    return False


def bootstrap_failed(settings: Settings, exc: BaseException, login_failure: str = "",
                     ) -> ServiceUnavailable:
    """Why a client could not bootstrap: a refused login, a broker that lets us connect but not
    talk (SASL expected, or still starting), or no broker at all."""
    if login_failure:
        return login_refused(settings, login_failure)
    if _any_port_open(settings) and settings.kafka_username:
        return ServiceUnavailable(
            f"Kafka at {settings.bootstrap_servers} accepts connections but did not let user"
            f" {settings.kafka_username!r} in ({type(exc).__name__}): check KAFKA_SASL_USERNAME"
            " and KAFKA_SASL_PASSWORD (or unset them if the broker needs no login); if it is"
            " just starting, try again in a few seconds."
        )
    if _any_port_open(settings):
        return ServiceUnavailable(
            f"Kafka at {settings.bootstrap_servers} accepts connections but closes them"
            f" ({type(exc).__name__}): if the broker requires a SASL/PLAIN login, set"
            " KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD; if it is just starting, try again"
            " in a few seconds."
        )
    return kafka_down(settings, exc)


class _LoginFailures(logging.Handler):
    """Notices kafka-python's log line for a refused SASL login. The client itself retries the
    login until its bootstrap timeout and then only says that it could not bootstrap."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reason = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a log record we cannot format is not ours
            return
        marker = "SaslAuthenticationFailedError: "
        if marker in message:
            self.reason = message.rsplit(marker, 1)[1].strip()


@contextmanager
def kafka_errors(settings: Settings) -> Iterator[None]:
    """Translate 'no broker' and 'login refused' errors into a ServiceUnavailable a learner can
    act on."""
    watch = _LoginFailures()
    kafka_log = logging.getLogger("kafka")
    kafka_log.addHandler(watch)
    try:
        yield
    except KafkaTimeoutError as exc:
        if "bootstrap" in str(exc).lower():
            raise bootstrap_failed(settings, exc, watch.reason) from None
        raise
    except SaslAuthenticationFailedError as exc:
        raise login_refused(settings, str(exc).rsplit(": ", 1)[-1]) from None
    finally:
        kafka_log.removeHandler(watch)


@contextmanager
def admin_client(settings: Settings) -> Iterator[KafkaAdminClient]:
    with kafka_errors(settings):
        admin = KafkaAdminClient(**settings.kafka_options(), request_timeout_ms=15000)
    try:
        yield admin
    finally:
        admin.close()


def broker_count(admin: KafkaAdminClient) -> int:
    return len(admin.describe_cluster().get("brokers", []))


def ensure_topic(settings: Settings, name: str | None = None, partitions: int = PARTITIONS) -> bool:
    """Create the topic (3 partitions, kept forever) unless it exists. True if it was created.

    On a three-broker stack the topic gets replication factor 3 and min.insync.replicas=2, so an
    acknowledged write (acks=all) survives the loss of one broker.
    """
    topic = name or settings.topic_name
    created = False
    with admin_client(settings) as admin:
        if topic not in admin.list_topics():
            replicas = 3 if broker_count(admin) >= 3 else 1
            config = dict(TOPIC_CONFIG)
            if replicas == 3:
                config["min.insync.replicas"] = "2"
            try:
                admin.create_topics([NewTopic(topic, partitions, replicas, topic_configs=config)])
                created = True
            except TopicAlreadyExistsError:
                pass
        _wait_for_leaders(admin, topic)
    return created


def _wait_for_leaders(admin: KafkaAdminClient, topic: str, timeout: float = 30.0) -> None:
    """Topic creation is asynchronous: wait until every partition has a leader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            (described,) = admin.describe_topics([topic])
            parts = described.get("partitions", [])
            if parts and all(p.get("leader_id", -1) >= 0 for p in parts):
                return
        except (KafkaError, ValueError):
            pass
        time.sleep(0.1)
    raise ServiceUnavailable(f"Topic {topic} has no leader after {timeout:.0f}s; is Kafka healthy?")


def delete_topics(settings: Settings, names: list[str], timeout: float = 30.0) -> list[str]:
    """Delete the topics that exist among ``names`` and wait until they are gone."""
    with admin_client(settings) as admin:
        existing = [n for n in names if n in admin.list_topics()]
        if not existing:
            return []
        try:
            admin.delete_topics(existing, timeout_ms=int(timeout * 1000))
        except UnknownTopicOrPartitionError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not set(existing) & set(admin.list_topics()):
                return existing
            time.sleep(0.1)
    raise ServiceUnavailable(f"Kafka did not delete {existing} within {timeout:.0f}s.")


def list_topics(settings: Settings) -> list[str]:
    with admin_client(settings) as admin:
        return sorted(admin.list_topics())


class KeyPartitioner(DefaultPartitioner):
    """Kafka's default partitioner (murmur2 of the key, as in the Java client), remembering the
    answer for each key.

    kafka-python computes murmur2 in pure Python on every send, which was a sixth of the cost
    of a batched send. A bank has few accounts and many events per account, so the same few
    keys come back again and again. The answer is remembered per partition count, so a topic
    that gains partitions is hashed afresh (the same placement a fresh producer would choose).
    """

    MAX_KEYS = 100_000  # forget everything beyond this many keys, so memory stays bounded

    def __init__(self) -> None:
        self._known: dict[tuple[str, bytes, int], int] = {}

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster):  # noqa: ANN001
        partitions = cluster.partitions_for_topic(topic)
        if serialized_key is None or not partitions:
            return super().partition(topic, key, serialized_key, value, serialized_value, cluster)
        memo = (topic, serialized_key, len(partitions))
        found = self._known.get(memo)
        if found is None:
            if len(self._known) >= self.MAX_KEYS:
                self._known.clear()
            found = super().partition(topic, key, serialized_key, value, serialized_value,
                                      cluster)
            self._known[memo] = found
        return found


def make_producer(settings: Settings, **overrides: object) -> KafkaProducer:
    """A producer that does not lose acknowledged writes and does not duplicate on retry.

    acks=all waits for every in-sync replica; the idempotent producer lets the broker drop a
    retried batch it already has. linger_ms lets many sends share one request.
    """
    options: dict[str, object] = dict(
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
        request_timeout_ms=15000,
        max_block_ms=15000,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        partitioner=KeyPartitioner(),
    )
    options.update(overrides)
    with kafka_errors(settings):
        return KafkaProducer(**settings.kafka_options(), **options)


def make_reader(settings: Settings, **overrides: object) -> KafkaConsumer:
    """A consumer without a group: it is assigned partitions by hand and commits nothing."""
    options: dict[str, object] = dict(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        max_poll_records=10000,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )
    options.update(overrides)
    with kafka_errors(settings):
        return KafkaConsumer(**settings.kafka_options(), **options)


def partitions_of(
    consumer: KafkaConsumer, topic: str, timeout: float = 10.0
) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        time.sleep(0.1)
    return []


def end_offsets(settings: Settings, topic: str | None = None) -> dict[int, int]:
    """The next offset of every partition: what a reader must reach to have seen everything."""
    topic = topic or settings.topic_name
    consumer = make_reader(settings)
    try:
        parts = partitions_of(consumer, topic, timeout=5.0)
        if not parts:
            return {}
        return {tp.partition: off for tp, off in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def read_to_end(
    consumer: KafkaConsumer,
    positions: dict[int, int],
    topic: str,
    timeout: float = 60.0,
) -> Iterator[list]:
    """Yield batches of records from ``positions`` up to the end offsets taken at the start.

    ``positions`` maps partition to the next offset to read and is updated as records arrive.
    """
    parts = partitions_of(consumer, topic)
    if not parts:
        return
    ends = consumer.end_offsets(parts)
    todo = [tp for tp in parts if positions.get(tp.partition, 0) < ends[tp]]
    if not todo:
        return
    consumer.assign(todo)
    for tp in todo:
        consumer.seek(tp, positions.get(tp.partition, 0))
    deadline = time.monotonic() + timeout
    while todo:
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"Reading {topic} to its end took longer than {timeout:.0f}s.")
        batches = consumer.poll(timeout_ms=500)
        for tp, records in batches.items():
            records = [r for r in records if r.offset < ends[tp]]
            if records:
                positions[tp.partition] = records[-1].offset + 1
                yield records
        todo = [tp for tp in todo if consumer.position(tp) < ends[tp]]
        if len(todo) != len(consumer.assignment()):
            consumer.assign(todo) if todo else consumer.unsubscribe()
            for tp in todo:
                consumer.seek(tp, positions.get(tp.partition, 0))
