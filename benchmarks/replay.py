"""Replay from offset zero: the kit's projector against two other ways of reading the same topic.

* the ceiling: kafka-python consuming the topic and doing nothing with the records, with the
  projector's own fetch options (`banku.defaults.PROJECTOR_FETCH`);
* the Go tutorial's way: one event at a time (fetch the account hash, write it back, commit).

The bare consumer and the projector are alternated round after round, each with a new consumer
group (so each starts from offset zero and pays for joining the group, as a replay does).
"""

from __future__ import annotations

import json
import time

import redis
from kafka import KafkaConsumer, TopicPartition

from banku import Projector
from banku.adapters.redis.view import ReadModel
from banku.config import Settings
from banku.defaults import PROJECTOR_FETCH as FETCH_OPTIONS
from banku.domain.ledger import fold

from .common import Result, Sizes, fresh, load_log, median, stopwatch, synthetic_log, unique

TITLE = "Replay from offset zero (3 partitions)"
POLL_RECORDS = 5000  # the projector's default batch (`banku project --batch-size`)
MB = 1024 * 1024


def bare_consume(settings: Settings, total: int, **options: object) -> tuple[float, float]:
    """Wall and CPU seconds for a kafka-python consumer owning every partition (as the kit's
    one-shot replay does, no group to join) to receive ``total`` records from offset 0."""
    config: dict[str, object] = dict(
        group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    config.update(options)
    deadline = time.monotonic() + 600
    cpu = time.process_time()
    with stopwatch() as elapsed:
        consumer = KafkaConsumer(**settings.kafka_options(), **config)
        parts = [TopicPartition(settings.topic_name, p)
                 for p in sorted(consumer.partitions_for_topic(settings.topic_name))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        seen = 0
        while seen < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bare consumer saw {seen} of {total} records in 600 s")
            for records in consumer.poll(timeout_ms=500).values():
                seen += len(records)
    cpu = time.process_time() - cpu
    consumer.close()
    return elapsed(), cpu


def kit_replay(settings: Settings, total: int) -> tuple[float, float]:
    """Wall and CPU seconds for the kit's projector, in a new group with an empty view, to
    apply ``total`` records."""
    projector = Projector(settings, group_id=unique("banku-bench-kit"))
    projector.view.wipe()
    cpu = time.process_time()
    try:
        with stopwatch() as elapsed:
            applied = projector.run_until_caught_up(timeout=600)
        cpu = time.process_time() - cpu
    finally:
        projector.close()
    if applied != total:
        raise RuntimeError(f"the projector applied {applied} records, expected {total}")
    return elapsed(), cpu


def gostyle_projector(settings: Settings, limit: int) -> float:
    """The Go tutorial's consumer loop over the first ``limit`` records; returns seconds.

    For each message: decode the JSON, fetch the account (HGETALL), compute the new balance,
    write it back (HSET), commit the offset. Nothing is batched, so every event pays three to
    five round trips. The clock starts at the first message, so joining the group is not
    counted against it (it is counted against the kit).
    """
    r = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    prefix = f"{settings.key_prefix}gostyle:"
    consumer = KafkaConsumer(
        settings.topic_name, **settings.kafka_options(),
        group_id=settings.group_id(unique("banku-bench-gostyle")), enable_auto_commit=False,
        auto_offset_reset="earliest", consumer_timeout_ms=60_000,
    )
    count = 0
    started = 0.0
    try:
        for message in consumer:
            if count == 0:
                started = time.perf_counter()
            event = json.loads(message.value)
            key = prefix + event["AccId"]
            account = r.hgetall(key)
            kind = event["Type"]
            if kind == "CreateEvent":
                r.hset(key, mapping={"Id": event["AccId"], "Name": event["AccName"],
                                     "Balance": 0})
            elif kind == "DepositEvent":
                r.hset(key, "Balance", int(account.get("Balance", 0)) + event["Amount"])
            elif kind == "WithdrawEvent":
                r.hset(key, "Balance", int(account.get("Balance", 0)) - event["Amount"])
            elif kind == "TransferEvent":
                target_key = prefix + event["TargetId"]
                target = r.hgetall(target_key)
                r.hset(key, "Balance", int(account.get("Balance", 0)) - event["Amount"])
                r.hset(target_key, "Balance", int(target.get("Balance", 0)) + event["Amount"])
            consumer.commit()
            count += 1
            if count >= limit:
                break
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
        r.close()
    if count < limit:
        raise RuntimeError(f"the one-at-a-time projector saw only {count} of {limit} records")
    return elapsed


def run(base: Settings, sizes: Sizes) -> Result:
    result = Result("replay", TITLE)
    n = sizes.replay_events
    settings = fresh(base, "bench-replay")
    log = synthetic_log(n)
    loading = load_log(settings, log)
    result.figure("loading the topic (kit producer, context)", n / loading, "events/s")

    bare_rates: list[float] = []
    kit_rates: list[float] = []
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    cpu_us: dict[str, list[float]] = {"bare": [], "kit": []}
    same = dict(max_poll_records=POLL_RECORDS, **FETCH_OPTIONS)
    for _ in range(sizes.replay_rounds):
        bare_s, bare_cpu = bare_consume(settings, n, **same)
        kit_s, kit_cpu = kit_replay(settings, n)
        bare_rates.append(n / bare_s)
        kit_rates.append(n / kit_s)
        ratios.append(bare_s / kit_s)
        cpu_ratios.append(bare_cpu / kit_cpu)
        cpu_us["bare"].append(bare_cpu / n * 1e6)
        cpu_us["kit"].append(kit_cpu / n * 1e6)

    view = ReadModel(settings)
    try:
        if view.balances() != fold(event for event, _ in log).balances:
            raise RuntimeError("the replayed view does not equal the fold of the log")
    finally:
        view.close()

    defaults = n / bare_consume(settings, n)[0]  # kafka-python as it comes (500 per poll)
    # The client's best case: whole partitions per fetch (memory then grows with the log).
    largest = n / bare_consume(settings, n, max_poll_records=POLL_RECORDS,
                               max_partition_fetch_bytes=16 * MB, fetch_max_bytes=64 * MB)[0]
    gostyle = sizes.gostyle_events / gostyle_projector(settings, sizes.gostyle_events)

    kit = median(kit_rates)
    rounds = f"median of {sizes.replay_rounds}"
    result.figure(f"kit projector, {n:,} events ({rounds})", kit, "events/s")
    result.figure(f"(a) bare kafka-python, same fetch options, does nothing ({rounds})",
                  median(bare_rates), "events/s")
    result.figure("kafka-python with its default options (context)", defaults, "events/s")
    result.figure("kafka-python, 16 MB fetches per partition (context)", largest, "events/s")
    result.figure(f"(b) one-at-a-time projector, first {sizes.gostyle_events:,} events",
                  gostyle, "events/s")
    result.figure("CPU per event: kit projector (context)", median(cpu_us["kit"]), "us")
    result.figure("CPU per event: (a) bare consumer (context)", median(cpu_us["bare"]), "us")
    result.ratio("kit projector / (a) bare consumer", median(ratios), 0.6)
    result.ratio("kit projector / (b) one-at-a-time", kit / gostyle, 10.0)
    result.ratio("kit / (a) in CPU per event (context)", median(cpu_ratios))
    result.ratio("kit projector / kafka-python defaults (context)", kit / defaults)
    result.ratio("kit projector / kafka-python, 16 MB fetches (context)", kit / largest)
    result.note(
        f"(a) and the kit alternate {sizes.replay_rounds}x, each from offset zero in a new"
        " group (joining included); the ratio is the median of the rounds. (b) is measured"
        f" over the first {sizes.gostyle_events:,} events, from its first message, and"
        " compared by rate. CPU is this process's CPU time (Redis's work is not in it). The"
        " replayed view was checked against the fold of the log. Ratio per round:"
        f" {', '.join(f'{r:.2f}' for r in ratios)}."
    )
    return result
