"""The Redis adapter of the name keys (`banku.application.ports.NameKeys`): one key per account
in ``[ns:]banku:keys``, the forgotten accounts in ``[ns:]banku:forgotten``. Sealing itself is pure
(`banku.domain.sealing`); forgetting a person is destroying the key here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext

from banku.config import Settings
from banku.diagnostics import redis_errors
from banku.domain.sealing import (
    FORGOTTEN,
    NO_HISTORY,
    REWRITING,
    already_forgotten,
    new_key,
    not_sealed,
    seal_with,
    shown_names,
)


class NameVault:
    """Per-account name keys in Redis, and the set of accounts whose key was destroyed
    (the Redis adapter of `banku.application.ports.NameKeys`)."""

    def __init__(self, redis_client, prefix: str,  # a redis.Redis
                 settings: Settings | None = None) -> None:
        self.redis = redis_client
        self.prefix = prefix
        self.settings = settings  # with it, Redis's failures are told as one sentence
        self.keys_key = f"{prefix}banku:keys"
        self.forgotten_key = f"{prefix}banku:forgotten"

    def seal(self, account_id: str, name: str) -> str:
        """Seal a name under the account's key (made now, or the one a retry already made)."""
        with self._errors():
            self.redis.hsetnx(self.keys_key, account_id, new_key())
            key = self.redis.hget(self.keys_key, account_id)
        return seal_with(key, account_id, name)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        with redis_errors(self.settings) if self.settings is not None else nullcontext():
            yield

    def reveal(self, sealed_names: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Account id -> the name to show, for (account id, sealed name) pairs."""
        pairs = list(sealed_names)
        if not pairs:
            return {}
        with self._errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hmget(self.keys_key, [a for a, _ in pairs])
            pipe.smismember(self.forgotten_key, [a for a, _ in pairs])
            keys, forgotten = pipe.execute()
        return shown_names(pairs, keys, forgotten)

    def forget(self, account_id: str, view_key: str | None = None) -> str:
        """Destroy the account's key, note it as forgotten and blank its name in the view, in
        one step. Refused, changing nothing, for an unknown account or one forgotten already.

        Then asks Redis to rewrite its append-only file, which still holds the key; returns what
        became of that (see `rewrite_history`)."""
        view_key = view_key or f"{self.prefix}{account_id}"  # the view's hash of the account
        if self.redis.sismember(self.forgotten_key, account_id):
            raise already_forgotten(account_id)
        if not self.redis.hexists(self.keys_key, account_id):
            raise not_sealed(account_id, bool(self.redis.hexists(view_key, "Id")))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys_key, account_id)
        pipe.sadd(self.forgotten_key, account_id)
        pipe.execute()
        if self.redis.hexists(view_key, "Name"):
            self.redis.hset(view_key, "Name", FORGOTTEN)
        return self.rewrite_history()

    def rewrite_history(self, wait_s: float = 10.0) -> str:
        """Ask Redis to rewrite its append-only file, so that no copy of a destroyed key stays
        on its disk. Returns ``REWRITING`` (started), ``NO_HISTORY`` (Redis keeps no
        append-only file) or a sentence saying why it could not be asked."""
        from redis.exceptions import RedisError, ResponseError

        try:
            if not int(self.redis.info("persistence").get("aof_enabled", 0)):
                return NO_HISTORY
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    self.redis.bgrewriteaof()
                    return REWRITING
                except ResponseError as exc:
                    # A rewrite that began before the key was destroyed would keep it: wait for
                    # it to end and ask again.
                    if "in progress" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        except RedisError as exc:
            return (f"Redis's append-only file still holds the destroyed key until it is"
                    f" rewritten ({type(exc).__name__}: {exc}); ask its administrator to run"
                    " BGREWRITEAOF.")

    def close(self) -> None:
        self.redis.close()
