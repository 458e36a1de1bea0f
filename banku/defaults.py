"""Every default the kit uses, in one table: timeouts, group timings, batch and fetch sizes.

The CLI, `Bank`, `Projector`, the handler and the stack all read their defaults from here, so a
number means the same thing wherever it appears. Each line says why it has the value it has.
"""

from __future__ import annotations

from banku.domain.ledger import COMMAND_ID_WINDOW as COMMAND_ID_WINDOW

# --- waiting -------------------------------------------------------------------------------------
# How long a client may try to reach its first broker before the kit says "Kafka does not answer"
# (kafka-python's own default is 30 s; a learner should hear about a missing stack in seconds).
BOOTSTRAP_TIMEOUT_MS = 5_000
# How long a send may wait for its acknowledgement before the caller is told it is unconfirmed.
SEND_TIMEOUT_S = 30.0
# kafka-python backs off up to 30 s between reconnects; after a broker restart, 2 s is plenty.
RECONNECT_BACKOFF_MAX_MS = 2_000
# Admin requests (create/describe/delete topics): generous, a JVM under load answers slowly.
ADMIN_REQUEST_TIMEOUT_MS = 15_000
# Producer: a request, and a send blocked on metadata or a full buffer.
PRODUCER_REQUEST_TIMEOUT_MS = 15_000
PRODUCER_MAX_BLOCK_MS = 15_000
# A new topic needs a leader for each partition, and metadata on every broker, before use.
TOPIC_READY_TIMEOUT_S = 60.0
# Reading a topic to its end (the command side's catch-up, `history.load_events`).
READ_TO_END_TIMEOUT_S = 120.0
# Catching a view up (`run_until_caught_up`) and rebuilding it (`replay`).
CATCH_UP_TIMEOUT_S = 60.0
REPLAY_TIMEOUT_S = 300.0
# Stopping a background projector or handler thread.
STOP_TIMEOUT_S = 30.0
# Closing a producer: it flushes what is still buffered first.
CLOSE_TIMEOUT_S = 10.0

# --- consumer groups (classic protocol, the one kafka-python speaks) -------------------------
# kafka-python's default session timeout; failover lessons pass 3 s (the stack allows 1 s).
SESSION_TIMEOUT_MS = 10_000


def heartbeat_interval_ms(session_timeout_ms: int) -> int:
    """A quarter of the session timeout: a member misses three heartbeats before it is dropped."""
    return max(100, session_timeout_ms // 4)


# A member that has not heard from the coordinator for this many session timeouts (at least
# STRANDED_MIN_S) rejoins: kafka-python 3.0.12 can leave a member subscribed but outside its group.
STRANDED_SESSIONS = 3
STRANDED_MIN_S = 15.0
# How long `banku project` rides out a Kafka or Redis outage before it gives up.
OUTAGE_RETRY_S = 60.0

# --- batches and fetches -----------------------------------------------------------------------
# Records per poll, applied to Redis in one atomic step.
PROJECTOR_BATCH = 5_000
# At most 2 MB per partition and 8 MB per request, about 12,000 records per partition per round
# trip. kafka-python asks for more only once a partition's records are used up, so smaller
# fetches leave the projector waiting for the broker (1 MB: a quarter slower), while larger ones
# only make its memory grow with the log (16 MB fetched whole partitions at once: 225 MB peak for
# 200,000 events, against about 115 MB now for any length of log).
PROJECTOR_FETCH = {"max_partition_fetch_bytes": 2 * 1024 * 1024,
                   "fetch_max_bytes": 8 * 1024 * 1024}
# The command side and time travel read whole topics once: bigger fetches, fewer round trips.
READER_FETCH = {"max_partition_fetch_bytes": 16 * 1024 * 1024,
                "fetch_max_bytes": 64 * 1024 * 1024, "max_poll_records": 10_000}
# Producers: linger a little so that many sends share one request.
PRODUCER_LINGER_MS = 5
PRODUCER_BATCH_BYTES = 256 * 1024
# Events per producer batch when loading a recorded log.
LOAD_CHUNK = 2_000

# --- the command handler -------------------------------------------------------------------------
# A transaction open longer than this is aborted by the broker (a handler stuck mid-batch).
TRANSACTION_TIMEOUT_MS = 10_000
# How long a new owner of a command partition may take to become ready (a producer and
# `init_transactions` per partition, the ledger caught up, the first transaction): from the
# assignment to the first answer 0.3-0.5 s measured on an idle 2-core machine, 2-3.5 s with three
# busy loops on its two cores; 40 s leaves room for a slower machine and a longer log to fold.
HANDLER_START_S = 40.0
# How long `Bank` waits for the handler's outcome in topic mode. The answer may have to wait for a
# handler that takes over: the group noticing that the previous owner died (one session timeout),
# the broker aborting the transaction it left open (one transaction timeout, before the new owner's
# `init_transactions` returns), then the new owner's start. 30 s held only on an idle machine.
OUTCOME_TIMEOUT_S = (SESSION_TIMEOUT_MS + TRANSACTION_TIMEOUT_MS) / 1000 + HANDLER_START_S  # 60 s

# --- the command side ----------------------------------------------------------------------------
# COMMAND_ID_WINDOW, how many recent command ids a `Bank` (or the handler) remembers, is the
# domain's: banku.domain.ledger (read here too, imported above).
# A write model that had to fold this many records leaves a snapshot, so the next cold start
# (every `banku deposit` is one) folds only what came after it.
SNAPSHOT_EVERY = 20_000
