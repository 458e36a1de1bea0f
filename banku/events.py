"""The four events, in the Go original's wire format.

An event is a fact: it already happened. It is written as compact JSON with the Go field names
(``AccId``, ``Type``, ``AccName``, ``Amount``, ``TargetId``) so a Go banku producer and this kit can
share one topic. Time is not in the JSON: it comes from the Kafka record timestamp.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Union

from . import rules
from .errors import CommandRejected, EventDecodeError

MAX_ID_LENGTH = 100


@dataclass(frozen=True)
class CreateEvent:
    acc_id: str
    acc_name: str

    def to_wire(self) -> dict[str, Any]:
        return {"AccId": self.acc_id, "Type": "CreateEvent", "AccName": self.acc_name}


@dataclass(frozen=True)
class DepositEvent:
    acc_id: str
    amount: int

    def to_wire(self) -> dict[str, Any]:
        return {"AccId": self.acc_id, "Type": "DepositEvent", "Amount": self.amount}


@dataclass(frozen=True)
class WithdrawEvent:
    acc_id: str
    amount: int

    def to_wire(self) -> dict[str, Any]:
        return {"AccId": self.acc_id, "Type": "WithdrawEvent", "Amount": self.amount}


@dataclass(frozen=True)
class TransferEvent:
    acc_id: str  # the source account: the record is keyed by it
    target_id: str
    amount: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "AccId": self.acc_id,
            "Type": "TransferEvent",
            "TargetId": self.target_id,
            "Amount": self.amount,
        }


Event = Union[CreateEvent, DepositEvent, WithdrawEvent, TransferEvent]  # noqa: UP007
EVENT_TYPES = ("CreateEvent", "DepositEvent", "WithdrawEvent", "TransferEvent")


def encode(event: Event) -> bytes:
    """The record value: compact JSON, exactly as Go's json.Marshal writes it."""
    return json.dumps(event.to_wire(), separators=(",", ":"), ensure_ascii=False).encode()


def key_of(event: Event) -> bytes:
    """The record key: the account id, so all of an account's events share one partition."""
    return event.acc_id.encode()


def balance_changes(event: Event) -> list[tuple[str, int]]:
    """How an event moves money: (account id, signed amount) pairs. The fold's only arithmetic."""
    if isinstance(event, DepositEvent):
        return [(event.acc_id, event.amount)]
    if isinstance(event, WithdrawEvent):
        return [(event.acc_id, -event.amount)]
    if isinstance(event, TransferEvent):
        return [(event.acc_id, -event.amount), (event.target_id, event.amount)]
    return []


# --- strict decoding ------------------------------------------------------------------------
def _field(data: dict[str, Any], name: str) -> Any:
    if name not in data:
        raise EventDecodeError(f"{data.get('Type')} has no {name} field")
    return data[name]


def _account_id(data: dict[str, Any], name: str) -> str:
    value = _field(data, name)
    if not isinstance(value, str) or not value.strip():
        raise EventDecodeError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise EventDecodeError(f"{name} is {len(value)} characters long (at most {MAX_ID_LENGTH})")
    return value


def _checked(rule, value: Any, what: str) -> Any:
    try:
        return rule(value)
    except CommandRejected as exc:
        raise EventDecodeError(f"bad {what}: {exc}") from None


def decode(value: bytes | None) -> Event:
    """Turn a record value into an event, or raise EventDecodeError saying why it is not one.

    Unknown extra fields are ignored (a later version may add an event id or a schema version).
    """
    if value is None:
        raise EventDecodeError("the record has no value (a tombstone)")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventDecodeError(
            f"the value is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EventDecodeError(f"the value is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise EventDecodeError(f"the value is JSON {type(data).__name__}, not an object")
    kind = data.get("Type")
    if kind not in EVENT_TYPES:
        raise EventDecodeError(f"unknown event Type {kind!r} (expected one of {EVENT_TYPES})")
    acc_id = _account_id(data, "AccId")
    if kind == "CreateEvent":
        return CreateEvent(acc_id, _checked(rules.check_name, _field(data, "AccName"), "AccName"))
    amount = _checked(rules.check_amount, _field(data, "Amount"), "Amount")
    if kind == "DepositEvent":
        return DepositEvent(acc_id, amount)
    if kind == "WithdrawEvent":
        return WithdrawEvent(acc_id, amount)
    target = _account_id(data, "TargetId")
    _checked(lambda t: rules.check_not_same_account(acc_id, t), target, "TargetId")
    return TransferEvent(acc_id, target, amount)
