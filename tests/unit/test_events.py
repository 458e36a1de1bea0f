"""Events, rules and the console parser: pure logic, no servers."""

from __future__ import annotations

import json

import pytest

from banku import EventDecodeError, InvalidAmount, InvalidName
from banku.events import (
    CreateEvent,
    DepositEvent,
    TransferEvent,
    WithdrawEvent,
    balance_changes,
    decode,
    encode,
    key_of,
)
from banku.model import fold
from banku.rules import check_amount, check_name, parse_amount


# The Go tutorial's four event-builder specs.
def test_create_event_has_type_id_and_name():
    event = CreateEvent("id-1", "Adam")
    assert json.loads(encode(event)) == {"AccId": "id-1", "Type": "CreateEvent", "AccName": "Adam"}


def test_deposit_event_has_type_id_and_amount():
    assert encode(DepositEvent("id-1", 20)) == b'{"AccId":"id-1","Type":"DepositEvent","Amount":20}'


def test_withdraw_event_has_type_id_and_amount():
    assert json.loads(encode(WithdrawEvent("id-1", 5)))["Type"] == "WithdrawEvent"


def test_transfer_event_has_source_target_and_amount_in_go_order():
    raw = encode(TransferEvent("a", "b", 30))
    assert raw == b'{"AccId":"a","Type":"TransferEvent","TargetId":"b","Amount":30}'
    assert key_of(TransferEvent("a", "b", 30)) == b"a"


@pytest.mark.parametrize("event", [CreateEvent("a", "Zoë"), DepositEvent("a", 1),
                                   WithdrawEvent("a", 2**63 - 1), TransferEvent("a", "b", 7)])
def test_encode_decode_round_trip(event):
    assert decode(encode(event)) == event


def test_decode_ignores_unknown_fields():
    value = b'{"EventId":"e1","Version":2,"Amount":5,"Type":"DepositEvent","AccId":"a"}'
    assert decode(value) == DepositEvent("a", 5)


@pytest.mark.parametrize("value,reason", [
    (b"\xff", "UTF-8"), (b"{", "not JSON"), (b"[]", "not an object"), (None, "tombstone"),
    (b'{"AccId":"a","Type":"Nope"}', "unknown event Type"),
    (b'{"AccId":"a","Type":"DepositEvent"}', "no Amount"),
    (b'{"AccId":"a","Type":"DepositEvent","Amount":0}', "positive"),
    (b'{"AccId":"a","Type":"DepositEvent","Amount":"5"}', "whole number"),
    (b'{"AccId":"a","Type":"DepositEvent","Amount":1e3}', "whole number"),
    (b'{"AccId":"a","Type":"DepositEvent","Amount":false}', "whole number"),
    (b'{"AccId":7,"Type":"DepositEvent","Amount":5}', "AccId"),
    (b'{"AccId":"a","Type":"TransferEvent","Amount":5,"TargetId":"a"}', "two different"),
    (b'{"AccId":"a","Type":"CreateEvent","AccName":"   "}', "empty"),
])
def test_decode_says_why_a_record_is_not_an_event(value, reason):
    with pytest.raises(EventDecodeError, match=reason):
        decode(value)


def test_balance_changes_and_fold():
    events = [CreateEvent("a", "A"), CreateEvent("b", "B"), DepositEvent("a", 100),
              TransferEvent("a", "b", 30), WithdrawEvent("b", 10)]
    assert balance_changes(events[3]) == [("a", -30), ("b", 30)]
    ledger = fold(events)
    assert ledger.balances == {"a": 70, "b": 20}
    assert ledger.account("b").name == "B"


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
