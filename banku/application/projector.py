"""The projector: reads events from Kafka and keeps the Redis view up to date, exactly once.

Kafka delivers at least once: after a crash, records are delivered again. The projector turns
that into exactly-once *effects*:

1. Each batch's balance changes and the next offset of each partition (its tracking record) are
   written to Redis in one atomic step (`ReadModel.apply`). The step only succeeds if Redis still
   holds the positions this projector expected, so two projectors never apply the same records.
2. When partitions are assigned, the projector seeks to the positions stored in Redis (not to
   Kafka's committed offsets) and skips any record below them.
3. Kafka's committed offset is updated *after* Redis, only so that lag tools show progress.

A record that is not a valid event, or that the view cannot hold, never stops the projector: it
goes to ``<topic>.dlq`` with the reason in a header, is counted, and the view is untouched.

Two ways to run it:

* ``run()`` (and ``start()`` in a background thread) is a service: a member of the consumer group,
  which shares the partitions with the other members and takes over when one fails.
* ``run_until_caught_up()`` and ``replay()`` are one-shot: they own every partition *without*
  joining the group, apply everything up to the end offsets and let go. The compare-and-set above
  keeps them exact even beside running members, and nothing is held once they return, so
  ``Projector(settings).run_until_caught_up()`` can run any number of times in one process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from banku import defaults
from banku.application import gc_pause
from banku.application.ports import DeadLetterSink, Feed, Feeds, NameKeys, ViewStore
from banku.application.resources import released_with
from banku.config import DEFAULT_GROUP, Settings
from banku.domain.projection import Batch, Projection
from banku.domain.sealing import is_sealed
from banku.errors import BankuError, PositionConflict, ServiceUnavailable

log = logging.getLogger("banku.projector")


class Projector:
    """Keeps one namespace's Redis view equal to the fold of its topic."""

    def __init__(
        self,
        settings: Settings | None = None,
        group_id: str = DEFAULT_GROUP,
        *,
        session_timeout_ms: int = defaults.SESSION_TIMEOUT_MS,
        heartbeat_interval_ms: int | None = None,
        max_poll_records: int = defaults.PROJECTOR_BATCH,
        client_id: str | None = None,
        view: ViewStore | None = None,
        feeds: Feeds | None = None,
        dead_letters: DeadLetterSink | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.group_id = self.settings.group_id(group_id)
        self.topic = self.settings.topic_name
        self.session_timeout_ms = session_timeout_ms
        if view is None or feeds is None or dead_letters is None:
            from banku import bootstrap  # the real adapters: Redis and Kafka

            if view is None:
                view = bootstrap.view(self.settings)
            if feeds is None:
                options: dict[str, object] = dict(
                    client_id=client_id or f"banku-projector-{self.group_id}",
                    session_timeout_ms=session_timeout_ms,
                    heartbeat_interval_ms=(heartbeat_interval_ms
                                           or defaults.heartbeat_interval_ms(session_timeout_ms)),
                    max_poll_records=max_poll_records,
                    **defaults.PROJECTOR_FETCH,
                )
                feeds = bootstrap.feeds(self.settings, self.group_id, options)
            if dead_letters is None:
                dead_letters = bootstrap.dead_letters(self.settings)
        self.view: ViewStore = view
        self.feeds: Feeds = feeds
        self.dead: DeadLetterSink = dead_letters
        # Sealed names (crypto-shredding) are opened with keys kept in the view's Redis.
        self.names: NameKeys | None = view.name_keys()
        self.applied = 0  # events applied by this projector instance
        self.dead_letters = 0
        self.assignment_history: list[tuple[float, list[int]]] = []
        self.projection: Projection | None = None
        self._feed: Feed | None = None
        # True while the feed may be ahead of the view (a batch was fetched but not applied, or
        # the positions could not be read on assignment): seek back before the next poll.
        self._resync_needed = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # Whatever this projector holds is released when it is closed, or garbage collected.
        self._held: dict[str, Any] = {"view": view, "dead": dead_letters, "feeds": feeds}
        self._finalizer = released_with(self, self._held)

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the background thread if any, leave the group, close every connection."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self.stop()
        self._close_feed()
        self._finalizer()

    def __enter__(self) -> Projector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_feed(self, group: bool) -> Feed:
        if self._feed is None:
            self.view.positions()  # Redis must answer before we take partitions from anyone
            self._feed = self.feeds.group(self) if group else self.feeds.every_partition(self)
            self._held["feed"] = self._feed
        return self._feed

    def _close_feed(self) -> None:
        feed, self._feed = self._feed, None
        self._held.pop("feed", None)
        if feed is not None:
            feed.close()
        if self.projection is not None:
            self.projection.forget()

    # --- rebalance callbacks (run inside poll) ---------------------------------------------
    def _projection(self) -> Projection:
        if self.projection is None:
            self.projection = Projection(max(1, self.feeds.partition_count()))
        return self.projection

    def assigned(self, partitions: list[int]) -> dict[int, int]:
        self.assignment_history.append((time.time(), sorted(partitions)))
        log.info("assigned partitions %s", sorted(partitions),
                 extra={"event": "assigned", "partitions": sorted(partitions)})
        try:
            return self._projection().assigned(partitions, self.view.positions())
        except ServiceUnavailable:
            # Called inside poll, which would swallow the error: seek on the next poll instead.
            self._resync_needed = True
            return {}

    def revoked(self, partitions: list[int]) -> None:
        if self.projection is not None:
            self.projection.revoked(partitions)
        self.assignment_history.append((time.time(), []))
        log.info("revoked partitions %s", sorted(partitions),
                 extra={"event": "revoked", "partitions": sorted(partitions)})

    def _resync(self, feed: Feed) -> None:
        """Seek every owned partition back to the position stored in Redis."""
        owned = sorted(feed.assignment())
        projection = self._projection()
        projection.forget()
        for partition, offset in projection.assigned(owned, self.view.positions()).items():
            feed.seek(partition, offset)
        self._resync_needed = False

    # --- one step ----------------------------------------------------------------------------
    def poll_once(self, timeout_ms: int = 500) -> int:
        """Fetch one batch as a group member, apply it atomically; returns records consumed."""
        return self._step(self._open_feed(group=True), timeout_ms)

    def _step(self, feed: Feed, timeout_ms: int) -> int:
        with gc_pause.paused():  # see banku.application.gc_pause
            return self._apply_one_batch(feed, timeout_ms)

    def _apply_one_batch(self, feed: Feed, timeout_ms: int) -> int:
        if self._resync_needed:
            self._resync(feed)  # raises ServiceUnavailable while Redis is still away
        polled = feed.poll(timeout_ms)
        projection = self._projection()
        batch, dead = projection.build(polled, self.view.tracking)
        self._reveal_names(batch)
        # Transaction markers and aborted records take offsets but are never delivered: move
        # the tracking record past them too, so that it reaches the end offsets.
        for partition in feed.assignment():
            expected = projection.expected.get(partition)
            if expected is None:
                continue
            at = batch.positions.get(partition, (expected, max(expected, 0)))[1]
            position = feed.position(partition)
            if position > at:
                batch.positions[partition] = (expected, position)
        if not batch.positions:
            return 0
        # The feed is now past this batch. If it is not applied (Redis or Kafka fails below),
        # the next poll must start again from the positions in Redis, or the batch is skipped.
        resync_pending, self._resync_needed = self._resync_needed, True
        if dead:
            self.dead.send(dead)
            for record, reason in dead:
                log.warning("dead letter %s/%s: %s", record.partition, record.offset, reason,
                            extra={"event": "dead_letter", "partition": record.partition,
                                   "offset": record.offset, "reason": reason})
        try:
            self.view.apply(batch)
        except PositionConflict as exc:
            log.info("another projector moved ahead (%s); re-reading positions", exc,
                     extra={"event": "conflict"})
            self._resync(feed)
            return 0
        self._resync_needed = resync_pending
        projection.applied(batch)
        self.applied += batch.applied
        self.dead_letters += batch.dead_letters
        feed.commit({p: nxt for p, (_, nxt) in batch.positions.items()})
        return batch.applied + batch.dead_letters

    def _reveal_names(self, batch: Batch) -> None:
        sealed = [(a, name) for a, _, name in batch.opens if is_sealed(name)]
        if not sealed:
            return
        if self.names is None:
            return  # a view without a key store shows the ciphertext
        shown = self.names.reveal(sealed)  # the adapter says in one sentence why it cannot
        batch.opens = [(a, p, shown.get(a, name) if is_sealed(name) else name)
                       for a, p, name in batch.opens]

    # --- one-shot --------------------------------------------------------------------------
    def end_offsets(self) -> dict[int, int]:
        return self.feeds.end_offsets()

    def lag(self) -> int:
        """Records between the view's positions and the end of the topic (all partitions)."""
        stored = self.view.positions()
        return sum(max(0, end - stored.get(p, 0)) for p, end in self.end_offsets().items())

    def run_until_caught_up(self, timeout: float = defaults.CATCH_UP_TIMEOUT_S,
                            progress: bool = False) -> int:
        """Apply everything up to the end offsets as they are now; returns how many records.

        Owns every partition for the duration, without joining the consumer group, and lets
        go before returning.
        """
        if self._thread is not None:
            raise BankuError("This projector runs in the background; call stop() first.")
        if self._feed is not None:
            self._close_feed()  # a group membership from poll_once: leave, then own everything
        deadline = time.monotonic() + timeout
        feed = self._open_feed(group=False)
        bar = None
        done = 0
        try:
            ends = feed.end_offsets()  # as they are now: what "caught up" means for this call
            if progress:
                from tqdm.auto import tqdm

                stored = self.view.positions()
                bar = tqdm(total=sum(max(0, end - max(0, stored.get(p, 0)))
                                     for p, end in ends.items()), unit="event", desc="projecting")
            while not self._reached(ends):
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"The projector did not catch up within {timeout:.0f}s ({done} records"
                        " applied); is Kafka or Redis overloaded (`banku stack status`)?")
                step = self._step(feed, timeout_ms=200)
                done += step
                if bar is not None and step:
                    bar.update(step)
        finally:
            if bar is not None:
                bar.close()
            self._close_feed()
        return done

    def _reached(self, ends: dict[int, int]) -> bool:
        expected = self._projection().expected
        return all(expected.get(p, -1) >= end for p, end in ends.items() if end > 0)

    def replay(self, timeout: float = defaults.REPLAY_TIMEOUT_S, progress: bool = False) -> int:
        """Wipe this namespace's view and rebuild it from offset zero. The log is untouched."""
        self.view.wipe()
        return self.run_until_caught_up(timeout=timeout, progress=progress)

    # --- as a service --------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None,
            retry_seconds: float = defaults.OUTAGE_RETRY_S) -> None:
        """Project as a member of the consumer group until ``stop`` is set; leaves the group on
        the way out. Signal handling is the caller's business (the CLI stops it on SIGTERM)."""
        stop = stop or self._stop
        outage_since: float | None = None
        try:
            # Both servers must answer at the start (a clear error at once, not after a minute
            # of retries); after that, an outage is ridden out for up to ``retry_seconds``.
            self._open_feed(group=True)
            while not stop.is_set():
                try:
                    self._step(self._open_feed(group=True), timeout_ms=300)
                    self._rejoin_if_stranded()
                    if outage_since is not None:
                        log.info("connection is back; resuming from the positions in Redis",
                                 extra={"event": "resumed"})
                        outage_since = None
                except ServiceUnavailable as exc:
                    # Redis or Kafka went away: wait for it; the next poll first re-reads the
                    # positions Redis kept (a batch whose answer was lost is found applied).
                    now = time.monotonic()
                    if outage_since is None:
                        outage_since = now
                        log.warning("%s Retrying for up to %.0fs ...", exc, retry_seconds,
                                    extra={"event": "outage"})
                    if now - outage_since > retry_seconds:
                        raise
                    self._resync_needed = True
                    stop.wait(1.0)
        finally:
            self._close_feed()

    def _rejoin_if_stranded(self) -> None:
        """Leave and rejoin when the group coordinator has not answered a heartbeat for long.

        kafka-python 3.0.12 can strand a member: a rejoin cut short by a poll timeout leaves it
        subscribed, silent and outside the group, while the others own every partition. A member
        in the group (even an idle spare) hears back every few seconds, so a long silence means
        stranded. A fresh consumer joins again; the stored positions keep it exact.
        """
        feed = self._feed
        limit = max(defaults.STRANDED_SESSIONS * self.session_timeout_ms / 1000,
                    defaults.STRANDED_MIN_S)
        silent = feed.coordinator_silent_for() if feed is not None else 0.0
        if silent > limit:
            log.warning("no word from the group coordinator for %.0fs; rejoining the group",
                        limit, extra={"event": "rejoin"})
            self._close_feed()

    def start(self) -> Projector:
        """Run as a group member in a background thread (for notebooks); `stop()` ends it."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="banku-projector", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = defaults.STOP_TIMEOUT_S) -> None:
        """Ask the background thread to stop and wait for it (it leaves the group itself)."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            # Its consumer is still in use by that thread: kafka-python consumers are not
            # thread-safe, so it is left for the thread to close when it ends.
            raise BankuError(f"The projector thread did not stop within {timeout:.0f}s.")
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
