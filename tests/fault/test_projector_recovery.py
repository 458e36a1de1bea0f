"""The projector's recovery paths, made to happen on purpose (in a fresh namespace on the session's
stack): a batch whose Redis step failed, and positions that could not be read when partitions were
assigned. In both cases the consumer has already moved on in Kafka; the projector must seek back to
the positions in Redis before it polls again, or it would skip records.
"""

from __future__ import annotations

from banku import Projector, ServiceUnavailable
from banku.read_model import ReadModel, redis_down
from tests.fault.util import view
from tests.helpers import end_offsets, fold_topic
from tests.test_projector import busy_bank


def fail_once(monkeypatch, settings, name: str, after: int = 0) -> list[int]:
    """Make ``ReadModel.<name>`` raise "Redis does not answer" once, after ``after`` calls."""
    real = getattr(ReadModel, name)
    calls = [0]

    def flaky(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == after + 1:
            raise redis_down(settings)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ReadModel, name, flaky)
    return calls


def test_a_batch_whose_redis_step_failed_is_not_skipped(settings, bank, monkeypatch, report):
    busy_bank(bank, accounts=10, events=3000, seed=3)
    total = sum(end_offsets(settings).values())
    fail_once(monkeypatch, settings, "apply_batch", after=1)
    with Projector(settings, max_poll_records=500) as projector:
        failures = 0
        for _ in range(3):
            try:
                projector.run_until_caught_up(timeout=60)
                break
            except ServiceUnavailable:
                failures += 1  # the caller sees the outage, and simply carries on
    state = view(settings)
    report(events=total, failed_batches=failures, applied=state["stats"]["applied"])
    assert failures == 1
    assert state["balances"] == fold_topic(settings)
    assert state["stats"]["applied"] == total


def test_positions_unreadable_at_assignment_are_read_again(settings, bank, monkeypatch, report):
    busy_bank(bank, accounts=10, events=2000, seed=4)
    with Projector(settings, max_poll_records=500) as projector:
        projector.run_until_caught_up(timeout=60)  # the view has positions now
    busy_bank(bank, accounts=5, events=1000, seed=5)
    total = sum(end_offsets(settings).values())
    calls = fail_once(monkeypatch, settings, "positions")
    with Projector(settings, max_poll_records=500) as projector:
        # The read fails inside poll (which would swallow the error); the next poll reads again.
        projector.run_until_caught_up(timeout=60)
    state = view(settings)
    report(events=total, failed_reads=1, reads=calls[0], applied=state["stats"]["applied"])
    assert calls[0] >= 2
    assert state["balances"] == fold_topic(settings)
    assert state["stats"]["applied"] == total
