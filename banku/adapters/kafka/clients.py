"""kafka-python, configured once for the kit: topics, producers, readers, reading to the end.

Every client the kit makes comes from here, with the options explained where they are set, and
every call turns "Kafka is not there" into a sentence (`banku.diagnostics`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import lru_cache

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from kafka.partitioner.default import murmur2

from banku import defaults
from banku.adapters.kafka import compat
from banku.config import PARTITIONS, Settings
from banku.diagnostics import kafka_errors, not_allowed
from banku.errors import ServiceUnavailable

TOPIC_AUTHORIZATION_FAILED = 29  # Kafka's error code: an ACL hides this topic from this user
# The log is the source of truth: an event-sourced topic keeps its records forever.
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}
# A snapshot topic keeps only the latest record per key: the opposite of an event log.
COMPACTED_CONFIG = {"cleanup.policy": "compact", "max.message.bytes": str(16 * 1024 * 1024),
                    "min.cleanable.dirty.ratio": "0.1", "segment.ms": "600000"}


# --- topics --------------------------------------------------------------------------------------
def admin_client(settings: Settings) -> KafkaAdminClient:
    with kafka_errors(settings):
        return KafkaAdminClient(**settings.kafka_options(),
                                request_timeout_ms=defaults.ADMIN_REQUEST_TIMEOUT_MS)


def broker_ids(admin: KafkaAdminClient) -> list[int]:
    return sorted(b["broker_id"] for b in admin.describe_cluster().get("brokers", [])
                  if not b.get("is_fenced"))


def ensure_topic(settings: Settings, name: str | None = None, partitions: int = PARTITIONS,
                 config: dict[str, str] | None = None) -> bool:
    """Create the topic (3 partitions, kept forever) unless it exists; True if it was created.

    Returns once every partition has a leader *and* every broker knows the topic, so that the
    next client, whichever broker it asks, finds it. On a three-broker stack the topic gets
    replication factor 3 and min.insync.replicas=2, so an acknowledged write (acks=all)
    survives the loss of one broker.
    """
    topic = name or settings.topic_name
    created = False
    admin = admin_client(settings)
    try:
        with kafka_errors(settings, f"topic {topic}"):
            brokers = broker_ids(admin)
            if topic not in admin.list_topics():
                replicas = 3 if len(brokers) >= 3 else 1
                topic_config = dict(config if config is not None else TOPIC_CONFIG)
                if replicas == 3:
                    topic_config.setdefault("min.insync.replicas", "2")
                try:
                    admin.create_topics([NewTopic(topic, partitions, replicas,
                                                  topic_configs=topic_config)])
                    created = True
                except TopicAlreadyExistsError:
                    pass
            _wait_until_ready(admin, topic, brokers)
    finally:
        admin.close()
    return created


def _ready_on(admin: KafkaAdminClient, topic: str, node: int | None) -> bool:
    """Whether broker ``node`` (any broker for None) reports every partition with a leader."""
    if node is None:
        (described,) = admin.describe_topics([topic])
    else:
        # The public API asks whichever broker is least loaded; to know that *every* broker has
        # the new topic in its metadata cache we ask each one in turn, as kafka-python's own
        # admin client does internally.
        from kafka.protocol.metadata import MetadataRequest

        request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                  allow_auto_topic_creation=False)
        (described,) = compat.admin_request(admin, request, node_id=node).to_dict()["topics"]
    if described.get("error_code") == TOPIC_AUTHORIZATION_FAILED:
        raise TopicAuthorizationFailedError(topic)  # someone else's topic: no point waiting
    parts = described.get("partitions") or []
    return bool(parts) and described.get("error_code", 0) == 0 and all(
        p.get("leader_id", -1) >= 0 for p in parts)


def _wait_until_ready(admin: KafkaAdminClient, topic: str, brokers: list[int]) -> None:
    deadline = time.monotonic() + defaults.TOPIC_READY_TIMEOUT_S
    waiting: list[int | None] = list(brokers) if len(brokers) > 1 else [None]
    last = ""
    while waiting:
        try:
            if _ready_on(admin, topic, waiting[0]):
                waiting.pop(0)
                continue
            last = "not every partition has a leader in its metadata yet"
        except TopicAuthorizationFailedError:
            raise
        except (KafkaError, ValueError, AttributeError, TypeError) as exc:
            last = f"{type(exc).__name__}: {exc}"  # a broker busy or just died: ask again
        if time.monotonic() > deadline:
            which = f"broker {waiting[0]}" if waiting[0] is not None else "the cluster"
            raise ServiceUnavailable(
                f"Topic {topic} is not ready on every broker after"
                f" {defaults.TOPIC_READY_TIMEOUT_S:.0f}s ({which} last said: {last}); is Kafka"
                " healthy (`banku stack status`)?"
            )
        time.sleep(0.1)


def delete_topics(settings: Settings, names: list[str]) -> list[str]:
    """Delete the topics that exist among ``names`` and wait until they are gone."""
    admin = admin_client(settings)
    try:
        with kafka_errors(settings, "these topics"):
            existing = [n for n in names if n in admin.list_topics()]
            if not existing:
                return []
            timeout = defaults.TOPIC_READY_TIMEOUT_S
            try:
                admin.delete_topics(existing, timeout_ms=int(timeout * 1000))
            except UnknownTopicOrPartitionError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not set(existing) & set(admin.list_topics()):
                    return existing
                time.sleep(0.1)
    finally:
        admin.close()
    raise ServiceUnavailable(f"Kafka did not delete {existing} within {timeout:.0f}s.")


def refuse_if_not_allowed(settings: Settings, topic: str) -> None:
    """A topic without partitions may be missing, or someone else's: an ACL hides it from
    listings and metadata alike. On a secured cluster, ask once, and say which."""
    if not settings.kafka_username:
        return
    admin = admin_client(settings)
    try:
        with kafka_errors(settings, f"topic {topic}"):
            (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    if described.get("error_code") == TOPIC_AUTHORIZATION_FAILED:
        raise not_allowed(settings, f"topic {topic}")


def list_topics(settings: Settings) -> list[str]:
    admin = admin_client(settings)
    try:
        with kafka_errors(settings):
            return sorted(admin.list_topics())
    finally:
        admin.close()


# --- clients ----------------------------------------------------------------------------------
def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (murmur2, as the Java client)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class PartitionMap:
    """Kafka's default partitioner for one topic, remembered.

    kafka-python computes murmur2 in pure Python on every call, which was a sixth of the cost of
    a batched send. A bank has few accounts and many events per account, so the same keys come
    back again and again; the standard library's bounded cache keeps the recent ones.
    """

    MAX_KEYS = 100_000  # keys remembered at most, so memory stays bounded

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._lookup = lru_cache(maxsize=self.MAX_KEYS)(self._partition)

    def _partition(self, key: bytes) -> int:
        return kafka_partition(key, self.partitions)

    def __call__(self, key: bytes) -> int:
        return self._lookup(key)


def make_producer(settings: Settings, **overrides: object) -> KafkaProducer:
    """A producer that does not lose acknowledged writes and does not duplicate on retry.

    acks=all waits for every in-sync replica; the idempotent producer lets the broker drop a
    retried batch it already has. linger_ms lets many sends share one request.
    """
    options: dict[str, object] = dict(
        acks="all",
        enable_idempotence=True,
        linger_ms=defaults.PRODUCER_LINGER_MS,
        batch_size=defaults.PRODUCER_BATCH_BYTES,
        max_in_flight_requests_per_connection=5,
        request_timeout_ms=defaults.PRODUCER_REQUEST_TIMEOUT_MS,
        max_block_ms=defaults.PRODUCER_MAX_BLOCK_MS,
        reconnect_backoff_max_ms=defaults.RECONNECT_BACKOFF_MAX_MS,
    )
    options.update(overrides)
    with kafka_errors(settings):
        return KafkaProducer(**settings.kafka_options(), **options)


# Every consumer of the kit: it commits by hand (or not at all), starts from the beginning when it
# has no committed offset, and reads only committed records (the command handler writes in
# transactions, which may abort: an aborted event never happened).
CONSUMER_OPTIONS: dict[str, object] = dict(
    enable_auto_commit=False,
    auto_offset_reset="earliest",
    isolation_level="read_committed",
    reconnect_backoff_max_ms=defaults.RECONNECT_BACKOFF_MAX_MS,
)


def make_reader(settings: Settings, **overrides: object) -> KafkaConsumer:
    """A consumer without a group: it is assigned partitions by hand and commits nothing."""
    options: dict[str, object] = dict(CONSUMER_OPTIONS, group_id=None, **defaults.READER_FETCH)
    options.update(overrides)
    with kafka_errors(settings):
        return KafkaConsumer(**settings.kafka_options(), **options)


def make_member(settings: Settings, group_id: str, **overrides: object) -> KafkaConsumer:
    """A consumer that joins ``group_id`` when it subscribes (the caller handles kafka_errors)."""
    options: dict[str, object] = dict(CONSUMER_OPTIONS, group_id=group_id)
    options.update(overrides)
    return KafkaConsumer(**settings.kafka_options(), **options)


def partitions_of(consumer: KafkaConsumer, topic: str, timeout: float = 10.0,
                  ) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        time.sleep(0.1)
    return []


def partition_ends(consumer: KafkaConsumer, topic: str, timeout: float = 10.0,
                   ) -> dict[int, int]:
    """The next offset of every partition of ``topic`` (partition -> offset): what a reader must
    reach to have seen everything; {} when the topic has no partitions (yet)."""
    parts = partitions_of(consumer, topic, timeout)
    if not parts:
        return {}
    return {tp.partition: off for tp, off in consumer.end_offsets(parts).items()}


def end_offsets(settings: Settings, topic: str | None = None) -> dict[int, int]:
    """`partition_ends` of ``topic`` (the log by default), with a reader of its own."""
    topic = topic or settings.topic_name
    consumer = make_reader(settings)
    try:
        with kafka_errors(settings, f"topic {topic}"):
            ends = partition_ends(consumer, topic, timeout=5.0)
            if not ends:
                refuse_if_not_allowed(settings, topic)
            return ends
    finally:
        consumer.close()


def read_to_end(consumer: KafkaConsumer, positions: dict[int, int], topic: str,
                timeout: float = defaults.READ_TO_END_TIMEOUT_S) -> Iterator[list]:
    """Yield batches of records from ``positions`` up to the end offsets taken at the start.

    ``positions`` maps partition to the next offset to read and is updated as records arrive.
    A read_committed reader's end is the last stable offset; transaction markers take offsets
    too, so a partition is done when the consumer's *position* reaches the end, not its last
    record.
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
        for tp in todo:
            positions[tp.partition] = max(positions.get(tp.partition, 0),
                                          min(consumer.position(tp), ends[tp]))
        done = [tp for tp in todo if positions[tp.partition] >= ends[tp]]
        if done:
            todo = [tp for tp in todo if tp not in done]
            consumer.assign(todo) if todo else consumer.unsubscribe()
            for tp in todo:
                consumer.seek(tp, positions[tp.partition])

