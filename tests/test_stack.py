"""`banku stack` against real servers: Kafka 4.1.1 (KRaft) and redis-server as local processes.

These tests start and stop stacks of their own, on ports nobody else uses (`tests/ports.py`),
so they never touch the stack the rest of the suite (or a learner) runs on:

* a single broker with Redis,
* a three-broker cluster with Redis.

The jar cache in ``$BANKU_HOME`` (default ``~/.cache/banku``) is shared: only the stack
directory (``stack-<port>``) is per port. Every stack a test starts is stopped again by a
fixture, whether the test passed or not. Run with ``pytest -s`` to see the start-up times.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from banku import Settings, stack
from banku.adapters.kafka.clients import ensure_topic
from banku.lessons.notebook import environment_for
from tests import ports
from tests.helpers import wait_until

SINGLE = ports.settings_for(ports.STACK_SINGLE)
CLUSTER = ports.settings_for(ports.STACK_CLUSTER)
OTHERS = ports.ports_of(ports.SESSION) | {9092, 9093, 6379}  # stacks that belong to someone else
KAFKA, REDIS = ports.kafka_port(ports.STACK_SINGLE), ports.redis_port(ports.STACK_SINGLE)


def _ports(settings: Settings, brokers: int) -> set[int]:
    plan = stack.StackPlan.from_settings(settings, brokers)
    kafka = {plan.broker_port(n) for n in range(1, brokers + 1)}
    kafka |= {plan.controller_port(n) for n in range(1, brokers + 1)}
    return kafka | {plan.redis_port}


assert not (_ports(SINGLE, 1) | _ports(CLUSTER, 3)) & OTHERS
assert not _ports(SINGLE, 1) & _ports(CLUSTER, 3)
# The session's own stack (conftest.py) must not be one of ours: we wipe ours.
_session = Settings.from_env()
assert {SINGLE.bootstrap_servers, CLUSTER.bootstrap_servers}.isdisjoint(
    {_session.bootstrap_servers}
), "point KAFKA_BOOTSTRAP_SERVERS elsewhere: tests/test_stack.py wipes its own stacks"


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return environment_for(settings, **extra)


def banku(settings: Settings, *args: str, timeout: float = 150,
          **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m banku ARGS` against ``settings``'s servers."""
    return subprocess.run(
        [sys.executable, "-m", "banku", *args], env=env_for(settings, **env),
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def timed(settings: Settings, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = banku(settings, *args)
    return result, time.monotonic() - start


def stop_and_check(settings: Settings, brokers: int, wipe: bool = True) -> None:
    """Stop the stack (Python API) and make sure nothing of it still listens."""
    stack.down(settings, log=lambda line: None, wipe=wipe)
    theirs = sorted(_ports(settings, brokers))
    wait_until(lambda: not any(stack.port_open(p) for p in theirs), 10,
               f"none of the ports {theirs} to answer after `banku stack down`")


def report(what: str, seconds: float) -> None:
    print(f"\n[stack timing] {what}: {seconds:.1f}s", flush=True)


# --- a single broker -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def first_up():
    """Wipe our single stack, then `banku stack up` from nothing; stopped and wiped at the end."""
    try:
        wiped = banku(SINGLE, "stack", "down", "--wipe")
        assert wiped.returncode == 0, wiped.stderr
        assert not stack.StackPlan.from_settings(SINGLE).directory.exists()
        assert not stack.status(SINGLE).ok
        result, seconds = timed(SINGLE, "stack", "up")
        report("`banku stack up` from nothing (format storage, start Kafka + Redis)", seconds)
        yield result, seconds
    finally:
        stop_and_check(SINGLE, 1)


@pytest.fixture
def single(first_up):
    """The single-broker stack, running (restarted if an earlier test stopped it)."""
    stack.up(SINGLE, log=lambda line: None)
    return SINGLE


@pytest.fixture
def stopped(first_up):
    """The single-broker stack, stopped (its data kept); stopped again after the test."""
    stop_and_check(SINGLE, 1, wipe=False)
    try:
        yield SINGLE
    finally:
        stop_and_check(SINGLE, 1, wipe=False)


def test_up_starts_both_from_nothing(first_up):
    result, seconds = first_up
    assert result.returncode == 0, result.stderr
    assert f"Kafka {stack.KAFKA_VERSION} is up at 127.0.0.1:{KAFKA}" in result.stdout
    assert f"Redis is up at redis://127.0.0.1:{REDIS}/0" in result.stdout
    plan = stack.StackPlan.from_settings(SINGLE)
    assert stack.kafka_pid(plan, 1) and stack.redis_pid(plan)
    assert plan.directory == stack.banku_home() / f"stack-{KAFKA}"
    report("`banku stack up` from nothing", seconds)  # a figure, not a bar: machines differ


def test_status_exits_zero_and_names_both(single):
    result = banku(single, "stack", "status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("OK") and f"Kafka at 127.0.0.1:{KAFKA} (1 broker)" in line
               for line in lines), lines
    assert any(line.startswith("OK") and f"Redis at redis://127.0.0.1:{REDIS}/0" in line
               for line in lines), lines
    status = stack.status(single)
    assert status.ok and status.kafka_brokers == 1 and status.redis


def test_kafka_round_trip_keeps_each_key_in_one_partition(single):
    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=single.bootstrap_list, request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(topic, 3, 1)])
        producer = KafkaProducer(bootstrap_servers=single.bootstrap_list, acks="all",
                                 linger_ms=5)
        sent: dict[str, list[int]] = defaultdict(list)
        keys = [f"acc-{i}" for i in range(12)]
        futures = []
        for round_ in range(5):
            for key in keys:
                value = f"{key}:{round_}".encode()
                futures.append((key, producer.send(topic, key=key.encode(), value=value)))
        producer.flush(timeout=30)
        for key, future in futures:
            sent[key].append(future.get(timeout=30).partition)
        producer.close()

        consumer = KafkaConsumer(bootstrap_servers=single.bootstrap_list, group_id=None,
                                 enable_auto_commit=False, auto_offset_reset="earliest",
                                 consumer_timeout_ms=10000)
        partitions = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        received = []

        def all_read_back() -> bool:
            for records in consumer.poll(timeout_ms=1000).values():
                received.extend(records)
            return len(received) >= len(futures)

        try:
            wait_until(all_read_back, 30, f"the {len(futures)} records to be read back",
                       interval=0)
        finally:
            consumer.close()
    finally:
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()

    assert len(received) == len(futures) == 60
    where: dict[str, set[int]] = defaultdict(set)
    order: dict[str, list[int]] = defaultdict(list)
    for record in received:
        key = record.key.decode()
        where[key].add(record.partition)
        order[key].append(int(record.value.decode().rsplit(":", 1)[1]))
    for key in keys:
        assert len(where[key]) == 1, f"{key} landed in partitions {where[key]}"
        assert where[key] == set(sent[key]), "the consumer sees the partition the producer got"
        assert order[key] == list(range(5)), f"{key}'s records came back out of order"
    used = set().union(*where.values())
    assert len(used) > 1, "12 keys all hashed to one partition: the topic is not partitioned"
    assert used <= {0, 1, 2}


def test_redis_ping_set_get(single):
    client = redis.Redis.from_url(single.redis_url, socket_timeout=5)
    try:
        assert client.ping() is True
        key = f"stack-test:{uuid.uuid4().hex}"
        assert client.set(key, "2000") is True
        assert client.get(key) == b"2000"
        assert client.delete(key) == 1
        assert client.config_get("appendonly")["appendonly"] == "yes"
    finally:
        client.close()


def test_up_again_says_already_running_quickly(single):
    result, seconds = timed(single, "stack", "up")
    report("`banku stack up` when both already answer", seconds)
    assert result.returncode == 0, result.stderr
    assert f"Kafka is already running at 127.0.0.1:{KAFKA}" in result.stdout
    assert f"Redis is already running at redis://127.0.0.1:{REDIS}/0" in result.stdout
    # The Python API says the same.
    said: list[str] = []
    stack.up(single, log=said.append)
    assert sum("already running" in line for line in said) == 2, said


def test_down_then_status_fails_and_names_what_is_down(single):
    plan = stack.StackPlan.from_settings(single)
    pids = [stack.kafka_pid(plan, 1), stack.redis_pid(plan)]
    result = banku(single, "stack", "down")
    assert result.returncode == 0, result.stderr
    assert "Stopped Kafka" in result.stdout and "Stopped Redis" in result.stdout
    assert not any(stack.pid_alive(pid) for pid in pids)

    result = banku(single, "stack", "status")
    assert result.returncode != 0
    assert f"Kafka does not answer at 127.0.0.1:{KAFKA}" in result.stdout
    assert f"Redis does not answer at redis://127.0.0.1:{REDIS}/0" in result.stdout
    assert "banku stack up" in result.stdout

    # A second `down` has nothing to stop and still succeeds.
    again = banku(single, "stack", "down")
    assert again.returncode == 0 and "Nothing to stop" in again.stdout

    # Starting again reuses the formatted storage: this is the usual start-up of a learner.
    result, seconds = timed(single, "stack", "up")
    report("`banku stack up` again after down (storage kept, jars cached)", seconds)
    assert result.returncode == 0, result.stderr
    assert stack.status(single).ok


def test_up_refuses_a_kafka_port_taken_by_another_program(stopped):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", KAFKA))
        listener.listen(8)
        result = banku(stopped, "stack", "up", timeout=60)
    finally:
        listener.close()
    assert result.returncode != 0
    assert "taken" in result.stderr and str(KAFKA) in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was half-started: Redis was not left behind.
    assert not stack.port_open(REDIS)
    assert not stack.status(stopped).ok


def path_without_redis(tmp_path: Path) -> Path:
    """A PATH folder with Java, Maven and Python but no redis-server."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("java", "mvn"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    (bin_dir / "python").symlink_to(sys.executable)
    return bin_dir


def test_up_says_how_to_install_a_missing_redis_server(stopped, tmp_path):
    bin_dir = path_without_redis(tmp_path)
    assert shutil.which("redis-server", path=str(bin_dir)) is None

    result = banku(stopped, "stack", "up", timeout=60, PATH=str(bin_dir))
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    assert "redis-server is not installed" in message
    assert "apt-get install -y redis-server" in message
    # Nothing was started for want of Redis.
    assert not stack.port_open(KAFKA) and not stack.port_open(REDIS)


def test_up_refuses_a_redis_server_older_than_6_2_in_one_line(stopped, tmp_path):
    bin_dir = path_without_redis(tmp_path)
    old = bin_dir / "redis-server"  # says what Ubuntu 22.04's redis-server says
    old.write_text("#!/bin/sh\necho 'Redis server v=6.0.16 sha=00000000:0 malloc=jemalloc-5.2.1"
                   " bits=64 build=a3fdef44459b3ad6'\n")
    old.chmod(0o755)

    result = banku(stopped, "stack", "up", timeout=60, PATH=str(bin_dir))
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    assert f"{old} is Redis 6.0.16, but the kit needs Redis 6.2 or newer (7 recommended" in message
    assert not stack.port_open(KAFKA) and not stack.port_open(REDIS)


def test_up_refuses_to_turn_a_one_broker_stack_into_three(stopped):
    result = banku(stopped, "stack", "up", "--brokers", "3", timeout=60)
    assert result.returncode != 0
    assert "made with 1 broker" in result.stderr and "--wipe" in result.stderr, result.stderr
    assert not stack.port_open(KAFKA) and not stack.port_open(REDIS)


# --- three brokers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    try:
        wiped = banku(CLUSTER, "stack", "down", "--wipe")
        assert wiped.returncode == 0, wiped.stderr
        result, seconds = timed(CLUSTER, "stack", "up", "--brokers", "3")
        report("`banku stack up --brokers 3` from nothing", seconds)
        assert result.returncode == 0, result.stderr
        assert "(3 brokers, KRaft" in result.stdout
        yield CLUSTER
    finally:
        stop_and_check(CLUSTER, 3)


def test_three_brokers_answer_on_their_own_ports(cluster):
    result = banku(cluster, "stack", "status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(3 brokers)" in result.stdout
    plan = stack.StackPlan.from_settings(cluster, 3)
    first = ports.kafka_port(ports.STACK_CLUSTER)
    assert [plan.broker_port(n) for n in (1, 2, 3)] == [first, first + 2, first + 4]
    for node in (1, 2, 3):
        assert stack.kafka_pid(plan, node)
        assert stack.port_open(plan.broker_port(node))
    # Any node bootstraps a client.
    assert stack.kafka_broker_count(
        Settings(bootstrap_servers=f"127.0.0.1:{first + 4}", redis_url=cluster.redis_url)) == 3


def test_three_brokers_topic_is_replicated_three_times_with_min_isr_two(cluster):
    settings = cluster.with_namespace(f"t{uuid.uuid4().hex[:8]}")
    assert ensure_topic(settings) is True
    assert ensure_topic(settings) is False  # idempotent
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_list, request_timeout_ms=15000)
    try:
        (described,) = admin.describe_topics([settings.topic_name])
        partitions = described["partitions"]
        assert len(partitions) == 3
        for partition in partitions:
            assert sorted(partition["replica_nodes"]) == [1, 2, 3], partition
            assert sorted(partition["isr_nodes"]) == [1, 2, 3], partition
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.topic_name)]
        )["topic"][settings.topic_name]
        assert configs["min.insync.replicas"]["value"] == "2", configs
        admin.delete_topics([settings.topic_name])
    finally:
        admin.close()


def test_up_asking_for_fewer_brokers_than_run_is_fine(cluster):
    result = banku(cluster, "stack", "up", "--brokers", "1")
    assert result.returncode == 0, result.stderr
    assert "Kafka is already running" in result.stdout
