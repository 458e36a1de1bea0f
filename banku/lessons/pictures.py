"""Pictures for notebook 05: where each partition's replicas are, and what acks=1 lost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from banku.lab.brokers import PartitionState

# What a broker is for a partition, and how it is drawn.
ROLES = {
    "leader": ("#2b6cb0", "white", "leader"),
    "in sync": ("#90cdf4", "black", "in sync"),
    "out of sync": ("#fbd38d", "black", "out of sync"),
    "down": ("#4a4a4a", "white", "down"),
    "no replica": ("#f2f2f2", "grey", ""),
}


def role(state: PartitionState, broker: int, down: Iterable[int] = ()) -> str:
    """What ``broker`` is for the partition: leader, in sync, out of sync, down, no replica."""
    if broker in set(down):
        return "down"
    if broker == state.leader:
        return "leader"
    if broker in state.in_sync:
        return "in sync"
    return "out of sync" if broker in state.replicas else "no replica"


def replica_grid(panels: Mapping[str, tuple[list[PartitionState], Iterable[int]]],
                 brokers: Iterable[int] = (1, 2, 3)):
    """One grid per panel (title -> (partition states, brokers down)): a row per partition, a
    column per broker, each cell the broker's role for that partition. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    brokers = list(brokers)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 1.6, 2.4),
                             squeeze=False)
    for ax, (title, (states, down)) in zip(axes[0], panels.items(), strict=True):
        down = set(down)
        for row, state in enumerate(states):
            for col, broker in enumerate(brokers):
                face, ink, text = ROLES[role(state, broker, down)]
                ax.add_patch(Rectangle((col + 0.04, row + 0.06), 0.92, 0.88, color=face))
                ax.text(col + 0.5, row + 0.5, text, ha="center", va="center", color=ink,
                        fontsize="small")
        ax.set_xlim(0, len(brokers))
        ax.set_ylim(len(states), 0)
        ax.set_xticks([c + 0.5 for c in range(len(brokers))], [f"broker {b}" for b in brokers])
        ax.set_yticks([r + 0.5 for r in range(len(states))],
                      [f"partition {s.partition}" for s in states])
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title(title, fontsize="medium")
    handles = [Patch(color=ROLES[r][0], label=r) for r in ("leader", "in sync", "out of sync",
                                                           "down")]
    fig.legend(handles=handles, loc="center right", frameon=False, fontsize="small")
    fig.tight_layout(rect=(0, 0, 1 - 1.4 / fig.get_figwidth(), 1))
    return fig


def acks_outcome(outcome: Mapping[str, tuple[int, int]],
                 title: str = "Acknowledged records after the leader died"):
    """Bars per producer setting (label -> (acknowledged, lost)): what was kept, what was lost
    (blue and hatched orange: colours colour-blind readers tell apart).

    Returns the figure.
    """
    import matplotlib.pyplot as plt

    labels = list(outcome)
    kept = [acked - lost for acked, lost in outcome.values()]
    lost = [lost for _, lost in outcome.values()]
    fig, ax = plt.subplots(figsize=(7, 3.0))
    ax.barh(labels, kept, color="#0072B2", label="acknowledged, still in the log")
    ax.barh(labels, lost, left=kept, color="#E69F00", hatch="//", label="acknowledged, then lost")
    for y, (acked, gone) in enumerate(outcome.values()):
        ax.text(acked, y, f"  {acked} acknowledged, {gone} lost", va="center", fontsize="small")
    ax.set_xlim(0, max(acked for acked, _ in outcome.values()) * 1.6)
    ax.invert_yaxis()
    ax.set_xlabel("records")
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False,
              fontsize="small")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig
