"""Commands as records: the commands topic, the outcomes topic, and the client `Bank` uses.

With ``BANKU_COMMANDS=topic`` a `Bank` does not decide anything itself. It writes each command to
``<ns.>banku-commands``, keyed by the account it acts on (a transfer by its source), and waits
for the command handler's answer on ``<ns.>banku-commands.outcomes``: each record there holds the
answers to the commands one transaction decided, in the partition their ids hash to.

A command is a request in the imperative, not a fact: ``{"Type": "Deposit", "AccId": ..., "Amount":
2000}``. Its fields are the event it asks for, with the Go names; its id travels in the
``banku.command`` header, like an event's. An outcome says ``accepted`` (with where the event
landed) or ``refused`` (with the rule, by the name of its `CommandRejected` class).
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import orjson

from banku import defaults, errors
from banku.application import gc_pause
from banku.application.ports import CommandTransport
from banku.config import HANDLER_GROUP, Settings
from banku.domain.events import (
    COMMAND_ID_HEADER,
    CreateEvent,
    DepositEvent,
    Event,
    TransferEvent,
    WithdrawEvent,
    event_of,
    from_json,
    to_json,
)
from banku.domain.ledger import Receipt
from banku.errors import BankuError, CommandRejected, ServiceUnavailable

# command Type -> the event it asks for
COMMAND_TYPES = {"Open": CreateEvent, "Deposit": DepositEvent, "Withdraw": WithdrawEvent,
                 "Transfer": TransferEvent}
_FIELDS = {CreateEvent: ("AccId", "AccName"), DepositEvent: ("AccId", "Amount"),
           WithdrawEvent: ("AccId", "Amount"), TransferEvent: ("AccId", "TargetId", "Amount")}
_NAME_OF = {event: name for name, event in COMMAND_TYPES.items()}


class NotACommand(BankuError):
    """A record on the commands topic that is not a command (it goes to the dead letters)."""


def encode_command(event: Event) -> bytes:
    wire = event.to_wire()
    wire["Type"] = _NAME_OF[type(event)]
    return to_json(wire)  # an amount beyond 64 bits is written too: the rules refuse it later


def decode_command(value: bytes | None) -> Event:
    """The event a command record asks for. Only its *shape* is checked here; whether its
    values are acceptable is the rules' business (`rules.decide`), so that a bad amount is a
    refusal with the same class as in direct mode, not a dead letter."""
    try:
        data = from_json(value) if value is not None else None
    except ValueError as exc:
        raise NotACommand(f"the value is not JSON ({exc})") from None
    if type(data) is not dict:
        raise NotACommand(f"the value is JSON {type(data).__name__}, not an object")
    kind = COMMAND_TYPES.get(data.get("Type"))  # type: ignore[arg-type]
    if kind is None:
        raise NotACommand(f"unknown command Type {data.get('Type')!r} (expected one of"
                          f" {tuple(COMMAND_TYPES)})")
    missing = [f for f in _FIELDS[kind] if f not in data]
    if missing:
        raise NotACommand(f"{data['Type']} has no {', '.join(missing)} field")
    return kind(*(data[f] for f in _FIELDS[kind]))


def handler_members(settings: Settings) -> int | None:
    """How many members the handlers' group has now (None: the coordinator did not say)."""
    from kafka.errors import KafkaError

    from banku.adapters.kafka.clients import admin_client

    group = settings.group_id(HANDLER_GROUP)
    try:
        admin = admin_client(settings)
    except BankuError:
        return None
    try:
        described = admin.describe_groups([group]).get(group, {})
    except KafkaError:
        return None
    finally:
        admin.close()
    if described.get("error"):
        return 0  # a group the coordinator does not know has no members
    return len(described.get("members") or [])


def outcome_partition(command_id: str, partitions: int) -> int:
    """Where the answer to a command goes: a hash of its id, so that the handler and the client
    agree without asking each other (crc32, not Kafka's murmur2, which is slow in Python)."""
    return zlib.crc32(command_id.encode()) % partitions


def accepted(command_id: str, receipt: Receipt) -> dict[str, Any]:
    return {"CommandId": command_id, "Outcome": "accepted", "Partition": receipt.partition,
            "Offset": receipt.offset, "Timestamp": receipt.timestamp_ms,
            "Event": receipt.event.to_wire()}


def refused(command_id: str, refusal: Exception) -> dict[str, Any]:
    return {"CommandId": command_id, "Outcome": "refused", "Refusal": type(refusal).__name__,
            "Message": str(refusal)}


def _refusal_class(name: str) -> type[BankuError]:
    found = getattr(errors, name, None)
    if isinstance(found, type) and issubclass(found, CommandRejected):
        return found
    return NotACommand


def outcome_result(outcome: dict[str, Any]) -> Receipt:
    """The receipt of an accepted command; raises the refusal of a refused one."""
    if outcome.get("Outcome") == "accepted":
        event = event_of(outcome["Event"])
        return Receipt(event, outcome["Partition"], outcome["Offset"], outcome["Timestamp"],
                       outcome["CommandId"])
    raise _refusal_class(outcome.get("Refusal", ""))(outcome.get("Message", "refused"))


class HandlerClient(CommandTransport):
    """Sends commands to the handler and waits for their outcomes."""

    def __init__(self, settings: Settings, timeout: float = defaults.OUTCOME_TIMEOUT_S) -> None:
        from banku.adapters.kafka.clients import (
            ensure_topic,
            make_producer,
            make_reader,
            partitions_of,
        )

        self.settings, self.timeout = settings, timeout
        for topic in (settings.commands_topic, settings.outcomes_topic):
            ensure_topic(settings, topic)
        # One command is one request: send it at once rather than lingering for company.
        self._producer = make_producer(settings, linger_ms=1000)
        self._reader = make_reader(settings, max_poll_records=1000, fetch_max_wait_ms=100)
        # The reader follows every outcome partition from their end onwards: the answer to a
        # command sent now comes after its position, so no request is needed to know where.
        parts = partitions_of(self._reader, settings.outcomes_topic)
        self._reader.assign(parts)
        self._reader.seek_to_end(*parts)
        for tp in parts:
            self._reader.position(tp)

    def submit_many(self, commands: list[tuple[Event, str, int | None]],
                    ) -> list[Receipt | BankuError]:
        """Send every command, then collect every outcome (a receipt, or the refusal)."""
        from kafka.errors import KafkaError

        from banku.diagnostics import kafka_errors

        wanted = {cid for _, cid, _ in commands}
        try:
            with kafka_errors(self.settings, f"topic {self.settings.commands_topic}"), \
                    gc_pause.paused():  # see banku.application.gc_pause
                futures = [self._producer.send(
                    self.settings.commands_topic, key=event.acc_id.encode()
                    if isinstance(event.acc_id, str) else None,
                    value=encode_command(event), headers=[(COMMAND_ID_HEADER, cid.encode())],
                    timestamp_ms=timestamp_ms) for event, cid, timestamp_ms in commands]
                self._producer.flush(timeout=self.timeout)
                for future in futures:
                    future.get(timeout=self.timeout)
                answers = self._collect(wanted)
                return [answers[cid] for _, cid, _ in commands]
        except KafkaError as exc:
            raise ServiceUnavailable(
                f"Kafka did not take the command(s) ({type(exc).__name__}); they may or may not"
                " have reached the handler. Send them again with the same command ids."
            ) from None

    def _collect(self, wanted: set[str]) -> dict[str, Receipt | BankuError]:
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + self.timeout
        while len(found) < len(wanted):
            if time.monotonic() > deadline:
                raise ServiceUnavailable(self._unanswered(len(wanted) - len(found), len(wanted)))
            for records in self._reader.poll(timeout_ms=200).values():
                for record in records:
                    for outcome in orjson.loads(record.value):
                        cid = outcome.get("CommandId")
                        if cid in wanted and cid not in found:
                            found[cid] = outcome
        results: dict[str, Receipt | BankuError] = {}
        for cid in wanted:
            try:
                results[cid] = outcome_result(found[cid])
            except BankuError as refusal:
                results[cid] = refusal
        return results

    def _unanswered(self, missing: int, sent: int) -> str:
        """Why no answer came, as far as the group coordinator can tell: a handler that runs
        but has not answered (starting, taking over, overloaded) is not a missing one."""
        group = self.settings.group_id(HANDLER_GROUP)
        members = handler_members(self.settings)
        counted = f"{missing} of {sent} command(s) unanswered"
        if members:
            return (f"A command handler is running (group {group} has {members} member(s)) but did"
                    f" not answer within {self.timeout:.0f}s ({counted}): it may still be getting"
                    " ready (its `--log-json` says `ready` for each partition it can decide) or be"
                    " overloaded. The commands wait in"
                    f" {self.settings.commands_topic} and will be decided; send them again with"
                    " the same command ids for the answer.")
        if members is None:
            return (f"No command handler answered within {self.timeout:.0f}s ({counted}; they"
                    f" will be decided once a handler runs), and group {group} could not be"
                    " described: check that `banku handler` runs.")
        return (f"No command handler answered within {self.timeout:.0f}s ({counted}; they will"
                " be decided once a handler runs): start one with `banku handler`.")

    def close(self) -> None:
        self._producer.close(timeout=defaults.CLOSE_TIMEOUT_S)
        self._reader.close()
