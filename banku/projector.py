"""The projector: reads events from Kafka and keeps the Redis view up to date, exactly once.

Kafka delivers at least once: after a crash, records are delivered again. The projector turns
that into exactly-once *effects*:

1. Each batch's balance changes and the next offset of each partition are written to Redis in
   one atomic step (`ReadModel.apply_batch`). The step only succeeds if Redis still holds the
   positions this projector expected, so two projectors can never apply the same records.
2. When partitions are assigned, the projector seeks to the positions stored in Redis (not to
   Kafka's committed offsets) and skips any record below them.
3. Kafka's committed offset is updated *after* Redis, only so that lag tools show progress.

A record that is not a valid event never stops the projector: it goes to ``<topic>.dlq`` with
the reason in a header, is counted, and the view is untouched.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from .config import DEFAULT_GROUP, Settings
from .errors import BankuError, EventDecodeError, ServiceUnavailable
from .events import decode
from .kafka_io import ensure_topic, kafka_down, kafka_errors, make_producer, partitions_of
from .read_model import Batch, PositionConflict, ReadModel

Log = Callable[[str], None]

# How the projector fetches. (The benchmarks give their bare kafka-python consumer the same
# options, so that "the kit's projector vs a consumer doing nothing" compares like with like.)
FETCH_OPTIONS: dict[str, object] = dict(
    # At most 2 MB per partition and 8 MB per request, about 12,000 records per partition per
    # round trip. kafka-python asks for more only once a partition's records are used up, so
    # smaller fetches leave the projector waiting for the broker (1 MB: a quarter slower), while
    # larger ones only make its memory grow with the log (16 MB fetched whole partitions at
    # once: 225 MB peak for 200,000 events, against about 115 MB now for any length of log).
    max_partition_fetch_bytes=2 * 1024 * 1024,
    fetch_max_bytes=8 * 1024 * 1024,
)


def _quiet(_: str) -> None:
    pass


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.projector._on_revoked(revoked)

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.projector._on_assigned(assigned)


class Projector:
    """Keeps one namespace's Redis view equal to the fold of its topic."""

    def __init__(
        self,
        settings: Settings | None = None,
        group_id: str = DEFAULT_GROUP,
        *,
        session_timeout_ms: int = 10000,
        heartbeat_interval_ms: int = 3000,
        max_poll_records: int = 5000,
        client_id: str | None = None,
        log: Log = _quiet,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.group_id = self.settings.group_id(group_id)
        self.topic = self.settings.topic_name
        self.view = ReadModel(self.settings)
        self.log = log
        self.applied = 0  # events applied by this projector instance
        self.dead_letters = 0
        self.assignment_history: list[tuple[float, list[int]]] = []
        self._consumer_options = dict(
            group_id=self.group_id,
            client_id=client_id or f"banku-projector-{self.group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_records=max_poll_records,
            **FETCH_OPTIONS,
        )
        self._consumer: KafkaConsumer | None = None
        self._dlq = None
        self._expected: dict[int, int] = {}  # partition -> position stored in Redis (-1: none)
        # True while the consumer may be ahead of Redis (a batch was fetched but not applied, or
        # the positions could not be read on assignment): seek back before the next poll.
        self._resync_needed = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            self.view.ping()
            ensure_topic(self.settings)
            with kafka_errors(self.settings):
                consumer = KafkaConsumer(**self.settings.kafka_options(), **self._consumer_options)
            consumer.subscribe([self.topic], listener=_Rebalance(self))
            self._consumer = consumer
        return self._consumer

    def close(self) -> None:
        """Leave the group (so others take over at once) and close the connections."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self.stop()
        if self._consumer is not None:
            self._drop_consumer()
        if self._dlq is not None:
            self._dlq.close(timeout=10)
            self._dlq = None

    def __enter__(self) -> Projector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- rebalance callbacks (run inside poll) ---------------------------------------------
    def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        try:
            self._seek_to_stored(assigned)
        except ServiceUnavailable:
            # Called inside poll, which would swallow the error: seek on the next poll instead.
            self._resync_needed = True
        parts = sorted(tp.partition for tp in assigned)
        self.assignment_history.append((time.time(), parts))
        self.log(f"assigned partitions {parts}")

    def _seek_to_stored(self, assigned: list[TopicPartition]) -> None:
        stored = self.view.positions()
        for tp in assigned:
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition])
                self._expected[tp.partition] = stored[tp.partition]
            else:
                self.consumer.seek_to_beginning(tp)
                self._expected[tp.partition] = -1

    def _on_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self._expected.pop(tp.partition, None)
        self.assignment_history.append((time.time(), []))

    def _resync(self) -> None:
        """Seek every owned partition back to the position stored in Redis."""
        assigned = list(self.consumer.assignment())
        if assigned:
            self._seek_to_stored(assigned)
        self._resync_needed = False

    # --- one step ----------------------------------------------------------------------------
    def poll_once(self, timeout_ms: int = 500) -> int:
        """Fetch one batch, apply it atomically, return how many records it consumed."""
        if self._resync_needed:
            self._resync()  # raises ServiceUnavailable while Redis is still away
        try:
            polled = self.consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as exc:  # the broker went away (kafka-python raises from poll)
            raise kafka_down(self.settings, exc) from None
        if not polled:
            return 0
        batch = Batch()
        dead: list[tuple[object, str]] = []
        for tp, records in polled.items():
            expected = self._expected.get(tp.partition)
            if expected is None:
                continue  # revoked while this batch was in flight
            if records[0].offset < expected:
                # Delivered again (after a crash or a seek): skip what Redis already has.
                records = [r for r in records if r.offset >= expected]
                if not records:
                    continue
            for record in records:
                try:
                    event = decode(record.value)
                except EventDecodeError as exc:
                    dead.append((record, str(exc)))
                    continue
                batch.add(event)
            batch.positions[tp.partition] = (expected, records[-1].offset + 1)
        if not batch.positions:
            return 0
        # The consumer is now past this batch. If it is not applied (Redis or Kafka fails below),
        # the next poll must start again from the positions in Redis, or the batch is skipped.
        resync_pending, self._resync_needed = self._resync_needed, True
        if dead:
            try:
                self._send_to_dlq(dead)
            except KafkaError as exc:
                raise kafka_down(self.settings, exc) from None
            batch.dead_letters = len(dead)
        try:
            self.view.apply_batch(batch)
        except PositionConflict as exc:
            self.log(f"another projector moved ahead ({exc}); re-reading positions")
            self._resync()
            return 0
        self._resync_needed = resync_pending
        for partition, (_, nxt) in batch.positions.items():
            self._expected[partition] = nxt
        self.applied += batch.applied
        self.dead_letters += batch.dead_letters
        self._commit(batch)
        return batch.applied + batch.dead_letters

    def _commit(self, batch: Batch) -> None:
        offsets = {
            TopicPartition(self.topic, p): OffsetAndMetadata(nxt, "", -1)
            for p, (_, nxt) in batch.positions.items()
        }
        try:
            self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Redis holds the truth; Kafka's committed offset is only for lag tools.
            self.log(f"offset commit skipped ({type(exc).__name__})")

    def _send_to_dlq(self, dead: list[tuple[object, str]]) -> None:
        if self._dlq is None:
            ensure_topic(self.settings, self.settings.dlq_topic)
            self._dlq = make_producer(self.settings)
        futures = []
        for record, reason in dead:
            headers = [
                ("banku.reason", reason.encode()),
                ("banku.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ]
            futures.append(self._dlq.send(
                self.settings.dlq_topic, key=record.key, value=record.value, headers=headers,
                timestamp_ms=record.timestamp,
            ))
            self.log(f"dead letter {record.partition}/{record.offset}: {reason}")
        # The bookmark may only move past a poison record once it is safe in the DLQ.
        for future in futures:
            future.get(timeout=30)

    # --- running -----------------------------------------------------------------------------
    def end_offsets(self) -> dict[int, int]:
        parts = partitions_of(self.consumer, self.topic)
        return {tp.partition: off for tp, off in self.consumer.end_offsets(parts).items()}

    def lag(self) -> int:
        """Records between the view's positions and the end of the topic (all partitions)."""
        ends = self.end_offsets()
        stored = self.view.positions()
        return sum(max(0, end - stored.get(p, 0)) for p, end in ends.items())

    def run_until_caught_up(self, timeout: float = 30, progress: bool = False) -> int:
        """Apply everything up to the end offsets as they are now; return how many records."""
        if self._thread is not None:
            raise BankuError("This projector runs in the background; call stop() first.")
        ends = self.end_offsets()
        deadline = time.monotonic() + timeout
        done = 0
        bar = None
        if progress:
            from tqdm.auto import tqdm

            stored = self.view.positions()
            total = sum(max(0, end - stored.get(p, 0)) for p, end in ends.items())
            bar = tqdm(total=total, unit="event", desc="projecting")
        while time.monotonic() < deadline:
            step = self.poll_once(timeout_ms=200)
            done += step
            if bar is not None and step:
                bar.update(step)
            assigned = self.consumer.assignment()
            if not assigned:
                continue
            mine_done = all(self._expected.get(tp.partition, -1) >= ends.get(tp.partition, 0)
                            or ends.get(tp.partition, 0) == 0 for tp in assigned)
            # Caught up means *every* partition, not just the ones this member owns right now:
            # a crashed member may still hold the others until its session times out.
            if mine_done and self._view_reached(ends):
                if bar is not None:
                    bar.close()
                return done
        if bar is not None:
            bar.close()
        raise ServiceUnavailable(
            f"The projector did not catch up within {timeout:.0f}s ({done} records applied);"
            " is another projector in the same group holding partitions?"
        )

    def _view_reached(self, ends: dict[int, int]) -> bool:
        stored = self.view.positions()
        return all(stored.get(p, 0) >= end for p, end in ends.items() if end > 0)

    def replay(self, timeout: float = 120, progress: bool = False) -> int:
        """Wipe this namespace's view and rebuild it from offset zero. The log is untouched."""
        self.view.wipe()
        if self._consumer is not None:
            for tp in self._consumer.assignment():
                self._consumer.seek_to_beginning(tp)
                self._expected[tp.partition] = -1
        return self.run_until_caught_up(timeout=timeout, progress=progress)

    def run(self, stop: threading.Event | None = None, handle_signals: bool = True,
            retry_seconds: float = 60) -> None:
        """Project until stopped (SIGTERM, SIGINT or ``stop``). Leaves the group on the way out."""
        stop = stop or self._stop
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        outage_since: float | None = None
        try:
            # Both servers must answer at the start (a clear error at once, not after a minute
            # of retries); after that, an outage is ridden out for up to ``retry_seconds``.
            self.consumer  # noqa: B018
            while not stop.is_set():
                try:
                    self.poll_once(timeout_ms=300)
                    self._rejoin_if_stranded()
                    if outage_since is not None:
                        self.log("connection is back; resuming from the positions in Redis")
                        outage_since = None
                except ServiceUnavailable as exc:
                    # Redis or Kafka went away: wait for it; the next poll first re-reads the
                    # positions Redis kept (a batch whose answer was lost is found applied).
                    now = time.monotonic()
                    if outage_since is None:
                        outage_since = now
                        self.log(f"{exc} Retrying for up to {retry_seconds:.0f}s ...")
                    if now - outage_since > retry_seconds:
                        raise
                    stop.wait(1.0)
        finally:
            self.close()

    def _rejoin_if_stranded(self) -> None:
        """Leave and rejoin when the group coordinator has not answered a heartbeat for long.

        kafka-python 3.0.12 can strand a member: a rejoin cut short by a poll timeout leaves it
        subscribed, silent and outside the group, while the others own every partition. A member
        in the group (even an idle fourth one) hears back every few seconds, so a long silence
        means stranded. A fresh consumer joins again; the stored positions keep it exact.
        """
        heartbeat = getattr(getattr(self._consumer, "_coordinator", None), "heartbeat", None)
        if heartbeat is None:
            return
        last = max(getattr(heartbeat, "last_receive", 0.0), getattr(heartbeat, "last_reset", 0.0))
        limit = max(3 * self._consumer_options["session_timeout_ms"] / 1000, 15.0)
        if time.monotonic() - last > limit:
            self.log(f"no word from the group coordinator for {limit:.0f}s; rejoining the group")
            self._drop_consumer()

    def _drop_consumer(self) -> None:
        """Close the consumer (leaving the group); the next poll makes a fresh one."""
        try:
            self._consumer.close(autocommit=False)
        except KafkaError:
            pass
        self._consumer = None
        self._expected.clear()

    def start(self) -> Projector:
        """Run in a background thread (for notebooks); `stop()` ends it."""
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, kwargs=dict(handle_signals=False), name="banku-projector", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
