"""Facts computed another way than the kit computes them, to check the lessons' stored answers
against: Kafka's partitioner written out again from the Java client, and the sample log read as
JSON lines and folded in plain Python."""

from __future__ import annotations

import json

from tests.helpers import ROOT

SAMPLE = ROOT / "data" / "sample-events.jsonl"


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), written out again."""
    m, seed, mask = 0x5BD1E995, 0x9747B28C, 0xFFFFFFFF
    length = len(data)
    h = (seed ^ length) & mask
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[whole:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if len(tail) >= 1:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h  # Java's int


def kafka_partition(key: str, partitions: int = 3) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def sample_rows(count: int) -> list[dict]:
    with SAMPLE.open(encoding="utf-8") as lines:
        return [json.loads(line) for line, _ in zip(lines, range(count), strict=False)]


def balances_by_hand(rows: list[dict]) -> dict[str, int]:
    balances: dict[str, int] = {}
    for row in rows:
        kind, acc, amount = row["Type"], row["AccId"], row.get("Amount", 0)
        if kind == "CreateEvent":
            balances.setdefault(acc, 0)
        elif kind == "DepositEvent":
            balances[acc] += amount
        elif kind == "WithdrawEvent":
            balances[acc] -= amount
        elif kind == "TransferEvent":
            balances[acc] -= amount
            balances[row["TargetId"]] += amount
    return balances
