"""The four events, in the Go original's wire format.

An event is a fact: it already happened. It is written as compact JSON with the Go field names
(``AccId``, ``Type``, ``AccName``, ``Amount``, ``TargetId``) so a Go banku producer and this kit can
share one topic. Time is not in the JSON: it comes from the Kafka record timestamp.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, Union

from banku.domain import values
from banku.domain.values import is_account_id
from banku.errors import CommandRejected, EventDecodeError

# The idempotency key of the command an event came from travels as a record header, so the JSON
# stays exactly the Go wire format.
COMMAND_ID_HEADER = "banku.command"
# The version of the event's shape, in a header too: a reader that meets a version it does not
# know can say so (or upcast it) instead of guessing. The Go original's records carry none: v1.
SCHEMA_HEADER = "banku.schema"
SCHEMA_VERSION = 1


def headers_for(command_id: str) -> list[tuple[str, bytes]]:
    """The headers of an event the kit writes: its command's id and its schema version."""
    return [(COMMAND_ID_HEADER, command_id.encode()), (SCHEMA_HEADER, str(SCHEMA_VERSION).encode())]


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


# One encoder, made once: `json.dumps` with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# orjson writes and parses a 100-byte record in a tenth and a third of `json`'s time; `json`
# stays the reference for what orjson declines (see `encode` and `decode`).
try:
    from orjson import dumps as _fast_dumps
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency; this keeps a bare copy working
    # (simpler signatures than orjson's: mypy sees both definitions)
    def _fast_loads(value: bytes) -> Any:  # type: ignore[misc]
        raise ValueError("use json")

    def _fast_dumps(value: Any) -> bytes:  # type: ignore[misc]
        raise TypeError("use json")



def to_json(value: Any) -> bytes:
    """Compact JSON, as Go's json.Marshal writes it: orjson's bytes (a tenth of the time), or
    `json`'s for what orjson will not write (an integer beyond 64 bits)."""
    try:
        return _fast_dumps(value)
    except TypeError:
        return _ENCODER.encode(value).encode()


def from_json(value: bytes) -> Any:
    """Parsed JSON: orjson's answer, or, for what it refuses (integers beyond 64 bits, NaN, lone
    surrogates), `json`'s, which has the last word (a ValueError says why it is not JSON)."""
    try:
        return _fast_loads(value)
    except ValueError:
        return json.loads(value)


def encode(event: Event) -> bytes:
    """The record value: compact JSON, exactly as Go's json.Marshal writes it."""
    return to_json(event.to_wire())


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
# `decode` runs once per record in the projector, the time-travel loader and the command side's
# catch-up, so it is the kit's hot loop. Each check below first tests the common, valid case in
# one cheap expression and only calls the rules (which word the refusal) when that test fails:
# a valid record costs one JSON parse and a handful of comparisons, a poison record still gets
# its exact reason.
_MISSING = object()


def _account_id(data: dict[str, Any], name: str) -> str:
    value = data.get(name, _MISSING)
    if is_account_id(value):
        return value  # (ids met before are answered from a cache: `values.is_account_id`)
    if value is _MISSING:
        raise EventDecodeError(f"{data.get('Type')} has no {name} field")
    raise EventDecodeError(
        f"{name} must be a UUID like 3f2b...-...-...-...-..., got {values.shown(value, 50)}"
    )


def _amount(data: dict[str, Any]) -> int:
    amount = data.get("Amount", _MISSING)
    # `type(...) is int` also refuses True/False, which are ints to `isinstance`.
    if type(amount) is int and 0 < amount <= values.MAX_AMOUNT:
        return amount
    if amount is _MISSING:
        raise EventDecodeError(f"{data.get('Type')} has no Amount field")
    return _checked(values.check_amount, amount, "Amount")  # raises, saying why


_JSON = json.JSONDecoder()

def _parse_json(text: str) -> Any:
    """``json.loads(text)``, faster for the compact JSON producers write.

    For a 100-byte record, `json.loads` spends about as long on its type checks and on scanning
    for whitespace before and after the value as on parsing it. `raw_decode` parses from the
    first character; when the value ends exactly at the end of the text, that is the answer
    `json.loads` would give. Anything else (leading spaces, trailing data, broken JSON) goes
    through `json.loads` for its exact result or error.
    """
    try:
        data, end = _JSON.raw_decode(text)
        if end == len(text):
            return data
    except ValueError:
        pass
    return json.loads(text)


_T = TypeVar("_T")


def _checked(rule: Callable[[Any], _T], value: Any, what: str) -> _T:
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
        # The fast parser for the usual record. It is stricter than `json` (no NaN, integers of
        # at most 64 bits, no lone surrogates), so whatever it refuses is parsed again below,
        # and refused, or accepted, with exactly the reason `json` gives.
        data = _fast_loads(value)
    except ValueError:
        data = _exactly(value)
    return event_of(data)


def _exactly(value: bytes) -> Any:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventDecodeError(
            f"the value is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    try:
        return _parse_json(text)
    except ValueError as exc:
        raise EventDecodeError(f"the value is not JSON ({exc})") from None


def event_of(data: Any) -> Event:
    """The event a decoded JSON object describes (as `decode`, for a value already parsed)."""
    if type(data) is not dict:
        raise EventDecodeError(f"the value is JSON {type(data).__name__}, not an object")
    kind = data.get("Type")
    # The most frequent types first: a bank has far more payments than new accounts.
    if kind == "WithdrawEvent":
        return WithdrawEvent(_account_id(data, "AccId"), _amount(data))
    if kind == "DepositEvent":
        return DepositEvent(_account_id(data, "AccId"), _amount(data))
    if kind == "TransferEvent":
        acc_id = _account_id(data, "AccId")
        amount = _amount(data)
        target = _account_id(data, "TargetId")
        if target == acc_id:
            _checked(lambda t: values.check_not_same_account(acc_id, t), target, "TargetId")
        return TransferEvent(acc_id, target, amount)
    if kind == "CreateEvent":
        acc_id = _account_id(data, "AccId")
        name = data.get("AccName", _MISSING)
        if name is _MISSING:
            raise EventDecodeError("CreateEvent has no AccName field")
        if type(name) is str and name.startswith("enc:v1:"):  # sealed (banku.domain.sealing)
            return CreateEvent(acc_id, _checked(values.check_sealed_name, name, "AccName"))
        return CreateEvent(acc_id, _checked(values.check_name, name, "AccName"))
    raise EventDecodeError(f"unknown event Type {kind!r} (expected one of {EVENT_TYPES})")


# --- the recorded form: the wire JSON with its time (banku/data/sample-events.jsonl) ------------
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch: the unit of a Kafka record timestamp."""
    return (moment - _EPOCH) // _MS


def format_ms(timestamp_ms: int) -> str:
    """ISO-8601 UTC with milliseconds and a Z, e.g. ``2026-01-05T08:00:00.000Z``."""
    moment = _EPOCH + timestamp_ms * _MS
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{timestamp_ms % 1000:03d}Z"


def parse_timestamp(text: str) -> int:
    """The inverse of `format_ms` (any ISO-8601 time with a zone is accepted)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"Timestamp {text!r} has no time zone (write it in UTC with a Z).")
    return to_ms(moment)

def row_to_event(row: Mapping[str, Any]) -> tuple[Event, int]:
    """Check one row exactly as a Kafka record would be checked; returns (event, timestamp_ms)."""
    if "Timestamp" not in row:
        raise ValueError("The row has no Timestamp field.")
    timestamp_ms = parse_timestamp(row["Timestamp"])
    wire = {k: v for k, v in row.items() if k != "Timestamp"}
    return decode(json.dumps(wire).encode()), timestamp_ms
