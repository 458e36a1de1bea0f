"""Every use of kafka-python's private parts, in one place, each behind a named function.

kafka-python's public API lacks five things the kit needs: asking one given broker for metadata
(to know every broker has a new topic), sending a request it has no admin method for (client
quotas), a topic's id, when the group coordinator last answered, and whether a producer's
transaction is open (a lesson's check). It also treats a fenced
transactional producer as recoverable, where the Java client stops it. What is written here
depends on kafka-python's internals, which change between releases: `check_version` says which
releases it was made for, and a unit test proves no other module of the kit touches them.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import kafka
from kafka import errors as kafka_errors_module

# The releases these functions were written and tested against (the lock pins 3.0.12).
MADE_FOR = ("3.0.",)


def check_version(version: str = kafka.__version__) -> str | None:
    """None when ``version`` is one these internals were made for, else the one-line warning."""
    if version.startswith(MADE_FOR):
        return None
    return (f"banku.adapters.kafka.compat was made for kafka-python 3.0.x and finds {version}:"
            " its use of kafka-python's internals may no longer work")


def warn_if_unknown_version() -> None:
    found = check_version()
    if found is not None:
        warnings.warn(found, RuntimeWarning, stacklevel=2)


# --- requests the admin client has no method for ------------------------------------------------
def admin_request(admin: Any, request: Any, node_id: int | None = None) -> Any:
    """Send ``request`` through the admin client's own connections and return the response
    (to ``node_id``, or to whichever broker the client picks)."""
    manager = admin._manager

    async def send() -> Any:
        if node_id is None:
            return await manager.send(request)
        return await manager.send(request, node_id=node_id)

    return manager.run(send)


# --- what a consumer knows but does not say ---------------------------------------------------
def topic_id(consumer: Any, topic: str) -> str:
    """The topic's id, from the metadata the consumer has already fetched ("" if unknown)."""
    return str(consumer._client.cluster.topic_id(topic) or "")


def coordinator_silent_for(consumer: Any) -> float:
    """Seconds since the group coordinator last answered a heartbeat (0 outside a group)."""
    heartbeat = getattr(getattr(consumer, "_coordinator", None), "heartbeat", None)
    if heartbeat is None or not consumer.subscription():
        return 0.0
    last = max(getattr(heartbeat, "last_receive", 0.0), getattr(heartbeat, "last_reset", 0.0))
    return time.monotonic() - last


def transaction_open(producer: Any) -> bool:
    """Whether a transactional producer has a transaction open (begun, not yet committed or
    aborted; an abortable error still leaves it open)."""
    from kafka.producer.transaction_manager import TransactionState

    state = producer._transaction_manager._current_state
    return state in (TransactionState.IN_TRANSACTION, TransactionState.ABORTABLE_ERROR)


# --- a fenced producer stays fenced -------------------------------------------------------------
def fence_zombies_for_good() -> None:
    """A fenced producer must stay fenced.

    kafka-python 3.0.12 treats INVALID_PRODUCER_EPOCH on a transactional send as recoverable and
    asks for a new epoch with its old producer id, which makes the broker abort the *new*
    owner's open transaction. The Java client treats it as fatal; so do we. Idempotent.
    """
    from kafka.producer.transaction_manager import TransactionManager

    original = TransactionManager.classify_batch_error
    if getattr(original, "_banku", False):
        return
    fatal = (kafka_errors_module.InvalidProducerEpochError,
             kafka_errors_module.ProducerFencedError)

    def classify_batch_error(self: Any, error: Any, batch: Any, log_start_offset: int = -1) -> Any:
        kind = error if isinstance(error, type) else type(error)
        if self.is_transactional() and kind in fatal:
            return self.ERROR_CLASS_FATAL
        return original(self, error, batch, log_start_offset)

    classify_batch_error._banku = True  # type: ignore[attr-defined]
    TransactionManager.classify_batch_error = classify_batch_error


warn_if_unknown_version()
