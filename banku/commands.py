"""The command side: `Bank` checks a command against the bank's rules, then writes one event.

Events are facts; commands can be refused. The Go original wrote every command to Kafka and let
the consumer reject some of them later, so a refused withdraw stayed in the log as a
"WithdrawEvent". Here the rules (`banku.rules`) run *before* anything is written, against a
ledger folded from the topic itself, and a refused command writes nothing.

The ledger is caught up from the topic before each command, so the `Bank` sees what other
writers wrote and, always, its own earlier writes (read your own writes).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError

from . import rules
from .config import Settings
from .errors import EventDecodeError, ServiceUnavailable
from .events import (
    CreateEvent,
    DepositEvent,
    Event,
    TransferEvent,
    WithdrawEvent,
    decode,
    encode,
    key_of,
)
from .kafka_io import ensure_topic, make_producer, make_reader, read_to_end
from .model import BankAccount, Ledger
from .read_model import ReadModel

SEND_TIMEOUT = 30.0


@dataclass(frozen=True)
class Receipt:
    """Where an event landed: Kafka's answer to a send."""

    event: Event
    partition: int
    offset: int
    timestamp_ms: int

    @property
    def wire(self) -> str:
        return encode(self.event).decode()


class Bank:
    """Open accounts and move money. Every method validates first, then writes one event."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.ledger = Ledger.empty()
        self.last_receipt: Receipt | None = None
        self._positions: dict[int, int] = {}
        self._own: set[tuple[int, int]] = set()  # (partition, offset) of our own writes
        self._producer = None
        self._reader = None
        self._read_model: ReadModel | None = None
        self._pending: list[tuple[Event, Any]] | None = None  # inside `batch()`

    # --- commands --------------------------------------------------------------------------
    def create_account(self, name: str) -> str:
        """Open an account; returns its new id (a uuid4, as in the Go original)."""
        self._catch_up()
        event = CreateEvent(str(uuid.uuid4()), rules.check_name(name))
        self._write(event)
        return event.acc_id

    def deposit(self, account_id: str, amount: int) -> Receipt | None:
        self._catch_up()
        amount = rules.check_amount(amount)
        rules.check_account_exists(account_id, self.ledger.names)
        rules.check_balance_limit(account_id, self.ledger.balances[account_id], amount)
        return self._write(DepositEvent(account_id, amount))

    def withdraw(self, account_id: str, amount: int) -> Receipt | None:
        self._catch_up()
        amount = rules.check_amount(amount)
        rules.check_account_exists(account_id, self.ledger.names)
        rules.check_funds(account_id, self.ledger.balances[account_id], amount)
        return self._write(WithdrawEvent(account_id, amount))

    def transfer(self, source_id: str, target_id: str, amount: int) -> Receipt | None:
        """One event moves the money: there is no moment where it left one account and has not
        reached the other (the Go original's two separate writes could create money)."""
        self._catch_up()
        amount = rules.check_amount(amount)
        rules.check_account_exists(source_id, self.ledger.names)
        rules.check_account_exists(target_id, self.ledger.names)
        rules.check_not_same_account(source_id, target_id)
        rules.check_funds(source_id, self.ledger.balances[source_id], amount)
        rules.check_balance_limit(target_id, self.ledger.balances[target_id], amount)
        return self._write(TransferEvent(source_id, target_id, amount))

    def submit(self, event: Event, timestamp_ms: int | None = None) -> Receipt | None:
        """Check an already-built event as if it were a command, then write it (used to load
        a recorded log, with its original timestamps)."""
        self._catch_up()
        if isinstance(event, CreateEvent):
            rules.check_name(event.acc_name)
            if event.acc_id in self.ledger.names:
                raise rules.InvalidName(f"Account {event.acc_id} already exists.")
        else:
            rules.check_amount(event.amount)
            rules.check_account_exists(event.acc_id, self.ledger.names)
            balance = self.ledger.balances[event.acc_id]
            if isinstance(event, DepositEvent):
                rules.check_balance_limit(event.acc_id, balance, event.amount)
            else:
                rules.check_funds(event.acc_id, balance, event.amount)
            if isinstance(event, TransferEvent):
                rules.check_account_exists(event.target_id, self.ledger.names)
                rules.check_not_same_account(event.acc_id, event.target_id)
        return self._write(event, timestamp_ms)

    # --- reading ---------------------------------------------------------------------------
    @property
    def read_model(self) -> ReadModel:
        if self._read_model is None:
            self._read_model = ReadModel(self.settings)
        return self._read_model

    def account(self, account_id: str) -> BankAccount | None:
        """The account as the read model (Redis) shows it: only what the projector applied."""
        return self.read_model.fetch_account(account_id)

    def accounts(self) -> list[BankAccount]:
        return self.read_model.accounts()

    # --- fast path -------------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[list[Receipt]]:
        """Write many commands without waiting for each acknowledgement.

        Commands are still checked one by one against the ledger (which includes the batch's own
        events); Kafka's answers are collected at the end. If any send fails, the error is
        raised at the end of the block and the ledger is rebuilt from the topic.
        """
        self._catch_up()
        receipts: list[Receipt] = []
        self._pending = []
        try:
            yield receipts
        finally:
            pending, self._pending = self._pending, None
            self._collect(pending, receipts)

    def _collect(self, pending: list[tuple[Event, Any]], receipts: list[Receipt]) -> None:
        if not pending:
            return
        try:
            self._producer.flush(timeout=SEND_TIMEOUT)
        except KafkaError:
            pass
        failures = 0
        for event, future in pending:
            try:
                md = future.get(timeout=SEND_TIMEOUT)
            except KafkaError:
                failures += 1
                continue
            self._own.add((md.partition, md.offset))
            receipts.append(Receipt(event, md.partition, md.offset, md.timestamp))
        if receipts:
            self.last_receipt = receipts[-1]
        if failures:
            self._forget()  # the ledger holds events that may not have been written
            raise ServiceUnavailable(
                f"Kafka did not acknowledge {failures} of {len(pending)} events; those may or may"
                f" not be in {self.settings.topic_name}. Check the stack and the log."
            )

    # --- plumbing --------------------------------------------------------------------------
    def _write(self, event: Event, timestamp_ms: int | None = None) -> Receipt | None:
        producer = self._ensure_producer()
        future = producer.send(
            self.settings.topic_name, key=key_of(event), value=encode(event),
            timestamp_ms=timestamp_ms,
        )
        if self._pending is not None:
            self.ledger.apply(event)  # optimistic inside a batch; undone by `_forget` on failure
            self._pending.append((event, future))
            return None
        try:
            md = future.get(timeout=SEND_TIMEOUT)
        except KafkaError as exc:
            raise ServiceUnavailable(
                f"Kafka did not acknowledge the {type(event).__name__} ({type(exc).__name__});"
                " it was not confirmed as written. Is the stack up (`banku stack status`)?"
            ) from None
        self.ledger.apply(event)
        self._own.add((md.partition, md.offset))
        self.last_receipt = Receipt(event, md.partition, md.offset, md.timestamp)
        return self.last_receipt

    def _ensure_producer(self):
        if self._producer is None:
            ensure_topic(self.settings)
            self._producer = make_producer(self.settings)
        return self._producer

    def _catch_up(self) -> None:
        """Fold every event written since we last looked (by anyone) into the ledger."""
        if self._pending is not None:
            return  # inside a batch the ledger already holds everything we wrote
        if self._reader is None:
            ensure_topic(self.settings)
            self._reader = make_reader(self.settings)
        try:
            for records in read_to_end(self._reader, self._positions, self.settings.topic_name):
                for record in records:
                    if (record.partition, record.offset) in self._own:
                        self._own.discard((record.partition, record.offset))
                        continue
                    try:
                        self.ledger.apply(decode(record.value))
                    except EventDecodeError:
                        continue  # not a fact: the projector sends it to the dead-letter topic
        except KafkaError as exc:
            raise ServiceUnavailable(
                f"Could not read {self.settings.topic_name} from Kafka ({type(exc).__name__})."
            ) from None

    def _forget(self) -> None:
        self.ledger = Ledger.empty()
        self._positions = {}
        self._own = set()

    def refresh(self) -> None:
        """Rebuild the ledger from offset zero (after the topic was reset, for example)."""
        self._forget()
        self._catch_up()

    def load(self, items: Iterable[tuple[Event, int | None]]) -> list[Receipt]:
        """Check and write recorded events with their timestamps, in one batch."""
        with self.batch() as receipts:
            for event, timestamp_ms in items:
                self.submit(event, timestamp_ms)
        return receipts

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._read_model is not None:
            self._read_model.close()
            self._read_model = None

    def __enter__(self) -> Bank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
