"""What every benchmark shares: sizes, results, fresh namespaces, a synthetic log, a fast loader.

Every comparison is a ratio of two things measured in the same run, side by side (often
alternated, round after round), because the absolute numbers move with whatever else the
machine is doing. Absolute times are printed as context only.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

from banku.adapters.kafka.clients import end_offsets, ensure_topic, make_producer
from banku.config import Settings
from banku.domain.events import (
    CreateEvent,
    DepositEvent,
    Event,
    TransferEvent,
    WithdrawEvent,
    encode,
    key_of,
)
from banku.lab.sample import START, to_ms
from banku.lab.workshop import reset_namespace

START_MS = to_ms(START)  # Monday 2026-01-05 08:00 UTC, where the sample log starts too
SPAN_MS = 42 * 86_400_000  # six weeks


# --- sizes -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is. The full sizes are the ones the targets are stated for."""

    replay_events: int = 200_000
    replay_rounds: int = 5  # bare consumer and kit projector, alternated this many times
    gostyle_events: int = 5_000  # the one-at-a-time projector is measured over a prefix
    produce_events: int = 100_000
    produce_rounds: int = 5  # batch and synchronous baseline, side by side, this many times
    sync_events: int = 2_000  # one synchronous send per event, measured over a prefix
    unbatched_commands: int = 200
    timetravel_events: int = 1_000_000
    moments: int = 100
    # the projector's peak RSS must not grow with the log: 400,000 against 1,600,000 events
    memory_events: tuple[int, int] = (400_000, 1_600_000)
    memory_context_events: tuple[int, int] = (200_000, 800_000)  # the earlier pair, context
    memory_rounds: int = 3
    session_timeout_ms: int = 10_000  # the projector's default (`banku project`)
    commands_single: int = 200  # one command at a time, direct and through the handler
    commands_batch: int = 5_000  # commands in one `bank.batch()`, direct and through the handler
    coldstart_events: int = 400_000  # the log a new Bank starts on, from its snapshot
    coldstart_rounds: int = 5
    coldstart_million: bool = True  # also state the cold start at 1,000,000 events
    # the workshop room: learners, each running notebooks 01-03 with think times between cells
    room_learners: int = 40
    room_sessions: int = 1  # times each learner runs the three notebooks
    room_solo_sessions: int = 3  # the 1-learner baseline, for enough samples
    # A notebook cell is followed by reading and thinking; 30 min per notebook of ~12 cells
    # would be minutes per cell. 10-30 s is a busy room, and keeps the run near 10 minutes.
    room_think_s: tuple[float, float] = (10.0, 30.0)
    room_solo_think_s: tuple[float, float] = (1.0, 2.0)  # alone, thinking changes nothing
    room_arrival_s: float = 60.0  # learners start spread over this long
    room_events_02: int = 10_000  # notebook 02 loads this many sample events
    room_events_03: int = 30_000  # notebook 03 loads the whole sample
    room_timeout_s: float = 1800.0


FULL = Sizes()
QUICK = Sizes(
    replay_events=5_000, replay_rounds=1, gostyle_events=300, produce_events=5_000,
    produce_rounds=1, sync_events=200, unbatched_commands=20, timetravel_events=20_000, moments=100,
    memory_events=(10_000, 40_000), memory_context_events=(5_000, 20_000), memory_rounds=1,
    session_timeout_ms=3_000,
    commands_single=40, commands_batch=300, coldstart_events=20_000, coldstart_rounds=2,
    coldstart_million=False,
    room_learners=5, room_solo_sessions=1, room_think_s=(0.2, 0.5), room_solo_think_s=(0.2, 0.5),
    room_arrival_s=2.0,
    room_events_02=1_000, room_events_03=3_000, room_timeout_s=600.0,
)


# --- results ---------------------------------------------------------------------------------
@dataclass
class Figure:
    """A measured number (context: it moves with the machine's load)."""

    name: str
    value: float
    unit: str


@dataclass
class Ratio:
    """Two figures of the same run compared; ``target`` is the bar (None: context only)."""

    name: str
    value: float
    target: float | None = None
    higher_is_better: bool = True

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


@dataclass
class Result:
    benchmark: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def figure(self, name: str, value: float, unit: str) -> float:
        self.figures.append(Figure(name, value, unit))
        return value

    def ratio(self, name: str, value: float, target: float | None = None,
              higher_is_better: bool = True) -> Ratio:
        r = Ratio(name, value, target, higher_is_better)
        self.ratios.append(r)
        return r

    def note(self, text: str) -> None:
        self.notes.append(text)

    def as_dict(self) -> dict:
        data = asdict(self)
        for r, ratio in zip(data["ratios"], self.ratios, strict=True):
            r["met"] = ratio.met
        return data


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- the environment -------------------------------------------------------------------------
def quiet() -> None:
    """kafka-python logs reconnects and slow tasks as warnings; the table is the output here."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def fresh(settings: Settings, namespace: str) -> Settings:
    """A namespace of the benchmark's own, emptied first (topic, groups, Redis keys)."""
    ns = f"{settings.namespace}-{namespace}" if settings.namespace else namespace
    mine = replace(settings, namespace=ns)
    reset_namespace(mine)
    return mine


def unique(prefix: str) -> str:
    """A consumer group nobody used before, so it starts from offset zero."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...``; ``elapsed()`` is the seconds so far / in total."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


# --- a synthetic log -------------------------------------------------------------------------
def synthetic_log(events: int, accounts: int = 50, seed: int = 1,
                  start_ms: int = START_MS, span_ms: int = SPAN_MS) -> list[tuple[Event, int]]:
    """``events`` (event, timestamp_ms) pairs a `Bank` would accept: accounts open first, no
    withdrawal or transfer exceeds the balance, timestamps strictly increase over ``span_ms``.

    Simpler (and ~20x faster to make) than `banku.lab.sample.generate`, which models a realistic
    day; for throughput the mix of types and the sizes of the records are what matter.
    """
    rng = random.Random(seed)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(accounts)]
    log: list[Event] = [CreateEvent(acc, f"Customer {i:03d}") for i, acc in enumerate(ids)]
    log += movements(ids, events - len(log), rng)
    log = log[:events]
    step = max(1, span_ms // max(1, len(log)))
    return [(event, start_ms + i * step) for i, event in enumerate(log)]


def movements(ids: list[str], count: int, rng: random.Random) -> list[Event]:
    """``count`` deposits, withdrawals and transfers between ``ids`` (all starting at 0) that a
    `Bank` would accept: balances are tracked, so nothing is ever overdrawn."""
    balances = dict.fromkeys(ids, 0)
    out: list[Event] = []
    while len(out) < count:
        acc = rng.choice(ids)
        roll = rng.random()
        if roll < 0.55 and balances[acc] >= 100:
            amount = rng.randint(1, min(balances[acc], 20_000))
            balances[acc] -= amount
            out.append(WithdrawEvent(acc, amount))
        elif roll < 0.85 and balances[acc] >= 100:
            target = rng.choice(ids)
            if target == acc:
                continue
            amount = rng.randint(1, min(balances[acc], 50_000))
            balances[acc] -= amount
            balances[target] += amount
            out.append(TransferEvent(acc, target, amount))
        else:
            amount = rng.randint(1_000, 300_000)
            balances[acc] += amount
            out.append(DepositEvent(acc, amount))
    return out


def load_log(settings: Settings, log: list[tuple[Event, int]]) -> float:
    """Write the log to the namespace's topic as fast as kafka-python allows; returns seconds.

    The kit's producer (acks=all, idempotent), with a longer linger so batches fill up: what is
    measured later is reading this log, not writing it.
    """
    ensure_topic(settings)
    producer = make_producer(settings, linger_ms=50)
    topic = settings.topic_name
    send = producer.send
    try:
        with stopwatch() as elapsed:
            for event, timestamp_ms in log:
                send(topic, key=key_of(event), value=encode(event), timestamp_ms=timestamp_ms)
            producer.flush(timeout=600)
    finally:
        producer.close(timeout=30)
    written = sum(end_offsets(settings).values())
    if written != len(log):
        raise RuntimeError(f"wrote {len(log)} events but the topic holds {written}")
    return elapsed()
