"""Checks for notebook 03 (time travel with pandas): balances at a moment, one account's
history, and the bank's best day, each written by the learner with pandas.

Every check runs the learner's function on a small log made here (three accounts, a transfer,
an event stamped exactly at the moment asked about, an account opened later) and, when given
the notebook's DataFrame, on the recorded six weeks too. The right answers come from plain
Python loops over the events, never from `banku.history`, which the notebook shows afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from banku import history
from banku.domain.events import CreateEvent, DepositEvent, Event, TransferEvent, WithdrawEvent
from banku.lessons.checks import NotYet, check, proven

__all__ = ["check_balance_history", "check_balances_at", "check_best_day", "small_log"]

ADA, BEN, CAL = ("00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b",
                 "00000000-0000-4000-8000-00000000000c")
NAMES = {ADA: "Ada", BEN: "Ben", CAL: "Cal"}


def _ms(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


# The small log: (event, when). Two days; a transfer at exactly 12:00 on the first one.
_SMALL: list[tuple[Event, str]] = [
    (CreateEvent(ADA, "Ada"), "2026-03-02 09:00"),
    (DepositEvent(ADA, 10_000), "2026-03-02 09:05"),
    (CreateEvent(BEN, "Ben"), "2026-03-02 10:00"),
    (DepositEvent(BEN, 2_000), "2026-03-02 10:30"),
    (TransferEvent(ADA, BEN, 3_000), "2026-03-02 12:00"),
    (WithdrawEvent(BEN, 500), "2026-03-02 15:00"),
    (CreateEvent(CAL, "Cal"), "2026-03-03 08:00"),
    (DepositEvent(CAL, 700), "2026-03-03 08:30"),
    (TransferEvent(BEN, CAL, 1_200), "2026-03-03 09:00"),
    (WithdrawEvent(ADA, 1_500), "2026-03-03 11:00"),
    (DepositEvent(BEN, 4_000), "2026-03-03 16:00"),
]
MOMENTS = ["2026-03-02 12:00", "2026-03-02 11:59", "2026-03-02 23:59:59.999",
           "2026-03-03 10:00", "2026-03-03 23:00"]


def small_log() -> pd.DataFrame:
    """The check's own log as a DataFrame with the columns of `history.load_events`."""
    return history.events_frame([(event, _ms(when)) for event, when in _SMALL])


# --- the right answers, by plain loops ---------------------------------------------------------
def _effects(row: Any, transfers_in: bool = True, transfers_out: bool = True,
             withdraw_sign: int = -1) -> list[tuple[str, int]]:
    """(account, signed cents) for one event row: what it does to each balance."""
    kind, amount = str(row.type), int(row.amount)
    if kind == "CreateEvent":
        return [(row.account, 0)]
    if kind == "DepositEvent":
        return [(row.account, amount)]
    if kind == "WithdrawEvent":
        return [(row.account, withdraw_sign * amount)]
    out = [(row.account, -amount if transfers_out else 0)]
    return out + ([(row.target, amount)] if transfers_in else [])


def _fold(df: pd.DataFrame, when: str | None, strict: bool = False, **mistake: Any) -> dict:
    limit = None if when is None else history.as_utc(when)
    balances: dict[str, int] = {}
    for row in df.itertuples():
        if limit is not None and (row.timestamp >= limit if strict else row.timestamp > limit):
            continue
        for account, change in _effects(row, **mistake):
            balances[account] = balances.get(account, 0) + change
    return balances


def _as_dict(result: Any, what: str) -> dict[str, int]:
    if not isinstance(result, pd.Series):
        raise NotYet(f"{what} returned {type(result).__name__}, not a pandas Series.",
                     "end with a Series indexed by account id, e.g. the result of a groupby(...)"
                     ".sum().")
    if not pd.api.types.is_integer_dtype(result.dtype):
        raise NotYet(f"The balances are {result.dtype}, not integers.",
                     "money stays in integer cents: keep the int64 amounts (no division, no"
                     " float), or finish with .astype('int64').")
    return {str(k): int(v) for k, v in result.items()}


def _label(balances: dict[str, int]) -> str:
    return ", ".join(f"{NAMES.get(a, a[:8])} {b}" for a, b in sorted(
        balances.items(), key=lambda item: NAMES.get(item[0], item[0])))


@check("Start with a boolean mask on df['timestamp'], then a group-by on the account; decide"
       " what sign each event type gets, and remember who receives a transfer.")
def check_balances_at(balances_at: Callable[[pd.DataFrame, str], pd.Series],
                      df: pd.DataFrame | None = None) -> bool:
    """`balances_at(df, when)`: every opened account's balance (int cents) at a moment."""
    small = small_log()
    for when in MOMENTS:
        right = _fold(small, when)
        got = _as_dict(balances_at(small, when), "balances_at")
        if got == right:
            continue
        if got == _fold(small, when, strict=True):
            raise NotYet(f"At {when} the transfer stamped exactly then is missing.",
                         "'at a moment' includes that moment: compare with <=, not <.")
        if got == _fold(small, when, transfers_in=False):
            raise NotYet(f"At {when} Ben lacks the 3000 cents Ada sent him.",
                         "a TransferEvent is one row but two movements: minus for its account,"
                         " plus for its target. Group the transfers by 'target' and add them.")
        if got == _fold(small, when, transfers_out=False):
            raise NotYet(f"At {when} Ada still has the 3000 cents she sent to Ben.",
                         "a transfer takes its amount out of the source account (AccId).")
        if got == _fold(small, when, withdraw_sign=1):
            raise NotYet(f"At {when} a withdrawal made a balance grow.",
                         "withdrawals and transfers out count negative, deposits positive.")
        missing = sorted(set(right) - set(got))
        if missing:
            raise NotYet(f"At {when} {', '.join(NAMES.get(a, a) for a in missing)} is missing.",
                         "every account opened by then is in the result, even at 0: keep the"
                         " CreateEvent rows (their amount is 0) in the group-by.")
        extra = sorted(set(got) - set(right))
        if extra:
            raise NotYet(f"At {when} {', '.join(NAMES.get(a, a) for a in extra)} appears,"
                         " but was opened later.",
                         "only rows stamped at or before the moment count.")
        raise NotYet(f"At {when} the balances should be {_label(right)}; yours are"
                     f" {_label(got)}.",
                     "check each event type's sign, and that transfers credit their target.")
    if df is not None:
        for when in ("2026-01-20 12:00", "2026-02-16 00:00"):
            if _as_dict(balances_at(df, when), "balances_at") != _fold(df, when):
                raise NotYet(f"Right on the small log, but not on the recorded one at {when}.",
                             "compare timestamps with a moment in UTC, e.g."
                             " pd.Timestamp(when, tz='UTC').")
    return proven("balances_at gives every account's balance at any moment, transfers both"
                  " ways, the moment itself included.")


def _history_right(df: pd.DataFrame, account: str) -> list[tuple[pd.Timestamp, int]]:
    balance, points = 0, []
    for row in df.itertuples():
        changes = [c for a, c in _effects(row) if a == account]
        if not changes:
            continue
        balance += sum(changes)
        points.append((row.timestamp, balance))
    return points


@check("Which rows touch the account? Not only those where it is the 'account'. A running"
       " total of signed amounts is what cumsum() gives.")
def check_balance_history(balance_history: Callable[[pd.DataFrame, str], pd.Series],
                          df: pd.DataFrame | None = None) -> bool:
    """`balance_history(df, account)`: the balance after each of the account's events."""
    small = small_log()
    for account in (ADA, BEN, CAL):
        name = NAMES[account]
        right = _history_right(small, account)
        got = balance_history(small, account)
        if not isinstance(got, pd.Series):
            raise NotYet(f"balance_history returned {type(got).__name__}, not a Series.",
                         "return a Series of balances indexed by timestamp.")
        values = [int(v) for v in got.to_numpy()]
        want = [b for _, b in right]
        if values != want:
            steps = [b - a for a, b in zip([0, *want], want, strict=False)]
            if values == steps:
                raise NotYet(f"{name}'s values are the single movements, not the balances.",
                             "a balance is the running total of the movements: .cumsum().")
            if values == want[1:]:
                raise NotYet(f"{name}'s history misses its first point, the opening at 0.",
                             "keep the account's CreateEvent row: its amount counts as 0.")
            if len(values) < len(want):
                raise NotYet(f"{name} has {len(values)} points, not {len(want)}.",
                             "transfers *to* the account belong to its history too: select"
                             " rows where it is the 'account' or the 'target'.")
            raise NotYet(f"{name}'s balances should be {want}; yours are {values}.",
                         "money in is positive, out negative; a transfer is negative for its"
                         " source and positive for its target.")
        stamps = list(pd.DatetimeIndex(got.index))
        if stamps != [t for t, _ in right]:
            raise NotYet(f"{name}'s balances are right but not indexed by the events' times.",
                         "index the Series by the rows' 'timestamp' (set_index, or"
                         " pd.Series(values, index=...)).")
    if df is not None:
        account = str(df["account"].iloc[0])
        got = balance_history(df, account)
        if [int(v) for v in got.to_numpy()] != [b for _, b in _history_right(df, account)]:
            raise NotYet("Right on the small log, but not on the recorded one.",
                         "keep the rows in the order of the DataFrame (time order).")
    return proven("balance_history draws an account's life: its opening, then its balance after"
                  " every movement, in and out.")


def _best_day_right(df: pd.DataFrame, transfers_count: bool = False,
                    cumulative: bool = True) -> tuple[str, int]:
    total, per_day = 0, {}
    for row in df.itertuples():
        kind, amount = str(row.type), int(row.amount)
        day = row.timestamp.strftime("%Y-%m-%d")
        if not cumulative and day not in per_day:
            total = 0
        total += {"DepositEvent": amount, "WithdrawEvent": -amount}.get(kind, 0)
        if transfers_count and kind == "TransferEvent":
            total -= amount
        per_day[day] = total
    day, cents = max(per_day.items(), key=lambda item: item[1])
    return day, cents


def _day_text(day: Any) -> str:
    try:
        return pd.Timestamp(day).strftime("%Y-%m-%d")
    except (ValueError, TypeError):
        return str(day)


@check("Which event types change the bank's total? Sum their effect per day"
       " (df['timestamp'].dt.date), then ask what 'at the end of a day' includes.")
def check_best_day(best_day: Callable[[pd.DataFrame], tuple[Any, int]],
                   df: pd.DataFrame | None = None) -> bool:
    """`best_day(df)`: (day, cents), the day whose end saw the most money in the bank."""
    logs = [("the check's small log", small_log())]
    if df is not None:
        logs.append(("the recorded log", df))
    for where, log in logs:
        right = _best_day_right(log)
        answer = best_day(log)
        try:
            day, cents = answer
        except (TypeError, ValueError):
            raise NotYet(f"best_day returned {answer!r}.",
                         "return a pair: (the day, the cents), e.g. ('2026-03-03', 12345)."
                         ) from None
        got = (_day_text(day), int(cents))
        if got == right:
            continue
        if got == _best_day_right(log, transfers_count=True):
            raise NotYet(f"On {where} your total drops with every transfer.",
                         "a transfer moves money between two accounts of the bank: the"
                         " bank's total does not change.")
        if got == _best_day_right(log, cumulative=False):
            raise NotYet(f"On {where} you found the day with the most money *coming in*.",
                         "the money at the end of a day is everything deposited minus"
                         " everything withdrawn up to then: a .cumsum() over the days.")
        raise NotYet(f"On {where} the answer is not ({got[0]}, {got[1]}).",
                     "sum each day's deposits minus withdrawals, cumsum over the days in"
                     " order, and take the largest.")
    return proven("best_day finds the end of day with the most money in the bank, from the"
                  " deposits and withdrawals alone.")
