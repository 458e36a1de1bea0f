"""A workshop room: many learners on one secured stack, against the same work done by one.

Each simulated learner is a process of its own with its own login (`banku workshop up`), and
runs what notebooks 01-03 run, cell by cell, with think times in between: reset the namespace,
open accounts, commands and a refused one, read the topic, catch the projector up (01); load
10,000 events, catch up, replay, catch up in another group (02); load the 30,000-event sample,
load it into pandas, time travel, catch up (03). Learners arrive spread over the first
seconds, like people sitting down. Every cell's wall time is a sample of "step latency".

The benchmark starts its own room stack (SCRAM logins and ACLs, as a real room) on the ports of
block ROOM_BENCH of tests/ports.py: Kafka at ``BANKU_TEST_PORT_BASE + 80`` (20080 by default),
Redis 9 ports above, or at ``BANKU_ROOM_BENCH_PORT``; it stops and wipes that stack at the end.
The learners run on the same machine as the servers (as in a JupyterHub room), so their Python
competes with the broker for the same cores; the broker's and Redis's own CPU is reported apart.
``BANKU_ROOM_BENCH_TLS=1`` starts the room with ``--tls`` (SASL_SSL and rediss://), to compare.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

from banku.config import Settings

from .common import Result, Sizes

TITLE = "Workshop room: many learners on one stack (notebooks 01-03 with think times)"
TARGET = 3.0  # p95 step latency with the full room / p95 with one learner
# Cells whose time is mostly waiting for Kafka or Redis; the others (loading thousands of events
# through the rules, projecting them, pandas) are mostly the learner's own Python.
SERVER_BOUND = {"reset a namespace", "open 2 accounts", "4 commands", "a refused command",
                "read the topic"}


def room_tls() -> bool:
    return os.environ.get("BANKU_ROOM_BENCH_TLS", "") not in ("", "0")


def room_settings() -> Settings:
    port = int(os.environ.get("BANKU_ROOM_BENCH_PORT")
               or int(os.environ.get("BANKU_TEST_PORT_BASE") or 20000) + 80)
    return Settings(bootstrap_servers=f"127.0.0.1:{port}",
                    redis_url=f"redis://127.0.0.1:{port + 9}/0")


# --- one learner (runs in a process of its own) -----------------------------------------------
def _learner(settings: Settings, sizes: Sizes, seed: int, go, results) -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    from banku import Bank, InsufficientFunds, Projector, history
    from banku.adapters.kafka.clients import end_offsets, make_reader, read_to_end
    from banku.lab import sample
    from banku.lab.workshop import reset_namespace

    events = sample.read()
    rng = random.Random(seed)
    samples: list[tuple[str, float]] = []
    go.wait()
    time.sleep(rng.uniform(0, sizes.room_arrival_s))
    started = time.perf_counter()
    cpu = time.process_time()

    def cell(name: str, work):
        t0 = time.perf_counter()
        out = work()
        samples.append((name, time.perf_counter() - t0))
        time.sleep(rng.uniform(*sizes.room_think_s))
        return out

    try:
        for _ in range(sizes.room_sessions):
            ns = replace(settings, namespace=f"{settings.namespace}-nb01")
            cell("reset a namespace", lambda ns=ns: reset_namespace(ns))
            with Bank(ns) as bank:
                adam, eve = cell("open 2 accounts", lambda bank=bank: (
                    bank.create_account("Adam Pahlevi"), bank.create_account("Eve")))
                cell("4 commands", lambda bank=bank, adam=adam, eve=eve: (
                    bank.deposit(adam, 2000), bank.withdraw(adam, 500),
                    bank.transfer(adam, eve, 100), bank.deposit(eve, 750)))

                def refused(bank=bank, adam=adam, ns=ns) -> None:
                    before = end_offsets(ns)
                    try:
                        bank.withdraw(adam, 5000)
                    except InsufficientFunds:
                        pass
                    assert end_offsets(ns) == before

                cell("a refused command", refused)

            def read_topic(ns=ns) -> int:
                reader = make_reader(ns)
                try:
                    return sum(len(r) for r in read_to_end(reader, {}, ns.topic_name))
                finally:
                    reader.close()

            cell("read the topic", read_topic)
            cell("projector catch-up", lambda ns=ns: _catch_up(ns, 60))

            ns = replace(settings, namespace=f"{settings.namespace}-nb02")
            cell("reset a namespace", lambda ns=ns: reset_namespace(ns))
            with Bank(ns) as bank:
                cell(f"load {sizes.room_events_02:,} events",
                     lambda bank=bank: bank.load(events[:sizes.room_events_02]))
            with Projector(ns) as projector:
                cell("projector catch-up", lambda p=projector: p.run_until_caught_up(120))
                cell("replay", lambda p=projector: p.replay(timeout=300))
            with Projector(ns, group_id="someone-else") as other:
                cell("projector catch-up", lambda p=other: p.run_until_caught_up(120))

            ns = replace(settings, namespace=f"{settings.namespace}-nb03")
            cell("reset a namespace", lambda ns=ns: reset_namespace(ns))
            with Bank(ns) as bank:
                cell(f"load {sizes.room_events_03:,} events",
                     lambda bank=bank: bank.load(events[:sizes.room_events_03]))
            df = cell("load_events into pandas", lambda ns=ns: history.load_events(ns))

            def travel(df=df) -> None:
                import pandas as pd

                history.balances_at(df, "2026-01-31 23:59:59")
                history.balances_at_many(df, pd.date_range("2026-01-11", periods=6, freq="7D",
                                                           tz="UTC"))
                history.balance_history(df, df["account"].iloc[0])

            cell("time travel", travel)
            cell("projector catch-up", lambda ns=ns: _catch_up(ns, 120))
        results.put({"seed": seed, "samples": samples, "cpu": time.process_time() - cpu,
                     "wall": time.perf_counter() - started, "error": None})
    except BaseException as exc:  # reported by the parent
        # What a learner would have seen: the cell fails, and this learner's session ends.
        results.put({"seed": seed, "samples": samples, "cpu": time.process_time() - cpu,
                     "wall": time.perf_counter() - started,
                     "error": f"{type(exc).__name__}: {exc}",
                     "trace": traceback.format_exc()[-800:]})


def _catch_up(settings: Settings, timeout: float) -> int:
    from banku import Projector

    with Projector(settings) as projector:
        return projector.run_until_caught_up(timeout)


# --- watching the servers -------------------------------------------------------------------------
def _ps(pid: int) -> tuple[float, float] | None:
    """(CPU seconds, RSS MB) of a process: /proc where there is one (to the hundredth of a
    second), else `ps` (macOS; whole seconds)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return ((int(fields[11]) + int(fields[12])) / ticks,
                pages * os.sysconf("SC_PAGE_SIZE") / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    out = subprocess.run(["ps", "-o", "time=", "-o", "rss=", "-p", str(pid)],
                         capture_output=True, text=True).stdout.split()
    if len(out) != 2:
        return None
    clock, rss = out
    days, _, clock = clock.rpartition("-")
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds + 86400 * int(days or 0), int(rss) / 1024


class Watch(threading.Thread):
    """Samples the broker's and Redis's CPU time and RSS every second while the room works."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.stop = pids, threading.Event()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.peak: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.started = self.ended = time.monotonic()

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            found = _ps(pid)
            if found:
                self.first.setdefault(name, found[0])
                self.last[name] = found[0]
                self.peak[name] = max(self.peak[name], found[1])

    def run(self) -> None:
        self.started = time.monotonic()
        while not self.stop.is_set():
            self._sample()
            self.stop.wait(1.0)
        self._sample()
        self.ended = time.monotonic()

    def cores(self, name: str) -> float:
        wall = max(1e-9, self.ended - self.started)
        return (self.last.get(name, 0.0) - self.first.get(name, 0.0)) / wall


# --- a run ----------------------------------------------------------------------------------------
def run_room(base: Settings, learners: list[Settings], sizes: Sizes, pids: dict[str, int],
             ) -> dict:
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_learner, args=(s, sizes, 1000 + i, go, results), daemon=True)
             for i, s in enumerate(learners)]
    for proc in procs:
        proc.start()
    time.sleep(3 + 0.15 * len(procs))  # every learner imports the kit before the clock starts
    watch = Watch(pids)
    watch.start()
    go.set()
    reports = [results.get(timeout=sizes.room_timeout_s) for _ in procs]
    watch.stop.set()
    watch.join()
    for proc in procs:
        proc.join(timeout=30)
    errors = [r["error"] for r in reports if r["error"]]
    if len(errors) == len(procs):
        raise RuntimeError(f"every learner failed; first: {errors[0]}\n{reports[0]['trace']}")
    samples = [seconds for r in reports for _, seconds in r["samples"]]
    by_step: dict[str, list[float]] = {}
    for r in reports:
        for name, seconds in r["samples"]:
            by_step.setdefault(name, []).append(seconds)
    return {"samples": samples, "by_step": by_step, "watch": watch, "errors": errors,
            "learner_cpu": sum(r["cpu"] for r in reports),
            "wall": watch.ended - watch.started}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q) - 1]


def _partitions(instructor: Settings) -> tuple[int, int, int]:
    from banku.adapters.kafka.clients import admin_client

    admin = admin_client(instructor)
    try:
        topics = admin.list_topics()
        described = admin.describe_topics(topics)
    finally:
        admin.close()
    ours = [t for t in described if not (t.get("name") or t.get("topic", "")).startswith("__")]
    return (len(ours), sum(len(t["partitions"]) for t in ours),
            sum(len(t["partitions"]) for t in described))


def run(settings: Settings, sizes: Sizes) -> Result:
    from banku import stack
    from banku.lab import room

    result = Result("room", TITLE)
    where = room_settings()
    count = sizes.room_learners
    plan = stack.StackPlan.from_settings(where)
    stack.down(where, log=lambda _: None, wipe=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            made = room.up(where, count, Path(tmp) / "room", log=lambda _: None,
                           tls=room_tls())
            plan = stack.StackPlan.from_settings(where)
            pids = {"broker": stack.kafka_pid(plan, 1), "redis": stack.redis_pid(plan)}
            client = plan.client_settings(where)  # over TLS in a --tls room
            logins = [room.learner_settings(client, made, room.learner_name(n))
                      for n in range(1, count + 1)]
            solo = run_room(where, logins[:1], replace(
                sizes, room_sessions=sizes.room_solo_sessions, room_arrival_s=0.0,
                room_think_s=sizes.room_solo_think_s), pids)
            if solo["errors"]:
                raise RuntimeError(f"the learner alone failed: {solo['errors'][0]}")
            full = run_room(where, logins, sizes, pids)
            topics = _partitions(room.instructor_settings(client, made))
        finally:
            room.down(where, wipe=True, log=lambda _: None)
    _report(result, solo, full, count, topics, sizes)
    return result


def _report(result: Result, solo: dict, full: dict, count: int, topics: tuple[int, int, int],
            sizes: Sizes) -> None:
    p50 = {k: percentile(v["samples"], 50) for k, v in (("1", solo), ("n", full))}
    p95 = {k: percentile(v["samples"], 95) for k, v in (("1", solo), ("n", full))}
    result.figure("step latency p50, 1 learner", p50["1"], "s")
    result.figure("step latency p95, 1 learner", p95["1"], "s")
    result.figure(f"step latency p50, {count} learners", p50["n"], "s")
    result.figure(f"step latency p95, {count} learners", p95["n"], "s")
    watch = full["watch"]
    result.figure(f"broker CPU, {count} learners (cores, average)", watch.cores("broker"),
                  "cores")
    result.figure(f"Redis CPU, {count} learners (cores, average)", watch.cores("redis"), "cores")
    result.figure(f"learners' own Python CPU, {count} learners (cores, average)",
                  full["learner_cpu"] / max(1e-9, full["wall"]), "cores")
    result.figure("broker CPU, 1 learner (cores, average)", solo["watch"].cores("broker"),
                  "cores")
    result.figure("broker peak RSS", watch.peak["broker"], "MB")
    result.figure("Redis peak RSS", watch.peak["redis"], "MB")
    result.figure("topics the learners made", topics[0], "topics")
    result.figure("partitions of those topics", topics[1], "partitions")
    result.figure("partitions on the broker, Kafka's own included", topics[2], "partitions")
    result.figure(f"room run, {count} learners (wall)", full["wall"], "s")
    result.figure("learners whose session failed (a cell raised)", len(full["errors"]),
                  "learners")
    result.ratio(f"p95 step latency, {count} learners / 1 learner", p95["n"] / p95["1"],
                 TARGET, higher_is_better=False)
    result.ratio(f"p50 step latency, {count} learners / 1 learner (context)",
                 p50["n"] / p50["1"])
    light = {k: [x for step, xs in v["by_step"].items() if step in SERVER_BOUND for x in xs]
             for k, v in (("1", solo), ("n", full))}
    if light["1"] and light["n"]:
        result.ratio(f"p95 of the cells that wait on the servers, {count} learners / 1 (context)",
                     percentile(light["n"], 95) / percentile(light["1"], 95))
    rows = []
    for step, values in full["by_step"].items():
        alone = solo["by_step"].get(step, [])
        if alone:
            rows.append(f"{step}: p95 {percentile(alone, 95):.2f} s alone,"
                        f" {percentile(values, 95):.2f} s in the room")
    result.note(
        f"{count} learners, each a process with its own SCRAM login on one secured room stack"
        f" (1 broker, Redis{'; TLS: SASL_SSL and rediss://' if room_tls() else ''}), each"
        f" running notebooks 01-03 {sizes.room_sessions}x with think"
        f" times of {sizes.room_think_s[0]:g}-{sizes.room_think_s[1]:g} s between cells,"
        f" arriving over {sizes.room_arrival_s:g} s; the 1-learner baseline runs the same"
        f" cells {sizes.room_solo_sessions}x alone on the same stack just before (think times"
        f" {sizes.room_solo_think_s[0]:g}-{sizes.room_solo_think_s[1]:g} s). Latency is"
        f" each cell's wall time; the learners run on the same machine as the servers (a"
        " JupyterHub-like room), so their own Python competes for the same cores."
        f" {len(full['samples'])} samples in the room, {len(solo['samples'])} alone."
        f" Per cell: {'; '.join(rows)}.")
    if full["errors"]:
        kinds = sorted({e.split(":")[0] + ": " + e.split(": ", 1)[-1][:160]
                        for e in full["errors"]})
        result.note(f"{len(full['errors'])} of {count} learners met an error and stopped (their"
                    f" cells so far are counted): {' | '.join(kinds[:3])}")
