"""Watch a consumer group fail over: members as real processes, who owns what over time, a plot.

Notebook 04 kills one projector with SIGKILL and stops another with SIGTERM while events keep
arriving, and measures how long each partition had no working owner. The pieces here are
reusable for any such experiment:

* `Members` runs `banku project` processes in one group, so that a kill is a real crash (a
  thread in the notebook's kernel could not be killed that way), waits until the coordinator and
  every member agree on the assignment, and makes sure no member outlives the kernel.
* `OwnershipWatcher` asks the group coordinator every ~150 ms who owns which partition, and
  records it with the view's positions, on one clock shared with the marks ("SIGKILL ...").
* `Traffic` keeps writing deposits and transfers from a background thread, so the failover
  happens under load, as it would in production.
* `fold_of_topic`, `caught_up` and `plot_timeline` check and show the result.
"""

from __future__ import annotations

import atexit
import collections
import json
import random
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd
from kafka.errors import KafkaError

from ..commands import Bank
from ..config import DEFAULT_GROUP, PARTITIONS, Settings
from ..errors import BankuError, EventDecodeError, ServiceUnavailable
from ..events import decode
from ..kafka_io import admin_client, end_offsets, make_reader, read_to_end
from ..model import Ledger, fold
from ..read_model import ReadModel
from .notebook import owners_in, start_projector_process

Owners = dict[str, list[int]]

# --- members as processes ---------------------------------------------------------------------

# Every process any `Members` started in this interpreter. A notebook kernel outlives a failed
# cell, and a learner re-runs cells: whatever is left here is stopped on the next start and when
# the kernel exits, so no projector keeps running behind the learner's back.
_STARTED: list[subprocess.Popen] = []


def _stop_processes(processes: Iterable[subprocess.Popen], timeout: float = 15.0) -> int:
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


def stop_all_members() -> int:
    """Stop every projector process started from this interpreter; returns how many ran."""
    stopped = _stop_processes(_STARTED)
    _STARTED.clear()
    return stopped


# Background threads (traffic, watchers) of an earlier run: a traffic thread that outlived a
# reset would go on writing commands checked against accounts the new topic never had.
_THREADS: weakref.WeakSet = weakref.WeakSet()


def stop_leftovers() -> int:
    """Stop whatever an earlier run in this kernel left running: members, traffic, watchers.

    Call it before resetting the namespace (a group with live members cannot be deleted).
    Returns how many member processes were still running.
    """
    for worker in list(_THREADS):
        try:
            worker.stop()
        except Exception:  # noqa: BLE001 - an old run's error is not this run's business
            pass
    return stop_all_members()


atexit.register(stop_leftovers)


class Members:
    """Projector processes in one consumer group, named ``member-1``, ``member-2``, ...

    The name is the Kafka client id, so the coordinator reports ownership under it.
    """

    def __init__(self, settings: Settings, group: str = DEFAULT_GROUP, *,
                 session_timeout_ms: int = 3000, batch_size: int = 500) -> None:
        self.settings = settings
        self.group = group
        self.session_timeout_ms = session_timeout_ms
        self.batch_size = batch_size
        self.processes: dict[str, subprocess.Popen] = {}
        self.restarted: list[str] = []  # members `wait_for_group` had to restart
        self._stopped: set[str] = set()  # members stopped on purpose
        self._logs: dict[str, collections.deque[str]] = {}

    def start(self, *names: str) -> None:
        """Start one process per name (they join the group on their own)."""
        for name in names:
            if name in self.processes and self.processes[name].poll() is None:
                raise BankuError(f"{name} is already running.")
            process = start_projector_process(
                self.settings, "--group", self.group,
                "--session-timeout-ms", str(self.session_timeout_ms),
                "--client-id", name, "--batch-size", str(self.batch_size), "--log-json",
            )
            _STARTED.append(process)
            self.processes[name] = process
            self._stopped.discard(name)
            self._logs[name] = log = collections.deque(maxlen=200)
            # Drain stderr: a full pipe would block the member in the middle of a batch.
            threading.Thread(target=_drain, args=(process, log), daemon=True).start()

    def alive(self) -> list[str]:
        return sorted(n for n, p in self.processes.items() if p.poll() is None)

    def kill(self, name: str) -> None:
        """SIGKILL: a crash. The member cannot say goodbye; the coordinator must notice."""
        self._stopped.add(name)
        process = self.processes[name]
        process.kill()
        process.wait(10)

    def terminate(self, name: str, timeout: float = 15.0) -> None:
        """SIGTERM: a clean stop. The member finishes its batch and leaves the group."""
        self._stopped.add(name)
        _stop_processes([self.processes[name]], timeout)

    def stop_all(self) -> int:
        """Stop every member cleanly; returns how many were still running."""
        self._stopped.update(self.processes)
        return _stop_processes(self.processes.values())

    def log(self, name: str) -> list[str]:
        """What the member wrote on stderr (its last 200 lines): why it stopped, if it did."""
        return list(self._logs.get(name, ()))

    def claimed(self, name: str) -> list[int] | None:
        """The partitions the member itself last reported as assigned (None: not yet).

        Members log one JSON object per line (``banku project --log-json``); this reads the
        machine-readable ``event`` field, never the wording of a message.
        """
        for line in reversed(self.log(name)):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "assigned":
                return sorted(entry.get("partitions", []))
            if entry.get("event") == "revoked":
                return []
        return None

    def _check_crashes(self) -> None:
        for name, process in self.processes.items():
            if name not in self._stopped and process.poll() is not None:
                last = " / ".join(self.log(name)[-3:]) or "no output"
                raise BankuError(f"{name} exited on its own (status {process.returncode}): {last}")

    def wait_for_group(self, watcher: OwnershipWatcher, timeout: float = 60.0) -> Sample:
        """Wait until the coordinator and every running member agree on who owns what.

        The coordinator's word alone is not enough: kafka-python 3.0.12 can strand a member that
        joins first, before it has the topic's metadata. If its poll times out between handing
        out the assignment and receiving its own, it never applies it, stops heartbeating, is
        dropped after the session timeout and never rejoins, while its process runs on. Such a
        member never reports the partitions the coordinator lists for it; after two session
        timeouts of disagreement it is restarted (and named in ``restarted``).
        """
        deadline = time.monotonic() + timeout
        patience = 2 * self.session_timeout_ms / 1000 + 2
        disagreeing_since: dict[str, float] = {}
        after = watcher.now()
        while True:
            self._check_crashes()
            left = deadline - time.monotonic()
            if left <= 0:
                raise BankuError(f"The group did not settle within {timeout:.0f}s.")
            sample = watcher.wait_until(lambda s: True, after=after, timeout=left)
            after = sample.t + 1e-6
            live = self.alive()
            agree = {n: sample.owners.get(n) is not None and self.claimed(n) == sample.owners[n]
                     for n in live}
            if (sample.state == "Stable" and all(agree.values())
                    and set(sample.owners) == set(live)
                    and each_partition_owned_once(sample.owners, live)):
                return sample
            now = time.monotonic()
            for name, ok in agree.items():
                if ok:
                    disagreeing_since.pop(name, None)
                elif now - disagreeing_since.setdefault(name, now) > patience:
                    self.processes[name].kill()  # stuck, and not in the group anyway
                    self.processes[name].wait(10)
                    self.start(name)
                    self.restarted.append(name)
                    disagreeing_since.pop(name)


def _drain(process: subprocess.Popen, log: collections.deque[str]) -> None:
    if process.stderr is None:
        return
    for line in process.stderr:
        log.append(line.rstrip())


# --- who owns what ----------------------------------------------------------------------------


def describe_group(admin, settings: Settings, group: str = DEFAULT_GROUP) -> tuple[str, Owners]:
    """The group's state and member -> partitions, as the coordinator reports them.

    While a rebalance is under way, some or all members are reported without partitions: in the
    classic (eager) protocol a member gives up what it owns when it rejoins, and gets its new
    share only when the rebalance completes.
    """
    group_id = settings.group_id(group)
    described = admin.describe_groups([group_id]).get(group_id, {})
    if described.get("error"):
        return "Dead", {}
    return described.get("group_state", "?"), owners_in(settings, described)


def owners_by_partition(owners: Owners, partitions: int = PARTITIONS) -> dict[int, list[str]]:
    """Partition -> the members that claim it (exactly one, when the group is healthy)."""
    table: dict[int, list[str]] = {p: [] for p in range(partitions)}
    for member, parts in owners.items():
        for p in parts:
            table.setdefault(p, []).append(member)
    return table


def each_partition_owned_once(owners: Owners, live: Iterable[str],
                              partitions: int = PARTITIONS) -> bool:
    """True when every partition has exactly one owner and that owner is a live member."""
    live = set(live)
    return all(len(who) == 1 and who[0] in live
               for who in owners_by_partition(owners, partitions).values())


def ownership_table(owners: Owners) -> pd.DataFrame:
    """A small table: one row per member, the partitions it owns (empty: it sits idle)."""
    rows = [{"member": m, "partitions": ", ".join(map(str, p)) or "(none: idle)"}
            for m, p in owners.items()]
    return pd.DataFrame(rows, columns=["member", "partitions"]).set_index("member")


@dataclass(frozen=True)
class Sample:
    """One look at the group: when (seconds since the watcher started), its state, who owns
    what, and how far the view got in each partition."""

    t: float
    state: str
    owners: Owners
    positions: dict[int, int]


@dataclass(eq=False)  # compared by identity: kept in a weak set until stopped
class OwnershipWatcher:
    """Samples group ownership in a background thread, on one clock with the marks."""

    settings: Settings
    group: str = DEFAULT_GROUP
    interval: float = 0.15
    samples: list[Sample] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    gone: dict[str, float] = field(default_factory=dict)  # member -> when it was stopped

    def __post_init__(self) -> None:
        self._origin = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._new = threading.Condition()
        self.error: BaseException | None = None

    def now(self) -> float:
        return time.monotonic() - self._origin

    def start(self) -> OwnershipWatcher:
        _THREADS.add(self)
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="ownership-watcher",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(10)

    def mark(self, label: str, gone: str | None = None) -> float:
        """Note an event (a kill, a shutdown) at this instant; returns its time.

        ``gone`` names a member that stops at this instant, so that the plot can show how long
        the coordinator still believed in it.
        """
        t = self.now()
        self.marks.append((t, label))
        if gone is not None:
            self.gone[gone] = t
        return t

    def _run(self) -> None:
        view = ReadModel(self.settings)
        try:
            with admin_client(self.settings) as admin:
                failures = 0
                while not self._stop.is_set():
                    try:
                        state, owners = describe_group(admin, self.settings, self.group)
                        sample = Sample(self.now(), state, owners, view.positions())
                    except (KafkaError, ServiceUnavailable):
                        # One lost look is a gap in the timeline, not the end of the experiment.
                        failures += 1
                        if failures > 50:
                            raise
                        self._stop.wait(self.interval)
                        continue
                    failures = 0
                    with self._new:
                        self.samples.append(sample)
                        self._new.notify_all()
                    self._stop.wait(self.interval)
        except BaseException as exc:  # noqa: BLE001 - reported by wait_until, not lost
            self.error = exc
            with self._new:
                self._new.notify_all()
        finally:
            view.close()

    def wait_until(self, predicate: Callable[[Sample], bool], after: float = 0.0,
                   timeout: float = 30.0) -> Sample:
        """The first sample taken at or after ``after`` for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._new:
            while True:
                for sample in self.samples[seen:]:
                    if sample.t >= after and predicate(sample):
                        return sample
                seen = len(self.samples)
                if self.error is not None:
                    raise BankuError(f"The ownership watcher stopped: {self.error}")
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None:
                    raise BankuError(f"The group did not reach that state within {timeout:.0f}s.")
                self._new.wait(min(left, 1.0))

    def wait_for_takeover(self, partitions: Iterable[int], live: Iterable[str], after: float,
                          timeout: float = 30.0) -> Sample:
        """The first stable sample after ``after`` in which live members own ``partitions`` and
        every partition has exactly one owner: the moment the work is picked up again."""
        partitions, live = list(partitions), set(live)

        def taken_over(sample: Sample) -> bool:
            by_partition = owners_by_partition(sample.owners)
            return (sample.state == "Stable"
                    and each_partition_owned_once(sample.owners, live)
                    and all(by_partition[p][0] in live for p in partitions))

        return self.wait_until(taken_over, after=after, timeout=timeout)

    def frame(self) -> pd.DataFrame:
        """The timeline as a table: one row per sample, the owner of each partition."""
        rows = []
        for s in self.samples:
            row: dict[str, object] = {"t": round(s.t, 2), "state": s.state}
            for p, who in owners_by_partition(s.owners).items():
                row[f"owner p{p}"] = ", ".join(who) or "-"
            rows.append(row)
        return pd.DataFrame(rows)

    def changes(self) -> pd.DataFrame:
        """Only the samples where the ownership or the state changed (a readable timeline)."""
        df = self.frame()
        if df.empty:
            return df
        cols = [c for c in df.columns if c != "t"]
        changed = (df[cols] != df[cols].shift()).any(axis=1)
        return df[changed].reset_index(drop=True)


# --- load while the group fails over ---------------------------------------------------------


class Traffic:
    """Deposits and transfers between the existing accounts, in small bursts, from a thread.

    Each command is still checked against the rules (a `Bank` of its own, which folds the
    topic), so a transfer never overdraws. Errors are kept and raised by `stop()`.
    """

    def __init__(self, settings: Settings, burst: int = 20, pause: float = 0.05,
                 seed: int = 4) -> None:
        self.settings = settings
        self.burst = burst
        self.pause = pause
        self.written = 0
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> Traffic:
        if self._thread is not None:
            return self
        _THREADS.add(self)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop writing; returns how many events were written (raises what went wrong)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(60)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self.written

    def _run(self) -> None:
        rnd = self._random
        try:
            with Bank(self.settings) as bank:
                while not self._stop.is_set():
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
                    self._stop.wait(self.pause)
        except BaseException as exc:  # noqa: BLE001 - raised again by stop()
            self._error = exc


# --- checking the result --------------------------------------------------------------------


def fold_of_topic(settings: Settings) -> Ledger:
    """Fold every event in the topic, read with a plain consumer (no projector, no Redis)."""
    reader = make_reader(settings)
    events = []
    try:
        for records in read_to_end(reader, {}, settings.topic_name):
            for record in records:
                try:
                    events.append(decode(record.value))
                except EventDecodeError:
                    continue  # not a fact; the projector sends it to the dead-letter topic
    finally:
        reader.close()
    return fold(events)


def caught_up(settings: Settings, view: ReadModel) -> bool:
    """True when the view's position in every partition is the partition's end offset."""
    ends = end_offsets(settings)
    return bool(ends) and view.positions() == {p: e for p, e in ends.items() if e > 0}


# --- the picture -------------------------------------------------------------------------------


def plot_timeline(watcher: OwnershipWatcher, partitions: int = PARTITIONS,
                  title: str = "Who owned which partition"):
    """Ownership per partition over time (top) and the view's position per partition (bottom),
    with the marks as vertical lines. Returns the matplotlib figure.

    A hatched bar is a member that was already stopped but still listed as the owner: the
    partition had an owner on paper and nobody doing its work.
    """
    import matplotlib.pyplot as plt

    samples = watcher.samples
    members = sorted({m for s in samples for m in s.owners})
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(members)}
    nobody = (0.85, 0.85, 0.85)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.2), sharex=True,
                                      gridspec_kw={"height_ratios": [1.2, 1]})
    for p in range(partitions):
        for this, nxt in zip(samples, samples[1:], strict=False):
            who = owners_by_partition(this.owners, partitions).get(p, [])
            if len(who) != 1:
                top.broken_barh([(this.t, nxt.t - this.t)], (p - 0.35, 0.7),
                                facecolors=nobody, edgecolor="none")
                continue
            # A member that stopped between two samples: solid up to the stop, hatched after.
            gone = min(max(watcher.gone.get(who[0], nxt.t), this.t), nxt.t)
            if gone > this.t:
                top.broken_barh([(this.t, gone - this.t)], (p - 0.35, 0.7),
                                facecolors=colours[who[0]], edgecolor="none")
            if gone < nxt.t:
                top.broken_barh([(gone, nxt.t - gone)], (p - 0.35, 0.7), facecolors="white",
                                hatch="///", edgecolor=colours[who[0]], linewidth=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in members]
    labels = list(members)
    handles.append(plt.Rectangle((0, 0), 1, 1, color=nobody))
    labels.append("nobody")
    if watcher.gone:
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="white", hatch="///",
                                     edgecolor="grey"))
        labels.append("an owner that is gone")
    top.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
               fontsize="small", frameon=False)
    top.set_yticks(range(partitions), [f"partition {p}" for p in range(partitions)])
    top.set_ylim(partitions - 0.5, -0.5)
    top.set_title(title, pad=18)
    for p in range(partitions):
        bottom.plot([s.t for s in samples], [s.positions.get(p, 0) for s in samples],
                    label=f"partition {p}")
    bottom.set_ylabel("view position\n(next offset)")
    bottom.set_xlabel("seconds since the watcher started")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    for axes in (top, bottom):
        for t, _ in watcher.marks:
            axes.axvline(t, color="black", linestyle="--", linewidth=1)
    for t, label in watcher.marks:
        top.annotate(label, (t, -0.5), xytext=(3, 3), textcoords="offset points",
                     fontsize="small", va="bottom", annotation_clip=False)
    fig.tight_layout()
    return fig
