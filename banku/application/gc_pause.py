"""Pausing Python's cyclic garbage collector around bulk work.

A batch of commands, a projector's step or a handler's transaction makes a few objects per
record and lets go of them when it ends; none of them is part of a reference cycle, so reference
counting frees them all. The cyclic collector, had it run in the middle, would only have walked
them, again and again (a quarter of a batch's CPU). It runs again as soon as the work is done.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
