"""Notebook 03's answers, recomputed from ``data/sample-events.jsonl`` with plain Python.

Nothing here uses `banku.history` (the code the notebook teaches) or pandas: the log is read as
JSON lines and folded in loops, and the committed notebook's printed answers must match.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from kafka.partitioner.default import murmur2

ROOT = Path(__file__).resolve().parents[2]
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


def test_most_money_at_the_end_of_2026_02_06(rows, printed):
    """The bank's total after the last event of each day (UTC); the richest day wins."""
    balances: dict[str, int] = {}
    at_end_of: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r["Timestamp"]):
        apply(balances, row)
        at_end_of[row["Timestamp"][:10]] = sum(balances.values())
    day, total = max(at_end_of.items(), key=lambda item: item[1])
    assert (day, total) == ("2026-02-06", 23_849_576)
    assert f"most money at the end of {day}: {total} cents" in printed
    assert "2026-02-05" not in printed  # the old answer, a day too early


def test_richest_at_noon_on_30_january(rows, printed):
    names = {r["AccId"]: r["AccName"] for r in rows if r["Type"] == "CreateEvent"}
    balances: dict[str, int] = {}
    for row in rows:
        if row["Timestamp"] <= "2026-01-30T12:00:00.000Z":
            apply(balances, row)
    richest = max(balances, key=balances.__getitem__)
    assert f"richest at noon on 30 January: {names[richest]}, {balances[richest]} cents" in printed


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
