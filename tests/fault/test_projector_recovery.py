"""The projector's recovery paths, made to happen on purpose (in a fresh namespace on the session's
stack): a batch whose Redis step failed (the request lost, or the reply lost after the script
ran), a script that cannot apply its batch, and positions that could not be read when partitions
were assigned. In each case the consumer has already moved on in Kafka; the projector must seek
back to the positions in Redis before it polls again, or it would skip records, and a batch is
in Redis whole or not at all.
"""

from __future__ import annotations

import pytest
import redis

from banku import Projector, ServiceUnavailable, ViewCorrupt
from banku.adapters.redis.view import ReadModel
from banku.diagnostics import redis_down
from tests.fault.util import view
from tests.helpers import banku, end_offsets, fold_topic
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
    fail_once(monkeypatch, settings, "apply", after=1)
    with Projector(settings, max_poll_records=500) as projector:
        failures = 0
        for _ in range(3):
            try:
                projector.run_until_caught_up(timeout=120)
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
        projector.run_until_caught_up(timeout=120)  # the view has positions now
    busy_bank(bank, accounts=5, events=1000, seed=5)
    total = sum(end_offsets(settings).values())
    # The first read (before taking the partitions) answers; the one made when they are
    # assigned fails.
    calls = fail_once(monkeypatch, settings, "positions", after=1)
    with Projector(settings, max_poll_records=500) as projector:
        # The read fails inside poll (which would swallow the error); the next poll reads again.
        projector.run_until_caught_up(timeout=120)
    state = view(settings)
    report(events=total, failed_reads=1, reads=calls[0], applied=state["stats"]["applied"])
    assert calls[0] >= 3
    assert state["balances"] == fold_topic(settings)
    assert state["stats"]["applied"] == total


def test_a_reply_lost_after_the_script_ran_is_found_applied(settings, bank, monkeypatch, report):
    """The connection drops after Redis ran the batch: the projector cannot tell, re-reads the
    positions, and finds the batch there; it must not apply it again."""
    busy_bank(bank, accounts=10, events=2000, seed=6)
    total = sum(end_offsets(settings).values())
    real = ReadModel.apply
    lost = [0]

    def reply_lost(self, batch):
        real(self, batch)
        if not lost[0]:
            lost[0] = 1
            raise redis_down(settings, redis.ConnectionError("connection lost (injected)"))

    monkeypatch.setattr(ReadModel, "apply", reply_lost)
    with Projector(settings, max_poll_records=300) as projector:
        with pytest.raises(ServiceUnavailable):
            projector.run_until_caught_up(timeout=120)
        projector.run_until_caught_up(timeout=120)
    state = view(settings)
    report(events=total, lost_replies=1, applied=state["stats"]["applied"])
    assert state["balances"] == fold_topic(settings)
    assert state["stats"]["applied"] == total


def test_a_batch_the_script_cannot_apply_changes_nothing(settings, bank, report):
    """A balance edited by hand into something that is not a number: the script checks every
    change first and refuses the whole batch, positions included, with one clear sentence."""
    accounts = busy_bank(bank, accounts=4, events=200, seed=7)
    with Projector(settings) as projector:
        projector.run_until_caught_up(timeout=120)
    with ReadModel(settings) as model:
        model.redis.hset(model.account_key(accounts[0]), "Balance", "lots")
        before = (model.positions(), model.redis.hgetall(model.account_key(accounts[1])),
                  model.stats())
    for account in accounts:  # one batch touching the spoilt account and the others
        bank.deposit(account, 5)
    with Projector(settings) as projector:
        with pytest.raises(ViewCorrupt, match="banku replay"):
            projector.run_until_caught_up(timeout=120)
    with ReadModel(settings) as model:
        after = (model.positions(), model.redis.hgetall(model.account_key(accounts[1])),
                 model.stats())
    assert after == before
    repaired = banku(settings, "replay")
    assert repaired.returncode == 0, repaired.stderr
    assert view(settings)["balances"] == fold_topic(settings)
    report(spoilt_accounts=1, batch_refused=True, positions_moved=False, repaired_by="replay")
