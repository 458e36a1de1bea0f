"""Time travel with pandas: the log is the history, so any past balance can be recomputed.

The Redis view only knows *now*. The topic knows every moment: load it into a DataFrame once
(`load_events`) and ask what the balances were last Tuesday at noon (`balances_at`), how one
account moved (`balance_history`, `statement`), or the balances at a hundred moments at once
(`balances_at_many`).

Everything here is vectorised: one filter and one group-by instead of a Python loop per event.
`balances_at_python` is the plain loop, kept as a reference to compare answers and speed.

Money stays an integer (int64 cents) all the way through; nothing here becomes a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from kafka.errors import KafkaError

from banku.adapters.kafka.clients import kafka_partition, make_reader, partitions_of, read_to_end
from banku.config import PARTITIONS, Settings
from banku.domain.events import CreateEvent, Event, TransferEvent, decode, row_to_event
from banku.domain.ledger import Ledger
from banku.errors import AccountNotFound, EventDecodeError, ServiceUnavailable

COLUMNS = ["timestamp", "partition", "offset", "type", "account", "target", "amount", "name"]
MOVEMENT_COLUMNS = ["timestamp", "partition", "offset", "type", "kind", "account", "delta",
                    "counterparty"]
TYPES = ["CreateEvent", "DepositEvent", "WithdrawEvent", "TransferEvent"]
KINDS = ["deposit", "withdrawal", "transfer out", "transfer in"]
Moment: TypeAlias = str | datetime | pd.Timestamp

_TYPE_CODE = {name: code for code, name in enumerate(TYPES)}


class _Columns:
    """Column lists filled one event at a time: appending to lists is cheap, to a DataFrame not."""

    def __init__(self) -> None:
        self.timestamp: list[int] = []
        self.partition: list[int] = []
        self.offset: list[int] = []
        self.type: list[int] = []
        self.account: list[str] = []
        self.target: list[str | None] = []
        self.amount: list[int] = []
        self.name: list[str | None] = []
        # One string object per account id: a million rows share fifty strings, which saves
        # memory and makes grouping by account faster (equal ids are then the same object).
        self._ids: dict[str, str] = {}

    def add(self, event: Event, timestamp_ms: int, partition: int, offset: int) -> None:
        ids = self._ids
        self.timestamp.append(timestamp_ms)
        self.partition.append(partition)
        self.offset.append(offset)
        self.account.append(ids.setdefault(event.acc_id, event.acc_id))
        if isinstance(event, CreateEvent):
            self.type.append(0)
            self.target.append(None)
            self.amount.append(0)
            self.name.append(event.acc_name)
            return
        self.type.append(_TYPE_CODE[type(event).__name__])
        if isinstance(event, TransferEvent):
            self.target.append(ids.setdefault(event.target_id, event.target_id))
        else:
            self.target.append(None)
        self.amount.append(event.amount)
        self.name.append(None)

    def frame(self) -> pd.DataFrame:
        timestamp = np.asarray(self.timestamp, dtype="int64")
        partition = np.asarray(self.partition, dtype="int64")
        offset = np.asarray(self.offset, dtype="int64")
        # Sort by time; records with the same millisecond keep their order in the log.
        order = np.lexsort((offset, partition, timestamp))

        def strings(values: list) -> pd.Series:
            # Plain Python strings (object dtype), so a missing target or name stays None.
            return pd.Series(np.asarray(values, dtype=object)[order], dtype=object)

        return pd.DataFrame({
            "timestamp": pd.to_datetime(timestamp[order], unit="ms", utc=True),
            "partition": partition[order],
            "offset": offset[order],
            "type": pd.Categorical.from_codes(np.asarray(self.type, dtype="int8")[order], TYPES),
            "account": strings(self.account),
            "target": strings(self.target),
            "amount": np.asarray(self.amount, dtype="int64")[order],
            "name": strings(self.name),
        })


# --- loading ---------------------------------------------------------------------------------
def load_events(
    settings: Settings, topic: str | None = None, progress: bool = False
) -> pd.DataFrame:
    """Read the whole topic, from offset 0 to the end offsets, into one DataFrame.

    The reader has no consumer group, so it commits nothing and disturbs no projector. Records
    that are not valid events are skipped (the projector sends them to the dead-letter topic).
    Columns: timestamp (UTC, from the Kafka record), partition, offset, type, account, target
    (transfers only), amount (int64 cents, 0 for a CreateEvent), name (CreateEvent only);
    rows sorted by timestamp, then partition and offset.
    """
    topic = topic or settings.topic_name
    columns = _Columns()
    reader = make_reader(settings)
    bar = None
    try:
        if topic not in reader.topics():
            return columns.frame()  # nothing was ever written to it
        if progress:
            from tqdm.auto import tqdm

            ends = reader.end_offsets(partitions_of(reader, topic))
            bar = tqdm(total=sum(ends.values()), unit="record", desc=f"reading {topic}")
        positions: dict[int, int] = {}
        add = columns.add
        for records in read_to_end(reader, positions, topic):
            for record in records:
                try:
                    event = decode(record.value)
                except EventDecodeError:
                    continue
                add(event, record.timestamp, record.partition, record.offset)
            if bar is not None:
                bar.update(len(records))
    except KafkaError as exc:
        raise ServiceUnavailable(
            f"Could not read {topic} from Kafka ({type(exc).__name__}). Is the stack up"
            " (`banku stack status`)?"
        ) from None
    finally:
        if bar is not None:
            bar.close()
        reader.close()
    return columns.frame()


def events_frame(rows: Iterable[Mapping[str, Any] | tuple[Event, int]],
                 partitions: int = PARTITIONS) -> pd.DataFrame:
    """The same frame as `load_events`, built from sample rows or (event, timestamp_ms) pairs.

    No Kafka is involved: partition is the one Kafka's default partitioner picks for the key
    (the account id), and offset counts within each partition in the order given, which is
    what a fresh topic would hold after loading the rows in that order.
    """
    columns = _Columns()
    partition_of: dict[str, int] = {}
    next_offset = [0] * partitions
    for row in rows:
        event, timestamp_ms = row_to_event(row) if isinstance(row, Mapping) else row
        partition = partition_of.get(event.acc_id)
        if partition is None:
            partition = kafka_partition(event.acc_id.encode(), partitions)
            partition_of[event.acc_id] = partition
        columns.add(event, timestamp_ms, partition, next_offset[partition])
        next_offset[partition] += 1
    return columns.frame()


# --- moments ---------------------------------------------------------------------------------
def _ns(times: pd.Series | pd.Index) -> np.ndarray:
    """UTC times as int64 nanoseconds since the epoch (for sorting and binary search)."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def as_utc(when: Moment) -> pd.Timestamp:
    """A moment as a UTC pandas Timestamp; a time without a zone is taken to be UTC."""
    try:
        moment = pd.Timestamp(when)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{when!r} is not a moment in time ({exc}); try '2026-01-20 12:00'."
        ) from None
    if moment is pd.NaT:
        raise ValueError(f"{when!r} is not a moment in time; try '2026-01-20 12:00'.")
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def _selected(df: pd.DataFrame, when: Moment | None,
              offset: int | Mapping[int, int] | None) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    if when is not None:
        mask &= (df["timestamp"] <= as_utc(when)).to_numpy()
    if offset is not None:
        if isinstance(offset, Mapping):
            limits = df["partition"].map(dict(offset)).fillna(0).to_numpy(dtype="int64")
        else:
            limits = np.full(len(df), offset)
        mask &= df["offset"].to_numpy() < limits
    return df[mask]


# --- accounts ----------------------------------------------------------------------------------
def accounts(df: pd.DataFrame) -> pd.DataFrame:
    """Every account opened in the log: id (the index), name and when it was opened."""
    created = df[df["type"] == "CreateEvent"].drop_duplicates("account")
    table = created[["account", "name", "timestamp"]].rename(columns={"timestamp": "opened"})
    return table.set_index("account")


def account_names(df: pd.DataFrame) -> pd.Series:
    """Account id -> name, to label balances: ``balances.rename(account_names(df))``."""
    return accounts(df)["name"]


def _check_account(df: pd.DataFrame, account_id: str) -> str:
    """The account's name; a sentence instead of an empty result when the id is unknown."""
    names = account_names(df)
    if account_id in names.index:
        return str(names[account_id])
    if (df["account"] == account_id).any() or (df["target"] == account_id).any():
        return account_id  # it moved money but was never opened here (a foreign producer)
    raise AccountNotFound(f"There is no account {account_id!r} in this log.")


# --- movements -----------------------------------------------------------------------------
def _is(df: pd.DataFrame, kind: str) -> np.ndarray:
    """A boolean mask of one event type (compares small category codes, not strings)."""
    return (df["type"] == kind).to_numpy()


def _signed(df: pd.DataFrame) -> np.ndarray:
    """Each event's effect on its own account (AccId): money out is negative, a create is 0."""
    amount = df["amount"].to_numpy()
    out = _is(df, "WithdrawEvent") | _is(df, "TransferEvent")
    return np.where(out, -amount, amount).astype("int64")


def _strings(column: pd.Series) -> pd.Series:
    """Ids as plain Python strings (object dtype, None when missing), like `load_events`."""
    return pd.Series(column.to_numpy(), dtype=object)


def movements(df: pd.DataFrame) -> pd.DataFrame:
    """One row per balance change: a transfer is two rows (out of the source, into the target).

    ``delta`` is signed int64 cents. Built with whole-column operations: no loop per event.
    """
    moving = df[~_is(df, "CreateEvent")]
    transfer = _is(moving, "TransferEvent")
    legs = moving[["timestamp", "partition", "offset", "type", "account"]].reset_index(drop=True)
    kind_code = moving["type"].cat.codes.to_numpy() - 1  # deposit 0, withdrawal 1, out 2
    legs["kind"] = pd.Categorical.from_codes(kind_code, KINDS)
    legs["delta"] = _signed(moving)
    legs["counterparty"] = _strings(moving["target"])
    legs["leg"] = 0
    transfers = moving[transfer]
    incoming = transfers[["timestamp", "partition", "offset", "type"]].reset_index(drop=True)
    incoming["account"] = _strings(transfers["target"])
    incoming["kind"] = pd.Categorical.from_codes(np.full(len(transfers), 3), KINDS)
    incoming["delta"] = transfers["amount"].to_numpy()
    incoming["counterparty"] = _strings(transfers["account"])
    incoming["leg"] = 1
    both = pd.concat([legs, incoming], ignore_index=True)
    # In time order; a transfer's two legs stay together, the money leaves before it arrives.
    order = np.lexsort((both["leg"].to_numpy(), both["offset"].to_numpy(),
                        both["partition"].to_numpy(), _ns(both["timestamp"])))
    both = both.iloc[order].reset_index(drop=True)
    both["delta"] = both["delta"].astype("int64")
    return both[MOVEMENT_COLUMNS]


def _touching(df: pd.DataFrame, account_id: str) -> pd.DataFrame:
    """Only the events that involve one account (as AccId or as TargetId)."""
    return df[((df["account"] == account_id) | (df["target"] == account_id)).to_numpy()]


# --- balances --------------------------------------------------------------------------------
def balances_at(df: pd.DataFrame, when: Moment | None = None,
                offset: int | Mapping[int, int] | None = None) -> pd.Series:
    """Every account's balance (int64 cents, indexed by account id) as of a moment.

    ``when`` is inclusive: events stamped exactly then count. ``offset`` selects by log
    position instead, the way a consumer stores it: the next offset to read, so records *below*
    it count (one int for every partition, or {partition: offset}). Accounts opened later are
    not in the result. It is one filter and one group-by over the whole frame.
    """
    chosen = _selected(df, when, offset)
    incoming = _is(chosen, "TransferEvent")
    # Each account's own events (a CreateEvent adds 0), then the money transfers brought in.
    keys = np.concatenate([chosen["account"].to_numpy(), chosen["target"].to_numpy()[incoming]])
    values = np.concatenate([_signed(chosen), chosen["amount"].to_numpy()[incoming]])
    balances = pd.Series(values, dtype="int64").groupby(keys, sort=False).sum()
    balances.index.name = "account"
    return balances.astype("int64").rename("balance")


def balances_at_many(df: pd.DataFrame, moments: Iterable[Moment]) -> pd.DataFrame:
    """Balances of every account at each of many moments: rows are moments, columns accounts.

    The trick: a balance change counts at every moment at or after it. Find, for each change,
    the first such moment (one binary search), add it into that (moment, account) cell, and a
    cumulative sum down the moments gives every balance. That is one pass over the events and
    one over the small moments x accounts table, instead of one pass over the events per
    moment. Before an account is opened its cell is <NA> (nullable Int64: still integers).
    """
    stamps = pd.DatetimeIndex([as_utc(m) for m in moments], dtype="datetime64[ns, UTC]",
                              name="moment")
    by_time = np.argsort(stamps.asi8, kind="stable")
    sorted_times = stamps.asi8[by_time]

    # Number the accounts 0..n-1, in the order they first appear.
    incoming = _is(df, "TransferEvent")
    codes, ids = pd.factorize(df["account"].to_numpy())
    ids = pd.Index(ids, name="account")
    targets = df["target"].to_numpy()[incoming]
    target_codes = ids.get_indexer(targets)
    if (target_codes < 0).any():  # money sent to an account that never wrote an event itself
        ids = ids.append(pd.Index(pd.unique(targets[target_codes < 0])))
        target_codes = ids.get_indexer(targets)
    n = len(ids)

    # Every balance change: (time, account number, signed cents).
    times = _ns(df["timestamp"])
    change_time = np.concatenate([times, times[incoming]])
    change_account = np.concatenate([codes, target_codes])
    change = np.concatenate([_signed(df), df["amount"].to_numpy()[incoming]])

    first_moment = np.searchsorted(sorted_times, change_time, side="left")
    cells = np.zeros((len(sorted_times) + 1, n), dtype="int64")  # last row: after all moments
    np.add.at(cells.reshape(-1), first_moment * n + change_account, change)
    totals = np.cumsum(cells[:-1], axis=0)

    # An account exists from its first event (its CreateEvent, in a log the Bank wrote).
    appears = np.full(n, np.iinfo("int64").max)
    np.minimum.at(appears, change_account, change_time)
    exists = sorted_times[:, None] >= appears[None, :]

    table = pd.DataFrame(totals, columns=ids).astype("Int64").where(exists)
    unsorted = np.empty_like(by_time)
    unsorted[by_time] = np.arange(len(by_time))
    table = table.iloc[unsorted]  # back to the order the moments were given in
    table.index = stamps
    return table


def balance_history(df: pd.DataFrame, account_id: str) -> pd.Series:
    """One account's balance after each of its movements, indexed by time: its life as a chart.

    The first point is the opening (balance 0). Plot it as steps, since a balance holds until
    the next movement: ``balance_history(df, acc).plot(drawstyle="steps-post")``.
    """
    name = _check_account(df, account_id)
    mine = _touching(df, account_id)
    mv = movements(mine)
    own = mv[(mv["account"] == account_id).to_numpy()]
    stamps = own["timestamp"]
    deltas = own["delta"].to_numpy()
    opened = mine[_is(mine, "CreateEvent") & (mine["account"] == account_id).to_numpy()]
    if len(opened):
        stamps = pd.concat([opened["timestamp"].iloc[:1], stamps])
        deltas = np.concatenate([np.zeros(1, dtype="int64"), deltas])
    index = pd.DatetimeIndex(stamps, name="timestamp")
    return pd.Series(np.cumsum(deltas, dtype="int64"), index=index, name=name)


def statement(df: pd.DataFrame, account_id: str) -> pd.DataFrame:
    """A bank statement: every movement of one account, described, with the running balance."""
    _check_account(df, account_id)
    mv = movements(_touching(df, account_id))
    own = mv[(mv["account"] == account_id).to_numpy()].reset_index(drop=True)
    counterparty = own["counterparty"]
    other = counterparty.map(account_names(df)).fillna(counterparty).fillna("").astype(str)
    kind = own["kind"].astype(str)
    description = kind.where(kind != "transfer in", "transfer in from " + other)
    description = description.where(kind != "transfer out", "transfer out to " + other)
    table = own[["timestamp"]].copy()
    table["description"] = description
    table["amount"] = own["delta"]
    table["balance"] = own["delta"].cumsum().astype("int64")
    table["partition"] = own["partition"]
    table["offset"] = own["offset"]
    return table


# --- the plain-Python reference --------------------------------------------------------------
def balances_at_python(events: Iterable[tuple[Event, int]], when: Moment) -> dict[str, int]:
    """The same answer as `balances_at`, by folding events one at a time (slow, obvious, right).

    ``events`` are (event, timestamp_ms) pairs, e.g. from `banku.lab.sample.read`.
    """
    limit = as_utc(when).value // 1_000_000  # nanoseconds -> milliseconds
    ledger = Ledger.empty()
    for event, timestamp_ms in events:
        if timestamp_ms <= limit:
            ledger.apply(event)
    return ledger.balances
