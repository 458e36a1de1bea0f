"""Events, rules and the console parser: pure logic, no servers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banku import EventDecodeError, InvalidAmount, InvalidName
from banku.domain.events import (
    CreateEvent,
    DepositEvent,
    TransferEvent,
    WithdrawEvent,
    balance_changes,
    decode,
    encode,
    key_of,
)
from banku.domain.ledger import fold
from banku.domain.rules import check_amount, check_name, parse_amount

# Account ids are UUIDs (the decoder refuses anything else).
A = "6f1c2a9e-3b4d-4e5f-8a7b-0c1d2e3f4a5b"
B = "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"


# The Go tutorial's four event-builder specs.
def test_create_event_has_type_id_and_name():
    event = CreateEvent(A, "Adam")
    assert json.loads(encode(event)) == {"AccId": A, "Type": "CreateEvent", "AccName": "Adam"}


def test_deposit_event_has_type_id_and_amount():
    wire = f'{{"AccId":"{A}","Type":"DepositEvent","Amount":20}}'.encode()
    assert encode(DepositEvent(A, 20)) == wire


def test_withdraw_event_has_type_id_and_amount():
    assert json.loads(encode(WithdrawEvent(A, 5)))["Type"] == "WithdrawEvent"


def test_transfer_event_has_source_target_and_amount_in_go_order():
    raw = encode(TransferEvent(A, B, 30))
    assert raw == f'{{"AccId":"{A}","Type":"TransferEvent","TargetId":"{B}","Amount":30}}'.encode()
    assert key_of(TransferEvent(A, B, 30)) == A.encode()


@pytest.mark.parametrize("event", [CreateEvent(A, "Zoë"), DepositEvent(A, 1),
                                   WithdrawEvent(A, 2**63 - 1), TransferEvent(A, B, 7)])
def test_encode_decode_round_trip(event):
    assert decode(encode(event)) == event


def test_decode_ignores_unknown_fields():
    value = f'{{"EventId":"e1","Version":2,"Amount":5,"Type":"DepositEvent","AccId":"{A}"}}'
    assert decode(value.encode()) == DepositEvent(A, 5)


def _with_ids(value):
    return value.replace(b'"a"', f'"{A}"'.encode()) if value else value


@pytest.mark.parametrize("value,reason", [
    (b"\xff", "UTF-8"), (b"{", "not JSON"), (b"[]", "not an object"), (None, "tombstone"),
    (b'{"AccId":"a","Type":"Nope"}', "unknown event Type"),
    (b'{"AccId":"a","Type":"DepositEvent"}', "no Amount"),
    (b'{"AccId":"a","Type":"DepositEvent","Amount":0}', "positive"),
    (b'{"AccId":"a","Type":"DepositEvent","Amount":"5"}', "whole number"),
    (b'{"AccId":"a","Type":"DepositEvent","Amount":1e3}', "whole number"),
    (b'{"AccId":"a","Type":"DepositEvent","Amount":false}', "whole number"),
    (b'{"AccId":7,"Type":"DepositEvent","Amount":5}', "AccId"),
    (b'{"AccId":"banku:positions","Type":"DepositEvent","Amount":5}', "UUID"),
    (b'{"AccId":"x:banku:positions","Type":"CreateEvent","AccName":"x"}', "UUID"),
    (b'{"AccId":"alice:banku:positions","Type":"DepositEvent","Amount":5}', "UUID"),
    (b'{"AccId":"a","Type":"TransferEvent","Amount":5,"TargetId":"a"}', "two different"),
    (b'{"AccId":"a","Type":"CreateEvent","AccName":"   "}', "empty"),
])
def test_decode_says_why_a_record_is_not_an_event(value, reason):
    with pytest.raises(EventDecodeError, match=reason):
        decode(_with_ids(value) if b"banku:" not in (value or b"") else value)


def test_balance_changes_and_fold():
    events = [CreateEvent(A, "A"), CreateEvent(B, "B"), DepositEvent(A, 100),
              TransferEvent(A, B, 30), WithdrawEvent(B, 10)]
    assert balance_changes(events[3]) == [(A, -30), (B, 30)]
    ledger = fold(events)
    assert ledger.balances == {A: 70, B: 20}
    assert ledger.account(B).name == "B"


@pytest.mark.parametrize("text", ["20.5", "-3", "abc", "", " ", "1e3", "０", "+", "0"])
def test_parse_amount_refuses_what_is_not_a_positive_whole_number(text):
    with pytest.raises(InvalidAmount):
        parse_amount(text)


def test_parse_amount_accepts_whole_numbers():
    assert parse_amount(" 2000 ") == 2000
    assert check_amount(2**63 - 1) == 2**63 - 1


def test_check_name_trims_and_limits():
    assert check_name("  Adam  ") == "Adam"
    with pytest.raises(InvalidName):
        check_name("x" * 101)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.integers(1, 2**63 - 1))
def test_the_fast_encoder_writes_exactly_what_json_writes(name, amount):
    for event in (CreateEvent(A, name), DepositEvent(A, amount), TransferEvent(A, B, amount)):
        assert encode(event) == json.dumps(event.to_wire(), separators=(",", ":"),
                                           ensure_ascii=False).encode("utf-8", "surrogatepass")
