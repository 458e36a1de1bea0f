"""The `ViewStore` port and its atomic step: a batch and its positions are written together or
not at all; a batch that expects other positions than the stored ones changes nothing."""

from __future__ import annotations

import pytest

from banku import BankAccount, ViewCorrupt
from banku.domain.projection import Batch
from banku.domain.values import INT64_MAX
from banku.errors import PositionConflict

A = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
B = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"


def opening(expected: int = -1) -> Batch:
    """Ada opens in partition 0 and gets 70: two records, offsets 0 and 1."""
    return Batch(positions={0: (expected, 2)}, opens=[(A, 0, "Ada")], deltas={A: 70},
                 shares={(A, 0): 70}, applied=2)


def snapshot(view) -> tuple[object, ...]:
    return (view.positions(), view.accounts(), view.balances(), view.tracking(0, [A, B]),
            view.tracking(1, [A, B]))


def test_a_batch_is_applied_with_its_positions(view):
    assert view.positions() == {} and view.accounts() == []
    view.apply(opening())
    assert view.positions() == {0: 2}
    assert view.account(A) == BankAccount(A, "Ada", 70)
    assert view.accounts() == [BankAccount(A, "Ada", 70)] and view.balances() == {A: 70}
    assert view.tracking(0, [A, B]) == ({A: 70}, {A})
    assert view.tracking(1, [A]) == ({}, set())
    assert view.account(B) is None
    assert view.stats()["applied"] == 2


def test_a_batch_expecting_other_positions_changes_nothing(view):
    view.apply(opening())
    before = snapshot(view)
    with pytest.raises(PositionConflict):
        view.apply(opening(expected=-1))  # another projector applied these already
    with pytest.raises(PositionConflict):
        view.apply(Batch(positions={0: (5, 6)}, deltas={A: 1}, shares={(A, 0): 1}, applied=1))
    assert snapshot(view) == before


def test_a_batch_is_all_or_nothing(view):
    """One account's change that the view cannot hold refuses the whole batch: the other
    account, the other partition and the positions stay as they were."""
    view.apply(opening())
    before = snapshot(view)
    poisoned = Batch(positions={0: (2, 3), 1: (-1, 1)}, opens=[(B, 1, "Bo")],
                     deltas={B: 5, A: INT64_MAX}, shares={(B, 1): 5, (A, 0): INT64_MAX},
                     applied=2)
    with pytest.raises(ViewCorrupt):
        view.apply(poisoned)
    assert snapshot(view) == before
    view.apply(Batch(positions={0: (2, 3), 1: (-1, 1)}, opens=[(B, 1, "Bo")], deltas={B: 5},
                     shares={(B, 1): 5}, applied=2))
    assert view.positions() == {0: 3, 1: 1} and view.balances() == {A: 70, B: 5}


def test_an_account_opened_in_two_partitions_keeps_the_first_partitions_name(view):
    view.apply(Batch(positions={1: (-1, 1)}, opens=[(A, 1, "Later")], applied=1))
    view.apply(Batch(positions={0: (-1, 1)}, opens=[(A, 0, "First")], applied=1))
    assert view.account(A) == BankAccount(A, "First", 0)


def test_a_wipe_empties_the_view_and_its_positions(view):
    view.apply(opening())
    view.wipe()
    assert view.positions() == {} and view.accounts() == [] and view.account(A) is None
    view.apply(opening())  # from the start again
    assert view.balances() == {A: 70}
