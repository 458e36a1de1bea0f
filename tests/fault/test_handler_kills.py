"""Handlers killed under load: four writer processes hammer twenty accounts through three
`banku handler` processes while handlers are SIGKILLed ten times (and restarted).

The checks read the topic with a plain consumer (`tests.helpers.raw_records`), not the kit:
no balance is ever negative in the log's order, no command id appears twice, every command a
writer saw accepted is in the log exactly once (and no refused one is), and the projected view
equals the fold of the topic.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import replace

from banku import Bank, Projector
from tests.fault.util import HandlerProcess, env_for, every_partition_ready
from tests.helpers import fold_topic, raw_records, wait_until

WRITERS, COMMANDS_EACH, ACCOUNTS, KILLS = 4, 120, 20, 10


def _groups_by_partition(bank: Bank, accounts: list[str]) -> list[list[str]]:
    groups = defaultdict(list)
    for account in accounts:
        groups[bank.state.partition_of(account)].append(account)
    return list(groups.values())


def test_handlers_killed_ten_times_lose_nothing_double_nothing_overdraw_nothing(
        settings, tmp_path, report):
    topic_mode = replace(settings, commands="topic")
    spawned = 0

    def spawn() -> HandlerProcess:
        nonlocal spawned
        spawned += 1
        return HandlerProcess(topic_mode, tmp_path, f"handler-{spawned}",
                              "--session-timeout-ms", "3000")

    handlers = [spawn() for _ in range(3)]
    wait_until(lambda: every_partition_ready(handlers), 120, "the handlers to be ready")
    with Bank(topic_mode) as bank:
        with bank.batch():
            accounts = [bank.create_account(f"Account {n}") for n in range(ACCOUNTS)]
        with bank.batch():
            for account in accounts:
                bank.deposit(account, 100)
        groups = _groups_by_partition(bank, accounts)
    (tmp_path / "accounts.json").write_text(json.dumps(groups))

    writers = [subprocess.Popen(
        [sys.executable, "-m", "tests.fault.command_writer", str(tmp_path / "accounts.json"),
         str(tmp_path / f"writer-{n}.jsonl"), str(COMMANDS_EACH), str(n)],
        env=env_for(topic_mode), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for n in range(WRITERS)]

    def answered() -> int:
        return sum(len((tmp_path / f"writer-{n}.jsonl").read_text().splitlines())
                   for n in range(WRITERS) if (tmp_path / f"writer-{n}.jsonl").exists())

    rng = random.Random(13)
    kills = 0
    try:
        for kill in range(KILLS):
            # Kill only while commands flow: wait for progress since the last kill.
            target = min(WRITERS * COMMANDS_EACH - 1, answered() + 12)
            wait_until(lambda target=target: answered() >= target
                       or all(w.poll() is not None for w in writers),
                       180, f"commands to flow before kill {kill + 1}")
            if all(w.poll() is not None for w in writers):
                break
            victim = rng.choice([h for h in handlers if h.alive()])
            if victim.kill():
                kills += 1
            handlers[handlers.index(victim)] = spawn()
        for writer in writers:
            assert writer.wait(timeout=600) == 0, writer.stderr.read()
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
        for handler in handlers:
            handler.terminate()

    # --- what the writers were told ---
    told = [json.loads(line) for n in range(WRITERS)
            for line in (tmp_path / f"writer-{n}.jsonl").read_text().splitlines()]
    accepted = {t["cid"] for t in told if t["outcome"] == "accepted"}
    refusals = Counter(t["outcome"] for t in told if t["outcome"] != "accepted")
    assert len(told) == WRITERS * COMMANDS_EACH

    # --- what the log holds, read by hand ---
    records = raw_records(topic_mode)
    cids = Counter()
    by_partition = defaultdict(list)
    for record in records:
        headers = dict(record.headers or [])
        cids[headers.get("banku.command", b"").decode()] += 1
        by_partition[record.partition].append(record)
    doubled = [cid for cid, n in cids.items() if n > 1]
    missing = [cid for cid in accepted if cids[cid] != 1]
    refused_but_written = [t["cid"] for t in told if t["outcome"] != "accepted" and cids[t["cid"]]]
    negative = []
    for partition_records in by_partition.values():
        balances: dict[str, int] = defaultdict(int)
        for record in sorted(partition_records, key=lambda r: r.offset):
            event = json.loads(record.value)
            amount = event.get("Amount", 0)
            if event["Type"] == "DepositEvent":
                balances[event["AccId"]] += amount
            elif event["Type"] == "WithdrawEvent":
                balances[event["AccId"]] -= amount
            elif event["Type"] == "TransferEvent":
                balances[event["AccId"]] -= amount
                balances[event["TargetId"]] += amount
            negative += [(a, b) for a, b in balances.items() if b < 0]
    assert not doubled and not missing and not refused_but_written and not negative, (
        doubled[:5], missing[:5], refused_but_written[:5], negative[:5])
    with Projector(topic_mode) as projector:
        projector.run_until_caught_up(timeout=120)
        assert projector.view.balances() == fold_topic(topic_mode)
    aborted = len(raw_records(topic_mode, committed=False)) - len(records)
    report(writers=WRITERS, handlers=3, handler_kills=kills, commands=len(told),
           accepted=len(accepted), refused=dict(refusals), events=len(records),
           events_in_aborted_transactions=aborted,
           doubled=0, lost=0, negative_balances=0, view_equals_fold=True)
