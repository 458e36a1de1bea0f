"""Time travel: the balances of every account at many moments, vectorised vs a Python fold.

The log (six weeks of synthetic events) is written to Kafka and read back with
`banku.history.load_events`, whose rate is reported. Then, from memory:

* pandas: `balances_at_many(df, moments)`, one pass over the events for all the moments;
* the plain Python fold: `balances_at_python(events, moment)` for each moment (the kit's
  reference implementation);
* for context, a cleverer plain-Python loop that folds once and notes the balances as it
  passes each moment, to show how much of the gain is the algorithm and how much is numpy.

All three must give the same answers, and the benchmark checks that they do.
"""

from __future__ import annotations

import pandas as pd

from banku.config import Settings
from banku.domain.events import Event
from banku.domain.ledger import Ledger
from banku.history import balances_at, balances_at_many, balances_at_python, load_events

from .common import Result, Sizes, fresh, load_log, stopwatch, synthetic_log

TITLE = "Time travel with pandas"


def single_pass(events: list[tuple[Event, int]], moments: pd.DatetimeIndex) -> list[dict]:
    """One fold over the log in time order, copying the balances as it passes each moment."""
    limits = sorted((m.value // 1_000_000, i) for i, m in enumerate(moments))
    answers: list[dict] = [{} for _ in limits]
    ledger = Ledger.empty()
    apply = ledger.apply
    k = 0
    for event, timestamp_ms in sorted(events, key=lambda pair: pair[1]):
        while k < len(limits) and timestamp_ms > limits[k][0]:
            answers[limits[k][1]] = dict(ledger.balances)
            k += 1
        apply(event)
    for limit in limits[k:]:
        answers[limit[1]] = dict(ledger.balances)
    return answers


def as_dicts(table: pd.DataFrame) -> list[dict]:
    """The rows of `balances_at_many` as {account: balance}, without accounts not yet open."""
    return [{acc: int(v) for acc, v in row.items() if not pd.isna(v)}
            for _, row in table.iterrows()]


def best_of(repeats: int, job) -> tuple[float, object]:
    times: list[float] = []
    answer = None
    for _ in range(repeats):
        with stopwatch() as elapsed:
            answer = job()
        times.append(elapsed())
    return min(times), answer


def run(base: Settings, sizes: Sizes) -> Result:
    result = Result("timetravel", TITLE)
    n = sizes.timetravel_events
    settings = fresh(base, "bench-timetravel")
    events = synthetic_log(n, seed=3)
    loading = load_log(settings, events)
    result.figure("writing the log to Kafka (context)", n / loading, "events/s")

    with stopwatch() as reading:
        df = load_events(settings)
    if len(df) != n:
        raise RuntimeError(f"load_events returned {len(df)} rows, expected {n}")
    result.figure(f"load_events: Kafka -> DataFrame, {n:,} events", n / reading(), "events/s")

    first, last = df["timestamp"].iloc[0], df["timestamp"].iloc[-1]
    moments = pd.date_range(first, last, periods=sizes.moments)
    pandas_s, table = best_of(3, lambda: balances_at_many(df, moments))
    with stopwatch() as folding:
        folds = [balances_at_python(events, moment) for moment in moments]
    single_s, singles = best_of(1, lambda: single_pass(events, moments))
    if as_dicts(table) != folds or singles != folds:
        raise RuntimeError("pandas and the Python folds disagree about the balances")

    middle = moments[len(moments) // 2]
    one_pandas_s, one = best_of(3, lambda: balances_at(df, middle))
    one_python_s, one_py = best_of(1, lambda: balances_at_python(events, middle))
    if {a: int(b) for a, b in one.items()} != one_py:
        raise RuntimeError("balances_at and balances_at_python disagree")

    m = sizes.moments
    result.figure(f"pandas balances_at_many, {m} moments x {n:,} events", pandas_s, "s")
    result.figure(f"Python fold per moment (balances_at_python x {m})", folding(), "s")
    result.figure("Python single pass with snapshots (context)", single_s, "s")
    result.figure("one moment: pandas balances_at (context)", one_pandas_s, "s")
    result.figure("one moment: balances_at_python (context)", one_python_s, "s")
    result.ratio(f"pandas / Python fold, {m} moments", folding() / pandas_s, 50.0)
    result.ratio("pandas / Python single pass (context)", single_s / pandas_s)
    result.ratio("one moment: pandas / Python fold (context)", one_python_s / one_pandas_s)
    result.note(
        "Both start from memory: the DataFrame from load_events, the (event, timestamp) pairs"
        " for Python. pandas is the best of 3 runs. All answers were checked equal."
    )
    return result
