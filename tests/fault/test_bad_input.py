"""The bad-input census: malformed commands (API, command line, console) and malformed records.

Every malformed command must be refused with a clear error — a `CommandRejected` subclass from the
API, one line on stderr (no traceback) from the command line, a usage or "Refused" line from the
console — and write nothing: the end offsets of the topic and the view are compared before and
after. Every malformed record on the topic must land in the dead-letter topic with its reason in
a header, and leave the view as it was.

Names, decided: any script is welcome (Arabic, Hebrew, accents, emoji, a zero-width joiner inside
a name); refused are names with no visible character (spaces, zero-width spaces), control
characters (NUL, tab, newline), line separators, bidirectional override/isolate controls (they
can make a name display as another one) and lone surrogates (not Unicode text). Leading and
trailing spaces, zero-width spaces and byte-order marks are trimmed.

Runs in fresh namespaces on the session's stack.
"""

from __future__ import annotations

import json
import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from kafka import KafkaProducer

from banku import (
    AccountNotFound,
    CommandRejected,
    InsufficientFunds,
    InvalidAmount,
    InvalidName,
    Projector,
    SameAccountTransfer,
)
from tests.fault.util import banku, view
from tests.helpers import end_offsets, raw_records

UNKNOWN = str(uuid.UUID(int=0, version=4))
HUGE = 10**100


def project(settings) -> int:
    with Projector(settings) as projector:
        return projector.run_until_caught_up(timeout=120)


@pytest.fixture
def accounts(settings, bank):
    """Ada (1,000 cents) and Bob (1 cent), projected."""
    ada = bank.create_account("Ada")
    bob = bank.create_account("Bob")
    bank.deposit(ada, 1000)
    bank.deposit(bob, 1)
    project(settings)
    return ada, bob


def api_cases(ada: str, bob: str):
    """(label, command, the refusal it must raise)."""
    names = [
        ("name of 101 characters", "x" * 101), ("name of 10,000 characters", "x" * 10_000),
        ("empty name", ""), ("name of spaces only", " \t  "), ("name with NUL", "Ada\x00Byron"),
        ("name with newline", "Ada\nLovelace"), ("name with tab", "Ada\tLovelace"),
        ("lone surrogate", "\ud800"), ("surrogate-escaped byte", "Ada\udcff"),
        ("right-to-left override", "Alice\u202eecilA"), ("zero-width space only", "\u200b"),
        ("zero-width and BOM only", "\u200b\ufeff "), ("line separator", "Ada\u2028Byron"),
        ("name None", None), ("name int", 42), ("name bytes", b"Ada"), ("name list", ["Ada"]),
    ]
    amounts = [
        ("amount 0", 0), ("amount -1", -1), ("amount 1.5", 1.5), ('amount "1e3"', "1e3"),
        ('amount "12" (a string)', "12"), ('amount "１２" (fullwidth)', "１２"),
        ("amount 2**63", 2**63), ("amount 2**64", 2**64), ("amount 10**100", HUGE),
        ("amount None", None), ("amount True", True), ("amount False", False),
        ("amount [1]", [1]), ('amount {"a": 1}', {"a": 1}), ("amount NaN", math.nan),
        ("amount inf", math.inf), ("amount Decimal(5)", Decimal(5)), ("amount 5.0", 5.0),
    ]
    cases = [(label, lambda b, n=n: b.create_account(n), InvalidName) for label, n in names]
    cases += [(label, lambda b, a=a: b.deposit(ada, a), InvalidAmount) for label, a in amounts]
    cases += [
        ("withdraw amount -1", lambda b: b.withdraw(ada, -1), InvalidAmount),
        ("transfer amount 1.5", lambda b: b.transfer(ada, bob, 1.5), InvalidAmount),
        ("deposit to unknown id", lambda b: b.deposit(UNKNOWN, 5), AccountNotFound),
        ("deposit to id None", lambda b: b.deposit(None, 5), AccountNotFound),
        ("deposit to id 123", lambda b: b.deposit(123, 5), AccountNotFound),
        ("deposit to 10,000-char id", lambda b: b.deposit("x" * 10_000, 5), AccountNotFound),
        ("withdraw from unknown id", lambda b: b.withdraw(UNKNOWN, 5), AccountNotFound),
        ("transfer to unknown id", lambda b: b.transfer(ada, UNKNOWN, 5), AccountNotFound),
        ("transfer from unknown id", lambda b: b.transfer(UNKNOWN, ada, 5), AccountNotFound),
        ("self-transfer", lambda b: b.transfer(ada, ada, 5), SameAccountTransfer),
        ("withdraw more than the balance", lambda b: b.withdraw(bob, 2), InsufficientFunds),
        ("transfer more than the balance", lambda b: b.transfer(bob, ada, 2), InsufficientFunds),
        ("balance beyond 2**63-1", lambda b: b.deposit(ada, 2**63 - 1), InvalidAmount),
    ]
    return cases


def cli_cases(ada: str, bob: str):
    """(label, argv); every one must exit non-zero with one clear line on stderr."""
    return [
        ("create: 101 characters", ["create", "x" * 101]),
        ("create: 10,000 characters", ["create", "x" * 10_000]),
        ("create: empty", ["create", ""]),
        ("create: spaces only", ["create", "   "]),
        ("create: newline", ["create", "Ada\nLovelace"]),
        ("create: invalid UTF-8 bytes", [b"create", b"Ada\xff\xfe"]),
        ("create: right-to-left override", ["create", "Alice\u202eecilA"]),
        ("create: zero-width space only", ["create", "\u200b"]),
        ("deposit: 0", ["deposit", ada, "0"]),
        ("deposit: -1", ["deposit", ada, "-1"]),
        ("deposit: 1.5", ["deposit", ada, "1.5"]),
        ("deposit: 1e3", ["deposit", ada, "1e3"]),
        ("deposit: fullwidth １２", ["deposit", ada, "１２"]),
        ("deposit: 2**63", ["deposit", ada, str(2**63)]),
        ("deposit: 2**64", ["deposit", ada, str(2**64)]),
        ("deposit: 10**100", ["deposit", ada, str(HUGE)]),
        ("deposit: 10,000 digits", ["deposit", ada, "9" * 10_000]),
        ("deposit: NaN", ["deposit", ada, "NaN"]),
        ("deposit: +-5", ["deposit", ada, "+-5"]),
        ("deposit: empty amount", ["deposit", ada, ""]),
        ("deposit: unknown id", ["deposit", UNKNOWN, "5"]),
        ("deposit: 10,000-char id", ["deposit", "x" * 10_000, "5"]),
        ("deposit: balance beyond 2**63-1", ["deposit", ada, str(2**63 - 1)]),
        ("withdraw: more than the balance", ["withdraw", bob, "2"]),
        ("transfer: self", ["transfer", ada, ada, "5"]),
        ("transfer: unknown target", ["transfer", ada, UNKNOWN, "5"]),
        ("deposit: missing arguments", ["deposit"]),
        ("transfer: missing amount", ["transfer", ada, bob]),
        ("deposit: extra argument", ["deposit", ada, "5", "6"]),
    ]


def console_cases(ada: str, bob: str):
    """(label, input line, what the console must answer)."""
    return [
        ("missing amount", f"deposit###{ada}", "Only specify deposit###Account ID###amount"),
        ("missing target", f"transfer###{ada}###5", "Only specify transfer###"),
        ("missing name", "create", "Only specify create###Account Name"),
        ("too many fields", f"withdraw###{ada}###5###6", "Only specify withdraw###"),
        ("empty name", "create###   ", "Refused (nothing was written)"),
        ("NUL in name", "create###Ada\x00Byron", "Refused (nothing was written)"),
        ("amount 1.5", f"deposit###{ada}###1.5", "Refused (nothing was written)"),
        ("amount -1", f"withdraw###{ada}###-1", "Refused (nothing was written)"),
        ("10,000 digits", f"deposit###{ada}###{'9' * 10_000}", "Refused (nothing was written)"),
        ("self-transfer", f"transfer###{ada}###{ada}###5", "Refused (nothing was written)"),
        ("insufficient funds", f"withdraw###{bob}###2", "Refused (nothing was written)"),
        ("unknown id", f"deposit###{UNKNOWN}###5", "Refused (nothing was written)"),
        ("unknown command", f"loan###{ada}###5", "Unknown command loan"),
    ]


def test_malformed_commands_are_refused_and_change_nothing(settings, bank, accounts, report):
    ada, bob = accounts
    ends, before = end_offsets(settings), view(settings)

    api = api_cases(ada, bob)
    for label, command, refusal in api:
        with pytest.raises(CommandRejected) as caught:
            command(bank)
        assert isinstance(caught.value, refusal), (label, caught.value)
        message = str(caught.value)
        assert message and "\n" not in message and len(message) < 300, (label, message)

    cli = cli_cases(ada, bob)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda case: banku(settings, *case[1]), cli))
    for (label, _), result in zip(cli, results, strict=True):
        assert result.returncode != 0, (label, result.stdout)
        assert "Traceback" not in result.stderr, (label, result.stderr)
        lines = result.stderr.strip().splitlines()
        if result.returncode == 2:  # argparse: the usage, then one line saying what is wrong
            assert lines[0].startswith("usage: banku") and "error:" in lines[-1], (label, lines)
        else:
            assert len(lines) == 1 and lines[0].startswith("banku: "), (label, lines)
            assert len(lines[0]) < 300, (label, lines[0][:300])
        assert result.stdout == "", (label, result.stdout)

    console = console_cases(ada, bob)
    session = banku(settings, "console", stdin="".join(line + "\n" for _, line, _ in console))
    assert session.returncode == 0 and "Traceback" not in session.stderr, session.stderr
    answers = [a.strip() for a in session.stdout.split("-> ")[1:-1]]
    assert len(answers) == len(console), answers
    for (label, _, expected), answer in zip(console, answers, strict=True):
        assert answer.startswith(expected) and "\n" not in answer, (label, answer)
        assert "Message is stored" not in answer, (label, answer)

    assert end_offsets(settings) == ends, "a refused command wrote to the topic"
    assert project(settings) == 0
    assert view(settings) == before, "a refused command changed the view"
    report(api_commands=len(api), cli_commands=len(cli), console_lines=len(console),
           inputs_tried=len(api) + len(cli) + len(console), written=0, view_changes=0)


def test_malformed_records_go_to_the_dead_letter_topic_and_leave_the_view(
        settings, bank, accounts, report):
    ada, bob = accounts
    before = view(settings)
    good = {"AccId": ada, "Type": "DepositEvent", "Amount": 5}

    def event(**changes):
        return json.dumps({**good, **changes}).encode()

    records = [
        ("not JSON", b"not json at all"),
        ("invalid UTF-8", b"\xff\xfe\xfd"),
        ("UTF-8 byte-order mark", b"\xef\xbb\xbf" + event()),
        ("JSON array", b"[1, 2, 3]"),
        ("JSON number", b"42"),
        ("JSON null", b"null"),
        ("JSON string", b'"DepositEvent"'),
        ("empty value", b""),
        ("tombstone (no value)", None),
        ("unknown Type", event(Type="LoanEvent")),
        ("missing Type", json.dumps({"AccId": ada, "Amount": 5}).encode()),
        ("missing AccId", json.dumps({"Type": "DepositEvent", "Amount": 5}).encode()),
        ("AccId not a string", event(AccId=7)),
        ("AccId of 101 characters", event(AccId="a" * 101)),
        ("missing Amount", json.dumps({"AccId": ada, "Type": "DepositEvent"}).encode()),
        ("Amount as string", event(Amount="5")),
        ("Amount as float", event(Amount=5.5)),
        ("Amount 5.0", event(Amount=5.0)),
        ("Amount negative", event(Amount=-5)),
        ("Amount zero", event(Amount=0)),
        ("Amount 2**64", event(Amount=2**64)),
        ("Amount of 5,000 digits", b'{"AccId":"%s","Type":"DepositEvent","Amount":%s}'
         % (ada.encode(), b"9" * 5000)),
        ("Amount NaN", b'{"AccId":"%s","Type":"DepositEvent","Amount":NaN}' % ada.encode()),
        ("Amount true", event(Amount=True)),
        ("TransferEvent to itself", event(Type="TransferEvent", TargetId=ada)),
        ("TransferEvent without TargetId", event(Type="TransferEvent")),
        ("CreateEvent with empty name", event(Type="CreateEvent", AccName="  ")),
        ("CreateEvent with RTL override", event(Type="CreateEvent", AccName="Eve\u202eevE")),
        ("oversized 900 KB value", event(Type="CreateEvent", AccName="x" * 900_000)),
    ]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_list, max_request_size=2**20)
    for _, value in records:
        producer.send(settings.topic_name, key=ada.encode(), value=value)
    producer.send(settings.topic_name, key=ada.encode(), value=event())  # one good one after
    producer.flush()
    producer.close()

    with Projector(settings) as projector:
        projector.run_until_caught_up(timeout=120)
        assert projector.dead_letters == len(records)
    after = view(settings)
    assert after["balances"] == {**before["balances"], ada: before["balances"][ada] + 5}
    assert after["stats"]["dead_letters"] == len(records)
    assert sum(after["positions"].values()) == sum(end_offsets(settings).values())

    letters = raw_records(settings, settings.dlq_topic)
    assert sorted(r.value or b"" for r in letters) == sorted(v or b"" for _, v in records)
    reasons = {}
    for record in letters:
        headers = dict(record.headers)
        reason = headers["banku.reason"].decode()
        assert reason and "\n" not in reason
        assert headers["banku.source"].decode().startswith(settings.topic_name + "/")
        reasons[record.offset] = reason
    report(records=len(records), dead_letters=len(letters), view_changes=0,
           good_record_after_them="applied", largest_value_bytes=max(
               len(v or b"") for _, v in records))
