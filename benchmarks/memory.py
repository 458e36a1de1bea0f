"""Memory: the projector's peak RSS while it replays a log, for logs of several sizes.

Each replay is a real `banku project --until-caught-up` process; its peak resident set size is
the kernel's own count (``ru_maxrss``), so no sampling can miss the peak. The
projector keeps one batch and one fetch buffer at a time, so its peak must not grow with the log:
the target compares 400,000 with 1,600,000 events; 200,000 with 800,000 is kept as context.
"""

from __future__ import annotations

import subprocess
import sys

from banku.adapters.redis.view import ReadModel
from banku.config import Settings
from banku.lessons.notebook import environment_for

from .common import Result, Sizes, fresh, load_log, median, synthetic_log

# A small launcher runs the projector and reports its children's peak RSS. (Read directly,
# the child's ru_maxrss would start at this benchmark process's own size: Linux carries the
# parent's peak over a fork and an exec. The launcher is small, so its share is negligible.)
_LAUNCHER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if done.returncode:
    sys.exit(done.stderr.decode(errors="replace")[-500:] or "failed")
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(peak / 1024 if sys.platform != "darwin" else peak / 1024 / 1024)  # kB on Linux, MB out
"""


def peak_rss_mb(settings: Settings, *args: str, env: dict[str, str] | None = None) -> float:
    """Run ``python -m banku ARGS`` in this namespace; its peak RSS in MB (it must succeed)."""
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "banku", *args],
                          env={**environment_for(settings), **(env or {})}, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"banku {' '.join(args)} failed: {done.stderr.strip()}")
    return float(done.stdout)


def wipe(settings: Settings) -> None:
    """Empty the view, so the next projector replays from offset zero."""
    view = ReadModel(settings)
    try:
        view.wipe()
    finally:
        view.close()


def run(base: Settings, sizes: Sizes) -> Result:
    result = Result("memory", "Projector memory during a replay")
    replay = ("project", "--until-caught-up", "--timeout", "900")
    baseline = peak_rss_mb(fresh(base, "bench-memory-empty"), *replay)
    # The target compares a log 4x as long (400,000 against 1,600,000 events: both long enough
    # to keep every fetch full). The earlier pair, 200,000 against 800,000, stays as context.
    small_n, large_n = sizes.memory_events
    context_small, context_large = sizes.memory_context_events
    logs = []
    for n in sorted({small_n, large_n, context_small, context_large}):
        settings = fresh(base, f"bench-memory-{n}")
        load_log(settings, synthetic_log(n, seed=5))
        logs.append((n, settings))
    # The peak moves by a few MB from run to run (it depends on how the fetches and the
    # parsing overlap), so each size is replayed several times, alternately, from offset zero.
    peaks: dict[int, list[float]] = {n: [] for n, _ in logs}
    for _ in range(sizes.memory_rounds):
        for n, settings in logs:
            wipe(settings)
            peaks[n].append(peak_rss_mb(settings, *replay))
    # Context: glibc raises its mmap threshold after a large buffer is freed, so later fetch
    # buffers come from the heap, which can fragment; the same replays with the threshold fixed
    # show how much of any creep is the C allocator's rather than the projector's.
    fixed: dict[int, float] = {}
    if sys.platform.startswith("linux"):
        for n, settings in logs:
            if n in (small_n, large_n):
                wipe(settings)
                fixed[n] = peak_rss_mb(settings, *replay,
                                       env={"MALLOC_MMAP_THRESHOLD_": "131072"})
    result.figure("peak RSS, empty log (the process itself)", baseline, "MB")
    for n, _ in logs:
        result.figure(f"peak RSS, replay of {n:,} events (median of {sizes.memory_rounds})",
                      median(peaks[n]), "MB")
    result.ratio(f"peak RSS {large_n:,} / {small_n:,} events (must not grow)",
                 median(peaks[large_n]) / median(peaks[small_n]), 1.10, higher_is_better=False)
    result.ratio(f"peak RSS {context_large:,} / {context_small:,} events (context)",
                 median(peaks[context_large]) / median(peaks[context_small]))
    runs = "; ".join(f"{n:,} events: " + ", ".join(f"{p:.0f}" for p in peaks[n]) for n in peaks)
    if fixed:
        result.ratio(f"peak RSS {large_n:,} / {small_n:,} with MALLOC_MMAP_THRESHOLD_=131072"
                     " (context)", fixed[large_n] / fixed[small_n])
    result.note(f"The log grows {large_n / small_n:.0f}x; the peak may grow at most 10 %."
                f" Every run, in MB: {runs}."
                + (f" With glibc's mmap threshold fixed: {fixed[small_n]:.0f} and"
                   f" {fixed[large_n]:.0f} MB." if fixed else ""))
    return result
