"""The command side: `Bank` decides a command with the bank's rules, then writes one event.

Events are facts; commands can be refused. The Go original wrote every command to Kafka and let
the consumer reject some of them later, so a refused withdraw stayed in the log as a
"WithdrawEvent". Here the rules (`banku.domain.rules.decide`) run *before* anything is written,
against
a ledger folded from the topic itself, and a refused command writes nothing.

The ledger is caught up from the topic before each command, so the `Bank` sees what other
writers wrote and, always, its own earlier writes (read your own writes).

Every command carries an idempotency key (``command_id``, made up when not given) in a record
header. A command whose id is already in the log writes nothing new and returns the first
outcome: a caller may retry after a timeout without paying twice.

With ``BANKU_COMMANDS=topic`` the decision moves to the command handler
(`banku.adapters.kafka.handler`): one
writer per account, so two `Bank`s can no longer both pass the same funds check. Both modes
decide with one use case (`banku.application.handling`); topic mode reaches the handler through
a `CommandTransport` port. The adapters, when none are given, come from `banku.bootstrap`.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from banku.application import gc_pause
from banku.application.handling import Command, Handling, LogWriter, Written
from banku.application.ports import CommandTransport, EventLog, NameKeys, ViewStore
from banku.application.resources import released_with
from banku.application.write_model import WriteModel
from banku.config import Settings
from banku.domain import rules
from banku.domain.events import (
    CreateEvent,
    DepositEvent,
    Event,
    TransferEvent,
    WithdrawEvent,
)
from banku.domain.ledger import BankAccount, Ledger, Receipt
from banku.errors import ServiceUnavailable

__all__ = ["Bank", "Receipt"]


# The namespace of account ids derived from command ids (any fixed UUID will do).
_ACCOUNT_IDS = uuid.UUID("6a1b0c5e-2d3f-4a8b-9c7d-0e1f2a3b4c5d")


class Bank:
    """Open accounts and move money. Every method decides first, then writes one event."""

    def __init__(self, settings: Settings | None = None, *, log: EventLog | None = None,
                 view: ViewStore | None = None, transport: CommandTransport | None = None,
                 ) -> None:
        self.settings = settings or Settings.from_env()
        if log is None:
            from banku import bootstrap

            log = bootstrap.event_log(self.settings)
        self.log: EventLog = log
        self.state = WriteModel(log)  # what commands are decided against
        self.handling = Handling(self.state)  # command id -> decide -> partition -> write
        self._writer = LogWriter(log)
        self.last_receipt: Receipt | None = None
        self._view = view
        self._pending: list[Written] | None = None  # inside `batch()`
        # Topic mode: the commands go to the one writer of their account, through this port
        # (made on first use, by `banku.bootstrap`, unless one is given).
        self._through_handler = transport is not None or self.settings.commands == "topic"
        self._transport = transport
        self._queued: list[tuple[Event, str, int | None]] | None = None  # topic mode batch
        # Command ids made up here: one random prefix per Bank and a counter. (A uuid4 each time
        # reads the system's random source per command, which costs more than the send.)
        self._id_prefix = uuid.uuid4().hex
        self._id_count = itertools.count(1)
        self._held: dict[str, Any] = {"log": log}
        self._finalizer = released_with(self, self._held)

    @property
    def ledger(self) -> Ledger:
        """Names and balances as the command side knows them (folded from the topic)."""
        return self.state.ledger

    # --- commands --------------------------------------------------------------------------
    def create_account(self, name: str, command_id: str | None = None) -> str:
        """Open an account; returns its new id (a uuid4, as in the Go original).

        With a command id, the account id is derived from it (a uuid5), so that a retry of the
        same command names the same account, and so reaches the same partition and writer.
        """
        account_id = str(uuid.uuid5(_ACCOUNT_IDS, command_id) if command_id else uuid.uuid4())
        if self.settings.encrypt_names:
            # The person's name is checked as text, then sealed: only ciphertext reaches Kafka.
            name = self.names.seal(account_id, rules.check_name(name))
        event, _ = self._run(CreateEvent(account_id, name), command_id)
        return event.acc_id

    def deposit(self, account_id: str, amount: int, command_id: str | None = None,
                ) -> Receipt | None:
        return self._execute(DepositEvent(account_id, amount), command_id)

    def withdraw(self, account_id: str, amount: int, command_id: str | None = None,
                 ) -> Receipt | None:
        return self._execute(WithdrawEvent(account_id, amount), command_id)

    def transfer(self, source_id: str, target_id: str, amount: int,
                 command_id: str | None = None) -> Receipt | None:
        """One event moves the money: there is no moment where it left one account and has not
        reached the other (the Go original's two separate writes could create money)."""
        return self._execute(TransferEvent(source_id, target_id, amount), command_id)

    def submit(self, event: Event, timestamp_ms: int | None = None,
               command_id: str | None = None) -> Receipt | None:
        """Decide an already-built event as if it were a command, then write it (used to load
        a recorded log with its original timestamps). The same rules as every command."""
        return self._execute(event, command_id, timestamp_ms)

    def _execute(self, event: Event, command_id: str | None,
                 timestamp_ms: int | None = None) -> Receipt | None:
        return self._run(event, command_id, timestamp_ms)[1]

    def _run(self, event: Event, command_id: str | None,
             timestamp_ms: int | None = None) -> tuple[Event, Receipt | None]:
        """Decide and write; returns the event written (or first written) and its receipt
        (None inside a batch, until Kafka answers)."""
        rules.check_command_id(command_id)
        if self._through_handler:
            command_id = command_id or self._new_command_id()
            if self._queued is not None:
                self._queued.append((event, command_id, timestamp_ms))
                return event, None
            receipt = self._commands().submit(event, command_id, timestamp_ms)
            self.last_receipt = receipt
            return receipt.event, receipt
        self._catch_up()
        command_id = command_id or self._new_command_id()
        # The ledger was caught up just now (or holds the batch's own events, which must not be
        # read back): a refusal stands without reading the log again.
        outcome = self.handling.handle(Command(command_id, event, timestamp_ms), self._writer,
                                       look_again=False)
        if isinstance(outcome, Receipt):
            if outcome.offset >= 0:
                self.last_receipt = outcome
            return outcome.event, outcome  # already in the log: nothing new is written
        if self._pending is not None:
            self._pending.append(outcome)  # answered at the end of the batch
            return outcome.event, None
        try:
            receipt = outcome.receipt()
        except ServiceUnavailable:
            self.forget()  # the ledger counts an event that may not have been written
            raise
        self.state.landed(receipt, expected=True)
        self.last_receipt = receipt
        return receipt.event, receipt

    def _new_command_id(self) -> str:
        return f"{self._id_prefix}-{next(self._id_count)}"

    def _commands(self) -> CommandTransport:
        if self._transport is None:
            from banku import bootstrap

            self._transport = bootstrap.command_transport(self.settings, self.log)
            self._held["handler"] = self._transport
        return self._transport

    # --- reading ---------------------------------------------------------------------------
    @property
    def view(self) -> ViewStore:
        if self._view is None:
            from banku import bootstrap

            self._view = self._held["view"] = bootstrap.view(self.settings)
        return self._view

    @property
    def names(self) -> NameKeys:
        """The keys of sealed names (crypto-shredding), kept beside the view (Redis)."""
        return self.view.name_keys()

    def account(self, account_id: str) -> BankAccount | None:
        """The account as the read model (Redis) shows it: only what the projector applied."""
        return self.view.account(account_id)

    def accounts(self) -> list[BankAccount]:
        return self.view.accounts()

    # --- fast path -------------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[list[Receipt]]:
        """Write many commands without waiting for each acknowledgement.

        Commands are still decided one by one against the ledger (which includes the batch's
        own events); Kafka's answers are collected at the end. If any send fails, the error is
        raised at the end of the block and the ledger is rebuilt from the topic.
        """
        receipts: list[Receipt] = []
        if self._through_handler:
            # The handler decides: send every command, then collect every outcome.
            self._queued = []
            try:
                yield receipts
            finally:
                queued, self._queued = self._queued, None
                self._hand_over(queued, receipts)
            return
        self._catch_up()
        self._pending = []
        with gc_pause.paused():  # see banku.application.gc_pause
            try:
                yield receipts
            finally:
                pending, self._pending = self._pending, None
                self._collect(pending, receipts)

    def _hand_over(self, queued: list[tuple[Event, str, int | None]],
                   receipts: list[Receipt]) -> None:
        if not queued:
            return
        results = self._commands().submit_many(queued)
        receipts.extend(r for r in results if isinstance(r, Receipt))
        if receipts:
            self.last_receipt = receipts[-1]
        refusals = [r for r in results if not isinstance(r, Receipt)]
        if refusals:
            raise type(refusals[0])(
                f"{len(refusals)} of {len(queued)} commands were refused; the first: {refusals[0]}")

    def _collect(self, pending: list[Written], receipts: list[Receipt]) -> None:
        if not pending:
            return
        self._writer.flush()
        failures = 0
        for written in pending:
            try:
                receipt = written.receipt()
            except ServiceUnavailable:
                failures += 1
                continue
            self.state.landed(receipt, expected=True)
            receipts.append(receipt)
        if receipts:
            self.last_receipt = receipts[-1]
        if failures:
            self.forget()  # the ledger holds events that may not have been written
            raise ServiceUnavailable(
                f"Kafka did not acknowledge {failures} of {len(pending)} events; those may or may"
                f" not be in {self.settings.topic_name}. Check the stack and the log."
            )

    # --- plumbing --------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Fold every event written since we last looked (by anyone) into the ledger."""
        if self._pending is None:  # inside a batch the ledger already holds our writes
            self.state.catch_up()

    def forget(self) -> None:
        """Drop the ledger; the next command folds the topic again from offset zero."""
        self.state.forget()

    def refresh(self) -> None:
        """Rebuild the ledger from offset zero (after the topic was reset, for example)."""
        self.forget()
        self._catch_up()

    def load(self, items: Iterable[tuple[Event, int | None]]) -> list[Receipt]:
        """Decide and write recorded events with their timestamps, in one batch."""
        with self.batch() as receipts:
            for event, timestamp_ms in items:
                self.submit(event, timestamp_ms)
        return receipts

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> Bank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
