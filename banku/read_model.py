"""The read model: one Redis hash per account, as the Go original kept it.

``HGETALL <id>`` shows ``Id``, ``Name`` and ``Balance``. Beside the accounts, each namespace keeps:

* ``banku:positions`` — hash partition -> next offset to apply (the projector's bookmark),
* ``banku:accounts``  — set of account ids (to list and to wipe the view),
* ``banku:stats``     — hash with ``applied`` and ``dead_letters`` counters.

The balance changes of a batch and the new positions are written by one Lua script, which Redis
runs atomically: either the whole batch and its bookmark are in Redis, or neither is. That is
what turns Kafka's at-least-once delivery into exactly-once effects.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlparse

import redis

from .config import Settings
from .errors import ServiceUnavailable
from .events import CreateEvent, Event, balance_changes
from .model import BankAccount

# KEYS: positions, accounts, stats. ARGV: prefix, then counted groups (see `apply_batch`).
# Returns {1} when applied, {0, partition, stored} when a partition's stored position is not the
# one the caller expected (another projector got there first): nothing is written then.
_APPLY_BATCH = """
local prefix = ARGV[1]
local i = 2
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local p, expected = ARGV[i], ARGV[i + 1]
  local stored = redis.call('HGET', KEYS[1], p)
  if (stored or '-1') ~= expected then
    return {0, p, stored or '-1'}
  end
  i = i + 3
end
i = 2
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  i = i + 3
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local id, name = ARGV[i], ARGV[i + 1]
  redis.call('HSET', prefix .. id, 'Id', id, 'Name', name)
  redis.call('HSETNX', prefix .. id, 'Balance', '0')
  redis.call('SADD', KEYS[2], id)
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local id = ARGV[i]
  redis.call('HINCRBY', prefix .. id, 'Balance', ARGV[i + 1])
  redis.call('SADD', KEYS[2], id)
  i = i + 2
end
redis.call('HINCRBY', KEYS[3], 'applied', ARGV[i])
redis.call('HINCRBY', KEYS[3], 'dead_letters', ARGV[i + 1])
return {1}
"""

_WIPE = """
local prefix = ARGV[1]
local ids = redis.call('SMEMBERS', KEYS[2])
for _, id in ipairs(ids) do
  redis.call('DEL', prefix .. id)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return #ids
"""


@dataclass
class Batch:
    """What one batch of records does to the view (built by the projector)."""

    # partition -> (position expected in Redis or -1 for none, next position after this batch)
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)
    creates: dict[str, str] = field(default_factory=dict)
    deltas: dict[str, int] = field(default_factory=dict)
    applied: int = 0
    dead_letters: int = 0

    def add(self, event: Event) -> None:
        """Fold one event into the batch: many events on one account become one HINCRBY."""
        if isinstance(event, CreateEvent):
            self.creates[event.acc_id] = event.acc_name
        deltas = self.deltas
        for account_id, amount in balance_changes(event):
            deltas[account_id] = deltas.get(account_id, 0) + amount
        self.applied += 1


class PositionConflict(Exception):
    """Another projector already moved this partition's bookmark; reload and seek."""


def redis_down(settings: Settings, exc: BaseException | None = None) -> ServiceUnavailable:
    reason = f" ({exc})" if exc else ""
    return ServiceUnavailable(
        f"Redis does not answer at {settings.redis_location()}{reason}. Start it with"
        " `banku stack up`, or check REDIS_URL."
    )


def redis_login_refused(settings: Settings, exc: BaseException) -> ServiceUnavailable:
    if not urlparse(settings.redis_url).password:
        return ServiceUnavailable(
            f"Redis at {settings.redis_location()} requires a password: put it in REDIS_URL"
            " as redis://:PASSWORD@host:port/0."
        )
    return ServiceUnavailable(
        f"Redis at {settings.redis_location()} refused the password in REDIS_URL ({exc})."
    )


@contextmanager
def redis_errors(settings: Settings) -> Iterator[None]:
    try:
        yield
    except redis.AuthenticationError as exc:
        raise redis_login_refused(settings, exc) from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise redis_down(settings, exc) from None


class ReadModel:
    """The Redis view of one namespace."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prefix = settings.key_prefix
        self.redis = redis.Redis.from_url(
            settings.redis_url, decode_responses=True, socket_connect_timeout=3,
            socket_timeout=10, health_check_interval=30,
        )
        self.positions_key = f"{self.prefix}banku:positions"
        self.accounts_key = f"{self.prefix}banku:accounts"
        self.stats_key = f"{self.prefix}banku:stats"
        self._apply = self.redis.register_script(_APPLY_BATCH)
        self._wipe = self.redis.register_script(_WIPE)

    def account_key(self, account_id: str) -> str:
        return f"{self.prefix}{account_id}"

    # --- the Go original's three functions ---------------------------------------------------
    def fetch_account(self, account_id: str) -> BankAccount | None:
        """FetchAccount(id): the account from Redis, or None if the view has no such account."""
        with redis_errors(self.settings):
            data = self.redis.hgetall(self.account_key(account_id))
        return to_account(data)

    def update_account(self, account_id: str, data: dict[str, str | int]) -> None:
        """updateAccount(id, data): set fields of one account's hash (used for one-off repairs;
        the projector writes through `apply_batch` so that effects are exactly once)."""
        with redis_errors(self.settings):
            self.redis.hset(self.account_key(account_id), mapping=data)
            self.redis.sadd(self.accounts_key, account_id)

    # --- the projector's atomic step ------------------------------------------------------
    def apply_batch(self, batch: Batch) -> None:
        """Write a batch's effects and the new positions in one atomic step."""
        args: list[str | int] = [self.prefix, len(batch.positions)]
        for partition, (expected, nxt) in sorted(batch.positions.items()):
            args += [partition, expected, nxt]
        args.append(len(batch.creates))
        for account_id, name in batch.creates.items():
            args += [account_id, name]
        deltas = [(a, d) for a, d in batch.deltas.items() if d != 0]
        args.append(len(deltas))
        for account_id, delta in deltas:
            args += [account_id, delta]
        args += [batch.applied, batch.dead_letters]
        with redis_errors(self.settings):
            result = self._apply(keys=[self.positions_key, self.accounts_key, self.stats_key],
                                 args=args)
        if int(result[0]) != 1:
            raise PositionConflict(f"partition {result[1]} is at {result[2]} in Redis")

    def positions(self) -> dict[int, int]:
        """Partition -> next offset to apply, as stored with the view."""
        with redis_errors(self.settings):
            stored = self.redis.hgetall(self.positions_key)
        return {int(p): int(o) for p, o in stored.items()}

    def stats(self) -> dict[str, int]:
        with redis_errors(self.settings):
            stored = self.redis.hgetall(self.stats_key)
        return {"applied": int(stored.get("applied", 0)),
                "dead_letters": int(stored.get("dead_letters", 0))}

    def wipe(self) -> int:
        """Delete this namespace's view and positions (the log is untouched). Returns accounts."""
        with redis_errors(self.settings):
            return int(self._wipe(keys=[self.positions_key, self.accounts_key, self.stats_key],
                                  args=[self.prefix]))

    def accounts(self) -> list[BankAccount]:
        """Every account in the view, sorted by name."""
        with redis_errors(self.settings):
            ids = sorted(self.redis.smembers(self.accounts_key))
            pipe = self.redis.pipeline(transaction=False)
            for account_id in ids:
                pipe.hgetall(self.account_key(account_id))
            found = [to_account(data) for data in pipe.execute()]
        return sorted((a for a in found if a), key=lambda a: (a.name.lower(), a.id))

    def balances(self) -> dict[str, int]:
        """Account id -> balance for every account in the view."""
        return {a.id: a.balance for a in self.accounts()}

    def ping(self) -> None:
        with redis_errors(self.settings):
            self.redis.ping()

    def close(self) -> None:
        self.redis.close()


def to_account(data: dict[str, str]) -> BankAccount | None:
    """ToAccount(map): a Redis hash turned into a BankAccount (None for an unknown account)."""
    if not data or "Id" not in data:
        return None
    return BankAccount(data["Id"], data.get("Name", ""), int(data.get("Balance", 0)))
