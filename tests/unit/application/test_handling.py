"""The one use case of every command (`banku.application.handling`), without servers: command
id -> decide -> partition -> write, as direct mode, the in-memory command transport and the
Kafka command handler's decision loop run it."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import orjson
import pytest

from banku import (
    AccountNotFound,
    Bank,
    InsufficientFunds,
    InvalidAmount,
    ServiceUnavailable,
    Settings,
)
from banku.adapters.kafka.command_transport import encode_command
from banku.adapters.kafka.handler import CommandHandler
from banku.adapters.memory import MemoryCommandTransport, MemoryLog, MemoryView
from banku.application.handling import Command, Handling, LogWriter, Written
from banku.application.write_model import WriteModel
from banku.domain.events import (
    COMMAND_ID_HEADER,
    CreateEvent,
    DepositEvent,
    WithdrawEvent,
    decode,
)
from banku.domain.ledger import Receipt

A = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
B = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
OFFLINE = Settings(bootstrap_servers="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0",
                   namespace="unit")


def handling_on(log: MemoryLog) -> Handling:
    state = WriteModel(log, snapshot_every=0)
    state.catch_up()
    return Handling(state)


def run(handling: Handling, log: MemoryLog, *commands: Command) -> list[object]:
    outcomes, written = handling.decide_all(list(commands), LogWriter(log))
    handling.landed(written)
    return outcomes


def records(log: MemoryLog) -> int:
    return sum(log.end_offsets().values())


def test_each_command_is_decided_in_order_and_written_to_its_accounts_partition():
    log = MemoryLog()
    handling = handling_on(log)
    opened, paid, refused = run(handling, log, Command("c1", CreateEvent(A, "Ada")),
                                Command("c2", DepositEvent(A, 70)),
                                Command("c3", WithdrawEvent(A, 71)))
    assert isinstance(opened, Receipt) and isinstance(paid, Receipt)
    assert opened.partition == paid.partition == log.partition_for(A.encode())
    assert (opened.offset, paid.offset) == (0, 1)
    assert isinstance(refused, InsufficientFunds)
    assert records(log) == 2  # a refusal writes nothing
    assert handling.state.ledger.balances[A] == 70


def test_a_retried_command_gets_its_first_outcome_and_writes_nothing():
    log = MemoryLog()
    handling = handling_on(log)
    (opened,) = run(handling, log, Command("open", CreateEvent(A, "Ada")))
    first, again_in_the_same_call = run(handling, log, Command("pay", DepositEvent(A, 5)),
                                        Command("pay", DepositEvent(A, 5)))
    assert again_in_the_same_call == first and first.offset >= 0  # known once written
    (later,) = run(handling, log, Command("pay", DepositEvent(A, 999)))
    assert later == first and records(log) == 2


def test_a_refused_command_id_is_refused_again_even_once_it_would_pass():
    log = MemoryLog()
    handling = handling_on(log)
    run(handling, log, Command("open", CreateEvent(A, "Ada")))
    (refused,) = run(handling, log, Command("take", WithdrawEvent(A, 10)))
    run(handling, log, Command("pay", DepositEvent(A, 100)))
    (again,) = run(handling, log, Command("take", WithdrawEvent(A, 10)))
    assert isinstance(again, InsufficientFunds) and str(again) == str(refused)
    assert again is not refused  # a fresh exception: no traceback piles up across retries
    assert handling.refusals["take"].__traceback__ is None  # no frames kept alive
    assert handling.state.ledger.balances[A] == 100


def test_the_refusals_kept_are_bounded_and_the_oldest_go_first():
    log = MemoryLog()
    handling = Handling(WriteModel(log, snapshot_every=0), refusals_kept=2)
    handling.state.catch_up()
    for n in range(3):
        run(handling, log, Command(f"ghost-{n}", DepositEvent(A, 1)))
    assert list(handling.refusals) == ["ghost-1", "ghost-2"]


def test_before_refusing_it_reads_the_log_again_unless_told_not_to():
    log = MemoryLog()
    handling = handling_on(log)
    other = Bank(OFFLINE, log=log, view=MemoryView())  # another writer of the same log
    account = other.create_account("Ada")
    command = Command("pay", DepositEvent(account, 5))
    with pytest.raises(AccountNotFound):
        handling.handle(command, LogWriter(log), look_again=False)
    handling.refusals.clear()
    assert isinstance(handling.handle(command, LogWriter(log)), Written)


def test_a_written_event_counts_at_once_and_is_not_counted_twice_when_read_back():
    log = MemoryLog()
    handling = handling_on(log)
    run(handling, log, Command("open", CreateEvent(A, "Ada")), Command("pay", DepositEvent(A, 9)))
    handling.state.catch_up()
    assert handling.state.ledger.balances[A] == 9


def test_a_log_that_does_not_answer_is_said_so():
    log = MemoryLog()
    handling = handling_on(log)
    log.down = True
    with pytest.raises(ServiceUnavailable):
        run(handling, log, Command("open", CreateEvent(A, "Ada")))


# --- direct mode and topic mode on the in-memory log ------------------------------------------
def test_direct_mode_remembers_refusals_as_the_handler_does():
    bank = Bank(OFFLINE, log=MemoryLog(), view=MemoryView())
    account = bank.create_account("Ada")
    with pytest.raises(InsufficientFunds):
        bank.withdraw(account, 10, command_id="take")
    bank.deposit(account, 100)
    with pytest.raises(InsufficientFunds):
        bank.withdraw(account, 10, command_id="take")
    assert bank.ledger.balances[account] == 100


def test_a_direct_write_that_fails_leaves_no_phantom_in_the_ledger():
    log = MemoryLog()
    bank = Bank(OFFLINE, log=log, view=MemoryView())
    account = bank.create_account("Ada")

    class _Unanswered:
        def result(self) -> tuple[int, int, int]:
            raise ServiceUnavailable("no answer (injected)")

    append = log.append
    log.append = lambda *a, **k: (append(*a, **k), _Unanswered())[1]  # written, not confirmed
    with pytest.raises(ServiceUnavailable):
        bank.deposit(account, 5)
    log.append = append
    assert bank.ledger.balances.get(account, 0) in (0, 5)  # forgotten, then refolded below
    bank.refresh()
    assert bank.ledger.balances[account] == 5  # what the log holds, counted once


def test_topic_mode_on_a_memory_log_uses_the_in_memory_handler_and_no_server():
    log = MemoryLog()
    topic = replace(OFFLINE, commands="topic")
    with Bank(topic, log=log, view=MemoryView()) as one, \
            Bank(topic, log=log, view=MemoryView()) as two:
        account = one.create_account("Ada", command_id="open")
        first = one.deposit(account, 100, command_id="pay")
        assert two.deposit(account, 100, command_id="pay") == first
        with pytest.raises(InsufficientFunds):
            two.withdraw(account, 101)
        with pytest.raises(InvalidAmount):
            one.deposit(account, 0)
        with one.batch() as receipts:
            one.deposit(account, 1)
            one.withdraw(account, 2)
        assert len(receipts) == 2
    handler = log.handler
    assert isinstance(handler, MemoryCommandTransport) and handler.decided == 7
    assert records(log) == 4
    assert handler.handling.state.ledger.balances[account] == 99


def test_the_same_refusals_in_both_modes_on_the_memory_log():
    def refusals(settings: Settings) -> list[tuple[str, str]]:
        bank = Bank(settings, log=MemoryLog(), view=MemoryView())
        account = bank.create_account("Ada")
        seen = []
        for command in (lambda: bank.withdraw(account, 1), lambda: bank.deposit(account, -1),
                        lambda: bank.deposit(B, 1), lambda: bank.transfer(account, account, 1)):
            with pytest.raises(Exception) as refusal:  # the class is compared
                command()
            seen.append((type(refusal.value).__name__, str(refusal.value).replace(account, "A")))
        return seen

    assert refusals(OFFLINE) == refusals(replace(OFFLINE, commands="topic"))


# --- the Kafka handler's decision loop, with a producer that keeps what it is sent ------------
class _Sends:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []
        self.offsets: dict[int, int] = {}

    def send(self, topic: str, **fields: object) -> SimpleNamespace:
        self.sent.append((topic, fields))
        partition = int(fields.get("partition") or 0)
        offset = self.offsets[partition] = self.offsets.get(partition, -1) + 1
        metadata = SimpleNamespace(partition=partition, offset=offset, timestamp=7)
        return SimpleNamespace(get=lambda timeout: metadata)

    def flush(self) -> None:
        pass


def _command(offset: int, value: bytes, command_id: str | None) -> SimpleNamespace:
    headers = [(COMMAND_ID_HEADER, command_id.encode())] if command_id else []
    return SimpleNamespace(topic="unit.banku-commands", partition=0, offset=offset, key=None,
                           value=value, headers=headers, timestamp=1_700_000_000_000)


def test_the_kafka_handler_decides_with_the_use_case_and_only_does_kafka():
    handler = CommandHandler(replace(OFFLINE, commands="topic"))
    handler.state = WriteModel(MemoryLog(), snapshot_every=0)
    handler.state.catch_up()
    handler.handling = Handling(handler.state)
    producer = _Sends()
    batch = [_command(0, encode_command(CreateEvent(A, "Ada")), "open"),
             _command(1, encode_command(DepositEvent(A, 50)), "pay"),
             _command(2, b"not json", "junk"),
             _command(3, encode_command(WithdrawEvent(A, 60)), "take"),
             _command(4, encode_command(DepositEvent(A, 50)), "pay")]
    outcomes, receipts = handler._decide_all(producer, batch)
    told = {cid: outcome["Outcome"] for cid, outcome in outcomes}
    assert [cid for cid, _ in outcomes] == ["open", "pay", "junk", "take", "pay"]
    assert told == {"open": "accepted", "pay": "accepted", "junk": "refused",
                    "take": "refused"}
    assert outcomes[1] == outcomes[4]  # the retry in the same batch: the same answer
    assert dict(outcomes)["take"]["Refusal"] == "InsufficientFunds"
    events = [f for topic, f in producer.sent if topic == handler.settings.topic_name]
    assert [type(decode(f["value"])).__name__ for f in events] == ["CreateEvent",
                                                                   "DepositEvent"]
    assert all(f["timestamp_ms"] == 1_700_000_000_000 for f in events)
    dead = [f for topic, f in producer.sent if topic == handler.settings.commands_dlq_topic]
    assert len(dead) == 1 and dead[0]["value"] == b"not json"
    assert [r.command_id for r in receipts] == ["open", "pay"]
    # A retry in a later batch of the refused command: the same refusal, nothing written.
    again, _ = handler._decide_all(producer, [_command(5, encode_command(
        WithdrawEvent(A, 60)), "take")])
    assert again[0][1]["Refusal"] == "InsufficientFunds" and len(producer.sent) == 3
    assert orjson.loads(orjson.dumps(again[0][1]))["CommandId"] == "take"
