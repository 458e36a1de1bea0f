"""A hostile learner against the room's Kafka, and the room's processes and files: a 3-learner
room of its own (tests/ports.py, block ROOM_ATTACKS_KAFKA), each attack run as learner-01.

After each attack, learner-02 and the instructor still complete a round trip (create, deposit,
project, read back), and the attack was refused or contained with one sentence. Each attack's
outcome is a row of the fault report (``attack``, ``got``). Besides the attacks: no password on
any process's command line while `workshop up` and `stack up` run, a broker that dies is named
as down (not as a refused login), and nothing of the stack's or the room's folders is readable by
other local users.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka import errors as kafka_errors
from kafka.admin import ConfigResource, NewTopic

from banku import Settings, stack
from banku.adapters.kafka.clients import COMPACTED_CONFIG
from banku.lab import room
from banku.lab.room_access import LEARNER_QUOTAS
from banku.stack import kafka_config
from tests import ports
from tests.fault.room_attacks import ATTACKER, OTHER, AttackedRoom, quiet, round_trip
from tests.fault.util import banku
from tests.helpers import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc (command lines, sockets)")

ROOM = ports.settings_for(ports.ROOM_ATTACKS_KAFKA)
# A stack with a plain SASL/PLAIN login and a Redis password, in the block's spare ports (Kafka
# +4, Redis +8): `stack up` of a stack that is not a room must not show its passwords either.
PLAIN_KAFKA_PASSWORD, PLAIN_REDIS_PASSWORD = (f"plain-{uuid.uuid4().hex}" for _ in range(2))
PLAIN = Settings(
    bootstrap_servers=f"127.0.0.1:{ports.kafka_port(ports.ROOM_ATTACKS_KAFKA) + 4}",
    redis_url=f"redis://:{PLAIN_REDIS_PASSWORD}@127.0.0.1:"
              f"{ports.redis_port(ports.ROOM_ATTACKS_KAFKA) - 1}/0",
    kafka_username="banku", kafka_password=PLAIN_KAFKA_PASSWORD)
ATTACKED = AttackedRoom(ROOM)
learner, instructor = ATTACKED.learner, ATTACKED.instructor
others_still_work = ATTACKED.others_still_work
MB = 1024 * 1024


class CommandLines(threading.Thread):
    """Every distinct command line of every process of this machine, read from /proc as often
    as it can be (a password on a command line shows for as long as that process runs)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[str] = set()
        self.polls = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    try:
                        with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                            line = f.read().replace(b"\0", b" ").decode(errors="replace")
                    except OSError:
                        continue  # gone meanwhile
                    if line:
                        self.seen.add(line)
            self.polls += 1

    def __enter__(self) -> CommandLines:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop_event.set()
        self.join(timeout=30)


_watched: dict[str, CommandLines] = {}


@pytest.fixture(scope="module")
def the_room(tmp_path_factory):
    out = tmp_path_factory.mktemp("kafka-attacks") / "learners"
    stack.down(ROOM, log=quiet, wipe=True)
    try:
        with CommandLines() as watch:
            room.up(ROOM, 3, out, log=quiet)
        _watched["workshop up"] = watch
        yield out
    finally:
        room.down(ROOM, wipe=True, log=quiet)


def admin_of(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(**settings.kafka_options(), request_timeout_ms=30_000)


def broker_message(exc: BaseException) -> str:
    """The broker's own sentence inside a kafka-python admin error (which quotes the request)."""
    found = re.search(r"error_message='([^']*)'", str(exc))
    said = found.group(1) if found else getattr(exc, "description", "") or str(exc)[:160]
    return f"{type(exc).__name__}: {said}"


def broker_pid() -> int:
    pid = stack.kafka_pid(stack.StackPlan.from_settings(ROOM), 1)
    assert pid, "the room's broker runs"
    return pid


def broker_memory_mb(pid: int) -> dict[str, int]:
    """The broker's resident memory now and at its peak (VmHWM), in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM")}


def broker_log() -> str:
    return stack.StackPlan.from_settings(ROOM).kafka_log(1).read_text(errors="replace")


# --- processes and files ---------------------------------------------------------------------
def _secrets() -> set[str]:
    """Every password of the room (room.json holds them all) and of the plain stack."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in ("out", "host"):
                    walk(item)
        elif isinstance(value, str) and value:
            found.add(value)

    walk(json.loads(stack.StackPlan.from_settings(ROOM).room_file.read_text()))
    return found | {PLAIN_KAFKA_PASSWORD, PLAIN_REDIS_PASSWORD}


def test_no_password_on_any_command_line_during_workshop_up_and_stack_up(the_room, report):
    stack.down(PLAIN, log=quiet, wipe=True)
    try:
        with CommandLines() as watch:
            stack.up(PLAIN, log=quiet, timeout=150)
        _watched["stack up"] = watch
    finally:
        stack.down(PLAIN, log=quiet, wipe=True)
    secrets = _secrets()
    assert len(secrets) >= 10 and all(len(s) >= 20 for s in secrets)
    figures = {}
    for what, seen in _watched.items():
        lines = seen.seen
        # The scan saw the moments that used to show passwords: the storage tool (now given an
        # @argfile), the broker and redis-server.
        assert any("format.args" in line for line in lines), what
        assert any("kafka.Kafka" in line for line in lines), what
        assert any("redis-server" in line for line in lines), what
        shown = [line[:80] for line in lines if any(secret in line for secret in secrets)]
        assert not shown, (what, shown)
        figures[f"{what}: polls"] = seen.polls
        figures[f"{what}: command lines seen"] = len(lines)
    report(attack="ps during workshop up and stack up (every /proc/*/cmdline, polled)",
           got=f"no password in any of {sum(len(w.seen) for w in _watched.values())} command"
               " lines (the storage tool reads its --add-scram from a 0600 @argfile, Redis its"
               " requirepass from a 0600 redis.conf)", **figures)


# --- attacks -------------------------------------------------------------------------------------
PRODUCERS, RECORD_MB = 7, 95


def test_concurrent_oversized_produce_requests_are_refused_and_the_broker_lives(the_room,
                                                                                 report):
    me = learner(ATTACKER)
    topic = f"{ATTACKER}.big"
    with admin_of(me) as admin:
        admin.create_topics([NewTopic(topic, 3, 1)])
    pid = broker_pid()
    value = b"x" * (RECORD_MB * MB)
    outcomes: list[str] = []

    def attack() -> None:
        producer = KafkaProducer(**me.kafka_options(), max_request_size=(RECORD_MB + 5) * MB,
                                 retries=0, request_timeout_ms=15_000, max_block_ms=15_000,
                                 linger_ms=0)
        try:
            producer.send(topic, value).get(timeout=60)
            outcomes.append("written")
        except kafka_errors.KafkaError as exc:
            outcomes.append(type(exc).__name__)
        finally:
            producer.close(timeout=5)

    started = time.monotonic()
    threads = [threading.Thread(target=attack) for _ in range(PRODUCERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    seconds = round(time.monotonic() - started, 1)
    assert len(outcomes) == PRODUCERS and "written" not in outcomes, outcomes
    assert broker_pid() == pid, "the broker survived"
    refused = broker_log().count(
        f"larger than {kafka_config.SOCKET_REQUEST_MAX_BYTES})")
    assert refused >= 1, "the broker refused the requests by their size"
    memory = broker_memory_mb(pid)
    figures = others_still_work("big")
    report(attack=f"{PRODUCERS} concurrent producers, one {RECORD_MB} MB record each, to the"
                  " learner's own topic",
           got=f"refused: the broker reads a request's 4-byte size and closes the connection"
               f" when it is over socket.request.max.bytes ({kafka_config.SOCKET_REQUEST_MAX_BYTES}"
               f" bytes); broker alive, {memory['VmHWM']} MiB at its peak",
           client_errors=sorted(set(outcomes)), refusals_in_broker_log=refused,
           attack_s=seconds, broker_rss_mib=memory["VmRSS"], **figures)


def test_thousands_of_partitions_are_refused(the_room, report):
    me = learner(ATTACKER)
    cap = kafka_config.ROOM_MAX_PARTITIONS
    created = 0
    refusals: dict[str, str] = {}
    started = time.monotonic()
    with admin_of(me) as admin:
        with pytest.raises(kafka_errors.PolicyViolationError) as wide:
            admin.create_topics([NewTopic(f"{ATTACKER}.wide", 2000, 1)])
        refusals["one topic of 2,000"] = broker_message(wide.value)
        # The same partitions as many topics of the largest size allowed: the learner's
        # controller mutation quota stops them after a burst of about eleven seconds' worth.
        for number in range(2000 // cap):
            try:
                admin.create_topics([NewTopic(f"{ATTACKER}.many-{number}", cap, 1)])
                created += cap
            except kafka_errors.ThrottlingQuotaExceededError as exc:
                refusals["many topics"] = broker_message(exc)
                break
    seconds = round(time.monotonic() - started, 1)
    assert str(cap) in refusals["one topic of 2,000"]
    assert "many topics" in refusals, f"{created} partitions created, none refused"
    rate = LEARNER_QUOTAS["controller_mutation_rate"]
    assert created <= 2 * 11 * rate + cap, created  # the burst, not 2,000
    with admin_of(instructor()) as admin:  # the instructor has no quota: clean up at once
        mine = [t for t in admin.list_topics() if t.startswith(f"{ATTACKER}.many-")]
        admin.delete_topics(mine)
    figures = others_still_work("partitions")
    report(attack="2,000 partitions: one topic of 2,000, then topics of "
                  f"{cap} partitions as fast as the broker takes them",
           got=f"refused: {refusals['one topic of 2,000']}; then {created} partitions created"
               f" before {refusals['many topics']} (controller_mutation_rate {rate}/s)",
           attack_s=seconds, **figures)


def test_segment_ms_and_max_message_bytes_overrides_are_refused(the_room, report):
    me = learner(ATTACKER)
    refusals = {}
    with admin_of(me) as admin:
        for name, config in [("segment.ms=1", {"segment.ms": "1"}),
                             ("max.message.bytes=104857600", {"max.message.bytes": "104857600"}),
                             ("segment.bytes=1048576", {"segment.bytes": "1048576"}),
                             ("flush.messages=1", {"flush.messages": "1"})]:
            with pytest.raises(kafka_errors.PolicyViolationError) as refused:
                admin.create_topics([NewTopic(f"{ATTACKER}.cfg-{uuid.uuid4().hex[:6]}", 1, 1,
                                              topic_configs=config)])
            refusals[name] = broker_message(refused.value)
        # The kit's own topics stay allowed: a snapshot topic (compacted, 16 MiB records).
        admin.create_topics([NewTopic(f"{ATTACKER}.snapshots-ok", 1, 1,
                                      topic_configs=COMPACTED_CONFIG)])
        # ... and an existing topic's configs are not the learner's to change at all.
        answer = admin.alter_configs([ConfigResource("TOPIC", f"{ATTACKER}.snapshots-ok",
                                                     {"segment.ms": "1"})])
        altered = str(answer)
    assert "TopicAuthorizationFailed" in altered, altered
    for name, text in refusals.items():
        assert "PolicyViolationError: topic " in text, (name, text)
    figures = others_still_work("configs")
    report(attack="topics with segment.ms=1, max.message.bytes=104857600 (and"
                  " segment.bytes=1048576, flush.messages=1); alter_configs segment.ms=1 on the"
                  " learner's own topic",
           got=f"refused: {refusals['segment.ms=1']}; {refusals['max.message.bytes=104857600']};"
               " alter_configs: TopicAuthorizationFailedError (no ALTER_CONFIGS)",
           **{f"refused {name}": text for name, text in refusals.items()}, **figures)


FLOOD = kafka_config.ROOM_MAX_CONNECTIONS_PER_IP + 100
FLOOD_SECONDS = 60


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_a_connection_flood_from_one_machine_is_capped(the_room, report):
    """A learner's own machine (127.0.0.2 stands for its address: Linux routes 127.0.0.0/8 to
    this machine) opens idle connections, bounded in count and time: the broker keeps
    max.connections.per.ip of them and closes the rest, and everybody else still gets in."""
    port = ports.kafka_port(ports.ROOM_ATTACKS_KAFKA)
    sockets: list[socket.socket] = []
    deadline = time.monotonic() + FLOOD_SECONDS
    try:
        while len(sockets) < FLOOD and time.monotonic() < deadline:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.bind(("127.0.0.2", 0))
            sock.connect(("127.0.0.1", port))
            sock.setblocking(False)  # so that a peek says at once whether the broker closed it
            sockets.append(sock)
        cap = kafka_config.ROOM_MAX_CONNECTIONS_PER_IP
        wait_until(lambda: sum(map(_closed_by_peer, sockets)) >= len(sockets) - cap,
                   FLOOD_SECONDS, "the broker to close the connections over its cap")
        kept = len(sockets) - sum(map(_closed_by_peer, sockets))
        figures = others_still_work("flood")  # while the flood is held
    finally:
        for sock in sockets:
            sock.close()
    assert len(sockets) == FLOOD and kept <= cap, (len(sockets), kept)
    report(attack=f"{FLOOD} idle TCP connections to Kafka from one learner's machine"
                  " (127.0.0.2), never logged in",
           got=f"capped: the broker kept {kept} (max.connections.per.ip {cap}) and closed the"
               f" rest; the room's own machine may hold {kafka_config.ROOM_MAX_CONNECTIONS_HERE},"
               f" all together {kafka_config.ROOM_MAX_CONNECTIONS}", **figures)


def _broker_connections(port: int) -> int:
    """Established TCP connections of this machine's clients to ``port`` (/proc/net/tcp and
    tcp6: the remote end is the broker)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


def test_a_learner_round_trip_needs_few_connections(the_room, report):
    """The figure behind max.connections.per.ip: the most connections one learner's round trip
    (producer, reader, admin, projector) holds at once."""
    port = ports.kafka_port(ports.ROOM_ATTACKS_KAFKA)
    baseline = _broker_connections(port)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _broker_connections(port))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        seconds = round_trip(learner(OTHER, f"{OTHER}-conns-{uuid.uuid4().hex[:6]}"))
    finally:
        done.set()
        sampler.join(timeout=10)
    used = peak[0] - baseline
    assert 0 < used < kafka_config.ROOM_MAX_CONNECTIONS_HERE // 40, used
    report(attack="(figure) connections one learner's round trip holds at once",
           got=f"{used} at most: 40 learners with several notebooks each stay far below"
               f" {kafka_config.ROOM_MAX_CONNECTIONS_HERE}", round_trip_s=seconds)


def test_a_dead_broker_is_named_as_down_not_as_a_refused_login(the_room, report):
    pid = broker_pid()
    os.kill(pid, signal.SIGKILL)  # our own room's broker
    wait_until(lambda: not stack.kafka_pid(stack.StackPlan.from_settings(ROOM), 1), 30,
               "the broker to be gone")
    try:
        refused = banku(learner(OTHER), "create", "Ada", timeout=180)
        lines = [line for line in refused.stderr.strip().splitlines() if line]
        status = stack.status(instructor())
        workshop = banku(instructor(), "workshop", "status", timeout=180)
    finally:
        room.up(ROOM, 3, the_room, log=quiet)  # the room restarts, learners and data kept
    assert refused.returncode != 0 and len(lines) == 1, refused.stderr
    assert "the room's broker is down" in lines[0] and "password" not in lines[0], lines
    kafka_line = status.lines()[0]
    assert kafka_line.startswith("FAIL  the room's broker is down"), kafka_line
    said = [line for line in workshop.stdout.splitlines() if "Kafka" in line]
    assert workshop.returncode != 0 and len(said) == 1, workshop.stdout + workshop.stderr
    assert said[0].startswith("FAIL  the room's broker is down"), said
    figures = others_still_work("restarted")
    report(attack="the broker killed (SIGKILL), as an out-of-memory exit would end it",
           got=f"learner-02 reads: {lines[0]} | stack status: {kafka_line}", **figures)


def test_nothing_of_the_stack_or_the_room_is_readable_by_others(the_room, report):
    """Last: after the attacks and a restart, every folder and file the stack and the room
    made (data, segments, the append-only file, users.acl after ACL SAVE, logs, env files)
    is its owner's alone."""
    room.add(ROOM, 1, log=quiet)  # one more ACL SAVE: Redis rewrites users.acl
    plan = stack.StackPlan.from_settings(ROOM)
    walked = 0
    open_to_others = []
    for top in (plan.directory, the_room):
        for path in [top, *top.rglob("*")]:
            walked += 1
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077 and not path.is_symlink():
                open_to_others.append(f"{oct(mode)} {path}")
    assert walked > 20 and plan.redis_acl_file.exists()
    assert not open_to_others, open_to_others[:10]
    instructor_file = room.instructor_env_file(the_room)
    assert instructor_file.exists() and instructor_file.parent != the_room
    assert not (the_room / "instructor.env").exists()
    report(attack="a file-mode walk of the stack's and the room's folders",
           got=f"none of {walked} files and folders readable by others (folders 0700, files"
               " 0600); instructor.env in a folder of its own", walked=walked)
