"""Helpers for the fault tests: processes we can kill, traffic, and reading the view (waiting is
`tests.helpers.wait_until`).

The checks (`tests.helpers.fold_topic`, `raw_records`, `end_offsets`) deliberately do not use
the kit's decoder or projector; these helpers only start and watch things.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from banku import Bank, Settings
from banku.adapters.redis.view import ReadModel
from banku.lessons.failover import ready_partitions
from banku.lessons.notebook import environment_for


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return environment_for(settings, **extra)


def banku(settings: Settings, *args: str | bytes, stdin: str | None = None,
          timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    """Run the real command line (``python -m banku``); stdout and stderr as text."""
    result = subprocess.run([sys.executable, "-m", "banku", *args], input=stdin,
                            capture_output=True, text=True, errors="replace",
                            env=env_for(settings, **extra), timeout=timeout)
    return result


class ServiceProcess:
    """A ``banku project`` (or ``banku handler``) process logging JSON lines to a file we can
    read while it runs."""

    command = "project"
    program: tuple[str, ...] = ("-m", "banku")  # what `python` runs (a fault test may wrap it)

    def __init__(self, settings: Settings, log_dir: Path, name: str, *args: str,
                 **env: str) -> None:
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "w")  # closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, *self.program, self.command, "--client-id", name, "--log-json",
             *args],
            env=env_for(settings, **env), stdout=subprocess.DEVNULL, stderr=self._log,
            stdin=subprocess.DEVNULL,
        )
        self.started = time.monotonic()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[dict]:
        found = []
        for line in self.log.splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue  # a line that is not JSON (a traceback would be one)
        return found

    def assigned(self) -> bool:
        """True once the group gave this member at least one partition."""
        return any(e.get("event") == "assigned" and e.get("partitions") for e in self.events())

    def ready(self) -> list[int]:
        """The command partitions a handler says it can decide now (its ``ready`` events)."""
        return ready_partitions(self.log.splitlines())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> bool:
        """SIGKILL; True if it was still running (a real crash, not an exit)."""
        if self.proc.poll() is not None:
            return False
        self.proc.send_signal(signal.SIGKILL)
        self.wait()
        return True

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()


def view(settings: Settings) -> dict[str, object]:
    """Balances, positions and counters of the view, read in one go."""
    model = ReadModel(settings)
    try:
        return {"balances": model.balances(), "positions": model.positions(),
                "stats": model.stats()}
    finally:
        model.close()


def progress(settings: Settings) -> int:
    """Records applied so far, from the positions stored with the view (-1: Redis is down)."""
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
    try:
        stored = client.hgetall(f"{settings.key_prefix}banku:positions")
        return sum(int(v) for v in stored.values())
    except redis.RedisError:
        return -1
    finally:
        client.close()


def write_mix(bank: Bank, ids: list[str], balances: dict[str, int], rng: random.Random,
              count: int) -> None:
    """``count`` valid commands (deposits, withdrawals, transfers), written in one batch."""
    with bank.batch():
        for _ in range(count):
            acc = rng.choice(ids)
            roll = rng.random()
            if roll < 0.45 or balances[acc] < 10:
                amount = rng.randint(1, 10_000)
                bank.deposit(acc, amount)
                balances[acc] += amount
            elif roll < 0.75:
                amount = rng.randint(1, balances[acc])
                bank.withdraw(acc, amount)
                balances[acc] -= amount
            else:
                target = rng.choice([i for i in ids if i != acc])
                amount = rng.randint(1, balances[acc])
                bank.transfer(acc, target, amount)
                balances[acc] -= amount
                balances[target] += amount


class Traffic(threading.Thread):
    """Writes a steady stream of valid commands until stopped (and at least ``minimum``)."""

    def __init__(self, bank: Bank, ids: list[str], balances: dict[str, int], minimum: int = 0,
                 rate: int = 1500) -> None:
        super().__init__(daemon=True)
        self.bank, self.ids, self.balances, self.minimum = bank, ids, balances, minimum
        self.rate = rate
        self.rng = random.Random(11)
        self.written = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        chunk = self.rate // 4
        try:
            while not (self.stop.is_set() and self.written >= self.minimum):
                started = time.monotonic()
                write_mix(self.bank, self.ids, self.balances, self.rng, chunk)
                self.written += chunk
                time.sleep(max(0.0, 0.25 - (time.monotonic() - started)))
        except BaseException as exc:  # reported by the test
            self.error = exc


class ProjectorProcess(ServiceProcess):
    command = "project"


class HandlerProcess(ServiceProcess):
    command = "handler"


def every_partition_ready(handlers: list[ServiceProcess], partitions: int = 3) -> bool:
    """Each command partition is one a live handler says it can decide (not merely owns)."""
    ready = sorted(p for h in handlers if h.alive() for p in h.ready())
    return ready == list(range(partitions))
