"""Any producer, any bytes: generated logs of valid events and hostile records, written to a real
topic, projected by the kit, checked against a fold written here from scratch.

For every generated log (hypothesis):

* the projector neither crashes nor prints a traceback (`banku replay` runs as a process);
* the view equals an independent fold of the records that are acceptable (decided here, by
  rules restated in this file, not by the kit's decoder);
* every other record is in the dead-letter topic exactly once, with a reason;
* `banku replay` reaches the same view, and the stored positions equal the end offsets.

Profiles: ``BANKU_FUZZ=full`` runs at least 200 logs and 20,000 records; the default (what
``./kit test`` runs) fewer, to keep the suite quick. The figures go to the fault report.
"""

from __future__ import annotations

import json
import os
import unicodedata
import uuid
from collections import defaultdict

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

from banku import Projector, Settings
from banku.adapters.kafka.clients import ensure_topic
from banku.adapters.redis.view import ReadModel
from banku.lab.workshop import dead_letters
from tests.helpers import banku, end_offsets

FULL = os.environ.get("BANKU_FUZZ") == "full"
LOGS = 220 if FULL else 25
LIMIT = (2**63 - 1) // 3  # each partition's share of a balance (banku.domain.ledger.part_limit)
IDS = [str(uuid.UUID(int=n * 7919 + 1, version=4)) for n in range(6)]
TOTALS = {"logs": 0, "records": 0, "dead_letters": 0}

# --- generating hostile and valid records -----------------------------------------------------
ids = st.one_of(st.sampled_from(IDS), st.sampled_from(IDS).map(str.upper),
                st.sampled_from(["", "banku:positions", "x:banku:positions", "a" * 36, "not-an-id",
                                 "alice:banku:stats"]),
                st.integers(), st.none())
amounts = st.one_of(
    st.integers(1, 10_000), st.sampled_from([LIMIT, LIMIT + 1, 2**63 - 1, 2**63, -(2**63), 0, -1]),
    st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
    st.text(max_size=5), st.none())
good_names = st.sampled_from(["Ada", "Zoë Ångström", "山田", "👩‍💻 Dev", "  padded  "])
bad_names = st.one_of(
    st.sampled_from(["", "   ", "line\nbreak", "nul\x00", "x" * 101, "\u202eevil"]),
    st.integers(), st.none(), st.lists(st.text(max_size=2), max_size=2))
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


BIG = [LIMIT, LIMIT - 1, LIMIT // 2, 2**62, 2**63 - 1]  # valid amounts that can overflow a share
TYPES = ["CreateEvent", "DepositEvent", "WithdrawEvent", "TransferEvent"]


@st.composite
def logs(draw) -> list[tuple[int, bytes | None, bytes]]:
    """A log of (partition, key, value): about three records in four are events (most of them
    well-formed, some with a hostile field), the rest hostile bytes. The proportions come from a
    seeded Random; the hostile values from hypothesis's strategies above."""
    rnd = draw(st.randoms(use_true_random=True))
    records = []
    for _ in range(rnd.randint(60, 160) if FULL else rnd.randint(25, 70)):
        partition = rnd.randrange(3)
        key = rnd.choice([None, rnd.choice(IDS).encode(), draw(st.binary(max_size=8))])
        if rnd.random() < 0.25:
            records.append((partition, key, draw(hostile_bytes)))
            continue
        kind = rnd.choice(TYPES)
        data: dict = {"AccId": rnd.choice(IDS) if rnd.random() < 0.9 else draw(ids), "Type": kind}
        if kind == "CreateEvent":
            data["AccName"] = draw(good_names) if rnd.random() < 0.85 else draw(bad_names)
        else:
            roll = rnd.random()
            data["Amount"] = (rnd.randint(1, 5_000) if roll < 0.8 else rnd.choice(BIG)
                              if roll < 0.9 else draw(amounts))
        if kind == "TransferEvent":
            data["TargetId"] = rnd.choice(IDS) if rnd.random() < 0.9 else draw(ids)
        if rnd.random() < 0.05:
            del data[rnd.choice(sorted(data))]  # a missing field
        if rnd.random() < 0.1:
            data["Extra"] = draw(st.integers() | st.text(max_size=4))  # ignored by readers
        if rnd.random() < 0.04:
            data["Type"] = rnd.choice(["FeeCharged", "", "depositevent", 7])
        records.append((partition, key, json.dumps(data, ensure_ascii=False).encode()))
    return records


hostile_bytes = st.one_of(st.binary(max_size=40), st.just(b"\xff\xfe\xfd"), st.just(b"[]"),
                          st.just(b"null"), st.just(b'"a string"'), st.just(b"{"),
                          st.text(max_size=300).map(str.encode), st.just(b"x" * 5000))


# --- the independent fold --------------------------------------------------------------------
def _uuid(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value.lower() and value.count("-") == 4
    except ValueError:
        return False


def _amount(value: object) -> bool:
    return type(value) is int and 0 < value <= 2**63 - 1


def _name(value: object) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    return 0 < len(text) <= 100 and not any(
        unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs") or c in BIDI for c in text)


def event_of(value: bytes) -> dict | None:
    """The event a record is, by the wire format's rules restated here; None if it is none."""
    try:
        data = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not _uuid(data.get("AccId")):
        return None
    kind = data.get("Type")
    if kind == "CreateEvent":
        return data if _name(data.get("AccName")) else None
    if kind in ("DepositEvent", "WithdrawEvent"):
        return data if _amount(data.get("Amount")) else None
    if kind == "TransferEvent":
        ok = _amount(data.get("Amount")) and _uuid(data.get("TargetId"))
        return data if ok and data["TargetId"] != data["AccId"] else None
    return None


def independent_fold(by_partition: dict[int, list[tuple[int, bytes]]]):
    """Balances, names and the refused (partition, offset)s, deciding each record from its own
    partition's history only."""
    balances: dict[str, int] = defaultdict(int)
    named: dict[str, tuple[int, str]] = {}
    refused = set()
    for partition, records in by_partition.items():
        shares: dict[str, int] = defaultdict(int)
        opened: set[str] = set()
        for offset, value in records:
            event = event_of(value)
            if event is None:
                refused.add((partition, offset))
                continue
            account = event["AccId"]
            if event["Type"] == "CreateEvent":
                if account in opened:
                    refused.add((partition, offset))
                    continue
                opened.add(account)
                if account not in named or partition < named[account][0]:
                    named[account] = (partition, event["AccName"].strip())
                balances[account] += 0
                continue
            amount = event["Amount"]
            if event["Type"] == "DepositEvent":
                moves = [(account, amount)]
            elif event["Type"] == "WithdrawEvent":
                moves = [(account, -amount)]
            else:
                moves = [(account, -amount), (event["TargetId"], amount)]
            if any(abs(shares[a] + d) > LIMIT for a, d in moves):
                refused.add((partition, offset))
                continue
            for a, d in moves:
                shares[a] += d
                balances[a] += d
    names = {a: n for a, (_, n) in named.items()}
    return {a: b for a, b in balances.items() if a in names}, names, refused


# --- the property ------------------------------------------------------------------------------
# Against real servers each example takes about a second: no shrinking (it would take many
# minutes); a failure prints the generated log as it was.
@settings(max_examples=LOGS, deadline=None, database=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(records=logs())
def test_any_bytes_from_any_producer(base_settings, records):
    ns = Settings(bootstrap_servers=base_settings.bootstrap_servers,
                  redis_url=base_settings.redis_url, namespace=f"fz{uuid.uuid4().hex[:10]}")
    ensure_topic(ns)
    producer = KafkaProducer(bootstrap_servers=ns.bootstrap_list, acks="all", linger_ms=5,
                             max_request_size=2**20)
    sent = [(producer.send(ns.topic_name, key=key, value=value, partition=partition), value)
            for partition, key, value in records]
    producer.flush(30)
    by_partition: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    for future, value in sent:
        md = future.get(30)
        by_partition[md.partition].append((md.offset, value))
    producer.close()

    with Projector(ns) as projector:
        projector.run_until_caught_up(timeout=120)
    balances, names, refused = independent_fold(by_partition)
    letters = dead_letters(ns)
    sources = [letter["source"] for letter in letters]
    assert len(sources) == len(set(sources)), "a record is in the DLQ twice"
    assert all(letter["reason"] and letter["reason"] != "?" for letter in letters)
    assert {tuple(map(int, s.rsplit("/", 2)[1:])) for s in sources} == refused
    with ReadModel(ns) as view:
        assert view.balances() == balances
        assert {a.id: a.name for a in view.accounts()} == names
        assert view.positions() == {p: e for p, e in end_offsets(ns).items() if e}
        live = (view.balances(), {a.id: a.name for a in view.accounts()})
        if TOTALS["logs"] % 5 == 0:  # the command line too (a process each time is slow)
            replay = banku(ns, "replay")
            assert replay.returncode == 0 and "Traceback" not in replay.stderr, replay.stderr
        else:
            with Projector(ns) as projector:
                projector.replay(timeout=120)
        assert (view.balances(), {a.id: a.name for a in view.accounts()}) == live
        assert view.stats()["dead_letters"] == len(refused)
    TOTALS["logs"] += 1
    TOTALS["records"] += len(records)
    TOTALS["dead_letters"] += len(refused)


def test_fuzz_figures(report):
    """Runs after the property (same module): records how much was tried."""
    assert TOTALS["logs"] >= LOGS, TOTALS
    report(profile="full" if FULL else "ci", **TOTALS)
