"""The command handler: one writer per account, exactly-once read-process-write with transactions.

Kafka has no conditional append, so two `Bank`s deciding about one account can both pass the
funds check. The single-writer principle removes the race: commands go to a commands topic keyed
by account, and the one member of the consumer group ``<ns.>banku-handler`` that owns a partition
decides its commands one at a time, so no two writers ever decide about the same account.

For each batch of commands it polls from one partition, the handler opens a Kafka transaction
and, in it, writes the events of the accepted commands, an outcome for every command
(``<ns.>banku-commands.outcomes``), the dead letters of records that are not commands, and the
commands' consumed offsets (`send_offsets_to_transaction`). All of it becomes visible to
``read_committed`` readers at once, or none of it does: exactly-once read-process-write.

Each command partition has its own transactional id (``<group>-p<N>``). A new owner's
``init_transactions`` fences the previous one (a crashed or paused handler, a "zombie") and aborts
its open transaction, so its commands are decided again, exactly once.

Owning a partition is not yet being able to decide its commands. The group coordinator lists a
handler as the owner as soon as the assignment is sent; the handler still has to make the
partition's producer, fence the previous owner and catch its ledger up. It does that in its own
loop, with the partition paused, and only then logs ``ready`` (``{"event": "ready", "partition":
N}`` with ``--log-json``): that line, not the coordinator's list, says a command will be answered.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

import orjson
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka import errors as kafka_errors_module
from kafka.structs import OffsetAndMetadata

from banku import defaults
from banku.adapters.kafka import compat
from banku.adapters.kafka.clients import (
    ensure_topic,
    make_member,
    make_producer,
    make_reader,
    partitions_of,
    read_to_end,
)
from banku.adapters.kafka.command_transport import (
    NotACommand,
    accepted,
    decode_command,
    outcome_partition,
    outcome_result,
    refused,
)
from banku.adapters.kafka.event_log import KafkaEventLog
from banku.application import gc_pause
from banku.application.handling import Command, Handling
from banku.application.write_model import WriteModel, command_id_of
from banku.config import HANDLER_GROUP, Settings
from banku.diagnostics import kafka_errors
from banku.domain import rules
from banku.domain.events import Event, encode, headers_for, key_of
from banku.domain.ledger import Receipt
from banku.domain.projection import dead_letter_headers
from banku.errors import BankuError, CommandRejected, ServiceUnavailable

log = logging.getLogger("banku.handler")


# A fenced producer must stay fenced (kafka-python would let it ask for a new epoch).
compat.fence_zombies_for_good()


class Fenced(BankuError):
    """Another handler owns this partition now: this one must stop."""


class _Acknowledgement:
    """A send inside the open transaction (`banku.application.ports.Sent`). Kafka's errors
    pass through as they are: a fenced producer must be recognised as one."""

    __slots__ = ("_future",)

    def __init__(self, future: Any) -> None:  # kafka-python's FutureRecordMetadata
        self._future = future

    def result(self) -> tuple[int, int, int]:
        md = self._future.get(timeout=defaults.SEND_TIMEOUT_S)
        return md.partition, md.offset, md.timestamp


class _InTransaction:
    """Where the decided events go: the events topic, through the partition's transactional
    producer (a `banku.application.handling.Writer`)."""

    unseen_until_landed = True  # read_committed readers see nothing of an open transaction

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer, self.topic = producer, topic

    def write(self, event: Event, partition: int, command_id: str,
              timestamp_ms: int | None) -> _Acknowledgement:
        return _Acknowledgement(self.producer.send(
            self.topic, key=key_of(event), value=encode(event), partition=partition,
            headers=headers_for(command_id), timestamp_ms=timestamp_ms))

    def flush(self) -> None:
        self.producer.flush()


class _Ownership(ConsumerRebalanceListener):
    def __init__(self, handler: CommandHandler) -> None:
        self.handler = handler

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.handler.revoked([tp.partition for tp in revoked])

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.handler.assigned([tp.partition for tp in assigned])


class CommandHandler:
    """Decides the commands of the partitions it owns, one at a time, in transactions."""

    def __init__(self, settings: Settings | None = None, *, client_id: str | None = None,
                 session_timeout_ms: int = defaults.SESSION_TIMEOUT_MS,
                 max_poll_records: int = 2000) -> None:
        self.settings = settings or Settings.from_env()
        self.group_id = self.settings.group_id(HANDLER_GROUP)
        self.client_id = client_id or f"banku-handler-{uuid.uuid4().hex[:6]}"
        self.state = WriteModel(KafkaEventLog(self.settings))
        self.producers: dict[int, Any] = {}  # ready command partition -> its transactional producer
        self.preparing: list[int] = []  # owned, paused, not yet able to decide
        self._retired: list[Any] = []  # producers of revoked partitions, closed in the loop
        self._committed_to: dict[int, int] = {}  # event partition -> after our last committed event
        # The decisions (command id -> decide -> partition -> write) and the refusals given.
        self.handling = Handling(self.state)
        self.decided = 0
        self._options = dict(session_timeout_ms=session_timeout_ms,
                             heartbeat_interval_ms=defaults.heartbeat_interval_ms(
                                 session_timeout_ms), max_poll_records=max_poll_records)
        self._consumer: KafkaConsumer | None = None

    # --- ownership ---------------------------------------------------------------------------
    # Both listeners run on kafka-python's network thread, which also sends the heartbeats: a
    # listener that blocks for a session timeout gets the handler dropped from the group, and it
    # then rejoins and does the same slow work again. So they only take note; the slow work
    # (producers, fencing, catching up) is done in the loop, between polls (`_prepare`).
    def assigned(self, partitions: list[int]) -> None:
        """The group gave us these partitions: pause them until `_prepare` makes them ready."""
        self.preparing = sorted(set(self.preparing) | set(partitions))
        if partitions and self._consumer is not None:
            topic = self.settings.commands_topic
            self._consumer.pause(*(TopicPartition(topic, p) for p in partitions))
        log.info("assigned command partitions %s", partitions,
                 extra={"event": "assigned", "partitions": partitions})

    def revoked(self, partitions: list[int]) -> None:
        for partition in partitions:
            if partition in self.preparing:
                self.preparing.remove(partition)
            producer = self.producers.pop(partition, None)
            if producer is not None:
                self._retired.append(producer)  # no transaction is open between polls
        log.info("revoked command partitions %s", partitions,
                 extra={"event": "revoked", "partitions": partitions})

    def _prepare(self, stop: threading.Event) -> None:
        """Make the owned partitions ready to decide: a transactional producer for each, whose
        ``init_transactions`` fences the previous owner and ends its open transaction; then the
        ledger is caught up (it now holds everything the previous owner committed), the
        partitions are resumed, and each is reported ``ready``."""
        made: dict[int, Any] = {}
        try:
            for partition in self.preparing:
                if stop.is_set():
                    return
                tid = f"{self.group_id}-p{partition}"
                made[partition] = producer = make_producer(
                    self.settings, transactional_id=tid,
                    # Back-to-back transactions wait for the previous one's markers; retry soon.
                    retry_backoff_ms=10, linger_ms=1000,
                    transaction_timeout_ms=defaults.TRANSACTION_TIMEOUT_MS)
                with kafka_errors(self.settings, f"the transactional id {tid}"):
                    producer.init_transactions()  # fences the previous owner
            self.state.catch_up()
        finally:
            if len(made) < len(self.preparing):  # interrupted: start again on the next round
                self._retired.extend(made.values())
                made = {}
        # No rebalance can have happened meanwhile: the listeners only run inside `poll`.
        self.producers.update(made)
        self.preparing = []
        topic = self.settings.commands_topic
        self.consumer.resume(*(TopicPartition(topic, p) for p in made))
        for partition in sorted(made):
            log.info("ready to decide command partition %d", partition,
                     extra={"event": "ready", "partition": partition,
                            "partitions": sorted(self.producers)})

    def _close_retired(self) -> None:
        while self._retired:
            self._retired.pop().close(timeout=defaults.CLOSE_TIMEOUT_S)

    @property
    def consumer(self) -> KafkaConsumer:
        """The group member; only reached once `_open` made it."""
        if self._consumer is None:
            raise RuntimeError("the command handler is not running")
        return self._consumer

    def _open(self) -> KafkaConsumer:
        if self._consumer is None:
            for topic in (self.settings.topic_name, self.settings.commands_topic,
                          self.settings.outcomes_topic, self.settings.commands_dlq_topic):
                ensure_topic(self.settings, topic)
            self._remember_refusals()
            with kafka_errors(self.settings, f"group {self.group_id}"):
                consumer = make_member(self.settings, self.group_id,
                                       client_id=self.client_id, **self._options)
            consumer.subscribe([self.settings.commands_topic], listener=_Ownership(self))
            self._consumer = consumer
        return self._consumer

    def _remember_refusals(self) -> None:
        """Refused commands leave no event; their outcomes do. Read the recent ones, so that a
        retried refused command gets its first answer back."""
        reader = make_reader(self.settings)
        try:
            topic = self.settings.outcomes_topic
            parts = self._outcome_parts = partitions_of(reader, topic)
            window = defaults.COMMAND_ID_WINDOW
            starts = {tp.partition: max(0, end - window)
                      for tp, end in reader.end_offsets(parts).items()}
            for records in read_to_end(reader, starts, topic):
                for record in records:
                    for outcome in orjson.loads(record.value):
                        if outcome.get("Outcome") == "refused":
                            try:
                                outcome_result(outcome)
                            except BankuError as refusal:
                                self.handling.remember_refusal(outcome["CommandId"], refusal)
        finally:
            reader.close()

    # --- the loop ----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Decide commands until ``stop`` is set; then leave the group."""
        consumer = self._open()
        try:
            while not stop.is_set():
                with kafka_errors(self.settings, f"group {self.group_id}"):
                    polled = consumer.poll(timeout_ms=300)
                for tp, records in polled.items():
                    with gc_pause.paused():  # see banku.application.gc_pause
                        self._decide_batch(tp, records)
                self._close_retired()
                if self.preparing:
                    self._prepare(stop)
        finally:
            self.close()

    def _decide_batch(self, tp: TopicPartition, records: list) -> None:
        producer = self.producers.get(tp.partition)
        if producer is None:
            if tp.partition in self.preparing:  # fetched before the pause: again once ready
                self.consumer.seek(tp, records[0].offset)
            return  # (or revoked while in flight: the next owner decides these)
        errors = kafka_errors_module
        try:
            producer.begin_transaction()
            outcomes, landed = self._decide_all(producer, records)
            self._answer(producer, outcomes)
            producer.send_offsets_to_transaction(
                {tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)},
                self.consumer.group_metadata())
            producer.commit_transaction()
        except (errors.ProducerFencedError, errors.InvalidProducerEpochError):
            raise Fenced(f"command partition {tp.partition} has a newer owner;"
                         " this handler stops") from None
        except errors.CommitFailedError:
            # Rebalanced out mid-batch: give the commands back, undecided.
            producer.abort_transaction()
            self.consumer.seek(tp, records[0].offset)
            self._refold()
            return
        self.handling.landed(landed)
        for receipt in landed:
            done = self._committed_to.get(receipt.partition, 0)
            self._committed_to[receipt.partition] = max(done, receipt.offset + 1)
        self.decided += len(records)

    def _refold(self) -> None:
        """Fold the ledger again after an aborted batch, whose events it had counted.

        It must hold every event this handler committed before, or a retried command would be
        decided a second time. A commit's markers reach the log just after the commit returns,
        and until they do a read_committed reader stops short of its records: read until it has
        passed them."""
        wanted = dict(self._committed_to)
        self.state.forget()
        deadline = time.monotonic() + defaults.READ_TO_END_TIMEOUT_S
        self.state.catch_up()
        while any(self.state.positions.get(p, 0) < end for p, end in wanted.items()):
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"The events this handler committed to {self.settings.topic_name} did not"
                    f" become readable within {defaults.READ_TO_END_TIMEOUT_S:.0f}s; it stops"
                    " rather than decide without them. Check the broker's log.")
            time.sleep(0.05)  # the markers are on their way
            self.state.catch_up()

    def _decide_all(self, producer: Any, records: list[Any],
                    ) -> tuple[list[tuple[str, dict[str, Any]]], list[Receipt]]:
        """Decide each command in order (`banku.application.handling`, the same use case as
        direct mode); returns the outcomes and the events' receipts. What is not a command
        goes to the dead letters, refused."""
        commands: list[Command] = []
        answers: list[tuple[str, dict[str, Any] | None]] = []  # None: the use case answers
        for record in records:
            cid = command_id_of(record.headers) or ""
            try:
                event = decode_command(record.value)
                if not cid:
                    raise NotACommand("a command needs an id in its banku.command header")
                rules.check_command_id(cid)
            except (NotACommand, CommandRejected) as exc:
                self._dead_letter(producer, record, str(exc))
                if cid:
                    answers.append((cid, refused(cid, NotACommand(str(exc)))))
                continue
            commands.append(Command(cid, event, record.timestamp))
            answers.append((cid, None))
        decided, receipts = self.handling.decide_all(
            commands, _InTransaction(producer, self.settings.topic_name))
        results = iter(decided)
        outcomes = []
        for cid, outcome in answers:
            if outcome is None:
                result = next(results)
                outcome = (accepted(cid, result) if isinstance(result, Receipt)
                           else refused(cid, result))
            outcomes.append((cid, outcome))
        return outcomes, receipts

    def _answer(self, producer: Any, outcomes: list[tuple[str, dict]]) -> None:
        """One outcomes record per outcome partition: each command's answer goes to the
        partition its id hashes to, where its client is reading."""
        by_partition: dict[int, list[dict]] = {}
        count = len(self._outcome_parts)
        for cid, outcome in outcomes:
            by_partition.setdefault(outcome_partition(cid, count), []).append(outcome)
        for partition, answers in by_partition.items():
            producer.send(self.settings.outcomes_topic, partition=partition,
                          value=orjson.dumps(answers))

    def _dead_letter(self, producer: Any, record: Any, reason: str) -> None:
        producer.send(self.settings.commands_dlq_topic, key=record.key, value=record.value,
                      headers=dead_letter_headers(record, reason))
        log.warning("dead letter %s/%s: %s", record.partition, record.offset, reason,
                    extra={"event": "dead_letter", "partition": record.partition,
                           "offset": record.offset, "reason": reason})

    def close(self) -> None:
        """Leave the group and close every producer (no transaction is open between polls)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close(autocommit=False)
        self.revoked(list(self.producers))
        self._close_retired()
        self.state.log.close()
