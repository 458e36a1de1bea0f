"""Work that runs beside a notebook: loops on threads, projector processes, and their cleanup.

A notebook kernel outlives a failed cell, and a learner re-runs cells. Everything started here
is remembered, and `stop_leftovers` (called when a failover notebook starts again, and when the
kernel exits) stops it, so that nothing keeps running behind the learner's back: a traffic
thread that outlived a reset would go on writing commands for accounts the new topic never had.
"""

from __future__ import annotations

import abc
import atexit
import random
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Iterable

from banku.application.bank import Bank
from banku.config import Settings

_WORKERS: weakref.WeakSet = weakref.WeakSet()
_PROCESSES: list[subprocess.Popen] = []


class Worker(abc.ABC):
    """Calls `step()` on a background thread until `stop()`; an error ends the loop and is kept.

    `setup()` and `teardown()` run on the worker's thread, before the first and after the last
    step: open and close there whatever the steps use.
    """

    name = "worker"
    interval = 0.0  # seconds between steps

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def setup(self) -> None:  # noqa: B027 - an optional hook, not an abstract one
        pass

    @abc.abstractmethod
    def step(self) -> None:
        """One round of the work; a subclass says what."""

    def teardown(self) -> None:  # noqa: B027 - an optional hook
        pass

    def start(self):  # returns the subclass
        if self._thread is None:
            _WORKERS.add(self)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the loop and wait for it (and `teardown`) to finish."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.setup()
            while not self._stop.is_set():
                self.step()
                self._stop.wait(self.interval)
        except BaseException as exc:  # kept for whoever waits on the worker
            self.error = exc
        finally:
            try:
                self.teardown()
            except Exception as exc:  # closing failed: keep the first error
                self.error = self.error or exc


class Polling(Worker):
    """Keeps a subscribed `KafkaConsumer` polling, and so in its group, until `stop()`; then
    closes it, which sends the group coordinator a LeaveGroup request."""

    name = "polling"

    def __init__(self, consumer) -> None:  # a kafka.KafkaConsumer
        super().__init__()
        self.consumer = consumer

    def step(self) -> None:
        self.consumer.poll(timeout_ms=100)

    def teardown(self) -> None:
        self.consumer.close()


class Traffic(Worker):
    """Deposits and transfers between the existing accounts, in small bursts.

    Each command is still checked against the rules (a `Bank` of its own, which folds the
    topic), so a transfer never overdraws. `stop()` returns how many events were written and
    raises whatever went wrong.
    """

    name = "traffic"

    def __init__(self, settings: Settings, burst: int = 20, pause: float = 0.05,
                 seed: int = 4) -> None:
        super().__init__()
        self.settings = settings
        self.burst = burst
        self.interval = pause
        self.written = 0
        self._random = random.Random(seed)
        self._bank: Bank | None = None

    def setup(self) -> None:
        self._bank = Bank(self.settings)

    def step(self) -> None:
        bank, rnd = self._bank, self._random
        assert bank is not None
        with bank.batch() as receipts:
            ids = sorted(bank.ledger.names)
            for _ in range(self.burst):
                source, target = rnd.sample(ids, 2)
                balance = bank.ledger.balances[source]
                if balance > 0 and rnd.random() < 0.6:
                    bank.transfer(source, target, rnd.randint(1, min(balance, 5000)))
                else:
                    bank.deposit(target, rnd.randint(100, 10000))
        self.written += len(receipts)

    def teardown(self) -> None:
        if self._bank is not None:
            self._bank.close()

    def stop(self, timeout: float = 60.0) -> int:  # type: ignore[override]
        super().stop(timeout)
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return self.written


def track(process: subprocess.Popen) -> subprocess.Popen:
    """Remember a process so that `stop_leftovers` stops it."""
    _PROCESSES.append(process)
    return process


def stop_processes(processes: Iterable[subprocess.Popen], timeout: float = 15.0) -> int:
    """SIGTERM (a clean leave), then SIGKILL whatever has not exited by the deadline."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return len(running)


def stop_leftovers() -> int:
    """Stop every worker and process started here; returns how many processes still ran.

    Call it before resetting a namespace: a group with live members cannot be deleted.
    """
    for worker in list(_WORKERS):
        worker.stop()
    stopped = stop_processes(_PROCESSES)
    _PROCESSES.clear()
    return stopped


atexit.register(stop_leftovers)
