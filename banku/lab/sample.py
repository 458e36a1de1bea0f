"""A realistic sample event log, made reproducibly from a seed.

Six weeks of a small bank from Monday 2026-01-05 08:00 UTC: about fifty people and local
businesses open accounts during the first week, salaries arrive on paydays, cards are used all
day (mostly in business hours), and people pay each other and the shops. Every event is one a
`Bank` would accept: balances are tracked while generating, so nothing is ever overdrawn.

A row is the event in the wire format plus a ``Timestamp`` (ISO-8601 UTC with milliseconds),
because in Kafka time lives in the record timestamp, not in the JSON. Loading the file with
`load_file` writes each event with its original timestamp, so time travel in
`banku.history` shows January and February 2026, not the minute you loaded it.

Regenerate the committed file with::

    python -m banku.lab.sample --seed 7 --out banku/data/sample-events.jsonl
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from banku.defaults import LOAD_CHUNK
from banku.domain.events import (
    CreateEvent,
    DepositEvent,
    Event,
    TransferEvent,
    WithdrawEvent,
    format_ms,
    row_to_event,
    to_ms,
)
from banku.domain.events import parse_timestamp as parse_timestamp  # the rows' time format
from banku.errors import EventDecodeError

# Shipped inside the package (``banku/data``), so `banku load` works from any install.
DEFAULT_SAMPLE = Path(str(resources.files("banku") / "data" / "sample-events.jsonl"))
DEFAULT_SEED = 7
START = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)  # a Monday morning
DAYS = 42  # six weeks


PEOPLE = [
    "Adam Pahlevi", "Siti Rahmawati", "Budi Santoso", "Ayu Lestari", "Hiroshi Tanaka",
    "Yuki Sato", "Priya Sharma", "Arjun Patel", "Chinedu Okafor", "Amara Mensah",
    "Sofia García", "Mateo Fernández", "Lukas Müller", "Emma Schmidt", "Olga Ivanova",
    "Dmitri Volkov", "Fatima Haddad", "Omar Khalil", "Mei Chen", "Wei Zhang",
    "Liam O'Brien", "Chloé Dubois", "Lars Johansson", "Ingrid Andersen", "Kwame Asante",
    "Zainab Bello", "Tomás Silva", "Lucía Romero", "Aiko Nakamura", "Ngozi Eze",
    "Rahul Mehta", "Anika Kowalski", "Jonas Becker", "Freya Nilsson", "Marek Nowak",
    "Hana Kim", "Eitan Levi", "Leila Farahani", "Carlos Mendoza", "Thandiwe Dlamini",
    "Nguyen Thi Lan", "Ji-ho Park", "Giulia Rossi", "Mehmet Yılmaz", "Ioana Popescu",
    "Sean Murphy", "Aroha Ngata", "Kofi Boateng", "Elif Demir", "Pedro Alves",
    "Maya Goldberg", "Ravi Krishnan", "Sanne de Vries", "Astrid Berg", "Diego Herrera",
]
BUSINESSES = [
    "Kopi Senja Café", "Lindqvist Bakery", "Green Basket Grocers", "Northside Fitness",
    "Harbour Books", "Sakura Ramen Bar", "Metro Bike Repair", "Riverside Pharmacy",
    "Casa Verde Pizzeria", "Blue Door Hair Salon", "Pixel & Print Studio", "Bright Smile Dental",
]

# Relative activity by hour of day (UTC) and by weekday (Monday first): cards are used in
# business hours, at lunch most of all, a little in the evening, hardly at night.
HOUR_WEIGHTS = [1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 3, 6, 8, 9, 10,
                12, 12, 9, 8, 8, 9, 8, 6, 5, 4, 3, 2]
WEEKDAY_WEIGHTS = [1.0, 1.0, 1.0, 1.0, 1.1, 0.7, 0.4]
# Share of the events that are neither openings nor salaries.
KIND_WEIGHTS = {"withdraw": 0.62, "transfer": 0.28, "deposit": 0.10}
MONTHLY_PAYDAYS = ["2026-01-30"]  # the last working day of January
FORTNIGHTLY_PAYDAYS = ["2026-01-09", "2026-01-23", "2026-02-06"]  # every other Friday


# --- the generator ---------------------------------------------------------------------------
class _Account:
    def __init__(self, acc_id: str, name: str, business: bool, activity: float) -> None:
        self.id = acc_id
        self.name = name
        self.business = business
        self.activity = activity
        self.balance = 0


def _names(rng: random.Random, people: int, businesses: int) -> list[str]:
    """Distinct names; beyond the lists, first and last names are recombined."""
    chosen = rng.sample(PEOPLE, min(people, len(PEOPLE)))
    firsts = [n.split(" ", 1)[0] for n in PEOPLE]
    lasts = [n.split(" ", 1)[1] for n in PEOPLE]
    taken = set(chosen)
    while len(chosen) < people:
        name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
        if name not in taken:
            taken.add(name)
            chosen.append(name)
    shops = rng.sample(BUSINESSES, min(businesses, len(BUSINESSES)))
    shops += [f"Corner Shop No. {i + 1}" for i in range(businesses - len(shops))]
    return chosen + shops


def _random_times(rng: random.Random, count: int, ready_ms: list[int], end_ms: int) -> list[int]:
    """``count`` business-hours-weighted moments before ``end_ms``.

    ``ready_ms`` holds the moment each account got its first money: a moment is kept with a
    probability equal to the share of accounts ready by then, so the bank gets busier as
    accounts open instead of crowding the first few customers.
    """
    ready_ms = sorted(ready_ms)
    day0 = START.replace(hour=0)
    slots = [(d, h) for d in range(DAYS + 1) for h in range(24)]
    weights = [WEEKDAY_WEIGHTS[(day0 + timedelta(days=d)).weekday()] * HOUR_WEIGHTS[h]
               for d, h in slots]
    base = to_ms(day0)
    times: list[int] = []
    while len(times) < count:
        for d, h in rng.choices(slots, weights, k=count - len(times)):
            t = base + (d * 24 + h) * 3_600_000 + rng.randrange(3_600_000)
            share = bisect.bisect_left(ready_ms, t) / len(ready_ms)
            if t < end_ms and rng.random() < share:
                times.append(t)
    return times


def _card_amount(rng: random.Random, business: bool) -> int:
    """A card payment or a cash withdrawal, in cents (log-normal: many small, a few large)."""
    if not business and rng.random() < 0.12:
        return rng.choice([2000, 4000, 5000, 10000, 20000])  # cash machine
    median = 9000 if business else 1400
    return max(100, min(int(rng.lognormvariate(0, 0.9) * median), 400000))


def _transfer_amount(rng: random.Random, source: _Account, target: _Account) -> int:
    if source.business:
        return max(500, int(rng.lognormvariate(0, 0.8) * 25000))  # suppliers, refunds
    if target.business:
        return max(100, int(rng.lognormvariate(0, 0.7) * 2500))  # paying a shop
    return rng.choice([1000, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000, 25000])


def generate(seed: int = DEFAULT_SEED, accounts: int = 50, events: int = 30000) -> list[dict]:
    """Make the sample log: exactly ``events`` rows, the same rows for the same arguments.

    Each row is an event in the wire format plus its ``Timestamp``. Timestamps strictly
    increase, every account is opened (and given its opening deposit) before it is used, and
    no withdrawal or transfer is ever larger than the balance at that moment.
    """
    if accounts < 2:
        raise ValueError("The sample needs at least 2 accounts (transfers need two).")
    if events < 2 * accounts:
        raise ValueError(f"{accounts} accounts need at least {2 * accounts} events"
                         " (an opening and a first deposit each).")
    rng = random.Random(seed)
    n_business = max(1, accounts // 6)
    names = _names(rng, accounts - n_business, n_business)
    bank: list[_Account] = []
    for i, name in enumerate(names):
        business = i >= accounts - n_business
        acc_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        bank.append(_Account(acc_id, name, business, 1.0 if business else rng.uniform(0.4, 2.0)))
    rng.shuffle(bank)  # shops and people open in mixed order

    start_ms = to_ms(START)
    end_ms = to_ms(START + timedelta(days=DAYS))
    # (time, tie-break, kind, account, amount): the plan, resolved in time order below.
    plan: list[tuple[int, int, str, _Account | None, int]] = []
    opened: dict[str, int] = {}
    for i, acc in enumerate(bank):
        # Openings during the first working week, in branch hours (08:00-17:00).
        day = 0 if i == 0 else min(4, i * 5 // accounts)
        t = start_ms if i == 0 else (
            start_ms + day * 86_400_000 + rng.randrange(9 * 3_600_000))
        opened[acc.id] = t
        plan.append((t, 0, "open", acc, 0))
        # The opening deposit: the money brought over from the old mainframe.
        first = (rng.randrange(50_000, 400_000) if not acc.business
                 else rng.randrange(500_000, 2_500_000))
        plan.append((t + rng.randrange(60_000, 20 * 60_000), 1, "deposit", acc, first))
    # Salaries: early morning on paydays, monthly (last working day) or every other Friday.
    salaries: list[tuple[int, int, str, _Account | None, int]] = []
    for acc in bank:
        if acc.business:
            continue
        monthly = rng.random() < 0.5
        pay = rng.randrange(220_000, 750_000)
        paydays = MONTHLY_PAYDAYS if monthly else FORTNIGHTLY_PAYDAYS
        for date in paydays:
            at = to_ms(datetime.fromisoformat(date + "T06:00:00+00:00")) + rng.randrange(3_600_000)
            if at > opened[acc.id] + 20 * 60_000:
                salaries.append((at, 2, "deposit", acc, pay if monthly else pay // 2))
    salaries.sort(key=lambda p: p[0])
    plan += salaries[: max(0, events - len(plan))]
    ready_ms = [p[0] for p in plan if p[1] == 1]  # opening deposits
    plan += [(t, 3, "random", None, 0)
             for t in _random_times(rng, events - len(plan), ready_ms, end_ms)]
    plan.sort(key=lambda p: (p[0], p[1]))

    rows: list[dict] = []
    ready: list[_Account] = []  # opened and funded, in order
    funded: set[str] = set()
    weights: list[float] = []
    previous = start_ms - 1
    for t, _, kind, account, amount in plan:
        t = max(t, previous + 1)  # strictly increasing, never reordering the plan
        previous = t
        if kind == "open":
            assert account is not None
            wire: dict[str, Any] = CreateEvent(account.id, account.name).to_wire()
        elif kind == "deposit":
            assert account is not None
            account.balance += amount
            wire = DepositEvent(account.id, amount).to_wire()
            if account.id not in funded:
                funded.add(account.id)
                ready.append(account)
                weights.append(account.activity)
        else:
            wire = _random_event(rng, ready, weights)
        rows.append({"Timestamp": format_ms(t), **wire})
    return rows


def _random_event(rng: random.Random, ready: list[_Account],
                  weights: list[float]) -> dict[str, Any]:
    """One card payment, transfer or cash deposit that the balances allow."""
    kind = rng.choices(list(KIND_WEIGHTS), list(KIND_WEIGHTS.values()))[0]
    if len(ready) < 2 and kind == "transfer":
        kind = "withdraw"
    for _attempt in range(6):  # a declined card is not an event: try someone else
        acc = rng.choices(ready, weights)[0]
        if kind == "withdraw":
            amount = _card_amount(rng, acc.business)
            if amount <= acc.balance:
                acc.balance -= amount
                return WithdrawEvent(acc.id, amount).to_wire()
        elif kind == "transfer":
            if acc.business or rng.random() < 0.45:
                target = rng.choice([a for a in ready if a is not acc])
            else:
                shops = [a for a in ready if a.business and a is not acc]
                target = rng.choice(shops or [a for a in ready if a is not acc])
            amount = _transfer_amount(rng, acc, target)
            if amount <= acc.balance:
                acc.balance -= amount
                target.balance += amount
                return TransferEvent(acc.id, target.id, amount).to_wire()
        else:
            break
    # A cash deposit (or the day's takings, for a shop) when nothing else fits.
    acc = rng.choices(ready, weights)[0]
    amount = max(500, int(rng.lognormvariate(0, 0.8) * (40000 if acc.business else 6000)))
    acc.balance += amount
    return DepositEvent(acc.id, amount).to_wire()


# --- files -----------------------------------------------------------------------------------
def write(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write rows as JSON Lines (one compact object per line, UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n")
    return path


def read(path: str | Path = DEFAULT_SAMPLE) -> list[tuple[Event, int]]:
    """Read a JSON Lines log into (event, timestamp_ms) pairs; a bad line stops with its number."""
    items: list[tuple[Event, int]] = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
                items.append(row_to_event(row))
            except (ValueError, EventDecodeError) as exc:
                raise ValueError(f"{path}, line {number}: {exc}") from None
    return items


def load_file(bank: Any, path: str | Path = DEFAULT_SAMPLE, progress: bool = False) -> int:
    """Check and write every event of a log file with its original timestamp; returns the count.

    Events go through `Bank.load`, so they are checked like commands and written in batches
    (one acknowledgement wait per chunk, not per event). Loading the same file twice into one
    topic is refused at the first event, because its account already exists.
    """
    items = read(path)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), unit="event", desc=f"loading {Path(path).name}")
    written = 0
    try:
        for start in range(0, len(items), LOAD_CHUNK):
            written += len(bank.load(items[start:start + LOAD_CHUNK]))
            if bar is not None:
                bar.update(min(LOAD_CHUNK, len(items) - start))
    finally:
        if bar is not None:
            bar.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m banku.lab.sample", description="Regenerate the sample event log.")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--events", type=int, default=30000)
    parser.add_argument("--out", default=str(DEFAULT_SAMPLE))
    args = parser.parse_args(argv)
    rows = generate(args.seed, args.accounts, args.events)
    path = write(args.out, rows)
    print(f"Wrote {len(rows)} events to {path} ({path.stat().st_size / 1e6:.1f} MB).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
