"""The Kafka adapters of the ports: the event log, the projector's feeds, the dead-letter topic.

`KafkaEventLog` is what a `Bank` writes to and reads from; `KafkaFeeds` opens the projector's
consumer, either as a member of its consumer group (a service: `banku project`) or owning every
partition without joining any group (a one-shot catch-up: `run_until_caught_up`, `replay`);
`KafkaDeadLetters` keeps the records the projector could not apply, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from banku import defaults
from banku.adapters.kafka import compat
from banku.adapters.kafka.clients import (
    PartitionMap,
    ensure_topic,
    make_member,
    make_producer,
    make_reader,
    partition_ends,
    partitions_of,
    read_to_end,
    refuse_if_not_allowed,
)
from banku.application import snapshots
from banku.application.ports import Assignment, Record
from banku.config import Settings
from banku.diagnostics import explain_kafka, kafka_down, kafka_errors
from banku.domain.projection import SOURCE_HEADER, dead_letter_headers, source_of
from banku.errors import ServiceUnavailable


class _Sent:
    __slots__ = ("_future", "_what", "_settings")

    def __init__(self, future, what: str, settings: Settings) -> None:
        self._future, self._what, self._settings = future, what, settings

    def result(self) -> tuple[int, int, int]:
        try:
            md = self._future.get(timeout=defaults.SEND_TIMEOUT_S)
        except KafkaError as exc:
            better = explain_kafka(self._settings, exc, f"topic {self._settings.topic_name}")
            if better is not None:
                raise better from None
            raise ServiceUnavailable(
                f"Kafka did not acknowledge the {self._what} ({type(exc).__name__}); it was not"
                " confirmed as written. Is the stack up (`banku stack status`)?"
            ) from None
        return md.partition, md.offset, md.timestamp


class KafkaEventLog:
    """One topic, written by an idempotent acks=all producer and read without a group."""

    def __init__(self, settings: Settings, topic: str | None = None) -> None:
        self.settings = settings
        self.topic = topic or settings.topic_name
        self._producer: KafkaProducer | None = None
        self._reader: KafkaConsumer | None = None
        self._partitions: PartitionMap | None = None
        self._topic_id = ""

    def _ready(self) -> PartitionMap:
        if self._partitions is None:
            self._reader = make_reader(self.settings)
            with kafka_errors(self.settings, f"topic {self.topic}"):
                # One metadata request says whether the topic exists; only a missing topic
                # needs the admin client (a bootstrap of its own) to create it.
                if not self._reader.partitions_for_topic(self.topic):
                    ensure_topic(self.settings, self.topic)
                count = len(partitions_of(self._reader, self.topic))
            if not count:
                refuse_if_not_allowed(self.settings, self.topic)
                raise kafka_down(self.settings)
            self._partitions = PartitionMap(count)
            # Known now, from the metadata that named the partitions (the reader forgets it
            # once it is assigned to another topic).
            self._topic_id = compat.topic_id(self._reader, self.topic)
        return self._partitions

    @property
    def partitions(self) -> int:
        return self._ready().partitions

    def partition_for(self, key: bytes) -> int:
        return self._ready()(key)

    def append(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
               partition: int, timestamp_ms: int | None = None, what: str = "event") -> _Sent:
        """(``value`` None: a tombstone, which only a dead letter copies.)"""
        if self._producer is None:
            self._ready()
            self._producer = make_producer(self.settings)
        try:  # (no context manager here: this runs for every event of a batch)
            future = self._producer.send(self.topic, key=key, value=value, headers=headers,
                                         partition=partition, timestamp_ms=timestamp_ms)
        except KafkaError as exc:
            better = explain_kafka(self.settings, exc, f"topic {self.topic}")
            raise (better or kafka_down(self.settings, exc)) from None
        return _Sent(future, what, self.settings)

    def flush(self) -> None:
        if self._producer is not None:
            try:
                self._producer.flush(timeout=defaults.SEND_TIMEOUT_S)
            except KafkaError:
                pass  # each send's own result says what went wrong

    def read(self, positions: dict[int, int]) -> Iterator[list[Record]]:
        self._ready()
        try:
            with kafka_errors(self.settings, f"topic {self.topic}"):
                yield from read_to_end(self._reader, positions, self.topic)
        except KafkaError as exc:
            raise ServiceUnavailable(
                f"Could not read {self.topic} from Kafka ({type(exc).__name__})."
            ) from None

    def _consumer(self) -> KafkaConsumer:
        self._ready()
        assert self._reader is not None  # _ready() opened it
        return self._reader

    def end_offsets(self) -> dict[int, int]:
        reader = self._consumer()
        with kafka_errors(self.settings, f"topic {self.topic}"):
            return partition_ends(reader, self.topic)

    def topic_id(self) -> str:
        self._ready()
        return self._topic_id

    def latest_snapshot(self) -> bytes | None:
        """The last record of the snapshots topic (compaction keeps older ones out of the way;
        until it runs, the last one is still the newest)."""
        reader = self._consumer()
        topic = self.settings.snapshots_topic
        with kafka_errors(self.settings, f"topic {topic}"):
            if topic not in reader.topics():
                return None
            tp = TopicPartition(topic, 0)
            end = reader.end_offsets([tp])[tp]
            if end == 0:
                return None
            reader.assign([tp])
            reader.seek(tp, end - 1)
            found = None
            while reader.position(tp) < end:
                for records in reader.poll(timeout_ms=500).values():
                    found = records[-1].value if records else found
            return found

    def save_snapshot(self, value: bytes) -> None:
        from banku.adapters.kafka.clients import COMPACTED_CONFIG

        self._ready()
        topic = self.settings.snapshots_topic
        ensure_topic(self.settings, topic, partitions=1, config=COMPACTED_CONFIG)
        producer = make_producer(self.settings, max_request_size=16 * 1024 * 1024,
                                 compression_type=None, linger_ms=0)
        try:
            _Sent(producer.send(topic, key=snapshots.KEY, value=value), "snapshot",
                  self.settings).result()
        finally:
            producer.close(timeout=defaults.CLOSE_TIMEOUT_S)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=defaults.CLOSE_TIMEOUT_S)
            self._producer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._partitions = None


# --- the projector's feeds ----------------------------------------------------------------------
class _Listener(ConsumerRebalanceListener):
    def __init__(self, listener: Assignment, consumer: KafkaConsumer) -> None:
        self.listener, self.consumer = listener, consumer

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.listener.revoked(sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # Seek here, inside poll, before this poll fetches anything from the group's committed
        # offsets: the view's positions are the truth.
        seeks = self.listener.assigned(sorted(tp.partition for tp in assigned))
        for tp in assigned:
            if tp.partition in seeks:
                self.consumer.seek(tp, seeks[tp.partition])


class KafkaFeed:
    """A consumer on one topic, as the projector sees it."""

    def __init__(self, settings: Settings, consumer: KafkaConsumer, topic: str) -> None:
        self.settings, self.consumer, self.topic = settings, consumer, topic

    def assignment(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    def seek(self, partition: int, offset: int) -> None:
        self.consumer.seek(TopicPartition(self.topic, partition), offset)

    def position(self, partition: int) -> int:
        return self.consumer.position(TopicPartition(self.topic, partition))

    def poll(self, timeout_ms: int) -> dict[int, list[Record]]:
        try:
            with kafka_errors(self.settings, f"topic {self.topic}"):
                polled = self.consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as exc:  # the broker went away (kafka-python raises from poll)
            raise kafka_down(self.settings, exc) from None
        return {tp.partition: records for tp, records in polled.items()}

    def commit(self, positions: dict[int, int]) -> bool:
        offsets = {TopicPartition(self.topic, p): OffsetAndMetadata(nxt, "", -1)
                   for p, nxt in positions.items()}
        try:
            self.consumer.commit(offsets)
            return True
        except KafkaError:
            return False  # the view holds the truth; Kafka's committed offset is for lag tools

    def end_offsets(self) -> dict[int, int]:
        with kafka_errors(self.settings, f"topic {self.topic}"):
            return partition_ends(self.consumer, self.topic)

    def coordinator_silent_for(self) -> float:
        """Seconds since the group coordinator last answered a heartbeat (0 outside a group)."""
        return compat.coordinator_silent_for(self.consumer)

    def close(self) -> None:
        try:
            self.consumer.close(autocommit=False)  # a group member leaves its group here
        except KafkaError:
            pass


class KafkaFeeds:
    """Opens the projector's consumer on ``settings.topic_name``."""

    def __init__(self, settings: Settings, group_id: str, options: dict[str, object]) -> None:
        self.settings, self.group_id, self.options = settings, group_id, options
        self.topic = settings.topic_name
        self._reader: KafkaConsumer | None = None  # for end offsets, kept: one bootstrap
        self._topic_ready = False
        self._count = 0

    def _consumer(self) -> KafkaConsumer:
        with kafka_errors(self.settings, f"group {self.group_id}"):
            consumer = make_member(self.settings, self.group_id, **self.options)
            if not self._topic_ready:
                # Only a missing topic needs the admin client (a bootstrap of its own).
                if not consumer.partitions_for_topic(self.topic):
                    ensure_topic(self.settings)
                self._topic_ready = True
            self._count = len(partitions_of(consumer, self.topic))
        return consumer

    def partition_count(self) -> int:
        return self._count or len(self.end_offsets())

    def group(self, listener: Assignment) -> KafkaFeed:
        """Join the consumer group: partitions are assigned, and taken away, by rebalances."""
        consumer = self._consumer()
        consumer.subscribe([self.topic], listener=_Listener(listener, consumer))
        return KafkaFeed(self.settings, consumer, self.topic)

    def every_partition(self, listener: Assignment) -> KafkaFeed:
        """Own every partition without joining the group, so nothing is held afterwards."""
        consumer = self._consumer()
        feed = KafkaFeed(self.settings, consumer, self.topic)
        with kafka_errors(self.settings, f"topic {self.topic}"):
            parts = partitions_of(consumer, self.topic)
        if not parts:
            consumer.close()
            refuse_if_not_allowed(self.settings, self.topic)
            raise kafka_down(self.settings)
        consumer.assign(parts)
        for partition, offset in listener.assigned([tp.partition for tp in parts]).items():
            feed.seek(partition, offset)
        return feed

    def end_offsets(self) -> dict[int, int]:
        if self._reader is None:
            self._reader = make_reader(self.settings)
        with kafka_errors(self.settings, f"topic {self.topic}"):
            return partition_ends(self._reader, self.topic, timeout=5.0)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class KafkaDeadLetters:
    """``<topic>.dlq``: the record as it was, the reason and its origin in headers; one letter
    per refused record, however often the log is replayed.

    A replay (or a projector restarted before its positions moved) refuses the same records
    again. Before it writes, the sink reads the source headers the topic holds (all of them the
    first time, then only what was added since), and skips a record already there, so the
    topic does not grow on replay. Two projectors refusing the same record at the same moment
    (a replay beside the live one) could still both write it: the window is one read.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.dlq_topic
        self._log = KafkaEventLog(settings, self.topic)  # created at the first letter
        self._read_to: dict[int, int] = {}  # partition -> next offset of the DLQ to read
        self._stored: set[str] = set()  # sources of the letters in the DLQ, as far as read

    def stored(self) -> set[str]:
        """The sources of the letters the DLQ holds (read up to its end now)."""
        for records in self._log.read(self._read_to):
            for record in records:
                source = dict(record.headers or []).get(SOURCE_HEADER)
                if source is not None:
                    self._stored.add(source.decode(errors="replace"))
        return self._stored

    def send(self, letters: list[tuple[Record, str]]) -> None:
        stored = self.stored()
        sent = []
        for record, reason in letters:
            source = source_of(record)
            if source in stored:
                continue  # refused before (a replay): its letter is there already
            stored.add(source)
            # A letter keeps its record's partition number: the letters of one partition stay
            # in their order.
            sent.append(self._log.append(
                record.key, record.value, dead_letter_headers(record, reason),
                partition=record.partition % self._log.partitions, timestamp_ms=record.timestamp,
                what="dead letter"))
        # The bookmark may only move past a poison record once it is safe in the DLQ.
        for one in sent:
            one.result()

    def close(self) -> None:
        self._log.close()
