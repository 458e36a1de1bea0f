"""Snapshots of the write model: a cold start that does not grow with the log.

A new `Bank` (every `banku deposit` is one) must know every balance before it can decide, and
folding the whole topic takes time in proportion to its length. A snapshot is the ledger *with
the exact positions it reflects*; a cold start loads the latest one and folds only the tail.

Where: a compacted Kafka topic, ``<ns.>banku-snapshots``, one partition, one key. Compaction
keeps the latest record per key, which is exactly right for a snapshot (only the newest matters)
and exactly wrong for the event log (every event matters, forever). Keeping it in Kafka, beside
the log it summarises, means the write side depends on nothing else; Redis is the read side's.

A snapshot is refused, with a one-line warning and a full fold instead, when it is corrupt (its
checksum), of another schema version, taken from another topic (the events topic was deleted
and created again: its topic id differs) or ahead of the log (positions beyond the end offsets).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from typing import Any

from banku.domain.events import decode, encode
from banku.domain.ledger import Ledger, Receipt

log = logging.getLogger("banku.snapshots")

SCHEMA = 1
KEY = b"ledger"  # the one record key of the compacted snapshots topic


class SnapshotRefused(Exception):
    """Why a snapshot cannot be used (said in the warning)."""


def to_bytes(ledger: Ledger, positions: dict[int, int], topic_id: str) -> bytes:
    """The snapshot record's value: gzip'd JSON with a checksum of its body."""
    body = {
        "schema": SCHEMA,
        "topic_id": topic_id,
        "partitions": ledger.partitions,
        "positions": {str(p): o for p, o in positions.items()},
        "names": ledger.names,
        "balances": ledger.balances,
        "shares": [[a, p, v] for p, shares in ledger.shares.items() for a, v in shares.items()],
        "opened": [[a, p] for p, accounts in ledger.opened.items() for a in accounts],
        "named_in": ledger.named_in,
        "commands": [[cid, r.partition, r.offset, r.timestamp_ms, encode(r.event).decode()]
                     for cid, r in ledger.commands.items() if r.offset >= 0],
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    checksum = hashlib.sha256(text.encode()).hexdigest()
    return gzip.compress(json.dumps({"sha256": checksum, "body": text}).encode(), 5)


def from_bytes(value: bytes | None, topic_id: str, ends: dict[int, int],
               ) -> tuple[Ledger, dict[int, int]]:
    """The ledger and positions of a snapshot; raises SnapshotRefused saying why not."""
    try:
        outer = json.loads(gzip.decompress(value or b""))
        text = outer["body"]
        if hashlib.sha256(text.encode()).hexdigest() != outer["sha256"]:
            raise SnapshotRefused("it is corrupt (its checksum does not match)")
        body: dict[str, Any] = json.loads(text)
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        raise SnapshotRefused("it is corrupt (not the gzip'd JSON a snapshot is)") from None
    if body.get("schema") != SCHEMA:
        raise SnapshotRefused(f"it has schema {body.get('schema')!r}, this kit reads {SCHEMA}")
    if body.get("topic_id") != topic_id:
        raise SnapshotRefused("it was taken from another topic of that name (deleted and"
                              " created again since)")
    positions = {int(p): o for p, o in body["positions"].items()}
    ahead = [p for p, o in positions.items() if o > ends.get(p, 0)]
    if ahead:
        raise SnapshotRefused(f"it is ahead of the log (partition {ahead[0]} is at"
                              f" {positions[ahead[0]]}, the log ends at {ends.get(ahead[0], 0)})")
    ledger = Ledger.empty(body["partitions"])
    ledger.names.update(body["names"])
    ledger.balances.update(body["balances"])
    for account_id, partition, share in body["shares"]:
        ledger.shares.setdefault(partition, {})[account_id] = share
    for account_id, partition in body["opened"]:
        ledger.opened.setdefault(partition, set()).add(account_id)
    ledger.named_in.update(body["named_in"])
    for cid, partition, offset, timestamp, wire in body["commands"]:
        ledger.remember(cid, Receipt(decode(wire.encode()), partition, offset, timestamp, cid))
    return ledger, positions
