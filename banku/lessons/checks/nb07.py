"""Checks for notebook 07 (transactions and fencing): ten withdrawals through the handler, the
transaction markers predicted, and a read-process-write step that a replaced member cannot
commit (KIP-447's fencing by the group's metadata).

`check_markers` needs no server; the other two run the learner's code against the real stack.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from banku.application.bank import Bank
from banku.config import Settings
from banku.lessons.checks import NotYet, check, proven

__all__ = ["check_markers", "check_read_process_write", "check_ten_withdrawals",
           "FAMILY_DEPOSIT", "WITHDRAWAL", "ATTEMPTS"]

FAMILY_DEPOSIT, WITHDRAWAL, ATTEMPTS = 10_000, 3_000, 10


# --- the markers -------------------------------------------------------------------------------
@check("Return a pair: (the end offset after the successor's commit, the list of values a"
       " read_committed reader returns then), e.g. return 8, [\"deposit 3\"].")
def check_markers(prediction: Callable[[], tuple[int, list[str]]]) -> bool:
    """The demo topic after 'committed' (end offset 6: four records, two markers): the old
    producer sends one record in a new transaction, a successor with the same transactional id
    calls init_transactions, then sends "deposit 5" and commits."""
    answer = prediction()
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise NotYet(f"Your prediction is {answer!r}.", "Return two things: (end offset, list).")
    end, committed = answer
    seen = [str(v) for v in committed] if isinstance(committed, (list, tuple)) else committed
    if seen != ["deposit 3", "deposit 4", "deposit 5"]:
        raise NotYet(f"You predict that read_committed returns {committed!r}.",
                     "The zombie's transaction is aborted by its successor; aborted records are"
                     " never returned to a read_committed reader, committed ones always.")
    if end != 10:
        hint = ("Records take offsets, and so does the marker each ended transaction writes:"
                " count the zombie's record, the marker of its aborted transaction, deposit 5"
                " and its commit marker.")
        if end == 8:
            hint = "Two records, right; and each ended transaction adds a marker. " + hint
        raise NotYet(f"You predict an end offset of {end!r}.", hint)
    return proven("end offset 10 for 6 records: two more records and two more markers; only"
                  " committed records reach a read_committed reader. Run the next cell.")


# --- ten withdrawals through the handler ---------------------------------------------------------
def _balance(settings: Settings, account: str) -> int:
    from banku.lessons.failover import fold_of_topic

    return fold_of_topic(settings).balances.get(account, 0)


@check("Start ten threads (a ThreadPoolExecutor), each with a Bank(topic_settings) of its own"
       " that withdraws 3000 from the account; return the ten outcomes, \"accepted\" or"
       " \"refused\" (catch InsufficientFunds).")
def check_ten_withdrawals(ten_withdrawals: Callable[[str], list[str]],
                          topic_settings: Settings) -> bool:
    """Open a fresh account with 100.00 through the handler, run the learner's ten withdrawals
    of 30.00 against it, and compare what they report with the fold of the real log."""
    if topic_settings.commands != "topic":
        raise NotYet("These settings write directly, without the handler.",
                     "Pass topic_settings, the settings with commands=\"topic\".")
    run = uuid.uuid4().hex[:8]
    with Bank(topic_settings) as front:
        family = front.create_account("Family (check)", command_id=f"check-family-{run}")
        front.deposit(family, FAMILY_DEPOSIT, command_id=f"check-family-{run}-savings")
    outcomes = list(ten_withdrawals(family))
    if len(outcomes) != ATTEMPTS or set(outcomes) - {"accepted", "refused"}:
        raise NotYet(f"Your function returned {outcomes!r}.",
                     "Return a list of ten strings, each \"accepted\" or \"refused\".")
    accepted = outcomes.count("accepted")
    reading = replace(topic_settings, commands="direct")
    deadline = time.monotonic() + 15  # a commit's markers reach the log just after it returns
    balance = _balance(reading, family)
    while balance != FAMILY_DEPOSIT - WITHDRAWAL * accepted and time.monotonic() < deadline:
        time.sleep(0.2)
        balance = _balance(reading, family)
    if balance < 0:
        raise NotYet(f"The account ended at {balance} cents: {accepted} withdrawals passed.",
                     "Each thread's Bank must send its command to the handler:"
                     " Bank(topic_settings), not Bank(settings).")
    if balance != FAMILY_DEPOSIT - WITHDRAWAL * accepted:
        raise NotYet(f"You report {accepted} accepted, but the log's fold leaves {balance}"
                     " cents.", "Count \"accepted\" only for a withdrawal that returned a"
                     " receipt, \"refused\" for one that raised InsufficientFunds.")
    if accepted != FAMILY_DEPOSIT // WITHDRAWAL:
        raise NotYet(f"{accepted} of ten accepted.",
                     "All ten must be sent, each from its own thread and Bank.")
    return proven(f"3 accepted, 7 refused, {balance} cents left in the log's fold: one writer"
                  " decided them one at a time, whichever three came first.")


# --- read, process, write: a replaced member cannot commit ----------------------------------------
def _setup(settings: Settings, run: str) -> dict[str, Any]:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic

    from banku.adapters.kafka.clients import admin_client

    ns = settings.namespace
    names: dict[str, Any] = {"in": f"{ns}.rpw-in-{run}", "out": f"{ns}.rpw-out-{run}",
                             "group": f"{ns}.rpw-{run}"}
    with admin_client(settings) as admin:
        admin.create_topics([NewTopic(names["in"], 2, 1), NewTopic(names["out"], 2, 1)])
    producer = KafkaProducer(**settings.kafka_options())
    for n in range(6):
        producer.send(names["in"], key=f"k{n}".encode(), value=f"command {n}".encode(),
                      partition=n % 2)
    producer.flush()
    producer.close()

    def member() -> tuple[Any, list]:
        """A member of the group that has polled all six records (a fresh one if it got
        stuck: kafka-python 3.0.12 can strand a member that joined before it had the topic's
        metadata, with an empty assignment it never recovers from)."""
        for _ in range(3):
            consumer = KafkaConsumer(**settings.kafka_options(), group_id=names["group"],
                                     enable_auto_commit=False, auto_offset_reset="earliest",
                                     isolation_level="read_committed")
            deadline = time.monotonic() + 30
            while not consumer.partitions_for_topic(names["in"]) and time.monotonic() < deadline:
                time.sleep(0.1)
            consumer.subscribe([names["in"]])
            records: list = []
            deadline = time.monotonic() + 20
            while len(records) < 6 and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=300).values():
                    records.extend(batch)
            if len(records) == 6:
                return consumer, records
            consumer.close()
        raise NotYet(f"The check's own consumer group ({names['group']}) did not receive its six"
                     " records within a minute; nothing of yours ran yet.",
                     "Kafka is slow or overloaded: run the check again.")

    old, names["old_records"] = member()
    names["stale"] = old.group_metadata()  # the old member's view, as of its batch
    old.close()  # the group moves on without it (as after a pause longer than its session)
    names["new"], names["new_records"] = member()
    return names


def _transactional(settings: Settings, tid: str) -> Any:
    from kafka import KafkaProducer

    producer = KafkaProducer(**settings.kafka_options(), transactional_id=tid)
    producer.init_transactions()
    return producer


def _open_transaction(producer: Any) -> bool:
    from banku.adapters.kafka.compat import transaction_open

    return transaction_open(producer)


def _outputs(settings: Settings, topic: str) -> list[bytes]:
    from banku.lessons.races import read_records

    return [r.value for r in read_records(settings, topic, partitions=2, timeout=30)]


def _committed(consumer: Any, topic: str) -> dict[int, int | None]:
    from kafka import TopicPartition

    return {p: consumer.committed(TopicPartition(topic, p)) for p in (0, 1)}


@check("Begin a transaction; send each record's value to out_topic; send the offsets (each"
       " partition's last offset + 1) with producer.send_offsets_to_transaction(offsets,"
       " group_metadata); commit and return True. On CommitFailedError: abort_transaction()"
       " and return False.")
def check_read_process_write(read_process_write: Callable[[Any, list, Any, str], bool],
                             settings: Settings) -> bool:
    """Two members of one group read the same six records: the first is replaced before it
    commits (a zombie), the second owns the partitions now. Each runs the learner's step with
    a transactional producer of its own (one per member, KIP-447) and its group metadata."""
    from kafka.errors import CommitFailedError

    from banku.adapters.kafka.clients import delete_topics

    run = uuid.uuid4().hex[:8]
    scene = _setup(settings, run)
    zombie = _transactional(settings, f"{scene['group']}-old")
    live = _transactional(settings, f"{scene['group']}-new")
    try:
        try:
            zombie_said = read_process_write(zombie, scene["old_records"], scene["stale"],
                                             scene["out"])
        except CommitFailedError:
            zombie.abort_transaction()
            raise NotYet("The replaced member's commit raised CommitFailedError, and your code"
                         " let it through with its transaction still open.",
                         "Catch CommitFailedError, call producer.abort_transaction() and"
                         " return False.") from None
        if _open_transaction(zombie):
            zombie.abort_transaction()
            raise NotYet("After the refused commit the replaced member's transaction is still"
                         " open: its records hold back every read_committed reader of"
                         " out_topic until the transaction times out.",
                         "Call producer.abort_transaction() before you return False.")
        committed = _committed(scene["new"], scene["in"])
        if zombie_said or any(v is not None for v in committed.values()):
            raise NotYet("A member the group had already replaced committed its batch: its"
                         " outputs and offsets now count, next to its successor's.",
                         "Pass the consumer's group_metadata() to"
                         " send_offsets_to_transaction, not the group's name: only with the"
                         " member id and generation can the coordinator refuse a zombie.")
        if not read_process_write(live, scene["new_records"], scene["new"].group_metadata(),
                                  scene["out"]):
            raise NotYet("The group's current member could not commit its batch.",
                         "Return True once commit_transaction() has returned.")
        outputs = _outputs(settings, scene["out"])
        committed = _committed(scene["new"], scene["in"])
        if sorted(outputs) != sorted(r.value for r in scene["new_records"]):
            raise NotYet(f"out_topic holds {len(outputs)} committed records for 6 inputs.",
                         "Send exactly one output per input record, inside the transaction.")
        if committed != {0: 3, 1: 3}:
            raise NotYet(f"The group's committed offsets are {committed}; each partition had"
                         " offsets 0-2.", "Commit the offset of the next record to read: the"
                         " last one's offset + 1, per partition.")
        return proven("the current member committed 6 outputs and offsets {0: 3, 1: 3} in one"
                      " transaction; the replaced member, with its own transactional id, was"
                      " refused by the group's metadata and left nothing.")
    finally:
        scene["new"].close()
        for producer in (zombie, live):
            producer.close(timeout=5)
        delete_topics(settings, [scene["in"], scene["out"]])
