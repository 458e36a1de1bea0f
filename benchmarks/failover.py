"""Consumer-group failover: how long a member's partitions go without a working owner.

Two `banku project` processes share the group, at the session timeout the kit uses. One of them
is killed with SIGKILL (a crash: nobody tells the coordinator, which waits for the session to
time out); later, with a fresh second member, one is stopped with SIGTERM (a clean shutdown: the
member leaves the group, and the group rebalances at once). For each, from the signal:

* until the survivor owns the partitions of the member that went (`group_ownership`), and
* until a record written to one of those partitions as soon as the member is gone is applied
  by the survivor (the partition's position in Redis moves past the record).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable

from banku.adapters.kafka.clients import end_offsets, kafka_partition, make_producer
from banku.adapters.redis.view import ReadModel
from banku.config import PARTITIONS, Settings
from banku.domain.events import DepositEvent, encode, key_of
from banku.lessons.notebook import group_ownership, start_projector_process

from .common import Result, Sizes, fresh, load_log, synthetic_log

TITLE = "Consumer-group failover"
POLL = 0.05


def partition_of(account_id: str) -> int:
    """The partition Kafka's default partitioner picks for an account's records."""
    return kafka_partition(account_id.encode(), PARTITIONS)


def owners(settings: Settings) -> dict[str, list[int]]:
    try:
        return group_ownership(settings)
    except Exception:  # a group in the middle of a rebalance may not describe
        return {}


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` holds (checked every 50 ms); raise after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"gave up after {timeout:.0f}s waiting until {what}")
        time.sleep(POLL)
    return time.monotonic() - start


class Member:
    def __init__(self, settings: Settings, name: str, session_timeout_ms: int) -> None:
        self.name = name
        self.process: subprocess.Popen = start_projector_process(
            settings, "--session-timeout-ms", str(session_timeout_ms), "--client-id", name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stderr is not None:
            self.process.stderr.close()


class Failover:
    def __init__(self, settings: Settings, accounts: list[str], session_timeout_ms: int) -> None:
        self.settings = settings
        self.accounts = accounts
        self.session_timeout_ms = session_timeout_ms
        self.timeout = 3 * session_timeout_ms / 1000 + 60
        self.view = ReadModel(settings)
        self.producer = make_producer(settings, linger_ms=0)
        self.members: list[Member] = []

    def start(self, name: str) -> Member:
        member = Member(self.settings, name, self.session_timeout_ms)
        self.members.append(member)
        return member

    def caught_up(self) -> bool:
        positions = self.view.positions()
        return all(positions.get(p, 0) >= end for p, end in end_offsets(self.settings).items())

    def both_own(self, a: Member, b: Member) -> bool:
        found = owners(self.settings)
        return set(found) == {a.name, b.name} and all(found.values())

    def measure(self, leaving: Member, staying: Member, how: signal.Signals) -> tuple[float, float]:
        """Send ``how`` to ``leaving``; seconds until ``staying`` owns its partitions, and until
        a record written to one of them once ``leaving`` has exited is applied."""
        theirs = owners(self.settings)[leaving.name]
        account = next(a for a in self.accounts if partition_of(a) in theirs)
        owned_at: list[float] = []

        def taken_over() -> bool:
            found = owners(self.settings)
            return leaving.name not in found and set(theirs) <= set(found.get(staying.name, ()))

        def watch() -> None:  # in a thread: asking the coordinator takes a while each time
            wait_until(taken_over, self.timeout, "the partitions are taken over")
            owned_at.append(time.monotonic() - started)

        watcher = threading.Thread(target=watch, daemon=True)
        started = time.monotonic()
        leaving.process.send_signal(how)
        watcher.start()
        # Written once the member is gone, so that only the survivor can apply it (a member
        # stopped with SIGTERM finishes the batch in hand, which may hold a newer record).
        leaving.process.wait(30)
        event = DepositEvent(account, 1)
        written = self.producer.send(self.settings.topic_name, key=key_of(event),
                                     value=encode(event)).get(timeout=30)
        wait_until(lambda: self.view.positions().get(written.partition, 0) > written.offset,
                   self.timeout, "the record is applied")
        applied = time.monotonic() - started
        watcher.join(self.timeout)
        if not owned_at:
            raise RuntimeError(f"{staying.name} never owned partitions {theirs}")
        return owned_at[0], applied

    def close(self) -> None:
        for member in self.members:
            member.stop()
        self.producer.close(timeout=10)
        self.view.close()


def run(base: Settings, sizes: Sizes) -> Result:
    result = Result("failover", TITLE)
    settings = fresh(base, "bench-failover")
    log = synthetic_log(2_000, accounts=30, seed=4)
    load_log(settings, log)
    accounts = [event.acc_id for event, _ in log[:30]]
    timeout_ms = sizes.session_timeout_ms
    run_ = Failover(settings, accounts, timeout_ms)
    try:
        a, b = run_.start("member-a"), run_.start("member-b")
        wait_until(lambda: run_.both_own(a, b) and run_.caught_up(), run_.timeout,
                   "two members share the partitions and the view is caught up")
        owned, applied = run_.measure(a, b, signal.SIGKILL)
        result.figure("SIGKILL: until the survivor owns the partitions", owned, "s")
        result.figure("SIGKILL: until a record on them is applied", applied, "s")

        c = run_.start("member-c")
        wait_until(lambda: run_.both_own(b, c) and run_.caught_up(), run_.timeout,
                   "the new member has joined")
        owned, applied = run_.measure(c, b, signal.SIGTERM)
        result.figure("SIGTERM (clean leave): until the survivor owns the partitions", owned, "s")
        result.figure("SIGTERM (clean leave): until a record on them is applied", applied, "s")
        if c.process.wait(30) != 0:
            raise RuntimeError("the projector stopped with SIGTERM did not exit cleanly")
    finally:
        run_.close()
    result.figure("session timeout (heartbeat = timeout / 4)", timeout_ms / 1000, "s")
    kill_owned = result.figures[0].value
    result.ratio("SIGKILL takeover / session timeout (context)", kill_owned / (timeout_ms / 1000))
    result.note(
        "A crash is noticed only when the session times out, then the group rebalances; a clean"
        " leave starts the rebalance at once. Ownership is read from the group coordinator"
        f" (about every {POLL * 1000:.0f} ms plus the time to ask), the position from Redis."
    )
    return result
