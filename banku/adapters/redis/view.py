"""The read model in Redis: one hash per account, as the Go original kept it, plus the projector's
tracking record.

``HGETALL <id>`` shows ``Id``, ``Name`` and ``Balance``. Beside the accounts, each namespace keeps
its bookkeeping under ``[ns:]banku:`` (an account id is a UUID, so it can never name one of these):

* ``banku:positions`` — partition -> next offset to apply: the tracking record, where the view is,
* ``banku:shares``    — ``"<partition>:<id>"`` -> that partition's share of the balance,
* ``banku:opened``    — ``"<partition>:<id>"`` -> 1 once the account was opened in that partition,
* ``banku:accounts``  — every account id the view holds (to list and to wipe it),
* ``banku:stats``     — ``applied`` and ``dead_letters`` counters.

A batch's effects and its tracking record are written by one Lua script (`APPLY_WITH_TRACKING`),
which Redis runs atomically. That is what turns Kafka's at-least-once delivery into exactly-once
effects.

Redis keeps the kit's scripts as functions (`LIBRARY`, loaded once with ``FUNCTION LOAD``) and
the kit calls them with ``FCALL``: nobody needs ``EVAL``, with which any client could run a loop
that freezes Redis for everyone (a workshop room's learners may not). The function names carry
the library's version, so a kit whose scripts changed finds its own missing and loads them
(``FUNCTION LOAD REPLACE``); in a room `banku workshop up` loads them, as the instructor. A Redis
older than 7 has no functions: there the kit runs the same scripts with ``EVALSHA``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import redis

from banku.config import Settings
from banku.diagnostics import redis_errors
from banku.domain.ledger import BankAccount
from banku.domain.projection import Batch
from banku.errors import PositionConflict, ServiceUnavailable, ViewCorrupt

if TYPE_CHECKING:
    from banku.adapters.redis.name_keys import NameVault

# The projector's atomic step. Invariant: it writes everything or nothing. Redis does not roll a
# script back when a command fails half-way, so the script first checks everything that could
# fail (the positions it expects, then a dry run of every HINCRBY on a scratch key) and writes
# only when nothing can fail any more.
# KEYS: positions, accounts, stats, shares, opened, scratch
# ARGV: prefix, then counted groups: positions (partition, expected, next), opens (id, partition,
#       name), balance deltas (id, delta), share deltas (field, delta); then applied, dead letters.
# Returns {1} when applied; {0, partition, stored} when a stored position is not the expected one
# (another projector got there first); {2, key, error} when a stored value cannot be changed.
APPLY_WITH_TRACKING = """
local prefix = ARGV[1]
local i = 2
local function take(width)  -- the next counted group of ARGV, as a list of tuples
  local n, group = tonumber(ARGV[i]), {}
  i = i + 1
  for k = 1, n do
    group[k] = {unpack(ARGV, i, i + width - 1)}
    i = i + width
  end
  return group
end
local positions, opens, deltas, shares = take(3), take(3), take(2), take(2)
local applied, dead = ARGV[i], ARGV[i + 1]

-- 1. Check. Nothing is written before everything here has passed.
for _, p in ipairs(positions) do
  local stored = redis.call('HGET', KEYS[1], p[1]) or '-1'
  if stored ~= p[2] then return {0, p[1], stored} end
end
local function wrong_type(key, kind)
  local found = redis.call('TYPE', key).ok
  if found ~= 'none' and found ~= kind then return {2, key, 'a ' .. found .. ', not a ' .. kind} end
end
local function fails(key, field, delta)  -- would HINCRBY key field delta fail?
  redis.call('HSET', KEYS[6], 'v', redis.call('HGET', key, field) or '0')
  local result = redis.pcall('HINCRBY', KEYS[6], 'v', delta)
  redis.call('DEL', KEYS[6])
  if type(result) == 'table' and result.err then return {2, key, result.err} end
end
local written = {{KEYS[1], 'hash'}, {KEYS[2], 'set'}, {KEYS[3], 'hash'}, {KEYS[4], 'hash'},
                 {KEYS[5], 'hash'}}
for _, o in ipairs(opens) do table.insert(written, {prefix .. o[1], 'hash'}) end
for _, d in ipairs(deltas) do table.insert(written, {prefix .. d[1], 'hash'}) end
for _, w in ipairs(written) do
  local failure = wrong_type(w[1], w[2])
  if failure then return failure end
end
local increments = {{KEYS[3], 'applied', applied}, {KEYS[3], 'dead_letters', dead}}
for _, d in ipairs(deltas) do table.insert(increments, {prefix .. d[1], 'Balance', d[2]}) end
for _, s in ipairs(shares) do table.insert(increments, {KEYS[4], s[1], s[2]}) end
for _, inc in ipairs(increments) do
  local failure = fails(inc[1], inc[2], inc[3])
  if failure then return failure end
end

-- 2. Write. Every command below has been shown not to fail.
for _, p in ipairs(positions) do redis.call('HSET', KEYS[1], p[1], p[3]) end
for _, o in ipairs(opens) do
  local id, partition, name = o[1], tonumber(o[2]), o[3]
  redis.call('HSET', KEYS[5], partition .. ':' .. id, '1')
  -- Opened in several partitions (only another producer does that): the lowest one names it.
  local lower = false
  for q = 0, partition - 1 do
    if redis.call('HEXISTS', KEYS[5], q .. ':' .. id) == 1 then lower = true end
  end
  if not lower then redis.call('HSET', prefix .. id, 'Id', id, 'Name', name) end
  redis.call('HSETNX', prefix .. id, 'Balance', '0')
  redis.call('SADD', KEYS[2], id)
end
for _, inc in ipairs(increments) do redis.call('HINCRBY', inc[1], inc[2], inc[3]) end
for _, d in ipairs(deltas) do redis.call('SADD', KEYS[2], d[1]) end
return {1}
"""

_WIPE = """
local prefix = ARGV[1]
local ids = redis.call('SMEMBERS', KEYS[2])
for _, id in ipairs(ids) do
  redis.call('DEL', prefix .. id)
end
redis.call('DEL', unpack(KEYS))
return #ids
"""


# Any client allowed FCALL may call the functions (a room's learner too, on their own keys): a
# call larger than the kit ever makes, or whose partitions are not small whole numbers, is
# refused before anything is read or written, so that no call keeps Redis busy for long (the
# write phase loops over the partitions below each opened account's).
_GUARD = """
local function refusal(ARGV)
  if #ARGV > 1000000 then return 'more than 1000000 arguments' end
  local function count(at)
    local n = tonumber(ARGV[at])
    if not n or n < 0 or n ~= math.floor(n) then return nil end
    return n
  end
  local n = count(2)
  if not n then return 'the count of positions is not a whole number' end
  local at = 3 + 3 * n
  local opens = count(at)
  if not opens or at + 3 * opens > #ARGV then return 'the count of opens does not fit' end
  local below = 0
  for k = 0, opens - 1 do
    local p = tonumber(ARGV[at + 3 * k + 2])
    if not p or p < 0 or p ~= math.floor(p) or p >= 100000 then
      return 'an open names no partition number'
    end
    below = below + p
  end
  if below > 1000000 then return 'the opens name too many partitions' end
end
"""

_LIBRARY_TEMPLATE = """#!lua name=banku
-- The kit's atomic steps as Redis functions, version {version} (banku/adapters/redis/view.py).
local function apply_with_tracking(KEYS, ARGV)
{apply}
end
local function wipe(KEYS, ARGV)
{wipe}
end
{guard}
local function guarded_apply(keys, args)
  local why = refusal(args)
  if why then return redis.error_reply('banku_apply refused the call: ' .. why) end
  return apply_with_tracking(keys, args)
end
redis.register_function('banku_apply_{version}', guarded_apply)
redis.register_function('banku_wipe_{version}', wipe)
"""


def _library() -> tuple[str, str]:
    parts = {"apply": APPLY_WITH_TRACKING.strip(), "wipe": _WIPE.strip(), "guard": _GUARD.strip()}
    version = hashlib.sha1(_LIBRARY_TEMPLATE.format(version="", **parts).encode()).hexdigest()[:8]
    return _LIBRARY_TEMPLATE.format(version=version, **parts), version


# The library Redis keeps (FUNCTION LOAD), its version, and the names FCALL calls.
LIBRARY, LIBRARY_VERSION = _library()
FUNCTIONS = {"apply": f"banku_apply_{LIBRARY_VERSION}", "wipe": f"banku_wipe_{LIBRARY_VERSION}"}
_SCRIPTS = {"apply": APPLY_WITH_TRACKING, "wipe": _WIPE}


def load_library(client: redis.Redis) -> None:
    """FUNCTION LOAD REPLACE the kit's library (a `workshop up` does it as the instructor)."""
    client.function_load(LIBRARY, replace=True)


class ReadModel:
    """The Redis view of one namespace (the `ViewStore` the projector writes)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prefix = settings.key_prefix
        self.redis = redis.Redis.from_url(
            settings.redis_url, decode_responses=True, socket_connect_timeout=3,
            socket_timeout=10, health_check_interval=30, **settings.redis_options(),
        )
        own = f"{self.prefix}banku:"
        self.positions_key = own + "positions"
        self.accounts_key = own + "accounts"
        self.stats_key = own + "stats"
        self.shares_key = own + "shares"
        self.opened_key = own + "opened"
        self.scratch_key = own + "scratch"
        self.keys = [self.positions_key, self.accounts_key, self.stats_key, self.shares_key,
                     self.opened_key, self.scratch_key]
        self._functions = True  # False once Redis turned out older than 7 (no FCALL)
        self._scripts: dict[str, Any] = {}

    def _run(self, step: str, keys: list[str], args: list[str | int]) -> Any:
        """Run one of the kit's steps: FCALL its function (loading the library when this Redis
        lacks this version of it), or, on a Redis without functions, the script itself."""
        if self._functions:
            try:
                return self.redis.fcall(FUNCTIONS[step], len(keys), *keys, *args)
            except redis.exceptions.NoPermissionError:
                raise
            except redis.ResponseError as exc:
                if "unknown command" in str(exc).lower():  # Redis < 7
                    self._functions = False
                elif "function not found" in str(exc).lower():
                    self._load_library()
                    return self.redis.fcall(FUNCTIONS[step], len(keys), *keys, *args)
                else:
                    raise
        if step not in self._scripts:
            self._scripts[step] = self.redis.register_script(_SCRIPTS[step])
        return self._scripts[step](keys=keys, args=args)

    def _load_library(self) -> None:
        try:
            load_library(self.redis)
        except redis.exceptions.NoPermissionError:
            raise ServiceUnavailable(
                f"Redis at {self.settings.redis_location()} lacks the kit's functions (library"
                f" banku, version {LIBRARY_VERSION}) and this login may not load them: ask the"
                " instructor to run `banku workshop up` again, which loads them.") from None

    def _errors(self):
        return redis_errors(self.settings, f"namespace {self.settings.namespace or '(default)'}")

    def account_key(self, account_id: str) -> str:
        return f"{self.prefix}{account_id}"

    def name_keys(self) -> NameVault:
        """The keys of sealed names (crypto-shredding), in this view's Redis."""
        from banku.adapters.redis.name_keys import NameVault

        return NameVault(self.redis, self.prefix, self.settings)

    # --- the Go original's three functions ---------------------------------------------------
    def fetch_account(self, account_id: str) -> BankAccount | None:
        """FetchAccount(id): the account from Redis, or None if the view has no such account."""
        with self._errors():
            data: dict[str, str] = self.redis.hgetall(  # type: ignore[assignment]
                self.account_key(account_id))  # decode_responses: str, not bytes
        return to_account(data)

    account = fetch_account

    # --- the projector's atomic step --------------------------------------------------------
    def apply(self, batch: Batch) -> None:
        """Write a batch's effects and its tracking record in one atomic step (see above)."""
        args: list[str | int] = [self.prefix, len(batch.positions)]
        for partition, (expected, nxt) in sorted(batch.positions.items()):
            args += [partition, expected, nxt]
        args.append(len(batch.opens))
        for account_id, partition, name in batch.opens:
            args += [account_id, partition, name]
        deltas = [(a, d) for a, d in batch.deltas.items() if d != 0]
        args.append(len(deltas))
        for account_id, delta in deltas:
            args += [account_id, delta]
        shares = [(f"{p}:{a}", d) for (a, p), d in batch.shares.items() if d != 0]
        args.append(len(shares))
        for field, delta in shares:
            args += [field, delta]
        args += [batch.applied, batch.dead_letters]
        try:
            with self._errors():
                result = self._run("apply", self.keys, args)
        except redis.ResponseError as exc:  # the script itself failed: it wrote nothing
            raise ViewCorrupt(f"The view's update script failed ({exc}); nothing was changed."
                              " Rebuild the view with `banku replay`.") from None
        status = int(result[0])
        if status == 0:
            raise PositionConflict(f"partition {result[1]} is at {result[2]} in Redis")
        if status == 2:
            raise ViewCorrupt(
                f"The view cannot be updated: {result[1]} holds a value the projector did not"
                f" write ({result[2]}). Nothing was changed; rebuild the view with `banku replay`."
            )

    def positions(self) -> dict[int, int]:
        """Partition -> next offset to apply, as stored with the view."""
        with self._errors():
            stored = self.redis.hgetall(self.positions_key)
        try:
            return {int(p): int(o) for p, o in stored.items()}
        except ValueError:
            raise ViewCorrupt(
                f"{self.positions_key} holds something the projector did not write; rebuild the"
                " view with `banku replay`."
            ) from None

    def tracking(self, partition: int, account_ids: Iterable[str],
                 ) -> tuple[dict[str, int], set[str]]:
        """One partition's shares of these accounts' balances, and which were opened in it."""
        ids = list(account_ids)
        fields = [f"{partition}:{a}" for a in ids]
        with self._errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hmget(self.shares_key, fields)
            pipe.hmget(self.opened_key, fields)
            shares, opened = pipe.execute()
        try:
            return ({a: int(s) for a, s in zip(ids, shares, strict=True) if s is not None},
                    {a for a, o in zip(ids, opened, strict=True) if o is not None})
        except ValueError:
            raise ViewCorrupt(f"{self.shares_key} holds something the projector did not"
                              " write; rebuild the view with `banku replay`.") from None

    def stats(self) -> dict[str, int]:
        with self._errors():
            stored = self.redis.hgetall(self.stats_key)
        return {"applied": int(stored.get("applied", 0)),
                "dead_letters": int(stored.get("dead_letters", 0))}

    def wipe(self) -> int:
        """Delete this namespace's view and tracking record (the log is untouched)."""
        with self._errors():
            return int(self._run("wipe", self.keys, [self.prefix]))

    def accounts(self) -> list[BankAccount]:
        """Every account in the view, sorted by name."""
        with self._errors():
            ids: list[str] = sorted(self.redis.smembers(self.accounts_key))  # type: ignore[arg-type]
            pipe = self.redis.pipeline(transaction=False)
            for account_id in ids:
                pipe.hgetall(self.account_key(account_id))
            found = [to_account(data) for data in pipe.execute()]
        return sorted((a for a in found if a), key=lambda a: (a.name.lower(), a.id))

    def balances(self) -> dict[str, int]:
        """Account id -> balance for every account in the view."""
        return {a.id: a.balance for a in self.accounts()}

    def ping(self) -> None:
        with self._errors():
            self.redis.ping()

    def close(self) -> None:
        self.redis.close()

    def __enter__(self) -> ReadModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def to_account(data: dict[str, str]) -> BankAccount | None:
    """ToAccount(map): a Redis hash turned into a BankAccount (None for an unknown account)."""
    if not data or "Id" not in data:
        return None
    try:
        balance = int(data.get("Balance", 0))
    except ValueError:
        raise ViewCorrupt(f"The Balance of account {data['Id']} is not a whole number in Redis"
                          f" ({data.get('Balance')!r}); rebuild the view with `banku replay`.")\
            from None
    return BankAccount(data["Id"], data.get("Name", ""), balance)
