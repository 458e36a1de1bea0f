"""The checks of notebooks 08-10: each passes on its solution, and fails with its hint on the stub
as handed out and on plausible mistakes (no servers: the Kafka reads are replaced, the write side
runs on the in-memory adapters)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from dataclasses import replace
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from banku import Bank, Settings
from banku.adapters.memory import MemoryLog, MemoryView
from banku.application.projector import Projector
from banku.lessons.checks import nb08, nb09, nb10


def _stub(*_args):
    raise NotImplementedError("your code here")


def _said(capsys) -> str:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # one line, never more
    return out


def _fails_with(capsys, result: bool, *words: str) -> str:
    line = _said(capsys)
    assert result is False and line.startswith("✘ ") and "Hint: " in line, line
    for word in words:
        assert word in line, line
    return line


def _passes(capsys, result: bool) -> str:
    line = _said(capsys)
    assert result is True and line.startswith("✔ "), line
    return line


# --- 08 ------------------------------------------------------------------------------------------
RIGHT = dict(zip(nb08.CHANGES, (True, False, False, False, True), strict=True))


def test_08_compatibility(capsys):
    _passes(capsys, nb08.check_compatibility(RIGHT))
    stub = dict.fromkeys(nb08.CHANGES)
    _fails_with(capsys, nb08.check_compatibility(stub), "Not answered yet", "True")
    # The usual mistake: a rename looks harmless.
    _fails_with(capsys, nb08.check_compatibility({**RIGHT, "Memo is renamed Note": True}),
                "1 of your 5", "change 4")
    _fails_with(capsys, nb08.check_compatibility({**RIGHT, nb08.CHANGES[1]: "no"}),
                "True or False")


MOVEMENTS = {"DepositEvent", "WithdrawEvent", "TransferEvent"}


def upcast(event, version):  # the lesson's v1 -> v2
    if version > 2:
        raise ValueError(f"schema version {version} is newer than this reader (2): upgrade it")
    if version == 1 and event["Type"] in MOVEMENTS:
        event = {**event, "Memo": ""}
    return event


def upcast_v3(event, version):  # the solution
    if version > 3:
        raise ValueError(f"schema version {version} is newer than this reader (3): upgrade it")
    if version < 3:
        event = upcast(event, version)
        if "Memo" in event:
            event = {**{k: v for k, v in event.items() if k != "Memo"}, "Note": event["Memo"]}
    return event


def keeps_memo(event, version):
    event = upcast(event, version) if version < 3 else event
    return {**event, "Note": event["Memo"]} if "Memo" in event else event


def no_chain(event, version):
    if version == 2 and "Memo" in event:
        return {**{k: v for k, v in event.items() if k != "Memo"}, "Note": event["Memo"]}
    return event


def mutates(event, version):
    if version > 3:
        raise ValueError("too new")
    if version < 3:
        event = upcast(event, version)
        if "Memo" in event:
            event["Note"] = event.pop("Memo")
    return event


def accepts_anything(event, version):
    return upcast_v3(event, min(version, 3))


def test_08_upcast_v3(capsys):
    _passes(capsys, nb08.check_upcast_v3(upcast_v3))
    _fails_with(capsys, nb08.check_upcast_v3(_stub), "Not written yet", "rename Memo to Note")
    _fails_with(capsys, nb08.check_upcast_v3(keeps_memo), "still has a Memo")
    _fails_with(capsys, nb08.check_upcast_v3(no_chain), "version-1 deposit", "no Note",
                "chain the steps")
    _fails_with(capsys, nb08.check_upcast_v3(mutates), "changed the event it was given")
    _fails_with(capsys, nb08.check_upcast_v3(accepts_anything), "version-4 record was accepted")


ADA = "8f3cc259-2cbf-5a7a-99a4-25b59e80e35b"


def _record(value: dict | None, headers=(), offset=7, key=ADA):
    return SimpleNamespace(key=key.encode(), value=json.dumps(value).encode(), partition=0,
                           offset=offset, headers=list(headers))


def _v3_records(monkeypatch, records):
    monkeypatch.setattr(nb08, "_recent_records", lambda settings, account: records)


V3 = [("banku.schema", b"3")]
WITHDRAWAL = {"AccId": ADA, "Type": "WithdrawEvent", "Amount": 400, "Note": "coffee beans"}


def test_08_the_version_3_record(capsys, monkeypatch):
    before = [_record({"AccId": ADA, "Type": "DepositEvent", "Amount": 1000}, offset=3)]
    _v3_records(monkeypatch, [*before, _record(WITHDRAWAL, V3)])
    _passes(capsys, nb08.check_v3_record(None, ADA))
    _v3_records(monkeypatch, before)  # the stub: nothing sent
    _fails_with(capsys, nb08.check_v3_record(None, ADA), "no version-3 record", "banku.schema")
    _v3_records(monkeypatch, [*before, _record(WITHDRAWAL)])  # no header
    _fails_with(capsys, nb08.check_v3_record(None, ADA), "version 1")
    memo = {k: v for k, v in WITHDRAWAL.items() if k != "Note"} | {"Memo": "coffee beans"}
    _v3_records(monkeypatch, [*before, _record(memo, V3)])
    _fails_with(capsys, nb08.check_v3_record(None, ADA), "no Note")
    _v3_records(monkeypatch, [*before, _record(WITHDRAWAL | {"Amount": 4}, V3)])
    _fails_with(capsys, nb08.check_v3_record(None, ADA), "Amount is 4")
    _v3_records(monkeypatch, [_record(WITHDRAWAL, V3, 1), _record(WITHDRAWAL, V3, 2)])
    _fails_with(capsys, nb08.check_v3_record(None, ADA), "more than once")


# --- 09 ------------------------------------------------------------------------------------------
def moves(event):  # the lesson's
    kind, acc = event["Type"], event["AccId"]
    if kind == "CreateEvent":
        return [(acc, 0)]
    if kind == "DepositEvent":
        return [(acc, event["Amount"])]
    if kind == "WithdrawEvent":
        return [(acc, -event["Amount"])]
    return [(acc, -event["Amount"]), (event["TargetId"], event["Amount"])]


def fold_tail(snapshot, records):  # the solution
    balances = dict(snapshot["balances"])
    for partition, offset, event in records:
        if offset < snapshot["positions"].get(partition, 0):
            continue
        for account, amount in moves(event):
            balances[account] = balances.get(account, 0) + amount
    return balances


def _fold_skipping(skip):
    def fold(snapshot, records):
        balances = dict(snapshot["balances"])
        for partition, offset, event in records:
            if not skip(snapshot["positions"], partition, offset):
                for account, amount in moves(event):
                    balances[account] = balances.get(account, 0) + amount
        return balances
    return fold


def in_place(snapshot, records):
    balances = snapshot["balances"]
    for partition, offset, event in records:
        if offset >= snapshot["positions"].get(partition, 0):
            for account, amount in moves(event):
                balances[account] = balances.get(account, 0) + amount
    return balances


def test_09_fold_tail(capsys):
    _passes(capsys, nb09.check_fold_tail(fold_tail))
    _fails_with(capsys, nb09.check_fold_tail(_stub), "Not written yet", "at or after")
    _fails_with(capsys, nb09.check_fold_tail(_fold_skipping(lambda pos, p, o: False)),
                "applied again")
    _fails_with(capsys, nb09.check_fold_tail(
        _fold_skipping(lambda pos, p, o: o <= pos.get(p, -1))), "first record of the tail")
    _fails_with(capsys, nb09.check_fold_tail(
        _fold_skipping(lambda pos, p, o: p not in pos or o < pos[p])), "no position")
    _fails_with(capsys, nb09.check_fold_tail(in_place), "changed the snapshot")


def why_refused(value, topic_id, ends):  # the solution
    try:
        outer = json.loads(gzip.decompress(value))
        if hashlib.sha256(outer["body"].encode()).hexdigest() != outer["sha256"]:
            return "its checksum does not match"
        body = json.loads(outer["body"])
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return "it is not the gzip'd JSON a snapshot is"
    if body["schema"] != 1:
        return f"it has schema {body['schema']}"
    if body["topic_id"] != topic_id:
        return "it was taken from another topic"
    for partition, position in body["positions"].items():
        if position > ends.get(int(partition), 0):
            return f"it is ahead of the log in partition {partition}"
    return None


def off_by_one(value, topic_id, ends):
    said = why_refused(value, topic_id, ends)
    body = json.loads(json.loads(gzip.decompress(value))["body"]) if said is None else None
    if body and any(o >= ends[int(p)] for p, o in body["positions"].items()):
        return "ahead"
    return said


def no_checksum(value, topic_id, ends):
    said = why_refused(value, topic_id, ends)
    return None if said == "its checksum does not match" else said


def crashes_on_garbage(value, topic_id, ends):
    gzip.decompress(value)
    return why_refused(value, topic_id, ends)


def test_09_why_refused(capsys):
    _passes(capsys, nb09.check_why_refused(why_refused))
    _fails_with(capsys, nb09.check_why_refused(_stub), "Not written yet", "topic id")
    _fails_with(capsys, nb09.check_why_refused(off_by_one), "at the very end of the log was"
                " refused", "equal to the end offset")
    _fails_with(capsys, nb09.check_why_refused(no_checksum), "body was changed", "let through")
    _fails_with(capsys, nb09.check_why_refused(crashes_on_garbage), "not gzip", "raised")


def forge(value):  # the solution
    outer = json.loads(gzip.decompress(value))
    body = json.loads(outer["body"])
    rich = sorted(body["balances"])[0]
    body["balances"][rich] += 1_000_000
    forged = {"sha256": outer["sha256"], "body": json.dumps(body, separators=(",", ":"))}
    return gzip.compress(json.dumps(forged).encode())


def perfect_forgery(value):
    outer = json.loads(gzip.decompress(value))
    body = json.loads(outer["body"])
    body["balances"][sorted(body["balances"])[0]] += 1_000_000
    text = json.dumps(body, separators=(",", ":"))
    return gzip.compress(json.dumps({"sha256": hashlib.sha256(text.encode()).hexdigest(),
                                     "body": text}).encode())


def not_gzipped(value):
    return gzip.decompress(forge(value))


@pytest.fixture()
def keeper():
    """A write side with a snapshot in its (in-memory) log."""
    bank = Bank(Settings(), log=MemoryLog(), view=MemoryView())
    accounts = [bank.create_account(name) for name in ("Ann", "Bo", "Cy")]
    for n, account in enumerate(accounts):
        bank.deposit(account, 1_000 * (n + 1))
    bank.state.catch_up()
    assert bank.state.snapshot()
    bank.deposit(accounts[0], 5)  # a tail
    return bank


def test_09_forgery(capsys, keeper):
    genuine = keeper.log.latest_snapshot()
    _passes(capsys, nb09.check_forgery(forge, genuine, keeper.log))
    assert keeper.log.latest_snapshot() != genuine  # the forgery was written as the latest
    keeper.log.save_snapshot(b"not a snapshot")  # the latest need not be the genuine one
    _fails_with(capsys, nb09.check_forgery(_stub, genuine, keeper.log), "Not written yet",
                "old sha256")
    _fails_with(capsys, nb09.check_forgery(perfect_forgery, genuine, keeper.log),
                "matches its changed body", "keep the genuine")
    _fails_with(capsys, nb09.check_forgery(not_gzipped, genuine, keeper.log), "not gzip'd JSON")
    _fails_with(capsys, nb09.check_forgery(lambda v: v, genuine, keeper.log), "No balance")
    _fails_with(capsys, nb09.check_forgery(forge, b"garbage", keeper.log), "not a genuine one")


def test_09_the_forgery_is_refused_by_the_write_side_for_its_checksum(keeper):
    read, why = nb09._cold_start(keeper.log, forge(keeper.log.latest_snapshot()))
    assert read == 7 and len(why) == 1 and "its checksum does not match" in why[0]


# --- 10 ------------------------------------------------------------------------------------------
def _b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_name(key, account_id, name):  # the solution
    nonce = os.urandom(12)
    return "enc:v1:" + _b64(nonce + AESGCM(key).encrypt(nonce, name.encode(), account_id.encode()))


def open_name(key, account_id, sealed):  # the solution
    raw = _unb64(sealed[len("enc:v1:"):])
    return AESGCM(key).decrypt(raw[:12], raw[12:], account_id.encode()).decode()


def fixed_nonce(key, account_id, name):
    nonce = b"\0" * 12
    return "enc:v1:" + _b64(nonce + AESGCM(key).encrypt(nonce, name.encode(), account_id.encode()))


def seal_without_ad(key, account_id, name):
    nonce = os.urandom(12)
    return "enc:v1:" + _b64(nonce + AESGCM(key).encrypt(nonce, name.encode(), None))


def open_without_ad(key, account_id, sealed):
    raw = _unb64(sealed[len("enc:v1:"):])
    return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode()


def seal_padded(key, account_id, name):
    nonce = os.urandom(12)
    data = nonce + AESGCM(key).encrypt(nonce, name.encode(), account_id.encode())
    return "enc:v1:" + base64.b64encode(data).decode()


def open_padded(key, account_id, sealed):
    raw = base64.b64decode(sealed[len("enc:v1:"):])
    return AESGCM(key).decrypt(raw[:12], raw[12:], account_id.encode()).decode()


def test_10_sealing(capsys):
    _passes(capsys, nb10.check_sealing(seal_name, open_name))
    _fails_with(capsys, nb10.check_sealing(_stub, _stub), "Not written yet", "associated data")
    _fails_with(capsys, nb10.check_sealing(fixed_nonce, open_name), "nonce was reused")
    _fails_with(capsys, nb10.check_sealing(seal_without_ad, open_without_ad),
                "another account id")
    _fails_with(capsys, nb10.check_sealing(lambda k, a, n: "enc:v1:" + n, _stub),
                "can be read")
    _fails_with(capsys, nb10.check_sealing(seal_padded, open_padded),
                "cannot open a name the kit sealed", "padding")


@pytest.fixture()
def sealed_bank():
    view = MemoryView()
    bank = Bank(replace(Settings(), encrypt_names=True), log=MemoryLog(), view=view)
    grace = bank.create_account("Grace Hopper")
    bank.deposit(grace, 75_000)
    Projector(bank.settings, feeds=bank.log, view=view).run_until_caught_up(timeout=5)
    return bank, view, grace


def test_10_forgotten(capsys, sealed_bank):
    bank, view, grace = sealed_bank
    _fails_with(capsys, nb10.check_forgotten(bank, view, grace, 75_000), "nothing was forgotten",
                "bank.names.forget")
    key = view.name_keys().keys.pop(grace)  # deleted by hand: taken for a lost key
    _fails_with(capsys, nb10.check_forgotten(bank, view, grace, 75_000), "lost key")
    view.name_keys().keys[grace] = key
    bank.names.forget(grace)
    _passes(capsys, nb10.check_forgotten(bank, view, grace, 75_000))
    _fails_with(capsys, nb10.check_forgotten(bank, view, grace, 70_000), "not 70000")


def names_from(records):  # the solution
    names = {}
    for record in records:
        if record.value is None:
            names.pop(record.key.decode(), None)
        else:
            names[record.key.decode()] = record.value.decode()
    return names


def keeps_tombstones(records):
    return {r.key.decode(): r.value.decode() if r.value else None for r in records}


def first_wins(records):
    names = {}
    for record in records:
        if record.value is not None:
            names.setdefault(record.key.decode(), record.value.decode())
    return names


HEDY = "0b6f7c8e-0000-4000-8000-0000000000ed"


def _names_topic(monkeypatch, *values):
    records = [SimpleNamespace(key=HEDY.encode(), value=v, partition=0, offset=n, headers=[])
               for n, v in enumerate(values)]
    monkeypatch.setattr(nb10, "_topic_records", lambda settings, topic: records)


def test_10_tombstone(capsys, monkeypatch):
    _names_topic(monkeypatch, b"Hedy Lamarr", None)
    line = _passes(capsys, nb10.check_tombstone(names_from, None, "t", HEDY))
    assert "the 1 older record(s)" in line
    _fails_with(capsys, nb10.check_tombstone(_stub, None, "t", HEDY), "Not written yet",
                "value=None")
    _fails_with(capsys, nb10.check_tombstone(keeps_tombstones, None, "t", HEDY), "a tombstone",
                "deletes its key")
    _fails_with(capsys, nb10.check_tombstone(first_wins, None, "t", HEDY), "a name changed")
    _names_topic(monkeypatch, b"Hedy Lamarr")  # the function written, the tombstone not sent
    _fails_with(capsys, nb10.check_tombstone(names_from, None, "t", HEDY), "still carries her name",
                "value=None")
