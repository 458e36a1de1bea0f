"""One use case for every command: look up its id, decide, choose the partition, write.

`Bank` runs it in direct mode and the command handler (`banku.adapters.kafka.handler`) runs it
in topic mode; so does the in-memory command transport of the unit tests. They differ only in
the `Writer` (the event log, or a Kafka transaction) and in when a written event counts as
landed (once Kafka acknowledges it, or once its transaction commits): both are the caller's.

A command id names one outcome for good: a command whose id was accepted returns its first
receipt, and one whose id was refused raises the same refusal again, even if the ledger has
changed since (a retry must not turn a "no" into a "yes" behind its sender's back).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

from banku import defaults
from banku.application.ports import EventLog, Sent
from banku.application.write_model import WriteModel
from banku.domain import rules
from banku.domain.events import Event, encode, headers_for, key_of
from banku.domain.ledger import Receipt
from banku.errors import BankuError, CommandRejected

__all__ = ["Command", "Handling", "LogWriter", "Writer", "Written"]


# Command and Written are made once per command on the hot path: tuples are the cheapest.
class Command(NamedTuple):
    """A command as the use case sees it: its id and the event it asks for."""

    command_id: str
    event: Event
    timestamp_ms: int | None = None


class Writer(Protocol):
    """Where decided events go: the event log, or an open Kafka transaction."""

    # True when what it wrote stays unread until it lands (a transaction, read_committed): the
    # log may then be read again before the writes are answered, without counting them twice.
    unseen_until_landed: bool

    def write(self, event: Event, partition: int, command_id: str,
              timestamp_ms: int | None) -> Sent: ...

    def flush(self) -> None: ...


class LogWriter:
    """Writes to an `EventLog` (direct mode)."""

    unseen_until_landed = False

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def write(self, event: Event, partition: int, command_id: str,
              timestamp_ms: int | None) -> Sent:
        return self.log.append(key_of(event), encode(event), headers_for(command_id), partition,
                               timestamp_ms, what=type(event).__name__)

    def flush(self) -> None:
        self.log.flush()


class Written(NamedTuple):
    """A decided event on its way to the log: counted in the ledger, not yet acknowledged."""

    event: Event
    partition: int
    command_id: str
    sent: Sent

    def receipt(self) -> Receipt:
        """Where it landed; raises ServiceUnavailable if the log did not acknowledge it."""
        partition, offset, timestamp = self.sent.result()
        return Receipt(self.event, partition, offset, timestamp, self.command_id)


class Handling:
    """The decisions of one writer: its ledger (a `WriteModel`) and the refusals it gave."""

    def __init__(self, state: WriteModel, refusals_kept: int = defaults.COMMAND_ID_WINDOW) -> None:
        self.state = state
        self.refusals: dict[str, BankuError] = {}  # command id -> its refusal, newest last
        self.refusals_kept = refusals_kept

    def remember_refusal(self, command_id: str, refusal: BankuError) -> None:
        """Keep a refusal so that a retry gets it again (the oldest go beyond the window).

        A copy is kept, without the traceback that would hold the refusing call's frames."""
        self.refusals.pop(command_id, None)
        while len(self.refusals) >= self.refusals_kept:
            del self.refusals[next(iter(self.refusals))]
        self.refusals[command_id] = type(refusal)(str(refusal))

    def handle(self, command: Command, writer: Writer, *, look_again: bool = True,
               ) -> Receipt | Written:
        """Look the command id up, decide, partition, write.

        Returns the first receipt of a command decided before (its offset is -1 while that
        first write is still on its way), or the new event `Written`. Raises the refusal, the
        same one for a retried refused command. With ``look_again``, a refusal is only given
        after the log was read once more (see `_decide_again`).
        """
        command_id = command.command_id
        first = self.state.ledger.commands.get(command_id)
        if first is not None:
            return first  # already in the log (or on its way): nothing new is written
        earlier = self.refusals.get(command_id)
        if earlier is not None:
            raise type(earlier)(str(earlier))
        state = self.state
        try:
            event = rules.decide(state.ledger, command.event, state.partition_of)
        except CommandRejected as refusal:
            if not look_again:
                self.remember_refusal(command_id, refusal)
                raise
            event = self._decide_again(command, refusal)
        partition = state.partition_of(event.acc_id)
        sent = writer.write(event, partition, command_id, command.timestamp_ms)
        state.expect(event, partition, command_id)  # a retry finds it from now on
        return Written(event, partition, command_id, sent)

    def _decide_again(self, command: Command, refusal: CommandRejected) -> Event:
        """Read the log again before refusing; the refusal that stands is remembered.

        Accepting on what we already know is safe for the one writer of an account: what others
        write can only add to its balance (a transfer's credit) or add accounts (never deleted).
        Only a refusal needs the latest news. Not inside a batch whose own events are still on
        their way: reading them back would count them twice.
        """
        try:
            if not self.state.catch_up():
                raise refusal  # nothing new: the refusal stands
            return rules.decide(self.state.ledger, command.event, self.state.partition_of)
        except CommandRejected as final:
            self.remember_refusal(command.command_id, final)
            raise

    def decide_all(self, commands: Iterable[Command], writer: Writer, *, look_again: bool = True,
                   ) -> tuple[list[Receipt | BankuError], list[Receipt]]:
        """Handle commands in order, then wait for their writes.

        Returns each command's outcome (its receipt, or its refusal) and the receipts of the
        events written now, which the caller marks `landed` once they count (after the commit,
        for a transaction). A `ServiceUnavailable` from the log leaves the ledger holding events
        that may not be written: the caller forgets it.
        """
        results: list[Receipt | Written | BankuError] = []
        for command in commands:
            try:
                result = self.handle(command, writer, look_again=look_again)
            except CommandRejected as refusal:
                results.append(refusal)
                continue
            results.append(result)
            if isinstance(result, Written) and not writer.unseen_until_landed:
                look_again = False  # our own writes, readable and not landed: never read back
        writer.flush()
        written = {r.command_id: r.receipt() for r in results if isinstance(r, Written)}
        outcomes: list[Receipt | BankuError] = []
        for answer in results:
            if isinstance(answer, Written):
                outcomes.append(written[answer.command_id])
            elif isinstance(answer, Receipt) and answer.offset < 0 and answer.command_id:
                # a retry of a command written earlier in this call: its receipt is known now
                outcomes.append(written.get(answer.command_id)
                                or self.state.ledger.commands[answer.command_id])
            else:
                outcomes.append(answer)
        return outcomes, list(written.values())

    def landed(self, receipts: Iterable[Receipt]) -> None:
        """The written events count now: skip them when they are read back."""
        for receipt in receipts:
            self.state.landed(receipt, expected=True)
