"""The limits the stack's redis-server starts with: what one client may ask of it.

Every stack gets a memory ceiling that refuses writes instead of evicting (an evicted key of the
view would be a silently wrong balance; a refused write is a sentence, see
`banku.diagnostics.redis_errors`) and small requests: the kit's biggest value is a sealed name of
a few hundred bytes, and its biggest request, one projector batch of 5,000 records passed to
FCALL, is a few hundred short arguments per thousand records, so 1 MB per value (the least Redis
accepts) and 32 MB of unread request per client leave it a wide margin.

A workshop room is shared by strangers, so it adds an idle timeout (a learner's client
reconnects by itself, see `banku.adapters.redis.view.ReadModel`; an abandoned or flooding socket is
closed) and an explicit ceiling on connections, below the file descriptors Redis can have.
"""

from __future__ import annotations

MB = 1024 * 1024

# One local learner's stack: the notebooks' and the benchmarks' views are tens of megabytes.
STACK_MAXMEMORY = 1024 * MB
# A room: a learner who ran notebooks 00-02 keeps 75 keys of 28 KB in all (Redis's used memory
# grew by 0.45 MB), so 1 GB holds a hundred learners many times over; what it guards against is
# one learner's bulk (tests/fault/test_room_attacks_redis.py).
ROOM_MAXMEMORY = 1024 * MB
MAX_VALUE = 1 * MB  # proto-max-bulk-len: Redis accepts no smaller limit
MAX_UNREAD_REQUEST = 32 * MB  # client-query-buffer-limit (Redis's default: 1 GB)
ROOM_IDLE_TIMEOUT_S = 300
# Each learner's kernel holds a handful of connections (the view, a projector, raw clients); a
# hundred learners use well under a thousand. The ceiling is as high as a Redis started with
# the usual 10,000-plus file descriptors keeps, so that a flood of idle sockets has to be that
# large before it locks anyone out (Redis has no limit per address: a firewall's is the remedy).
ROOM_MAXCLIENTS = 10_000


def redis_directives(room: bool) -> list[tuple[str, str]]:
    """(directive, value) pairs for redis-server (``--name value`` or a line of redis.conf)."""
    directives = [
        ("maxmemory", str(ROOM_MAXMEMORY if room else STACK_MAXMEMORY)),
        ("maxmemory-policy", "noeviction"),
        ("proto-max-bulk-len", str(MAX_VALUE)),
        ("client-query-buffer-limit", str(MAX_UNREAD_REQUEST)),
        # DEL of a big key frees it in the background, as UNLINK does: deleting a view (or a
        # learner's pile of junk) never stops Redis for everyone while it frees the memory.
        ("lazyfree-lazy-user-del", "yes"),
    ]
    if room:
        directives += [("timeout", str(ROOM_IDLE_TIMEOUT_S)),
                       ("maxclients", str(ROOM_MAXCLIENTS))]
    return directives


def redis_arguments(room: bool) -> list[str]:
    """`redis_directives` as command-line arguments (none of them is a secret)."""
    return [part for name, value in redis_directives(room) for part in (f"--{name}", value)]
