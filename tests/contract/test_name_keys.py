"""The `NameKeys` port (crypto-shredding): seal, reveal, forget."""

from __future__ import annotations

import pytest

from banku import BankuError
from banku.domain.projection import Batch
from banku.domain.sealing import FORGOTTEN, is_sealed

A = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
B = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"


def test_a_sealed_name_is_revealed_until_its_key_is_forgotten(view):
    keys = view.name_keys()
    sealed = keys.seal(A, "Ada Lovelace")
    assert is_sealed(sealed) and "Ada" not in sealed
    assert keys.reveal([(A, sealed)]) == {A: "Ada Lovelace"}
    assert keys.reveal([]) == {}
    view.apply(Batch(positions={0: (-1, 1)}, opens=[(A, 0, "Ada Lovelace")], applied=1))
    keys.forget(A)
    assert keys.reveal([(A, sealed)]) == {A: FORGOTTEN}
    assert view.account(A).name == FORGOTTEN  # the view's copy is blanked too


def test_a_retry_seals_under_the_key_the_first_attempt_made(view):
    keys = view.name_keys()
    first, again = keys.seal(A, "Ada"), keys.seal(A, "Ada")
    assert keys.reveal([(A, first)]) == keys.reveal([(A, again)]) == {A: "Ada"}
    keys.forget(A)
    assert keys.reveal([(A, first)]) == {A: FORGOTTEN}


def test_forgetting_twice_or_forgetting_an_unsealed_account_is_refused(view):
    keys = view.name_keys()
    with pytest.raises(BankuError):
        keys.forget(B)  # nothing was sealed for it
    keys.seal(A, "Ada")
    keys.forget(A)
    with pytest.raises(BankuError):
        keys.forget(A)


def test_the_keys_outlive_a_wipe_of_the_view(view):
    keys = view.name_keys()
    sealed = keys.seal(A, "Ada")
    view.wipe()  # a replay rebuilds the view; the names must still open
    assert view.name_keys().reveal([(A, sealed)]) == {A: "Ada"}
