"""The checks of notebooks 03-05: each passes on its solution, and on the stub as handed out and
on a plausible mistake it prints one line with its hint and returns False (no servers here;
the checks that need Kafka are run against a stack in tests/test_checks_kafka.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from banku import history
from banku.lab import sample
from banku.lessons.checks import nb03, nb04, nb05

TYPES = {"CreateEvent": 0, "DepositEvent": 1, "WithdrawEvent": -1, "TransferEvent": -1}


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def answered(capsys, verdict: bool, *fragments: str) -> str:
    """The check's one line; it must say each fragment."""
    line = capsys.readouterr().out
    assert line.count("\n") == 1, line
    for fragment in fragments:
        assert fragment in line, line
    assert "Traceback" not in line
    return line


@pytest.fixture(scope="module")
def recorded() -> pd.DataFrame:
    return history.events_frame(sample.read())


# --- notebook 03: the solutions, as the notebook has them -----------------------------------------
def balances_at(df, when):
    upto = df[df["timestamp"] <= pd.Timestamp(when, tz="UTC")]
    sign = upto["type"].map(TYPES).astype("int64")
    own = (sign * upto["amount"]).groupby(upto["account"]).sum()
    received = upto[upto["type"] == "TransferEvent"].groupby("target")["amount"].sum()
    return own.add(received, fill_value=0).astype("int64")


def balance_history(df, account):
    mine = df[(df["account"] == account) | (df["target"] == account)]
    sign = mine["type"].map(TYPES).astype("int64").where(mine["account"] == account, 1)
    return (sign * mine["amount"]).cumsum().set_axis(mine["timestamp"])


def best_day(df):
    change = (df["amount"].where(df["type"] == "DepositEvent", 0)
              - df["amount"].where(df["type"] == "WithdrawEvent", 0))
    at_end_of = change.groupby(df["timestamp"].dt.date).sum().cumsum()
    return str(at_end_of.idxmax()), int(at_end_of.max())


def test_03_the_solutions_pass_on_the_small_and_the_recorded_log(capsys, recorded):
    assert nb03.check_balances_at(balances_at, recorded) is True
    answered(capsys, True, "✔")
    assert nb03.check_balance_history(balance_history, recorded) is True
    answered(capsys, True, "✔")
    assert nb03.check_best_day(best_day, recorded) is True
    answered(capsys, True, "✔")


@pytest.mark.parametrize("checker", [nb03.check_balances_at, nb03.check_balance_history,
                                     nb03.check_best_day])
def test_03_the_stubs_get_their_hint(capsys, checker):
    assert checker(stub) is False
    answered(capsys, False, "✘ Not written yet", "Hint:")


def test_03_balances_without_the_transfers_in(capsys):
    def forgot_the_target(df, when):
        upto = df[df["timestamp"] <= pd.Timestamp(when, tz="UTC")]
        return (upto["type"].map(TYPES).astype("int64") * upto["amount"]).groupby(
            upto["account"]).sum()

    assert nb03.check_balances_at(forgot_the_target) is False
    answered(capsys, False, "lacks the 3000 cents", "target")


def test_03_balances_before_the_moment_not_at_it(capsys):
    def strictly_before(df, when):
        return balances_at(df[df["timestamp"] < pd.Timestamp(when, tz="UTC")], "2100-01-01")

    assert nb03.check_balances_at(strictly_before) is False
    answered(capsys, False, "exactly then", "<=")


def test_03_balances_as_floats(capsys):
    assert nb03.check_balances_at(lambda df, when: balances_at(df, when) / 1) is False
    answered(capsys, False, "float64", "integer cents")


def test_03_history_of_movements_not_balances(capsys):
    def no_running_total(df, account):
        mine = df[(df["account"] == account) | (df["target"] == account)]
        sign = mine["type"].map(TYPES).astype("int64").where(mine["account"] == account, 1)
        return (sign * mine["amount"]).set_axis(mine["timestamp"])

    assert nb03.check_balance_history(no_running_total) is False
    answered(capsys, False, "single movements", "cumsum")


def test_03_history_without_the_money_received(capsys):
    def own_rows_only(df, account):
        mine = df[df["account"] == account]
        return (mine["type"].map(TYPES).astype("int64") * mine["amount"]).cumsum().set_axis(
            mine["timestamp"])

    assert nb03.check_balance_history(own_rows_only) is False
    answered(capsys, False, "'target'")


def test_03_best_day_counting_transfers_as_money_leaving(capsys):
    def transfers_leave(df):
        change = df["amount"].where(df["type"] == "DepositEvent", 0) - df["amount"].where(
            df["type"].isin(["WithdrawEvent", "TransferEvent"]), 0)
        at_end_of = change.groupby(df["timestamp"].dt.date).sum().cumsum()
        return str(at_end_of.idxmax()), int(at_end_of.max())

    assert nb03.check_best_day(transfers_leave) is False
    answered(capsys, False, "transfer", "total does not change")


def test_03_best_day_without_the_running_total(capsys):
    def busiest_day(df):
        change = (df["amount"].where(df["type"] == "DepositEvent", 0)
                  - df["amount"].where(df["type"] == "WithdrawEvent", 0))
        per_day = change.groupby(df["timestamp"].dt.date).sum()
        return str(per_day.idxmax()), int(per_day.max())

    assert nb03.check_best_day(busiest_day) is False
    answered(capsys, False, "coming in", "cumsum")


def test_03_the_check_agrees_with_the_kit_on_the_recorded_log(recorded):
    """The checks' plain loops and banku.history: two roads, one answer."""
    when = "2026-01-30 12:00"
    assert nb03._fold(recorded, when) == history.balances_at(recorded, when).to_dict()
    assert nb03._best_day_right(recorded) == ("2026-02-06", 23_849_576)


# --- notebook 04 ----------------------------------------------------------------------------------
class OwnerBook:
    """The solution of notebook 04's first exercise (a ConsumerRebalanceListener)."""

    def __init__(self, name, book):
        self.name, self.book = name, book
        self.book.setdefault(name, set())

    def on_partitions_revoked(self, revoked):
        self.book[self.name] -= {tp.partition for tp in revoked}

    def on_partitions_assigned(self, assigned):
        self.book[self.name] |= {tp.partition for tp in assigned}


class ReplacingBook(OwnerBook):
    """Right for eager rebalances only: it replaces the share instead of adding to it."""

    def on_partitions_assigned(self, assigned):
        self.book[self.name] = {tp.partition for tp in assigned}


class StubBook(OwnerBook):
    def on_partitions_revoked(self, revoked):
        raise NotImplementedError("your code here")

    def on_partitions_assigned(self, assigned):
        raise NotImplementedError("your code here")


def range_assign(members, partitions):
    members = sorted(members)
    share, extra = divmod(partitions, len(members))
    split, start = {}, 0
    for i, member in enumerate(members):
        count = share + (1 if i < extra else 0)
        split[member] = list(range(start, start + count))
        start += count
    return split


def test_04_the_book_passes_by_hand(capsys):
    assert nb04.check_owner_book(OwnerBook) is True
    answered(capsys, True, "✔")


def test_04_the_book_stub_gets_its_hint(capsys):
    assert nb04.check_owner_book(StubBook) is False
    answered(capsys, False, "✘ Not written yet", "on_partitions_revoked")


def test_04_a_book_that_replaces_fails_the_cooperative_rebalance(capsys):
    assert nb04.check_owner_book(ReplacingBook) is False
    answered(capsys, False, "cooperative", "never replace")


def test_04_range_passes_and_its_stub_gets_the_hint(capsys):
    assert nb04.check_range_assign(range_assign) is True
    answered(capsys, True, "✔")
    assert nb04.check_range_assign(stub) is False
    answered(capsys, False, "✘ Not written yet", "Sort the members")


def test_04_round_robin_is_not_range(capsys):
    def round_robin(members, partitions):
        members = sorted(members)
        return {m: list(range(i, partitions, len(members))) for i, m in enumerate(members)}

    assert nb04.check_range_assign(round_robin) is False
    answered(capsys, False, "round robin", "consecutive")


def test_04_forgetting_the_idle_member(capsys):
    def busy_only(members, partitions):
        return {m: ps for m, ps in range_assign(members, partitions).items() if ps}

    assert nb04.check_range_assign(busy_only) is False
    answered(capsys, False, "warm spare")


def test_04_unsorted_members(capsys):
    def in_given_order(members, partitions):
        split = range_assign(members, partitions)
        order = sorted(members)
        return {given: split[order[i]] for i, given in enumerate(members)}

    assert nb04.check_range_assign(in_given_order) is False
    answered(capsys, False, "sort the members")


def test_04_range_agrees_with_kafka_pythons_own_assignor():
    """The check's rule is the one kafka-python's RangePartitionAssignor applies."""
    from types import SimpleNamespace
    from unittest import mock

    from kafka.coordinator.assignors.range import RangePartitionAssignor

    for members, partitions in nb04.CASES:
        cluster = mock.Mock()
        cluster.partitions_for_topic.return_value = set(range(partitions))
        joined = [SimpleNamespace(member_id=m, group_instance_id=None,
                                  metadata=SimpleNamespace(topics=["t"])) for m in members]
        assigned = RangePartitionAssignor.assign(cluster, joined)
        got = {m: [p for _, ps in a.assigned_partitions for p in ps] for m, a in assigned.items()}
        assert got == nb04.range_right(members, partitions), (members, partitions)


# --- notebook 05 ----------------------------------------------------------------------------------
def writable(states, dead, acks, min_insync):
    needed = min_insync if acks == "all" else 1
    return [s.partition for s in states if len(set(s.in_sync) - set(dead)) >= max(needed, 1)]


def test_05_writable_passes_and_its_stub_gets_the_hint(capsys):
    assert nb05.check_writable(writable) is True
    answered(capsys, True, "✔")
    assert nb05.check_writable(stub) is False
    answered(capsys, False, "✘ Not written yet", "in-sync replicas")


def test_05_min_insync_applied_to_acks_1(capsys):
    def always_min_insync(states, dead, acks, min_insync):
        return writable(states, dead, "all", min_insync)

    assert nb05.check_writable(always_min_insync) is False
    answered(capsys, False, "acks='all' only")


def test_05_counting_replicas_instead_of_the_isr(capsys):
    def replicas(states, dead, acks, min_insync):
        needed = min_insync if acks == "all" else 1
        return [s.partition for s in states if len(set(s.replicas) - set(dead)) >= needed]

    assert nb05.check_writable(replicas) is False
    answered(capsys, False, "out of sync", "state.in_sync")


def test_05_the_kafka_checks_answer_a_stub_without_touching_a_server(capsys):
    """The stub is answered before any server is asked (the cluster settings are never used)."""
    from unittest import mock

    with mock.patch("banku.lab.brokers.partition_states",
                    return_value=[nb05.PartitionState(0, 1, (1, 2), (1,))]):
        assert nb05.check_send_one(stub, None, "demo") is False
    answered(capsys, False, "✘ Not written yet", "KafkaError")
    with mock.patch("banku.lab.brokers.read_values", return_value=[b"one-1"]):
        assert nb05.check_count_lost(stub, None, {"acks=1": "t"}, {"acks=1": {"one-1"}}) is False
    answered(capsys, False, "✘ Not written yet", "seek_to_beginning")


def test_05_counting_bytes_against_strings(capsys):
    from unittest import mock

    def compares_bytes(topic, acknowledged):
        return len(acknowledged - {b"one-1", b"one-2"})

    with mock.patch("banku.lab.brokers.read_values", return_value=[b"one-1", b"one-2"]):
        assert nb05.check_count_lost(compares_bytes, None, {"acks=all": "t"},
                                     {"acks=all": {"one-1", "one-2"}}) is False
    answered(capsys, False, "every acknowledged record as lost", ".decode()")


def test_05_send_one_with_a_retrying_producer(capsys):
    from unittest import mock

    answers = {"all": "KafkaTimeoutError", 1: "acknowledged"}
    with mock.patch("banku.lab.brokers.partition_states",
                    return_value=[nb05.PartitionState(0, 1, (1, 2), (1,))]):
        assert nb05.check_send_one(answers.get, None, "demo") is False
        answered(capsys, False, "timeout", "retries=0")
        answers["all"] = "NotEnoughReplicasError"
        assert nb05.check_send_one(answers.get, None, "demo") is True
        answered(capsys, True, "✔")
