"""Cold start of the write model: a new `Bank` and its first command, as every `banku deposit`.

Without a snapshot a new `Bank` folds the whole topic before it can decide; with one it loads the
snapshot and folds only the tail. Measured side by side in one run, rounds alternating:

* a log with only the account in it (the floor: connections, metadata, one send),
* a log of 400,000 events with a snapshot (the target: at most 3 times the floor),
* the same log folded from offset zero (context: what the snapshot saves),
* at full size, a log of 1,000,000 events with a snapshot.
"""

from __future__ import annotations

from banku import Bank
from banku.config import Settings
from banku.domain.events import CreateEvent

from .common import Result, Sizes, fresh, load_log, median, stopwatch, synthetic_log

TITLE = "Cold start: a new Bank and its first command"


def _cold_start(settings: Settings, account: str, use_snapshot: bool = True) -> float:
    with stopwatch() as elapsed:
        with Bank(settings) as bank:
            if not use_snapshot:
                bank.state._start_from_snapshot = lambda: None
            bank.state.snapshot_every = 0  # measure the start, not the next snapshot
            bank.deposit(account, 1)
    return elapsed()


def _log_with_snapshot(base: Settings, name: str, events: int) -> tuple[Settings, str]:
    settings = fresh(base, name)
    log = synthetic_log(events)
    load_log(settings, log)
    with Bank(settings) as bank:
        bank.state.snapshot_every = 0
        bank._catch_up()
        if not bank.state.snapshot():
            raise RuntimeError("the snapshot was not taken")
    first = next(e for e, _ in log if isinstance(e, CreateEvent))
    return settings, first.acc_id


def run(base: Settings, sizes: Sizes) -> Result:
    result = Result("coldstart", TITLE)
    empty = fresh(base, "bench-cold-empty")
    with Bank(empty) as bank:
        lonely = bank.create_account("Alone")
    big, big_account = _log_with_snapshot(base, "bench-cold-big", sizes.coldstart_events)
    floor, warm, full = [], [], []
    for _ in range(sizes.coldstart_rounds):
        floor.append(_cold_start(empty, lonely))
        warm.append(_cold_start(big, big_account))
    full.append(_cold_start(big, big_account, use_snapshot=False))
    events = f"{sizes.coldstart_events:,}"
    result.figure("empty log: new Bank + first command (median)", median(floor) * 1000, "ms")
    result.figure(f"{events} events, from the snapshot (median)", median(warm) * 1000, "ms")
    result.figure(f"{events} events, folded from offset zero (context)", full[0] * 1000, "ms")
    result.ratio(f"cold start at {events} events with a snapshot / on an empty log",
                 median(warm) / median(floor), 3.0, higher_is_better=False)
    result.ratio(f"cold start at {events} events: full fold / from the snapshot (context)",
                 full[0] / median(warm))
    if sizes.coldstart_million:
        huge, huge_account = _log_with_snapshot(base, "bench-cold-huge", 1_000_000)
        million = median([_cold_start(huge, huge_account) for _ in range(3)])
        result.figure("1,000,000 events, from the snapshot (median of 3)", million * 1000, "ms")
        result.ratio("cold start at 1,000,000 events with a snapshot / on an empty log",
                     million / median(floor))
    result.note(f"Rounds alternate the empty log and the {events}-event log"
                f" ({sizes.coldstart_rounds} each). A snapshot holds names, balances, each"
                " partition's shares and the recent command ids, gzip'd, in a compacted topic.")
    return result
