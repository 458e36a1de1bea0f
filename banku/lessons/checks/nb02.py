"""Checks for notebook 02 (replay from offset zero), each against the real Kafka and Redis:
committing before the effect (at-most-once), the Lua step that makes an effect exactly once,
and reading the dead-letter topic's reasons.

Each check works in keys and consumer groups of its own under the notebook's namespace (a new
name on every run, deleted afterwards), so running a check twice gives the same answer and
never disturbs the notebook's own view.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from banku.config import Settings
from banku.lessons.checks import NotYet, check, proven

__all__ = ["check_apply_once", "check_dead_letters", "check_mark_first"]


def _redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, decode_responses=True,
                                socket_connect_timeout=3, socket_timeout=10,
                                **settings.redis_options())


@contextmanager
def _scratch(settings: Settings, what: str) -> Iterator[tuple[redis.Redis, str]]:
    """A Redis client and a key prefix of the check's own, deleted afterwards."""
    client = _redis(settings)
    prefix = f"{settings.key_prefix}check-{what}-{uuid.uuid4().hex[:8]}:"
    try:
        yield client, prefix
    finally:
        try:
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        except redis.RedisError:
            pass  # a leftover under the notebook's namespace: its next reset deletes it
        client.close()


# --- exercise 1: mark first, then process -------------------------------------------------------
@check("Start from a copy of naive_projector: the difference is where consumer.commit() is"
       " called, and where the crash comes.")
def check_mark_first(mark_first_projector: Callable[..., Any], settings: Settings,
                     crash_at: tuple[int, int], account: str, truth: int, amount: int) -> bool:
    """Runs the learner's projector on a new group and view: once with the crash, once more
    (the restart); the deposit at ``crash_at`` (``amount`` cents into ``account``) must be lost."""
    from banku.adapters.kafka.clients import admin_client

    group = settings.group_id(f"banku-check-markfirst-{uuid.uuid4().hex[:8]}")
    with _scratch(settings, "markfirst") as (client, prefix):
        try:
            try:
                mark_first_projector(group, prefix, crash_at=crash_at)
            except NotImplementedError:
                raise
            except Exception:  # the Crash the learner raises, as expected
                pass
            else:
                raise NotYet("The first run went to the end: it never stopped at crash_at.",
                             "when the record at crash_at arrives, raise Crash after the"
                             " commit and before apply_event, as naive_projector does.")
            mark_first_projector(group, prefix)  # the restart
            balance = int(client.hget(prefix + account, "Balance") or 0)
        finally:
            try:
                with admin_client(settings) as admin:
                    admin.delete_consumer_groups([group])
            except Exception:  # cleaning up only; the reset deletes it too
                pass
    if balance == truth - amount:
        return proven("Committing first lost the deposit for good: the restart began after it."
                      " That is at-most-once, the Go original's order.")
    if balance == truth + amount:
        raise NotYet("The deposit was counted twice: that is still process-then-commit"
                     " (at-least-once).", "commit right after poll returns, before any"
                     " apply_event of that poll's records.")
    if balance == truth:
        raise NotYet("The balance is right: the crash cost nothing, so it did not fall between"
                     " the commit and the effect.", "commit first, then raise Crash at crash_at"
                     " before apply_event runs for that record.")
    raise NotYet(f"After the restart the balance is {balance} cents, not what a lost deposit"
                 " leaves.", "apply every event to the hashes under the prefix you are given"
                 " (apply_event(r, prefix, ...)), in a group of the name you are given.")


# --- exercise 2: the atomic step, in Lua ---------------------------------------------------------
ACCOUNT = "00000000-0000-4000-8000-0000000000a2"
# (partition, offset, amount) -> (what the script must return, the balance after it)
STEPS: list[tuple[tuple[int, int, int], int, int, str]] = [
    ((0, 0, 2000), 1, 2000, "the first record of a partition with no stored position"),
    ((0, 0, 2000), 0, 2000, "the same record delivered again"),
    ((0, 1, -500), 1, 1500, "the next record"),
    ((0, 5, 700), 0, 1500, "a record beyond the stored position (records 2-4 are missing)"),
    ((0, 0, 2000), 0, 1500, "an old record delivered late"),
    ((1, 0, 300), 1, 1800, "the first record of another partition"),
    ((0, 2, 100), 1, 1900, "partition 0's next record, after partition 1's"),
]
_LUA_CODE = re.compile(r"^\s*(?!--)\S", re.MULTILINE)  # a line that is not only a comment


_LUA_HINT = ("Begin with the check: read the partition's stored position from KEYS[1], and"
             " write nothing unless it is the record's offset.")


@check(_LUA_HINT)
def check_apply_once(script: str, settings: Settings) -> bool:
    if not isinstance(script, str) or not _LUA_CODE.search(script):
        raise NotYet("Not written yet: the script holds no Lua code.", _LUA_HINT)
    with _scratch(settings, "apply-once") as (client, prefix):
        positions, account = prefix + "positions", prefix + ACCOUNT
        client.hset(account, mapping={"Id": ACCOUNT, "Name": "Ada", "Balance": 0})
        try:
            apply_once = client.register_script(script)
            for (partition, offset, amount), wanted, balance, what in STEPS:
                got = apply_once(keys=[positions, account], args=[partition, offset, amount])
                now = int(client.hget(account, "Balance") or 0)
                stored = client.hgetall(positions)
                if got == wanted and now == balance:
                    continue
                said = (f"For {what} (partition {partition}, offset {offset}) the script"
                        f" returned {got!r} and left the balance at {now}.")
                raise NotYet(said, _lua_hint(got, wanted, now, balance, stored, offset))
        except redis.exceptions.NoPermissionError:
            raise NotYet("This Redis does not let your login run scripts (a workshop room).",
                         "run this notebook on your own stack (./kit lab), or ask the"
                         " instructor.") from None
        except redis.exceptions.ResponseError as error:
            raise NotYet(f"Redis refused the script: {str(error).splitlines()[0]}",
                         "redis.call('HGET', KEYS[1], ARGV[1]) and friends; compare text with"
                         " text (ARGV holds strings) and end with return 1 or return 0.") from None
    return proven("Your script applies each record once and only in order: a redelivered, late"
                  " or early record changes nothing, because the position moves in the same"
                  " atomic step as the balance.")


def _lua_hint(got: Any, wanted: int, now: int, balance: int, stored: dict, offset: int) -> str:
    if got is None:
        return "end the script with return 1 (applied) or return 0 (skipped)."
    if wanted == 1 and got != 1 and not stored:
        return ("a partition without a stored position starts at 0: HGET returns false (nil)"
                " when there is none, so write (redis.call('HGET', ...) or '0').")
    if wanted == 0 and now != balance:
        if any(value == str(offset) for value in stored.values()):
            return ("the position is the offset of the NEXT record to apply: HSET it to the"
                    " offset + 1.")
        if not stored:
            return "write the partition's new position (HSET KEYS[1] ARGV[1] ...) with the balance."
        return ("apply a record only when its offset is exactly the stored position: not"
                " before it (already applied) and not after it (records missing).")
    if wanted == 1 and now != balance:
        return "HINCRBY the Balance field of KEYS[2] by ARGV[3]."
    return "return 1 when the record was applied and 0 when it was skipped, and nothing else."


# --- exercise 3: why each dead letter is there ---------------------------------------------------
@check("Start from read_topic in notebook 01 (no group, every partition from its beginning to"
       " its end offset); the two reasons are in each record's headers.")
def check_dead_letters(read_dead_letters: Callable[[str], list], settings: Settings) -> bool:
    from banku.lab.workshop import dead_letters

    wanted = sorted((str(d["source"]), str(d["reason"])) for d in dead_letters(settings))
    got = read_dead_letters(settings.dlq_topic)
    if not isinstance(got, list):
        raise NotYet(f"read_dead_letters returned a {type(got).__name__}.",
                     "return a list of (source, reason) pairs, one per dead letter.")
    if any(isinstance(part, bytes) for pair in got for part in pair):
        raise NotYet("The pairs hold bytes.", "header values are bytes in Kafka: .decode() them.")
    try:
        pairs = sorted((str(source), str(reason)) for source, reason in got)
    except (TypeError, ValueError):
        raise NotYet(f"read_dead_letters returned {got[:2]!r}...",
                     "each item is a pair: (the banku.source header, the banku.reason header).")\
            from None
    if not pairs and wanted:
        raise NotYet("read_dead_letters found no dead letter.",
                     "a consumer without a group starts at the end of each partition: seek to"
                     " the beginning and poll until the end offsets.")
    if pairs == sorted((reason, source) for source, reason in wanted):
        raise NotYet("Source and reason are swapped.", "each pair is (source, reason).")
    if pairs != wanted:
        missing = len(set(wanted) - set(pairs))
        raise NotYet(f"read_dead_letters found {len(pairs)} dead letters; {missing} of the"
                     f" topic's {len(wanted)} are not among them.",
                     "read every partition of the dead-letter topic, to its end offset.")
    return proven(f"read_dead_letters reads all {len(wanted)} dead letters and why each is"
                  " there, from the record's own headers: the projector went on, and nothing"
                  " was lost.")
