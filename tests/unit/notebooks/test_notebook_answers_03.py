"""Notebook 03's answers, recomputed from ``data/sample-events.jsonl`` with plain Python.

Nothing here uses `banku.history` (the code the notebook teaches) or pandas: the log is read as
JSON lines and folded in loops, and the committed notebook's printed answers must match.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from kafka.partitioner.default import murmur2

from tests.helpers import ROOT

SAMPLE = ROOT / "data" / "sample-events.jsonl"
NOTEBOOK = ROOT / "notebooks" / "03_time_travel_with_pandas.ipynb"


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with SAMPLE.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def printed() -> str:
    """Everything notebook 03's code cells printed when it was last executed."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return "\n".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for output in cell.outputs if output.output_type == "stream")


def apply(balances: dict[str, int], row: dict) -> None:
    kind, amount = row["Type"], row.get("Amount", 0)
    if kind == "DepositEvent":
        balances[row["AccId"]] = balances.get(row["AccId"], 0) + amount
    elif kind == "WithdrawEvent":
        balances[row["AccId"]] = balances.get(row["AccId"], 0) - amount
    elif kind == "TransferEvent":
        balances[row["AccId"]] = balances.get(row["AccId"], 0) - amount
        balances[row["TargetId"]] = balances.get(row["TargetId"], 0) + amount


def test_the_shipped_sample_is_the_one_the_package_loads():
    assert SAMPLE.read_bytes() == (ROOT / "banku" / "data" / "sample-events.jsonl").read_bytes()


def test_most_money_at_the_end_of_2026_02_06(rows):
    """The bank's total after the last event of each day (UTC); the richest day wins. Exercise
    3's check accepts exactly that answer, and refuses the old one, a day too early."""
    from banku import history
    from banku.lessons.checks import nb03

    balances: dict[str, int] = {}
    at_end_of: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r["Timestamp"]):
        apply(balances, row)
        at_end_of[row["Timestamp"][:10]] = sum(balances.values())
    day, total = max(at_end_of.items(), key=lambda item: item[1])
    assert (day, total) == ("2026-02-06", 23_849_576)
    df = history.events_frame(rows)
    right = nb03._best_day_right(nb03.small_log())
    assert nb03.check_best_day(lambda log: (day, total) if log is df else right, df)
    assert not nb03.check_best_day(
        lambda log: ("2026-02-05", at_end_of["2026-02-05"]) if log is df else right, df)


def test_the_exercises_come_before_the_kit_shows_the_same():
    """Each exercise cell is followed by its check before the kit's function is first used."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    tags = [(c.metadata.get("tags", []), c.source) for c in nb.cells if c.cell_type == "code"]
    for mine, kits in (("def balances_at(", "history.balances_at("),
                       ("def balance_history(", "history.balance_history(")):
        exercise = next(i for i, (t, s) in enumerate(tags) if "exercise" in t and mine in s)
        check = next(i for i, (t, s) in enumerate(tags) if "check" in t and i > exercise)
        first_kit = next(i for i, (t, s) in enumerate(tags) if kits in s)
        assert exercise < check < first_kit


def test_accounts_below_zero_when_partition_0_is_replayed_alone(rows, printed):
    """Kafka's default partitioner puts each account (the record key) in one of 3 partitions."""

    def partition(account: str) -> int:
        return (murmur2(account.encode()) & 0x7FFFFFFF) % 3

    alone: dict[str, int] = {}
    for row in rows:
        if partition(row["AccId"]) == 0:
            apply(alone, row)
    below = sum(1 for balance in alone.values() if balance < 0)
    assert below > 0
    assert f"after partition 0 alone: {below} of 50 accounts below zero" in printed
    assert f"folded from partition 0 alone: {below}" in printed
    everything: dict[str, int] = {}
    for row in rows:
        apply(everything, row)
    assert min(everything.values()) >= 0  # the whole log: never below zero
