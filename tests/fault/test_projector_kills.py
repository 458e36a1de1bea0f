"""Twenty SIGKILLs of projector processes, at random moments, while a group of three works through
at least 50,000 events. Afterwards the view must equal an independent fold of the topic, and the
number of records applied must equal the number of records in the topic (nothing doubled).

The projectors are fast (tens of thousands of events a second), so a backlog alone would be gone
before the third kill. Events therefore keep arriving while the members are killed — a backlog
of 20,000 first, then a steady stream — the way a live system sees it, and the test checks that
the kills land while records are waiting to be applied.

Runs in a fresh namespace on the session's stack: only projector processes are killed here.
"""

from __future__ import annotations

import random
import time

from banku import Projector
from tests.fault.util import ProjectorProcess, Traffic, progress, view, write_mix
from tests.helpers import end_offsets, fold_topic

KILLS = 20
MEMBERS = 3
EVENTS = 50_000
BACKLOG = 20_000


def test_twenty_sigkills_of_group_members_lose_nothing_and_double_nothing(
        settings, bank, tmp_path, report):
    started = time.monotonic()
    rng = random.Random(7)
    ids = [bank.create_account(f"Customer {i}") for i in range(60)]
    balances = dict.fromkeys(ids, 0)
    write_mix(bank, ids, balances, rng, BACKLOG)
    traffic = Traffic(bank, ids, balances, minimum=EVENTS - BACKLOG, rate=1500)
    traffic.start()

    args = ("--batch-size", "200", "--session-timeout-ms", "2000")
    spawned = 0

    def spawn() -> ProjectorProcess:
        nonlocal spawned
        spawned += 1
        return ProjectorProcess(settings, tmp_path, f"member-{spawned}", *args)

    members = [spawn() for _ in range(MEMBERS)]
    kill_at: dict[int, float] = {}
    kills, behind = 0, []
    deadline = time.monotonic() + 180
    try:
        while kills < KILLS:
            assert time.monotonic() < deadline, f"only {kills} kills in 180s"
            assert traffic.error is None, traffic.error
            for slot, member in enumerate(members):
                if kills >= KILLS:
                    break
                assert member.alive(), f"a projector exited on its own:\n{member.log}"
                if id(member) not in kill_at:
                    if member.assigned():  # it holds partitions: it is working
                        kill_at[id(member)] = time.monotonic() + rng.uniform(0.05, 1.5)
                    continue
                if time.monotonic() < kill_at[id(member)]:
                    continue
                done = progress(settings)
                lag = sum(end_offsets(settings).values()) - done  # records not yet applied
                assert member.kill(), "the member had already exited"
                kills += 1
                behind.append(lag)
                members[slot] = spawn()
            time.sleep(0.05)
    finally:
        traffic.stop.set()
        for member in members:
            member.kill()
        traffic.join(timeout=120)
    assert traffic.error is None, traffic.error
    total = sum(end_offsets(settings).values())
    assert total >= EVENTS

    # Recovery: one more member of the same group resumes from the positions in Redis.
    with Projector(settings, session_timeout_ms=2000, heartbeat_interval_ms=500) as survivor:
        survivor.run_until_caught_up(timeout=120)
    expected = fold_topic(settings)
    state = view(settings)
    mismatches = sum(state["balances"].get(acc) != bal for acc, bal in expected.items())
    mismatches += len(set(state["balances"]) - set(expected))
    applied = state["stats"]["applied"]
    report(kills=kills, members=MEMBERS, processes=spawned, events=total,
           accounts=len(expected), applied=applied, lost=max(0, total - applied),
           doubled=max(0, applied - total), mismatches=mismatches,
           kills_while_behind=sum(lag > 0 for lag in behind), max_lag_at_kill=max(behind),
           seconds=round(time.monotonic() - started, 1))
    # Most kills must land while records wait to be applied (the rest between two chunks).
    assert sum(lag > 0 for lag in behind) >= 15, f"records waiting at each kill: {behind}"
    assert mismatches == 0
    assert state["balances"] == expected
    assert applied == total, "every record applied exactly once"
    assert sum(state["positions"].values()) == total
