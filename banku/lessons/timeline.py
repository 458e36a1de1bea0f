"""The failover picture: who owned each partition over time, and how far the view got."""

from __future__ import annotations

from banku.config import PARTITIONS
from banku.lessons.watcher import OwnershipWatcher, owners_by_partition

NOBODY = (0.85, 0.85, 0.85)


def _bar(axes, start: float, end: float, row: int, **style) -> None:
    if end > start:
        axes.broken_barh([(start, end - start)], (row - 0.35, 0.7), **style)


def _ownership(top, watcher: OwnershipWatcher, partitions: int, colours: dict) -> None:
    """One bar per partition, coloured by its owner; hatched once that owner was stopped."""
    samples = watcher.samples
    for p in range(partitions):
        for this, nxt in zip(samples, samples[1:], strict=False):
            who = owners_by_partition(this.owners, partitions).get(p, [])
            if len(who) != 1:
                _bar(top, this.t, nxt.t, p, facecolors=NOBODY, edgecolor="none")
                continue
            # A member that stopped between two samples: solid up to the stop, hatched after.
            gone = min(max(watcher.gone.get(who[0], nxt.t), this.t), nxt.t)
            _bar(top, this.t, gone, p, facecolors=colours[who[0]], edgecolor="none")
            _bar(top, gone, nxt.t, p, facecolors="white", hatch="///",
                 edgecolor=colours[who[0]], linewidth=0)


def plot_timeline(watcher: OwnershipWatcher, partitions: int = PARTITIONS,
                  title: str = "Who owned which partition"):
    """Ownership per partition over time (top) and the view's position per partition (bottom),
    with the marks as vertical lines. Returns the matplotlib figure.

    A hatched bar is a member that was already stopped but still listed as the owner: the
    partition had an owner on paper and nobody doing its work.
    """
    import matplotlib.pyplot as plt

    samples = watcher.samples
    members = sorted({m for s in samples for m in s.owners})
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(members)}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.2), sharex=True,
                                      gridspec_kw={"height_ratios": [1.2, 1]})
    _ownership(top, watcher, partitions, colours)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in members]
    handles.append(plt.Rectangle((0, 0), 1, 1, color=NOBODY))
    labels = [*members, "nobody"]
    if watcher.gone:
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="white", hatch="///",
                                     edgecolor="grey"))
        labels.append("an owner that is gone")
    top.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
               fontsize="small", frameon=False)
    top.set_yticks(range(partitions), [f"partition {p}" for p in range(partitions)])
    top.set_ylim(partitions - 0.5, -0.5)
    top.set_title(title, pad=18)
    for p in range(partitions):
        bottom.plot([s.t for s in samples], [s.positions.get(p, 0) for s in samples],
                    label=f"partition {p}")
    bottom.set_ylabel("view position\n(next offset)")
    bottom.set_xlabel("seconds since the watcher started")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    for axes in (top, bottom):
        for t, _ in watcher.marks:
            axes.axvline(t, color="black", linestyle="--", linewidth=1)
    for t, label in watcher.marks:
        top.annotate(label, (t, -0.5), xytext=(3, 3), textcoords="offset points",
                     fontsize="small", va="bottom", annotation_clip=False)
    fig.tight_layout()
    return fig
