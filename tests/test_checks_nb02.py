"""The checks of notebook 02, against the real Kafka and Redis: each passes on its solution and
answers the stub and the likely mistakes with its one line and hint, never a traceback."""

from __future__ import annotations

import json

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from banku import Bank, Projector
from banku.lessons.checks import nb02


def said(capsys) -> str:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, f"a check prints one line: {out!r}"
    assert "Traceback" not in out
    return out


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- exercise 1: mark first ----------------------------------------
class Crash(Exception):
    pass


def projector_in_order(settings, commit_first: bool, crash: bool = True):
    """The notebook's naive projector, committing before or after its effect."""
    topic = settings.topic_name
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    partitions = [TopicPartition(topic, p) for p in range(3)]

    def apply_event(prefix, event):
        key = prefix + event["AccId"]
        if event["Type"] == "CreateEvent":
            client.hset(key, mapping={"Id": event["AccId"], "Balance": 0})
        elif event["Type"] == "DepositEvent":
            client.hincrby(key, "Balance", event["Amount"])

    def run(group, prefix, crash_at=None):
        consumer = KafkaConsumer(topic, **settings.kafka_options(), group_id=group,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 max_poll_records=1)
        ends = consumer.end_offsets(partitions)
        try:
            while not (consumer.assignment() and all(
                    consumer.position(tp) >= ends[tp] for tp in consumer.assignment())):
                for records in consumer.poll(timeout_ms=500).values():
                    if commit_first:
                        consumer.commit()
                    for record in records:
                        at = (record.partition, record.offset)
                        if commit_first and at == crash_at and crash:
                            raise Crash(at)
                        apply_event(prefix, json.loads(record.value))
                        if not commit_first and at == crash_at and crash:
                            raise Crash(at)
                    if not commit_first:
                        consumer.commit()
        finally:
            consumer.close(autocommit=False)

    return run


@pytest.fixture
def deposit_to_lose(settings):
    with Bank(settings) as bank:
        ingrid = bank.create_account("Ingrid")
        bank.deposit(ingrid, 1000)
        deposit = bank.deposit(ingrid, 2000)
    return ingrid, (deposit.partition, deposit.offset), 3000


def test_mark_first(settings, deposit_to_lose, capsys):
    ingrid, crash_at, truth = deposit_to_lose
    args = (settings, crash_at, ingrid, truth, 2000)
    assert nb02.check_mark_first(projector_in_order(settings, commit_first=True), *args) is True
    assert "at-most-once" in said(capsys)
    assert nb02.check_mark_first(stub, *args) is False
    assert "Not written yet" in said(capsys)
    assert nb02.check_mark_first(projector_in_order(settings, commit_first=False), *args) is False
    assert "counted twice" in said(capsys)
    no_crash = projector_in_order(settings, commit_first=True, crash=False)
    assert nb02.check_mark_first(no_crash, *args) is False
    assert "never stopped at crash_at" in said(capsys)


# --- exercise 2: the Lua step ----------------------------------------
SOLUTION = """
local stored = redis.call('HGET', KEYS[1], ARGV[1]) or '0'
if stored ~= ARGV[2] then
  return 0
end
redis.call('HINCRBY', KEYS[2], 'Balance', ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1)
return 1
"""


def test_apply_once(settings, capsys):
    assert nb02.check_apply_once(SOLUTION, settings) is True
    assert said(capsys).startswith("✔")
    assert nb02.check_apply_once('\n-- your Lua here\n', settings) is False
    assert "Not written yet" in said(capsys)
    client = redis.Redis.from_url(settings.redis_url)
    assert not list(client.scan_iter(match=f"{settings.key_prefix}*")), "the check cleans up"


@pytest.mark.parametrize("mistake, hint", [
    (SOLUTION.replace("redis.call('HSET', KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1)\n", ""),
     "write the partition's new position"),
    (SOLUTION.replace("tonumber(ARGV[2]) + 1", "ARGV[2]"), "the NEXT record"),
    (SOLUTION.replace("if stored ~= ARGV[2] then",
                      "if tonumber(stored) > tonumber(ARGV[2]) then"), "exactly the stored"),
    (SOLUTION.replace(" or '0'", ""), "starts at 0"),
    (SOLUTION.replace("return 1", ""), "return 1 (applied)"),
    (SOLUTION.replace("redis.call('HGET'", "redis.call('HGETT'"), "Redis refused the script"),
])
def test_apply_once_mistakes(settings, mistake, hint, capsys):
    assert nb02.check_apply_once(mistake, settings) is False
    out = said(capsys)
    assert out.startswith("✘") and hint in out, out


# --- exercise 3: the dead letters ----------------------------------------
def read_dead_letters_with(settings, beginning=True, decode=True, swap=False):
    def read(topic):
        consumer = KafkaConsumer(**settings.kafka_options(), group_id=None,
                                 enable_auto_commit=False)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(parts)
        if beginning:
            consumer.seek_to_beginning(*parts)
        else:
            consumer.seek_to_end(*parts)
        ends = consumer.end_offsets(parts)
        letters = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    headers = {k: (v.decode() if decode else v) for k, v in record.headers}
                    pair = (headers["banku.source"], headers["banku.reason"])
                    letters.append(pair[::-1] if swap else pair)
        consumer.close()
        return letters
    return read


@pytest.fixture
def poisoned(settings):
    with Bank(settings) as bank:
        acc = bank.create_account("Omar")
    raw = KafkaProducer(**settings.kafka_options(), acks="all")
    for value in (b"withdraw###x###5000", b'["DepositEvent", 2000]', b"{}"):
        raw.send(settings.topic_name, key=acc.encode(), value=value).get(timeout=10)
    raw.close()
    with Projector(settings) as projector:
        projector.run_until_caught_up(timeout=30)
    return settings


def test_dead_letters(poisoned, capsys):
    settings = poisoned
    assert nb02.check_dead_letters(read_dead_letters_with(settings), settings) is True
    assert "all 3 dead letters" in said(capsys)
    assert nb02.check_dead_letters(stub, settings) is False
    assert "Not written yet" in said(capsys)


@pytest.mark.parametrize("mistake, hint", [
    ({"beginning": False}, "seek to the beginning"),
    ({"decode": False}, ".decode()"),
    ({"swap": True}, "swapped"),
])
def test_dead_letters_mistakes(poisoned, mistake, hint, capsys):
    settings = poisoned
    assert nb02.check_dead_letters(read_dead_letters_with(settings, **mistake), settings) is False
    out = said(capsys)
    assert out.startswith("✘") and hint in out, out


def test_the_notebooks_own_lua_solution_passes(settings, capsys):
    import nbformat

    from banku.lessons import authoring

    nb = nbformat.read(authoring.NOTEBOOKS / "02_replay_from_offset_zero.ipynb", as_version=4)
    (solution,) = [c.source for c in nb.cells if "solution" in authoring.tags(c)
                   and "APPLY_ONCE = " in c.source]
    given: dict = {}
    exec(solution, given)  # the kit's own cell: a string assignment
    assert nb02.check_apply_once(given["APPLY_ONCE"], settings) is True
    assert said(capsys).startswith("✔")
