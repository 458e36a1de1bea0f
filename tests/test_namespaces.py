"""Many learners on one cluster: namespaces keep topics, groups and Redis keys apart (real servers).

Five learners work at once, on the session's broker, each in a namespace of their own, doing what
the notebooks do: open accounts, deposit, withdraw, transfer, have a command refused, project
until caught up, replay, and meanwhile reset somebody else's namespace. Afterwards each view
must equal the hand-made fold of its own topic and hold only its own accounts.

`banku reset --all-namespaces` deletes *every* namespace on a cluster, so it is tested on a stack
of its own, never on the session's (its ports come from `tests/ports.py`).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from banku import (
    AccountNotFound,
    Bank,
    InsufficientFunds,
    Projector,
    SameAccountTransfer,
    Settings,
    stack,
)
from banku.adapters.kafka.clients import list_topics
from banku.adapters.redis.view import ReadModel
from banku.lab import workshop
from tests import ports
from tests.helpers import banku, end_offsets, env_for, fold_topic, raw_records

LEARNERS = 5
TIMEOUT = 120


def _keys(settings: Settings) -> list[str]:
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        return sorted(client.scan_iter(match=f"{settings.namespace}:*", count=1000))
    finally:
        client.close()


def _view(settings: Settings) -> dict[str, int]:
    view = ReadModel(settings)
    try:
        return view.balances()
    finally:
        view.close()


def _project(settings: Settings, replay: bool = False) -> int:
    with Projector(settings) as projector:
        return projector.replay() if replay else projector.run_until_caught_up(timeout=TIMEOUT)


def _open_with_money(settings: Settings, name: str, amount: int) -> str:
    with Bank(settings) as bank:
        account = bank.create_account(name)
        bank.deposit(account, amount)
    _project(settings)
    return account


class Room:
    """What the learners share: a barrier, and each learner's account ids."""

    def __init__(self, learners: list[Settings], decoys: list[Settings]) -> None:
        self.learners, self.decoys = learners, decoys
        self.barrier = threading.Barrier(len(learners))
        self.ids: dict[int, set[str]] = {}

    def learner(self, i: int) -> dict[str, int]:
        try:
            return self._learner(i)
        except BaseException:
            self.barrier.abort()  # the others stop waiting and fail too
            raise

    def _learner(self, i: int) -> dict[str, int]:
        me = self.learners[i]
        # A namespace of somebody who has left; the next learner will reset it.
        _open_with_money(self.decoys[i], f"Gone {i}", 999)

        with Bank(me) as bank:
            adam = bank.create_account(f"Adam {i}")
            eve = bank.create_account(f"Eve {i}")
            chen = bank.create_account(f"Chen {i}")
            bank.deposit(adam, 10_000 + i)
            bank.withdraw(adam, 2_500)
            bank.transfer(adam, eve, 1_500)
            bank.deposit(chen, 300)
            bank.transfer(chen, adam, 100)
            self.ids[i] = {adam, eve, chen}
            expected = {adam: 10_000 + i - 2_500 - 1_500 + 100, eve: 1_500, chen: 200}

            # Refused commands write nothing.
            before = end_offsets(me)
            with pytest.raises(InsufficientFunds):
                bank.withdraw(eve, 1_501)
            with pytest.raises(SameAccountTransfer):
                bank.transfer(adam, adam, 1)
            assert end_offsets(me) == before
            assert sum(before.values()) == 8

            assert _project(me) == 8
            assert _view(me) == expected

            self.barrier.wait(timeout=TIMEOUT)  # everybody has written and projected

            # Another learner's account does not exist in my namespace.
            theirs = sorted(self.ids[(i + 1) % len(self.learners)])[0]
            with pytest.raises(AccountNotFound):
                bank.deposit(theirs, 1)
            # Resetting somebody else's namespace leaves mine alone.
            workshop.reset_namespace(self.decoys[(i + 1) % len(self.decoys)])
            assert end_offsets(me) == before
            assert _view(me) == expected

            bank.deposit(eve, 42 + i)
            expected[eve] += 42 + i
        assert _project(me) == 1
        assert _project(me, replay=True) == 9
        assert _view(me) == expected
        return expected


def test_five_learners_at_once_do_not_interfere(base_settings):
    prefix = f"ns{uuid.uuid4().hex[:6]}"
    learners = [base_settings.with_namespace(f"{prefix}-learner{i}") for i in range(LEARNERS)]
    decoys = [base_settings.with_namespace(f"{prefix}-gone{i}") for i in range(LEARNERS)]
    room = Room(learners, decoys)
    try:
        with ThreadPoolExecutor(max_workers=LEARNERS) as pool:
            futures = [pool.submit(room.learner, i) for i in range(LEARNERS)]
            results = [f.result(timeout=4 * TIMEOUT) for f in futures]

        every_id = set().union(*room.ids.values())
        assert len(every_id) == 3 * LEARNERS
        for i, (me, expected) in enumerate(zip(learners, results, strict=True)):
            mine = room.ids[i]
            # The view equals the fold of its own topic and holds only its own accounts.
            assert _view(me) == expected == fold_topic(me)
            assert set(expected) == mine
            # The topic holds only this learner's events, keyed by this learner's accounts.
            records = raw_records(me)
            assert len(records) == 9
            for record in records:
                event = json.loads(record.value)
                assert record.key.decode() == event["AccId"] and event["AccId"] in mine
                assert event.get("TargetId", event["AccId"]) in mine
            # The Redis keys of the namespace are its view's and nothing else.
            accounts = {k.split(":", 1)[1] for k in _keys(me) if ":banku:" not in k}
            assert accounts == mine
        # The reset namespaces are gone, entirely.
        topics = set(list_topics(base_settings))
        for decoy in decoys:
            assert not {decoy.topic_name, decoy.dlq_topic} & topics
            assert _keys(decoy) == []
        found = set(workshop.namespaces(base_settings))
        assert {s.namespace for s in learners} <= found
        assert not {s.namespace for s in decoys} & found
    finally:
        resets = [subprocess.Popen([sys.executable, "-m", "banku", "reset", "--yes"],
                                   env=env_for(s), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
                  for s in learners + decoys]
        outcomes = [p.communicate(timeout=TIMEOUT) + (p.returncode,) for p in resets]
    assert all(code == 0 for _, _, code in outcomes), outcomes
    assert not {s.namespace for s in learners} & set(workshop.namespaces(base_settings))
    for me in learners:
        assert end_offsets(me) == {} and _keys(me) == []


# --- the instructor's reset, on a stack of its own -----------------------------------------------
OWN = ports.settings_for(ports.NAMESPACES)


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def own_stack(base_settings):
    own_ports = ports.ports_of(ports.NAMESPACES)
    session = {int(s.rpartition(":")[2]) for s in base_settings.bootstrap_list}
    session |= {p + 1 for p in session} | {redis.connection.parse_url(
        base_settings.redis_url).get("port", 6379)}
    assert not own_ports & session, "the session stack uses this test's own ports"
    stack.down(OWN, log=_quiet, wipe=True)
    try:
        stack.up(OWN, log=_quiet, timeout=150)
        yield OWN
    finally:
        stack.down(OWN, log=_quiet, wipe=True)


def on_a_terminal(settings: Settings, answer: str, *args: str) -> subprocess.CompletedProcess:
    """Run `banku ARGS` with a terminal as its stdin, and type ANSWER at the prompt."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-m", "banku", *args], stdin=terminal,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env_for(settings))
        os.close(terminal)
        terminal = -1
        os.write(controller, f"{answer}\n".encode())
        out, err = process.communicate(timeout=TIMEOUT)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)


def test_reset_asks_on_a_terminal_and_all_namespaces_clears_the_cluster(own_stack):
    names = ["", "alice", "bob", "mybanku", "alice-nb01"]
    rooms = [own_stack.with_namespace(n) for n in names]
    ids = {s.namespace: _open_with_money(s, "Somebody", 500) for s in rooms}
    assert workshop.namespaces(own_stack) == sorted(names)

    # On a terminal, `reset` asks first; anything but yes deletes nothing.
    kept = on_a_terminal(rooms[1], "n", "reset", "--all-namespaces")
    assert kept.returncode == 1, kept.stderr
    assert "Delete the topics and the Redis view of ALL namespaces? [y/N]" in kept.stdout
    assert "Nothing deleted." in kept.stdout
    assert workshop.namespaces(own_stack) == sorted(names)

    # Yes resets that one namespace (alice), not alice-nb01 beside it.
    gone = on_a_terminal(rooms[1], "y", "reset")
    assert gone.returncode == 0, gone.stderr
    assert "namespace alice?" in gone.stdout and "Reset namespace alice:" in gone.stdout
    assert workshop.namespaces(own_stack) == sorted(set(names) - {"alice"})
    assert _view(own_stack.with_namespace("alice-nb01")) == {ids["alice-nb01"]: 500}

    # Without a terminal and without --yes: refused.
    refused = banku(rooms[2], "reset", "--all-namespaces")
    assert refused.returncode == 1 and "--yes" in refused.stderr

    # The instructor's reset between cohorts: everything goes, the default namespace too.
    everything = banku(rooms[2], "reset", "--all-namespaces", "--yes")
    assert everything.returncode == 0, everything.stderr
    for name in ("(default)", "bob", "mybanku", "alice-nb01"):
        assert f"Reset namespace {name}:" in everything.stdout
    assert workshop.namespaces(own_stack) == []
    assert not [t for t in list_topics(own_stack) if not t.startswith("__")]
    client = redis.Redis.from_url(own_stack.redis_url)
    try:
        assert client.dbsize() == 0
    finally:
        client.close()
