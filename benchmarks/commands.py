"""Commands through the handler (BANKU_COMMANDS=topic) against direct writes (the default).

* one command at a time: p50 and p99 latency of a deposit, alternating direct and handler rounds
  so that both see the same machine;
* a batch: `with bank.batch():` of many deposits, direct (decided and sent by the `Bank`, acks
  collected at the end) against the handler (sent as commands, decided in transactions of up to
  100 commands, outcomes collected at the end).

The handler runs as a real `banku handler` process, as in production. Direct and handler runs
use namespaces of their own, so neither reads the other's events.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

from banku import Bank
from banku.config import Settings
from banku.lessons.notebook import environment_for

from .common import Result, Sizes, fresh, stopwatch

TITLE = "Commands: the handler against direct writes"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _start_handler(settings: Settings) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "banku", "handler"],
                            env=environment_for(settings), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _timed_deposits(bank: Bank, account: str, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        bank.deposit(account, 1)
        seconds.append(time.perf_counter() - started)
    return seconds


def _batch_rate(bank: Bank, account: str, count: int) -> float:
    with stopwatch() as elapsed:
        with bank.batch() as receipts:
            for _ in range(count):
                bank.deposit(account, 1)
    if len(receipts) != count:
        raise RuntimeError(f"{len(receipts)} of {count} commands were accepted")
    return count / elapsed()


def run(base: Settings, sizes: Sizes) -> Result:
    result = Result("commands", TITLE)
    direct = fresh(base, "bench-commands-direct")
    topic = replace(fresh(base, "bench-commands-topic"), commands="topic")
    handler = _start_handler(topic)
    try:
        with Bank(direct) as d_bank, Bank(topic) as t_bank:
            d_account = d_bank.create_account("Direct")
            t_account = t_bank.create_account("Through the handler")  # waits for the handler
            d_lat: list[float] = []
            t_lat: list[float] = []
            rounds = 4
            for _ in range(rounds):
                d_lat += _timed_deposits(d_bank, d_account, sizes.commands_single // rounds)
                t_lat += _timed_deposits(t_bank, t_account, sizes.commands_single // rounds)
            d_rate = _batch_rate(d_bank, d_account, sizes.commands_batch)
            t_rate = _batch_rate(t_bank, t_account, sizes.commands_batch)
    finally:
        handler.terminate()
        handler.wait(timeout=60)
    d50, t50 = _percentile(d_lat, 0.5) * 1000, _percentile(t_lat, 0.5) * 1000
    result.figure(f"direct: one deposit, p50 of {len(d_lat)}", d50, "ms")
    result.figure("direct: one deposit, p99", _percentile(d_lat, 0.99) * 1000, "ms")
    result.figure(f"handler: one deposit, p50 of {len(t_lat)}", t50, "ms")
    result.figure("handler: one deposit, p99", _percentile(t_lat, 0.99) * 1000, "ms")
    result.figure(f"direct: `bank.batch()` of {sizes.commands_batch:,} deposits", d_rate,
                  "commands/s")
    result.figure(f"handler: `bank.batch()` of {sizes.commands_batch:,} deposits", t_rate,
                  "commands/s")
    result.ratio("handler p50 / direct p50 (one command)", t50 / d50, 3.0,
                 higher_is_better=False)
    result.ratio("handler batch rate / direct batch rate", t_rate / d_rate, 0.3)
    result.note(
        "A direct command is one catch-up read and one acknowledged send. Through the handler it"
        " is a send to the commands topic, the handler's poll, a transaction (AddPartitions,"
        " the event's produce, AddOffsets, TxnOffsetCommit, the outcome's produce, EndTxn and"
        " its markers) and the client's read_committed read of the outcome: about five broker"
        " round trips more. Batches share one transaction per poll (up to 2,000 commands)."
    )
    return result
