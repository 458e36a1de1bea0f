"""What a `Bank` or a `Projector` holds (connections, consumers, producers), released once.

A learner's notebook often drops a `Bank` without closing it. Its connections are then closed
when it is garbage collected, by the same function `close()` calls: whichever comes first runs
it, and only once (`weakref.finalize`).
"""

from __future__ import annotations

import weakref
from typing import Any


def release(held: dict[str, Any]) -> None:
    """Close every resource in ``held``, the last acquired first; never raises."""
    while held:
        _, resource = held.popitem()
        close = getattr(resource, "close", None)
        if close is None:
            continue
        try:
            close()
        except Exception:  # releasing must not raise
            pass


def released_with(owner: object, held: dict[str, Any],
                  ) -> weakref.finalize[[dict[str, Any]], object]:
    """Release ``held`` when the returned finalizer is called (``close()``), or when ``owner``
    is garbage collected; whichever comes first."""
    return weakref.finalize(owner, release, held)
