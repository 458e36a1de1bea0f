"""The memory benchmark's verdict: 400,000 against 1,600,000 events is the target, 200,000 against
800,000 the context, in the JSON shape every benchmark writes (no servers: replays are stubbed)."""

from __future__ import annotations

import pytest

from banku.config import Settings
from benchmarks import memory
from benchmarks.common import FULL, QUICK


@pytest.fixture
def replays(monkeypatch):
    """Stub the servers out: a replay's peak is read from ``peaks`` by the namespace's size."""
    peaks: dict[int, float] = {}
    monkeypatch.setattr(memory, "fresh", lambda base, name: Settings(namespace=name))
    monkeypatch.setattr(memory, "load_log", lambda settings, log: None)
    monkeypatch.setattr(memory, "synthetic_log", lambda n, seed: [])
    monkeypatch.setattr(memory, "wipe", lambda settings: None)

    def peak(settings, *args, env=None):
        size = settings.namespace.rsplit("-", 1)[-1]
        return 40.0 if size == "empty" else peaks[int(size)] + (5.0 if env else 0.0)

    monkeypatch.setattr(memory, "peak_rss_mb", peak)
    return peaks


def test_the_target_pair_is_400k_against_1_6m_and_the_old_pair_is_context():
    assert FULL.memory_events == (400_000, 1_600_000)
    assert FULL.memory_context_events == (200_000, 800_000)
    assert QUICK.memory_events[1] == 4 * QUICK.memory_events[0]


def test_a_peak_that_levels_off_meets_the_target(replays):
    replays.update({200_000: 65.0, 400_000: 70.0, 800_000: 73.0, 1_600_000: 75.0})
    data = memory.run(Settings(), FULL).as_dict()
    assert data["benchmark"] == "memory"
    target, context, *allocator = data["ratios"]  # the allocator's context: on Linux only
    assert target["name"] == "peak RSS 1,600,000 / 400,000 events (must not grow)"
    assert target["target"] == 1.1 and target["higher_is_better"] is False
    assert target["value"] == pytest.approx(75 / 70) and target["met"] is True
    assert context["name"] == "peak RSS 800,000 / 200,000 events (context)"
    assert context["value"] == pytest.approx(73 / 65)
    assert context["target"] is None and context["met"] is None
    assert all(r["target"] is None and "MALLOC_MMAP_THRESHOLD_" in r["name"] for r in allocator)
    figures = [f["name"] for f in data["figures"]]
    assert figures[0].startswith("peak RSS, empty log")
    assert [f for f in figures if "1,600,000 events" in f]


def test_a_peak_that_grows_with_the_log_misses_it(replays):
    replays.update({200_000: 65.0, 400_000: 70.0, 800_000: 80.0, 1_600_000: 90.0})
    target = memory.run(Settings(), FULL).as_dict()["ratios"][0]
    assert target["value"] == pytest.approx(90 / 70) and target["met"] is False
