"""The diagrams an instructor projects, drawn by code (matplotlib) so they can be changed and
redrawn: ``python -m banku.lessons.diagrams [FOLDER]`` (``./kit diagrams``) writes each as SVG
and PNG into ``instructors/diagrams/``, and the SVGs the lessons embed into ``notebooks/images/``.

The SVGs keep their words as real ``<text>`` (searchable, read by screen readers, sharp at any
size) and carry their alt text as a ``<title>``; the colours are from Okabe and Ito's palette,
which colour-blind readers tell apart (no red/green pair).

* ``partitions`` — a topic's partitions, offsets, keys, and where a consumer stands;
* ``cqrs`` — the write side (commands, rules, events) and the read side (projector, view);
* ``atomic_step`` — the projector's batch and its positions written in one step, and a crash;
* ``rebalance`` — a consumer group losing a member, before and after;
* ``isr`` — leader, followers, the in-sync replicas, ``acks=all`` and a leader crash;
* ``race`` — two writers that read, check and write, and both pass one funds check;
* ``command_handler`` — one writer per account, deciding in one Kafka transaction per batch.
* ``upcasting`` — records of three versions in one topic, lifted to one shape as they are read;
* ``snapshot_tail`` — a snapshot's positions per partition, and the tail a cold start folds;
* ``snapshot_scopes`` — per-aggregate snapshots against the kit's one global snapshot;
* ``crypto_shredding`` — forgetting by destroying a key, or by a tombstone in a compacted topic.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "instructors" / "diagrams"
NOTEBOOK_IMAGES = Path(__file__).resolve().parents[2] / "notebooks" / "images"
INK, MUTED, PAPER = "#1f2933", "#616e7c", "#ffffff"
# Okabe-Ito blue, orange and reddish purple: told apart with every common colour blindness.
ADAM, EVE, BOB = "#0072B2", "#E69F00", "#CC79A7"
KAFKA, REDIS, CODE, WARN = "#fff4e0", "#fdecea", "#e8f1fd", "#fce8b2"


def _canvas(width: float, height: float, title: str) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, width * 10)
    ax.set_ylim(0, height * 10)
    ax.axis("off")
    fig.patch.set_facecolor(PAPER)
    ax.set_title(title, fontsize=15, color=INK, loc="left", pad=12, fontweight="bold")
    return fig, ax


def box(ax: Axes, x: float, y: float, w: float, h: float, text: str = "", color: str = CODE,
        edge: str = INK, size: float = 10, weight: str = "normal", text_color: str = INK,
        style: str = "round,pad=0.02,rounding_size=0.8") -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=color, edgecolor=edge,
                                linewidth=1.2))
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
                color=text_color, fontweight=weight, wrap=True)


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], text: str = "",
          color: str = INK, style: str = "-|>", dashed: bool = False, size: float = 9,
          offset: tuple[float, float] = (0, 1.2)) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, color=color,
                                 linewidth=1.4, linestyle="--" if dashed else "-"))
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text,
                ha="center", va="bottom", fontsize=size, color=color)


def note(ax: Axes, x: float, y: float, text: str, size: float = 9, color: str = MUTED,
         ha: str = "left") -> None:
    ax.text(x, y, text, ha=ha, va="center", fontsize=size, color=color)


# --- the diagrams ---------------------------------------------------------------------------------
def partitions() -> Figure:
    fig, ax = _canvas(12, 6.4, "A topic: partitions, offsets, keys")
    box(ax, 1, 28, 14, 12, "Bank\n(producer)", CODE, size=11, weight="bold")
    note(ax, 1, 14, "key = account id\npartition =\nmurmur2(key) % 3", size=9, color=INK)
    # Each account's events land in one partition (its key's hash decides which).
    rows = [("partition 0", [ADAM, ADAM, ADAM, ADAM, ADAM, ADAM, ADAM]),
            ("partition 1", [EVE, EVE, EVE, EVE]),
            ("partition 2", [BOB, BOB, BOB, BOB, BOB])]
    for r, (label, colors) in enumerate(rows):
        y = 46 - r * 13
        note(ax, 22, y + 3, label, size=10, color=INK)
        for offset, color in enumerate(colors):
            box(ax, 35 + offset * 7.5, y, 6.5, 6, str(offset), color, edge=INK, size=9,
                text_color=PAPER, weight="bold", style="square,pad=0")
        end = 35 + len(colors) * 7.5
        box(ax, end, y, 6.5, 6, "", PAPER, edge=MUTED, style="square,pad=0")
        note(ax, end + 0.5, y - 2.2, f"end offset {len(colors)}", size=8)
        arrow(ax, (16, 34), (33, y + 3), color=MUTED)
    # a consumer's position in partition 0
    arrow(ax, (35 + 4 * 7.5 + 3.2, 62), (35 + 4 * 7.5 + 3.2, 53), "next to read: offset 4",
          color=ADAM, size=9, offset=(9, 2))
    for i, (name, color) in enumerate([("Adam", ADAM), ("Eve", EVE), ("Bob", BOB)]):
        box(ax, 98 + 0, 46 - i * 7, 4, 4, "", color, style="square,pad=0")
        note(ax, 103.5, 48 - i * 7, f"{name}'s events", size=9, color=INK)
    note(ax, 1, 6, "Order is kept per partition, not across the topic: one key, one partition,"
         " so each account's events arrive in the order they were written.\nOffsets are"
         " positions, never reused; a consumer remembers where it is, the log does not"
         " change.", size=9.5, color=INK)
    return fig


def cqrs() -> Figure:
    fig, ax = _canvas(12, 6.4, "CQRS: a write side that decides, a read side that shows")
    box(ax, 0, 44, 78, 16, "", "#f7f9fb", edge=MUTED)
    note(ax, 2, 57, "WRITE SIDE (commands)", size=9, color=MUTED)
    box(ax, 3, 46, 17, 8, "command\ndeposit(acc, 2000)", CODE, size=9)
    box(ax, 27, 46, 22, 8, "Bank: rules.decide\n(checks the ledger)", CODE, size=9)
    box(ax, 57, 46, 18, 8, "event\nDepositEvent", CODE, size=9)
    arrow(ax, (20, 50), (27, 50))
    arrow(ax, (49, 50), (57, 50), "accepted")
    arrow(ax, (31, 46), (31, 38), color=EVE)
    note(ax, 13, 35, "refused: an error,\nnothing written", size=9, color=EVE)
    box(ax, 86, 22, 23, 32, "Kafka topic\nbanku-transactions\n\nthe log:\nfacts, kept\nforever",
        KAFKA, size=10, weight="bold")
    arrow(ax, (75, 50), (86, 48), "append", offset=(0, 1.5))
    arrow(ax, (86, 32), (45, 46), "", color=MUTED, dashed=True)
    note(ax, 50, 35, "the Bank reads the log back\n(read your own writes)", size=8.5)
    box(ax, 0, 4, 78, 20, "", "#f7f9fb", edge=MUTED)
    note(ax, 2, 21, "READ SIDE (queries)", size=9, color=MUTED)
    box(ax, 53, 7, 22, 10, "Projector\n(consumer group)", CODE, size=9)
    box(ax, 27, 7, 22, 10, "Redis view\none hash per account", REDIS, size=9)
    box(ax, 3, 7, 17, 10, "query\nbanku balances", CODE, size=9)
    arrow(ax, (97, 22), (75, 12), "read in order", offset=(8, -1))
    arrow(ax, (53, 12), (49, 12))
    note(ax, 48.5, 18.5, "apply", size=9, color=INK)
    arrow(ax, (27, 12), (20, 12))
    note(ax, 1, 1, "The view can be thrown away and rebuilt from offset 0 (replay); the log"
         " cannot. Queries never write; commands never read the view.", size=9.5, color=INK)
    return fig


def atomic_step() -> Figure:
    fig, ax = _canvas(12, 6.4, "The projector's atomic step: effects and positions together")
    note(ax, 1, 58, "Kafka, partition 0", size=10, color=INK)
    for offset in range(8):
        color = ADAM if 3 <= offset <= 6 else ("#c5d9f7" if offset < 3 else PAPER)
        box(ax, 1 + offset * 6, 48, 5.4, 6, str(offset), color, style="square,pad=0",
            text_color=INK if offset > 6 or offset < 3 else PAPER, size=9)
    note(ax, 1, 44, "applied before", size=8)
    note(ax, 19, 44, "this batch: offsets 3-6", size=8, color=ADAM)
    arrow(ax, (34, 42), (44, 35.5), "poll", offset=(5, -1))
    box(ax, 26, 14, 58, 21, "", REDIS, edge=INK)
    note(ax, 28, 32, "ONE Lua function (FCALL): all or nothing", size=10, color=INK)
    note(ax, 29, 26, "1. check: stored position == 3 (else another projector won)", size=9,
         color=INK)
    note(ax, 29, 21.5, "2. HINCRBY  the balances of the batch", size=9, color=INK)
    note(ax, 29, 17, "3. HSET  banku:positions  0 -> 7", size=9, color=INK)
    arrow(ax, (84, 24), (92, 24), "then", color=MUTED)
    box(ax, 92, 19, 26, 10, "commit to Kafka\n(only for lag tools)", PAPER, edge=MUTED, size=9,
        text_color=MUTED)
    box(ax, 80, 40, 38, 20, "", WARN)
    note(ax, 82, 56.5, "SIGKILL at any moment:", size=9.5, color=INK)
    note(ax, 82, 50.5, "before the script: nothing written,\nthe batch is read again", size=9)
    note(ax, 82, 44, "after it: the position says 7,\nrecords 3-6 are skipped", size=9)
    note(ax, 1, 4, "At-least-once delivery + positions stored WITH the effects = exactly-once"
         " effects.\nOn restart the projector seeks to the positions in Redis, not to Kafka's"
         " committed offsets.", size=9.5, color=INK)
    return fig


def rebalance() -> Figure:
    fig, ax = _canvas(12, 6.4, "A consumer group rebalances when a member dies")
    colors = [ADAM, EVE, BOB]

    def group(x: float, title: str, owners: list[int | None], dead: int | None) -> None:
        note(ax, x, 58, title, size=10.5, color=INK)
        for m in range(3):
            y = 44 - m * 14
            alive = m != dead
            box(ax, x, y, 16, 9, f"member {m + 1}" + ("" if alive else "\n(SIGKILL)"),
                CODE if alive else "#eeeeee", edge=INK if alive else MUTED, size=9,
                text_color=INK if alive else MUTED)
        for p in range(3):
            y = 45 - p * 14
            box(ax, x + 30, y, 14, 7, f"partition {p}", colors[p], style="square,pad=0",
                text_color=PAPER, size=9)
            owner = owners[p]
            if owner is not None:
                arrow(ax, (x + 16, 48.5 - owner * 14), (x + 30, y + 3.5), color=colors[p])

    group(2, "Before: one partition each", [0, 1, 2], None)
    group(62, "After the session timeout: member 2's partition moves", [0, 0, 2], 1)
    arrow(ax, (50, 34), (60, 34), "", color=MUTED)
    box(ax, 2, 3, 116, 12, "", WARN)
    note(ax, 4, 11, "Crash (SIGKILL): the group notices only when the member's session times out"
         " (45 s by default, 3 s in notebook 04);\na clean shutdown (SIGTERM) leaves the group at"
         " once. Eager protocol: every member gives up all, then gets its new share.", size=9,
         color=INK)
    note(ax, 4, 5.5, "The new owner starts from the positions stored in Redis: nothing lost,"
         " nothing applied twice.", size=9, color=INK)
    return fig


def isr() -> Figure:
    fig, ax = _canvas(12, 6.4, "Replication: leader, followers, in-sync replicas")

    def cluster(x: float, title: str, leader: int, down: int | None, isr_text: str) -> None:
        note(ax, x, 58, title, size=10.5, color=INK)
        for b in range(3):
            y = 40 - b * 13
            alive = b != down
            role = "leader" if b == leader else "follower"
            box(ax, x, y, 18, 10, f"broker {b + 1}\n" + (role if alive else "down"),
                KAFKA if alive else "#eeeeee", edge=INK if alive else MUTED, size=9,
                weight="bold" if b == leader else "normal", text_color=INK if alive else MUTED)
            for i in range(6 if alive else 4):
                box(ax, x + 21 + i * 3.4, y + 3, 3, 4, "", ADAM if alive else "#cccccc",
                    style="square,pad=0")
        note(ax, x, 9, isr_text, size=9.5, color=INK)

    cluster(2, "Partition 0, replication factor 3", 0, None, "ISR = {1, 2, 3}")
    cluster(60, "Broker 1 dies: a follower in the ISR takes over", 1, 0,
            "The controllers' majority fences broker 1 (no heartbeat for\n"
            "broker.session.timeout.ms) and drops it: ISR = {2, 3},\n"
            "still >= min.insync.replicas = 2, so acks=all writes go on")
    arrow(ax, (48, 34), (58, 34), "", color=MUTED)
    box(ax, 2, 0.5, 116, 5, "", WARN)
    note(ax, 4, 3, "acks=all: the leader answers only when every in-sync replica has the record,"
         " so an acknowledged write survives the loss of the leader.", size=9, color=INK)
    return fig


def race() -> Figure:
    fig, ax = _canvas(12, 6.4, "Two writers, one account: read, check, write")
    note(ax, 2, 57, "time \u2192", size=9)
    for row, (who, color) in enumerate([("Adam's Bank", ADAM), ("Eve's Bank", EVE)]):
        y = 42 - row * 16
        box(ax, 1, y, 17, 9, who, CODE, edge=color, size=10, weight="bold")
        steps = ["read the log:\nbalance 100.00", "check: 70.00 <= 100.00\naccepted",
                 "write a\nWithdrawEvent of 70.00"]
        for i, text in enumerate(steps):
            x = 24 + i * 22 + row * 10  # Eve's steps start a little later
            box(ax, x, y, 19, 9, text, color if i == 2 else PAPER, edge=color, size=8.5,
                text_color=PAPER if i == 2 else INK)
            if i:
                arrow(ax, (x - 3, y + 4.5), (x, y + 4.5), color=color)
    box(ax, 22, 5, 60, 12, "", KAFKA)
    note(ax, 24, 14, "the log (one partition)", size=9, color=INK)
    for i, (text, color) in enumerate([("deposit 100.00", BOB), ("withdraw 70.00", ADAM),
                                       ("withdraw 70.00", EVE)]):
        box(ax, 24 + i * 19, 6.5, 17, 5, text, color, style="square,pad=0", size=8.5,
            text_color=PAPER)
    arrow(ax, (79, 42), (62, 17.5), color=ADAM)
    arrow(ax, (89, 26), (81, 17.5), color=EVE)
    box(ax, 86, 3, 33, 16, "", WARN)
    note(ax, 88, 14.5, "Both reads come before", size=9, color=INK)
    note(ax, 88, 10, "either write: both checks pass,", size=9, color=INK)
    note(ax, 88, 6, "the log folds to \u221240.00", size=9, color=INK)
    return fig


def command_handler() -> Figure:
    fig, ax = _canvas(12, 6.4, "One writer per account: the command handler")
    for i, name in enumerate(["Adam's Bank", "Eve's Bank", "a branch's Bank"]):
        box(ax, 1, 44 - i * 12, 16, 8, name, CODE, size=9)
        arrow(ax, (17, 48 - i * 12), (25, 40), color=MUTED)
    box(ax, 25, 18, 22, 34, "", KAFKA)
    note(ax, 26.5, 48.5, "commands topic\nkeyed by account", size=8.5, color=INK)
    colors = [ADAM, EVE, BOB]
    for p in range(3):
        box(ax, 27, 36 - p * 7, 18, 5, f"partition {p}", colors[p], style="square,pad=0",
            size=8.5, text_color=PAPER)
    for h, (name, parts) in enumerate([("handler-1", [0, 1]), ("handler-2", [2])]):
        y = 36 - h * 16
        box(ax, 56, y, 18, 10, f"{name}\nits own ledger", CODE, size=9, weight="bold")
        for p in parts:
            arrow(ax, (45, 38.5 - p * 7), (56, y + 5), color=colors[p])
    box(ax, 82, 10, 36, 46, "", "#f7f9fb", edge=INK)
    note(ax, 84, 52, "ONE Kafka transaction per batch", size=9.5, color=INK)
    for i, (text, color) in enumerate([("events topic\n(the accepted commands)", KAFKA),
                                       ("outcomes topic\n(an answer per command)", KAFKA),
                                       ("__consumer_offsets\n(the commands done)", KAFKA)]):
        box(ax, 85, 38 - i * 12, 30, 9, text, color, size=8.5)
    arrow(ax, (74, 41), (85, 42.5))
    arrow(ax, (74, 25), (85, 30.5))
    arrow(ax, (74, 25), (85, 18.5))
    note(ax, 1, 15, "each Bank reads its answer\nfrom the outcomes topic", size=8.5)
    note(ax, 1, 4, "The group gives each command partition to one handler: one writer per"
         " account. A new owner's init_transactions()\nfences the old one; since KIP-447 the"
         " group's metadata fences a replaced member's offsets too.", size=9, color=INK)
    return fig


def upcasting() -> Figure:
    fig, ax = _canvas(12, 6.4, "Upcasting: old records read through a new lens")
    note(ax, 1, 57, "the topic (records never change)", size=9.5, color=INK)
    records = [("v1", "DepositEvent\nAmount", ADAM), ("v1", "WithdrawEvent\nAmount", ADAM),
               ("v2", "DepositEvent\nAmount, Memo", EVE), ("v2", "FeeCharged\nAmount, Memo", EVE),
               ("v3", "WithdrawEvent\nAmount, Note", BOB)]
    for i, (version, text, color) in enumerate(records):
        x = 1 + i * 23
        box(ax, x, 44, 21, 10, f"banku.schema: {version}\n{text}", PAPER, edge=color, size=8.5)
    box(ax, 1, 20, 34, 12, "upcast\nv1 \u2192 v2: Memo = \"\"", CODE, edge=ADAM, size=9.5)
    box(ax, 43, 20, 34, 12, "upcast_v3\nv2 \u2192 v3: Memo renamed Note", CODE, edge=EVE,
        size=9.5)
    box(ax, 85, 20, 34, 12, "the reader's code\nknows version 3 only", KAFKA, size=9.5,
        weight="bold")
    for i in range(2):
        arrow(ax, (11 + i * 23, 44), (14 + i * 3, 32), color=ADAM)
    for i in range(2, 4):
        arrow(ax, (11 + i * 23, 44), (58 + (i - 2) * 4, 32), color=EVE)
    arrow(ax, (103, 44), (102, 32), "as it is", color=BOB, offset=(6, 0))
    arrow(ax, (35, 26), (43, 26))
    arrow(ax, (77, 26), (85, 26))
    note(ax, 1, 8, "Each step is written once and the steps chain: a version-1 record goes"
         " through both, a version-2 record through the second.\nA version newer than the"
         " reader is refused by name, never guessed.", size=9.5, color=INK)
    return fig


def snapshot_tail() -> Figure:
    fig, ax = _canvas(12, 6.4, "A snapshot and the tail: what a cold start folds")
    positions = [6, 4, 5]
    lengths = [9, 7, 8]
    for p in range(3):
        y = 44 - p * 12
        note(ax, 1, y + 3, f"partition {p}", size=10, color=INK)
        for offset in range(lengths[p]):
            tail = offset >= positions[p]
            box(ax, 16 + offset * 7, y, 6.2, 6, str(offset), EVE if tail else "#cfe3f3",
                style="square,pad=0", size=9, text_color=INK)
        x = 16 + positions[p] * 7 - 0.4
        ax.plot([x, x], [y - 1.5, y + 7.5], color=ADAM, linewidth=2.5)
        note(ax, x + 0.8, y + 8.4, f"position {positions[p]}", size=8, color=ADAM)
    box(ax, 86, 34, 33, 18, "snapshot\nbalances + positions\n{0: 6, 1: 4, 2: 5}", CODE,
        edge=ADAM, size=9.5)
    box(ax, 86, 12, 33, 14, "the tail: the records\nat or after each position", PAPER,
        edge=EVE, size=9.5)
    note(ax, 1, 4, "A cold start loads the snapshot, then folds only the tail (orange). A"
         " position is the next offset to fold:\nthe record at it is not in the snapshot yet.",
         size=9.5, color=INK)
    return fig


def snapshot_scopes() -> Figure:
    fig, ax = _canvas(12, 6.4, "Per-aggregate snapshots, or one global snapshot")
    note(ax, 1, 57, "an event store with a stream per account", size=10, color=INK)
    for i, (name, color) in enumerate([("account A", ADAM), ("account B", EVE),
                                       ("account C", BOB)]):
        y = 44 - i * 11
        box(ax, 1, y, 14, 7, name, PAPER, edge=color, size=9)
        for k in range(4):
            box(ax, 17 + k * 5, y + 1, 4.4, 5, "", color, style="square,pad=0")
        box(ax, 39, y, 14, 7, "its snapshot", CODE, edge=color, size=8.5)
    note(ax, 1, 14, "To decide for A: load A's snapshot\nand A's newer events, nothing else.",
         size=9, color=INK)
    note(ax, 63, 57, "the kit: partitions mix accounts", size=10, color=INK)
    colours = [ADAM, EVE, BOB]
    for p in range(3):
        y = 44 - p * 11
        note(ax, 63, y + 3.5, f"partition {p}", size=9, color=INK)
        for k in range(6):
            box(ax, 78 + k * 5, y + 1, 4.4, 5, "", colours[(k + p) % 3], style="square,pad=0")
    box(ax, 63, 10, 45, 9, "one snapshot: every balance,\none position per partition", CODE,
        size=9)
    note(ax, 63, 4, "A transfer into A is a record in the source's partition.", size=9,
         color=INK)
    return fig


def crypto_shredding() -> Figure:
    fig, ax = _canvas(12, 6.4, "Two ways to forget a name in a log kept forever")
    note(ax, 1, 57, "crypto-shredding", size=10.5, color=INK)
    box(ax, 1, 38, 34, 12, "event log\nAccName: enc:v1:\u2026 (ciphertext)", KAFKA, size=9)
    box(ax, 1, 18, 34, 12, "key store (outside the log)\none key per account", CODE, size=9)
    arrow(ax, (18, 30), (18, 38), "opens", color=ADAM, offset=(5, -1))
    box(ax, 40, 18, 17, 12, "forget:\ndestroy\nthe key", PAPER, edge=EVE, size=9)
    arrow(ax, (40, 24), (35, 24), color=EVE)
    note(ax, 1, 10, "Every copy of the log becomes noise at once;\nthe keys need guarding and"
         " short-lived backups.", size=9, color=INK)
    note(ax, 63, 57, "a compacted names topic", size=10.5, color=INK)
    box(ax, 63, 38, 55, 12, "", KAFKA)
    for i, (text, color) in enumerate([("A: Ada", ADAM), ("H: Hedy", BOB), ("H: (none)", EVE)]):
        box(ax, 65 + i * 17.5, 40, 16, 7, text, PAPER, edge=color, size=9,
            style="square,pad=0")
    note(ax, 100, 36, "a tombstone", size=8.5, color=EVE)
    box(ax, 63, 18, 55, 12, "after the log cleaner runs:\nA: Ada (Hedy's records are gone)",
        PAPER, edge=MUTED, size=9)
    arrow(ax, (90, 38), (90, 30), "compaction", color=MUTED, offset=(8, -1))
    note(ax, 63, 10, "No keys; readers forget at once, the disk only once compacted;\ncopies"
         " of the topic keep the name.", size=9, color=INK)
    return fig


# What each picture says, for a reader who cannot see it (the notebooks' alt text, the SVG's title).
ALT = {
    "partitions": "A producer sends each account's events, keyed by account id, to one of three"
                  " partitions of a topic; each partition is a row of numbered offsets, and a"
                  " consumer's position marks the next offset it will read.",
    "cqrs": "The write side turns a command into an event only when the rules accept it and"
            " appends it to the Kafka topic; the read side's projector reads the topic in order"
            " and keeps one Redis hash per account, which queries read.",
    "atomic_step": "The projector polls a batch of records from a partition and writes the"
                   " balances and the partition's next position in one Lua function: all or"
                   " nothing. A SIGKILL before it leaves nothing written; after it, the stored"
                   " position makes a restart skip the batch.",
    "rebalance": "A consumer group of three members owns one partition each; after member 2 is"
                 " killed and its session times out (45 s by default), its partition moves to"
                 " another member.",
    "isr": "A partition with three replicas: the leader and two in-sync followers; when the"
           " leader's broker dies, the controllers' majority fences it and drops it from the"
           " in-sync replicas, an in-sync follower becomes leader, and acks=all writes go on.",
    "race": "Two timelines, Adam's Bank and Eve's: each reads the log (balance 100.00), checks"
            " 70.00 against it and writes a WithdrawEvent; both reads come before either write,"
            " so the log ends with two withdrawals and folds to -40.00.",
    "command_handler": "Banks send commands keyed by account to the commands topic; each of its"
                       " three partitions has one owner in the handler group, which decides with"
                       " its own ledger and writes the events, the outcomes and its consumed"
                       " offsets in one Kafka transaction; each Bank reads its answer from the"
                       " outcomes topic.",
    "upcasting": "The topic keeps records of versions 1, 2 and 3 side by side; as each is read,"
                 " the upcasters lift it step by step (v1 to v2, then v2 to v3), so the rest of"
                 " the reader knows one shape only.",
    "snapshot_tail": "Three partitions of the log with their offsets; the snapshot holds the"
                     " balances up to a position in each partition; a cold start loads it and"
                     " folds only the tail, the records at or after those positions.",
    "snapshot_scopes": "Left: a stream per account, each with its own small snapshot, loaded"
                       " alone. Right: partitions that mix accounts, and one snapshot of every"
                       " balance with one position per partition, loaded whole.",
    "crypto_shredding": "Left: the log holds ciphertext, the keys live outside it, and"
                        " forgetting destroys a key. Right: names in a compacted topic, a"
                        " tombstone for Hedy, and after compaction her records are gone.",
}

DIAGRAMS: dict[str, Callable[[], Figure]] = {
    "partitions": partitions, "cqrs": cqrs, "atomic_step": atomic_step,
    "rebalance": rebalance, "isr": isr, "race": race, "command_handler": command_handler,
    "upcasting": upcasting, "snapshot_tail": snapshot_tail,
    "snapshot_scopes": snapshot_scopes, "crypto_shredding": crypto_shredding,
}


def render(folder: Path, names: list[str] | None = None) -> list[Path]:
    """Draw the diagrams into ``folder`` as SVG and PNG; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    plt.rcParams["svg.hashsalt"] = "banku"  # the same ids each time: a redraw diffs cleanly
    plt.rcParams["svg.fonttype"] = "none"  # words stay <text>, not outlines
    written = []
    for name in names or list(DIAGRAMS):
        fig = DIAGRAMS[name]()
        for suffix, options in ((".svg", {"metadata": {"Date": None}}),
                                (".png", {"dpi": 120, "metadata": {"Software": None}})):
            path = folder / f"{name}{suffix}"
            fig.savefig(path, facecolor=PAPER, bbox_inches="tight", **options)
            if suffix == ".svg":
                _add_title(path, ALT[name])
            written.append(path)
        plt.close(fig)
    return written


def _add_title(path: Path, alt: str) -> None:
    """Give the SVG its alt text: a ``<title>`` first inside ``<svg>``, and ``role="img"``."""
    from xml.sax.saxutils import escape

    text = path.read_text(encoding="utf-8")
    start = text.index("<svg")
    end = text.index(">", start)
    text = (text[:start] + text[start:end].replace("<svg", '<svg role="img"', 1) + ">"
            + f"\n <title>{escape(alt)}</title>" + text[end + 1:])
    path.write_text(text, encoding="utf-8")


def copy_to_notebooks(folder: Path, images: Path = NOTEBOOK_IMAGES) -> list[Path]:
    """The SVGs the lessons embed (``![alt](images/NAME.svg)``), copied beside the notebooks."""
    images.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in DIAGRAMS:
        target = images / f"{name}.svg"
        shutil.copyfile(folder / f"{name}.svg", target)
        copied.append(target)
    return copied


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else DEFAULT_FOLDER
    for path in render(folder):
        print(path)
    if not args:
        for path in copy_to_notebooks(folder):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
