"""Time travel without servers: frames built from generated rows, checked against the fold."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from banku import history
from banku.domain.events import CreateEvent, DepositEvent, TransferEvent, WithdrawEvent, decode
from banku.domain.ledger import fold
from banku.errors import AccountNotFound
from banku.lab import sample

MOMENTS = ["2026-01-05 08:00", "2026-01-05 12:00", "2026-01-09T18:30:00Z",
           "2026-01-20 12:00:00+01:00", "2026-02-01", "2026-02-20"]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return sample.generate(seed=11, accounts=12, events=2000)


@pytest.fixture(scope="module")
def items(rows) -> list[tuple]:
    return [sample.row_to_event(row) for row in rows]


@pytest.fixture(scope="module")
def df(rows) -> pd.DataFrame:
    return history.events_frame(rows)


def ms(when: str) -> int:
    return history.as_utc(when).value // 1_000_000


# --- the sample generator ----------------------------------------------------------------------
def test_generator_is_deterministic_for_a_seed(rows):
    assert sample.generate(seed=11, accounts=12, events=2000) == rows
    assert sample.generate(seed=12, accounts=12, events=2000) != rows


def test_generator_makes_the_requested_log(rows):
    assert len(rows) == 2000
    creates = [r for r in rows if r["Type"] == "CreateEvent"]
    assert len(creates) == 12
    assert len({r["AccName"] for r in creates}) == 12
    assert {r["Type"] for r in rows} == {"CreateEvent", "DepositEvent", "WithdrawEvent",
                                         "TransferEvent"}
    assert rows[0]["Timestamp"] == "2026-01-05T08:00:00.000Z"


def test_every_row_decodes_and_amounts_are_positive_cents(rows):
    for row in rows:
        wire = {k: v for k, v in row.items() if k != "Timestamp"}
        event = decode(json.dumps(wire).encode())
        assert event.to_wire() == wire
        if not isinstance(event, CreateEvent):
            assert isinstance(event.amount, int) and event.amount > 0


def test_timestamps_strictly_increase_and_are_iso_utc_with_ms(rows):
    stamps = [sample.parse_timestamp(r["Timestamp"]) for r in rows]
    assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False))
    assert all(r["Timestamp"].endswith("Z") and len(r["Timestamp"]) == 24 for r in rows)
    assert [sample.format_ms(t) for t in stamps] == [r["Timestamp"] for r in rows]
    start = datetime(2026, 1, 5, 8, tzinfo=timezone.utc)
    assert stamps[-1] < sample.to_ms(start) + 42 * 86_400_000


def test_generator_never_overdraws_and_opens_accounts_before_use(items):
    opened: set[str] = set()
    balances: dict[str, int] = {}
    for event, _ in items:
        if isinstance(event, CreateEvent):
            assert event.acc_id not in opened
            opened.add(event.acc_id)
            balances[event.acc_id] = 0
            continue
        assert event.acc_id in opened
        if isinstance(event, DepositEvent):
            balances[event.acc_id] += event.amount
        elif isinstance(event, WithdrawEvent):
            assert event.amount <= balances[event.acc_id]
            balances[event.acc_id] -= event.amount
        else:
            assert isinstance(event, TransferEvent) and event.target_id in opened
            assert event.target_id != event.acc_id
            assert event.amount <= balances[event.acc_id]
            balances[event.acc_id] -= event.amount
            balances[event.target_id] += event.amount


def test_write_then_read_round_trips(tmp_path, rows, items):
    path = sample.write(tmp_path / "log.jsonl", rows)
    assert sample.read(path) == items
    assert path.read_text(encoding="utf-8").count("\n") == len(rows)


def test_read_names_the_bad_line(tmp_path, rows):
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(r) for r in rows[:3]]
    lines.append(json.dumps({**rows[3], "Amount": -5, "Type": "DepositEvent"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 4"):
        sample.read(path)


def test_committed_sample_is_the_documented_one():
    """data/sample-events.jsonl is exactly what `python -m banku.lab.sample --seed 7` writes."""
    expected = "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n"
                       for r in sample.generate(seed=7))
    assert sample.DEFAULT_SAMPLE.read_text(encoding="utf-8") == expected


# --- the frame -----------------------------------------------------------------------------------
def test_frame_columns_and_types(df, rows):
    assert list(df.columns) == history.COLUMNS
    assert len(df) == len(rows)
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert df["amount"].dtype == "int64"
    assert df["timestamp"].is_monotonic_increasing
    created = df[df["type"] == "CreateEvent"]
    assert (created["amount"] == 0).all() and created["name"].notna().all()
    deposits = df[df["type"] == "DepositEvent"]
    assert deposits["target"].isna().all() and deposits["name"].isna().all()
    assert df["partition"].between(0, 2).all()
    # Offsets count up within each partition, as in a fresh topic.
    for _, part in df.groupby("partition"):
        assert sorted(part["offset"]) == list(range(len(part)))


def test_frame_from_pairs_equals_frame_from_rows(df, items):
    pd.testing.assert_frame_equal(history.events_frame(items), df)


def test_timestamps_are_the_original_ones(df, rows):
    assert df["timestamp"].iloc[0] == pd.Timestamp("2026-01-05T08:00:00Z")
    assert list(df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z") == [
        r["Timestamp"] for r in rows]


def test_empty_frame_gives_empty_answers():
    empty = history.events_frame([])
    assert list(empty.columns) == history.COLUMNS
    assert history.balances_at(empty).empty
    assert history.balances_at(empty).dtype == "int64"
    assert history.movements(empty).empty
    assert history.balances_at_many(empty, ["2026-01-10"]).shape == (1, 0)


# --- movements and balances --------------------------------------------------------------------
def test_movements_split_transfers_into_two_legs(df):
    mv = history.movements(df)
    transfers = (df["type"] == "TransferEvent").sum()
    moving = (df["type"] != "CreateEvent").sum()
    assert len(mv) == moving + transfers
    assert mv["delta"].dtype == "int64"
    legs = mv[mv["type"] == "TransferEvent"]
    assert legs["delta"].sum() == 0  # a transfer moves money, it does not make any
    assert set(mv["kind"]) == {"deposit", "withdrawal", "transfer out", "transfer in"}


@pytest.mark.parametrize("when", MOMENTS)
def test_balances_at_equals_the_fold(df, items, when):
    expected = fold(e for e, t in items if t <= ms(when)).balances
    got = history.balances_at(df, when)
    assert got.dtype == "int64"
    assert got.to_dict() == expected
    assert got.to_dict() == history.balances_at_python(items, when)


def test_balances_at_is_inclusive_and_hides_later_accounts(df, items):
    opening = df[df["type"] == "CreateEvent"].iloc[-1]
    at = history.balances_at(df, opening["timestamp"])
    before = history.balances_at(df, opening["timestamp"] - pd.Timedelta(milliseconds=1))
    assert opening["account"] in at.index
    assert opening["account"] not in before.index
    assert len(at) == len(before) + 1


def test_balances_at_accepts_datetimes_and_naive_times_are_utc(df):
    aware = history.balances_at(df, datetime(2026, 1, 12, 9, tzinfo=timezone.utc))
    naive = history.balances_at(df, datetime(2026, 1, 12, 9))
    text = history.balances_at(df, "2026-01-12T10:00:00+01:00")
    stamp = history.balances_at(df, pd.Timestamp("2026-01-12 09:00", tz="UTC"))
    assert aware.equals(naive) and aware.equals(text) and aware.equals(stamp)


def test_balances_at_without_a_moment_is_the_final_fold(df, items):
    assert history.balances_at(df).to_dict() == fold(e for e, _ in items).balances


def test_balances_at_an_offset_is_what_a_consumer_at_those_positions_saw(df):
    positions = {0: 40, 1: 25, 2: 60}
    seen = df[[o < positions[p] for p, o in zip(df["partition"], df["offset"], strict=True)]]
    expected: dict[str, int] = {}
    for row in seen.itertuples():
        expected.setdefault(row.account, 0)
        if row.type == "DepositEvent":
            expected[row.account] += row.amount
        elif row.type == "WithdrawEvent":
            expected[row.account] -= row.amount
        elif row.type == "TransferEvent":
            expected[row.account] -= row.amount
            expected[row.target] = expected.get(row.target, 0) + row.amount
    assert history.balances_at(df, offset=positions).to_dict() == expected
    everything = history.balances_at(df, offset=10**9)
    assert everything.to_dict() == history.balances_at(df).to_dict()


def test_bad_moment_is_a_sentence(df):
    with pytest.raises(ValueError, match="not a moment in time"):
        history.balances_at(df, "next tuesday-ish")


def test_balances_at_many_agrees_with_balances_at(df):
    moments = list(pd.date_range("2026-01-04", "2026-02-18", periods=40, tz="UTC"))
    moments.reverse()  # any order: rows come back in the order asked
    table = history.balances_at_many(df, moments)
    assert table.shape[0] == 40
    assert list(table.index) == moments
    assert (table.dtypes == "Int64").all()
    for moment in moments:
        row = table.loc[moment].dropna().astype("int64")
        assert row.to_dict() == history.balances_at(df, moment).to_dict()


def test_balances_at_many_on_an_event_time_is_inclusive(df):
    stamp = df["timestamp"].iloc[len(df) // 2]
    table = history.balances_at_many(df, [stamp])
    assert table.iloc[0].dropna().to_dict() == history.balances_at(df, stamp).to_dict()


# --- one account -----------------------------------------------------------------------------
def test_statement_running_balance_ends_at_the_fold(df, items):
    final = fold(e for e, _ in items)
    for account_id in list(final.names)[:5]:
        table = history.statement(df, account_id)
        assert table["balance"].iloc[-1] == final.balances[account_id]
        assert table["amount"].sum() == final.balances[account_id]
        assert (table["balance"] >= 0).all()
        assert (table["balance"] == table["amount"].cumsum()).all()


def test_statement_describes_transfers_with_names(df):
    transfer = df[df["type"] == "TransferEvent"].iloc[0]
    names = history.account_names(df)
    source = history.statement(df, transfer["account"])
    target = history.statement(df, transfer["target"])
    assert f"transfer out to {names[transfer['target']]}" in set(source["description"])
    assert f"transfer in from {names[transfer['account']]}" in set(target["description"])
    assert {"deposit", "withdrawal"} <= set(source["description"]) | set(target["description"])


def test_balance_history_starts_at_zero_and_ends_at_the_fold(df, items):
    final = fold(e for e, _ in items)
    account_id = next(iter(final.names))
    line = history.balance_history(df, account_id)
    assert line.iloc[0] == 0
    assert line.iloc[-1] == final.balances[account_id]
    assert line.name == final.names[account_id]
    assert line.index.is_monotonic_increasing
    assert len(line) == len(history.statement(df, account_id)) + 1


def test_unknown_account_is_a_clear_error(df):
    with pytest.raises(AccountNotFound, match="no account"):
        history.statement(df, "not-an-account")
    with pytest.raises(AccountNotFound):
        history.balance_history(df, "not-an-account")


def test_accounts_lists_names_in_opening_order(df, items):
    table = history.accounts(df)
    created = [e for e, _ in items if isinstance(e, CreateEvent)]
    assert list(table.index) == [e.acc_id for e in created]
    assert list(table["name"]) == [e.acc_name for e in created]
    assert table["opened"].is_monotonic_increasing
