"""A secured workshop room (`banku workshop up`) on a stack of its own (tests/ports.py, block
WORKSHOP): SCRAM logins, Kafka ACLs and Redis ACL users keep every learner in their namespace.

The negative tests use learner 1's credentials against learner 2's namespace through the command
line, the Python API, raw kafka-python and raw redis-py: every attempt is refused, the kit says so
in one line naming the cause, and learner 2's data is unchanged afterwards.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kafka_errors

from banku import Bank, NotAllowed, Settings, StackError, stack
from banku.adapters.redis.view import FUNCTIONS, ReadModel
from banku.lab import room
from tests import ports
from tests.helpers import ROOT, fold_topic

ROOM = ports.settings_for(ports.WORKSHOP)
MINE, THEIRS = "learner-01", "learner-02"
THEIR_TOPIC = f"{THEIRS}.banku-transactions"
THEIR_GROUP = f"{THEIRS}.banku-consumer"
REFUSED = "not allowed: "


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def room_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("room") / "learners"
    stack.down(ROOM, log=_quiet, wipe=True)
    try:
        room.up(ROOM, 2, out, log=_quiet)
        yield out
    finally:
        room.down(ROOM, wipe=True, log=_quiet)
    assert not list(out.rglob("*.env")), "down --wipe removes the env files it wrote"


def env_file(room_dir: Path, who: str) -> dict[str, str]:
    path = room.instructor_env_file(room_dir) if who == "instructor" else room_dir / f"{who}.env"
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def settings_of(room_dir: Path, who: str, namespace: str | None = None) -> Settings:
    settings = Settings.from_env(env_file(room_dir, who))
    return settings if namespace is None else settings.with_namespace(namespace)


def banku(room_dir: Path, who: str, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """The real command line with a learner's file sourced (and ``extra`` on top)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAFKA_", "REDIS_", "BANKU_NAMESPACE"))}
    env.update(env_file(room_dir, who), PYTHONUNBUFFERED="1", **extra)
    return subprocess.run([sys.executable, "-m", "banku", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.strip().splitlines()
             if not line.startswith(("assigned partitions", "revoked partitions"))]
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("banku: "), result.stderr
    return lines[0]


def kafka_client_options(settings: Settings) -> dict:
    return dict(settings.kafka_options(), bootstrap_timeout_ms=10_000)


def test_up_writes_one_private_file_per_learner_and_one_for_the_instructor(room_dir):
    files = sorted(p.name for p in room_dir.glob("*.env"))
    assert files == ["learner-01.env", "learner-02.env"]
    # The instructor's file sits apart from the learners' files (which are handed out).
    assert room.instructor_env_file(room_dir) == room_dir / "instructor" / "instructor.env"
    for path in [*(room_dir / name for name in files), room.instructor_env_file(room_dir)]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (room_dir, room.instructor_env_file(room_dir).parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    learner = env_file(room_dir, MINE)
    assert set(learner) == {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SASL_USERNAME",
                            "KAFKA_SASL_PASSWORD", "KAFKA_SASL_MECHANISM", "REDIS_URL",
                            "BANKU_NAMESPACE"}
    assert learner["KAFKA_BOOTSTRAP_SERVERS"] == ROOM.bootstrap_servers
    assert learner["KAFKA_SASL_USERNAME"] == MINE == learner["BANKU_NAMESPACE"]
    assert learner["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-256"
    assert learner["REDIS_URL"].startswith(f"redis://{MINE}:")
    passwords = {env_file(room_dir, who)[key] for who in ("instructor", MINE, THEIRS)
                 for key in ("KAFKA_SASL_PASSWORD",)}
    assert len(passwords) == 3 and all(len(p) >= 20 for p in passwords)
    assert env_file(room_dir, "instructor")["BANKU_NAMESPACE"] == ""
    properties = (stack.StackPlan.from_settings(ROOM).node_dir(1) / "server.properties")
    text = properties.read_text()
    assert "allow.everyone.if.no.acl.found=false" in text
    assert "StandardAuthorizer" in text and "CONTROLLER:SASL_PLAINTEXT" in text
    assert stat.S_IMODE(properties.stat().st_mode) == 0o600


def test_a_learner_works_in_their_namespace_and_doctor_says_who_they_are(room_dir):
    created = banku(room_dir, THEIRS, "create", "Ada Lovelace")
    assert created.returncode == 0, created.stderr
    ada = created.stdout.strip()
    assert banku(room_dir, THEIRS, "deposit", ada, "2500").returncode == 0
    projected = banku(room_dir, THEIRS, "project", "--until-caught-up")
    assert projected.returncode == 0, projected.stderr
    balances = banku(room_dir, THEIRS, "balances")
    assert "Ada Lovelace" in balances.stdout and "2500" in balances.stdout
    # The notebooks work in sub-namespaces (learner-02-nb01 ...): those are the learner's too.
    sub = banku(room_dir, THEIRS, "create", "Grace", BANKU_NAMESPACE=f"{THEIRS}-nb01")
    assert sub.returncode == 0, sub.stderr
    doctor = banku(room_dir, THEIRS, "doctor")
    assert f"OK    you are: {THEIRS}" in doctor.stdout
    assert f"OK    Kafka login: user {THEIRS} (SASL/SCRAM-SHA-256) accepted" in doctor.stdout
    assert f"OK    Redis login: user {THEIRS} accepted" in doctor.stdout
    assert "OK    namespace is yours" in doctor.stdout


def _their_data(room_dir: Path) -> tuple[dict, dict]:
    """Learner 2's log (folded by hand) and every Redis key of theirs (in every database), read
    as the instructor."""
    instructor = settings_of(room_dir, "instructor", THEIRS)
    client = redis.Redis.from_url(instructor.redis_url, decode_responses=True)
    dump = {}
    try:
        for db in range(0, 4):
            client.execute_command("SELECT", db)
            for key in sorted(client.scan_iter(match=f"{THEIRS}*")):
                dump[(db, key)] = client.dump(key)
    finally:
        client.close()
    return fold_topic(instructor), dump


def test_learner_one_cannot_touch_learner_two_through_the_kit(room_dir):
    before = _their_data(room_dir)
    assert before[0] and before[1], "learner 2 has data to protect"
    ada = next(iter(before[0]))
    spy = {"BANKU_NAMESPACE": THEIRS}
    attempts = [("create", "Eve"), ("deposit", ada, "100"), ("withdraw", ada, "100"),
                ("balances",), ("project", "--until-caught-up"), ("replay",), ("dlq",),
                ("reset", "--yes"), ("load",)]
    for args in attempts:
        line = one_line(banku(room_dir, MINE, *args, **spy))
        assert line.startswith(f"banku: {REFUSED}"), (args, line)
        assert THEIRS in line and "belongs to another learner" in line, (args, line)
        assert f"you are {MINE}" in line, (args, line)
    line = one_line(banku(room_dir, MINE, "reset", "--yes", "--all-namespaces"))
    assert line.startswith(f"banku: {REFUSED}--all-namespaces"), line
    doctor = banku(room_dir, MINE, "doctor", **spy)
    assert doctor.returncode == 1 and "FAIL  namespace is yours: not allowed" in doctor.stdout

    # The Python API raises the same refusal.
    spying = settings_of(room_dir, MINE, THEIRS)
    with pytest.raises(NotAllowed, match=f"{REFUSED}.*{THEIRS}"), Bank(spying) as bank:
        bank.create_account("Eve")
    with pytest.raises(NotAllowed, match=f"{REFUSED}namespace {THEIRS}"):
        ReadModel(spying).accounts()
    assert _their_data(room_dir) == before


def test_raw_kafka_python_cannot_read_write_or_join_learner_two(room_dir):
    before = _their_data(room_dir)
    me = settings_of(room_dir, MINE)
    options = kafka_client_options(me)

    producer = KafkaProducer(**options, max_block_ms=5_000)
    try:
        with pytest.raises(kafka_errors.TopicAuthorizationFailedError):
            producer.send(THEIR_TOPIC, b'{"AccId": "x", "Type": "DepositEvent", "Amount": 1}'
                          ).get(timeout=10)
    finally:
        producer.close(timeout=5)

    reader = KafkaConsumer(**options, group_id=None, auto_offset_reset="earliest",
                           enable_auto_commit=False)
    try:
        assert THEIR_TOPIC not in reader.topics()  # an ACL hides it: nothing to read
        assert not reader.partitions_for_topic(THEIR_TOPIC)
        reader.assign([TopicPartition(THEIR_TOPIC, p) for p in range(3)])
        polled = [reader.poll(timeout_ms=500) for _ in range(4)]  # bounded: 2 s at most
        assert not any(polled), "no record of learner 2 reaches learner 1"
    finally:
        reader.close()

    own_topic = f"{MINE}.banku-transactions"
    with Bank(me) as bank:
        bank.create_account("Mine")
    member = KafkaConsumer(own_topic, **options, group_id=THEIR_GROUP,
                           auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        with pytest.raises(kafka_errors.GroupAuthorizationFailedError):
            for _ in range(10):
                member.poll(timeout_ms=500)
    finally:
        member.close()

    admin = KafkaAdminClient(**options)
    try:
        assert THEIR_TOPIC not in admin.list_topics()
        (described,) = admin.describe_topics([THEIR_TOPIC])
        assert described["error_code"] == 29  # TOPIC_AUTHORIZATION_FAILED
        for topic in (f"{THEIRS}.planted", "learner-010.planted", "banku-transactions"):
            with pytest.raises(kafka_errors.TopicAuthorizationFailedError):
                admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        with pytest.raises(kafka_errors.TopicAuthorizationFailedError):
            admin.delete_topics([THEIR_TOPIC])
        with pytest.raises(kafka_errors.GroupAuthorizationFailedError):
            admin.delete_groups([THEIR_GROUP])
    finally:
        admin.close()

    transactional = KafkaProducer(**options, transactional_id=f"{THEIRS}.handler",
                                  max_block_ms=5_000)
    try:
        with pytest.raises(kafka_errors.TransactionalIdAuthorizationFailedError):
            transactional.init_transactions()
    finally:
        transactional.close(timeout=5)
    assert _their_data(room_dir) == before


def test_raw_redis_cannot_read_list_or_write_learner_two_keys(room_dir):
    before = _their_data(room_dir)
    (their_db, their_key), *_ = sorted(before[1])
    assert their_db == 2, "learner 2's keys live in database 2"
    client = redis.Redis.from_url(settings_of(room_dir, MINE).redis_url,
                                  decode_responses=True, socket_timeout=5)
    denied = redis.exceptions.NoPermissionError
    try:
        assert client.ping()
        # SCAN lists the learner's own database only, where nobody else's keys are.
        listed = list(client.scan_iter(match="*", count=1000))
        assert not [key for key in listed if not key.startswith(MINE)], listed
        for attempt in (lambda: client.execute_command("SELECT", their_db),
                        lambda: client.execute_command("SELECT", 0),
                        lambda: client.hgetall(their_key), lambda: client.type(their_key),
                        lambda: client.exists(their_key), lambda: client.smembers(their_key),
                        lambda: client.hset(their_key, "Balance", "1000000"),
                        lambda: client.delete(their_key), lambda: client.rename(
                            f"{MINE}:x", their_key),
                        lambda: client.keys("*"), client.flushall, client.flushdb,
                        client.dbsize, client.info, lambda: client.config_get("*"),
                        client.acl_list, lambda: client.move(f"{MINE}:x", their_db),
                        client.client_list, client.script_flush):
            with pytest.raises(denied):
                attempt()
        # No script of one's own at all (one endless loop would freeze Redis for everyone) ...
        with pytest.raises(denied):
            client.eval("return redis.call('HGETALL', ARGV[1])", 1, f"{MINE}:banku:stats",
                        their_key)
        # ... and the kit's functions reach no further than the caller's keys: a wipe whose
        # declared keys are learner 1's but whose prefix names learner 2's is refused inside.
        client.sadd(f"{MINE}:banku:accounts", "x")
        with pytest.raises(redis.ResponseError, match="can't access"):
            client.fcall(FUNCTIONS["wipe"], 6, *ReadModel(settings_of(room_dir, MINE)).keys,
                         f"{THEIRS}:")
        client.delete(f"{MINE}:banku:accounts")
    finally:
        client.close()
    # Without a login nobody gets in at all: the default user's password is nobody's.
    anonymous = redis.Redis(port=ports.redis_port(ports.WORKSHOP), socket_timeout=5)
    with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
        anonymous.get(their_key)
    anonymous.close()
    assert _their_data(room_dir) == before


def test_wrong_or_missing_credentials_give_one_line(room_dir):
    cases = [({"KAFKA_SASL_PASSWORD": "not-it"}, ("create", "Eve"),
              f"refused the SASL/SCRAM-SHA-256 login of user '{MINE}'"),
             ({"KAFKA_SASL_USERNAME": "learner-99"}, ("create", "Eve"), "refused the SASL"),
             ({"KAFKA_SASL_MECHANISM": "PLAIN"}, ("create", "Eve"),
              "does not offer SASL/PLAIN; it offers SCRAM-SHA-256"),
             ({"REDIS_URL": f"redis://{MINE}:not-it@127.0.0.1:{ports.redis_port(ports.WORKSHOP)}"
                            "/0"}, ("balances",), "refused the password in REDIS_URL")]
    for extra, args, expected in cases:
        line = one_line(banku(room_dir, MINE, *args, **extra))
        assert expected in line, (extra, line)
    status = banku(room_dir, MINE, "stack", "status", KAFKA_SASL_PASSWORD="not-it")
    assert status.returncode == 1 and "refused the SASL/SCRAM-SHA-256 login" in status.stdout


# 00-02 use every kind of access the lessons need (topics created and described, a consumer
# group, raw producers, the dead-letter topic, Redis hashes and the Lua step); the later
# notebooks ask for nothing more, and each runs in full under nbval.
NOTEBOOKS = ["00_check_your_setup", "01_producing_events", "02_replay_from_offset_zero"]


def test_the_notebooks_run_for_a_learner_of_the_room(room_dir, tmp_path):
    """The learner side is unchanged: with their file in the environment, notebooks 00-02 run
    top to bottom (their raw Kafka and Redis clients included) inside the learner's namespace."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAFKA_", "REDIS_", "BANKU_NAMESPACE"))}
    env.update(env_file(room_dir, THEIRS))
    for name in NOTEBOOKS:
        result = subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
             "--ExecutePreprocessor.timeout=300", "--output-dir", str(tmp_path),
             str(ROOT / "notebooks" / f"{name}.ipynb")],
            env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, (name, result.stderr[-3000:])


def test_late_arrivals_are_added_without_a_restart(room_dir):
    plan = stack.StackPlan.from_settings(ROOM)
    broker_pid = stack.kafka_pid(plan, 1)
    added = room.add(ROOM, 1, log=_quiet)
    assert added == ["learner-03"]
    assert stack.kafka_pid(plan, 1) == broker_pid, "the broker was not restarted"
    assert stat.S_IMODE((room_dir / "learner-03.env").stat().st_mode) == 0o600
    created = banku(room_dir, "learner-03", "create", "Late Larry")
    assert created.returncode == 0, created.stderr
    line = one_line(banku(room_dir, "learner-03", "balances", BANKU_NAMESPACE=MINE))
    assert REFUSED in line and MINE in line


def test_the_instructor_reads_and_resets_everything(room_dir):
    instructor = settings_of(room_dir, "instructor")
    assert fold_topic(instructor.with_namespace(THEIRS)), "the instructor reads every topic"
    status = banku(room_dir, "instructor", "stack", "status")
    assert status.returncode == 0, status.stdout
    reset = banku(room_dir, "instructor", "reset", "--yes", "--all-namespaces")
    assert reset.returncode == 0, reset.stderr
    assert f"Reset namespace {THEIRS}:" in reset.stdout
    assert f"Reset namespace {MINE}:" in reset.stdout
    assert not fold_topic(instructor.with_namespace(THEIRS))
    # ... and a learner resets only their own namespace (by name, without SCAN).
    scratch = f"{MINE}-{uuid.uuid4().hex[:6]}"
    me = settings_of(room_dir, MINE, scratch)
    with Bank(me) as bank:
        bank.create_account("Temporary")
    ok = banku(room_dir, MINE, "reset", "--yes", BANKU_NAMESPACE=scratch)
    assert ok.returncode == 0, ok.stderr
    assert f"Reset namespace {scratch}: deleted 1 topic(s)" in ok.stdout


def test_workshop_up_refuses_a_stack_made_without_logins(tmp_path):
    # Ports of the same block that the room does not use: a stack whose storage was formatted
    # without logins is not silently turned into a room.
    other = Settings(bootstrap_servers=f"127.0.0.1:{ports.kafka_port(ports.WORKSHOP) + 4}",
                     redis_url=f"redis://127.0.0.1:{ports.redis_port(ports.WORKSHOP) - 1}/0")
    data = stack.StackPlan.from_settings(other).node_dir(1) / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "meta.properties").write_text("cluster.id=x\n")
    try:
        with pytest.raises(StackError, match="made without logins"):
            room.up(other, 1, tmp_path / "out", log=_quiet)
    finally:
        stack.down(other, log=_quiet, wipe=True)


def test_a_room_for_other_machines_hands_out_its_address(tmp_path):
    # 127.0.0.2 stands for the room machine's address on a network (Linux routes all of
    # 127.0.0.0/8 to this machine, so no traffic leaves it).
    here = Settings(bootstrap_servers=f"127.0.0.1:{ports.kafka_port(ports.WORKSHOP) + 4}",
                    redis_url=f"redis://127.0.0.1:{ports.redis_port(ports.WORKSHOP) - 1}/0")
    out = tmp_path / "room"
    stack.down(here, log=_quiet, wipe=True)
    try:
        room.up(here, 1, out, log=_quiet, host="127.0.0.2")
        learner = env_file(out, MINE)
        kafka_port, redis_port = ports.kafka_port(ports.WORKSHOP) + 4, ports.redis_port(
            ports.WORKSHOP) - 1
        assert learner["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.2:{kafka_port}"
        assert learner["REDIS_URL"].endswith(f"@127.0.0.2:{redis_port}/1")
        properties = (stack.StackPlan.from_settings(here).node_dir(1) / "server.properties")
        text = properties.read_text()
        assert "advertised.listeners=SASL_PLAINTEXT://127.0.0.2:" in text
        created = banku(out, MINE, "create", "Remote Rita")
        assert created.returncode == 0, created.stderr
        balances = banku(out, MINE, "project", "--until-caught-up")
        assert balances.returncode == 0, balances.stderr
        doctor = banku(out, MINE, "doctor")
        assert "Java 17+" not in doctor.stdout, "a learner elsewhere needs no Java"
        assert f"OK    Kafka login: user {MINE}" in doctor.stdout
        assert "OK    Redis 6.2+: " in doctor.stdout  # a learner may ask HELLO, not INFO
        # The instructor's file names the room's address; status reads the room all the same.
        instructor = next(out.rglob("instructor.env"))
        assert env_file(out, "instructor")["KAFKA_BOOTSTRAP_SERVERS"].startswith(
            "127.0.0.2:")
        status = subprocess.run(
            [sys.executable, "-m", "banku", "--env-file", str(instructor), "workshop", "status",
             "--json"], capture_output=True, text=True, timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS_"))})
        assert status.returncode == 0, status.stdout + status.stderr
        document = json.loads(status.stdout)
        assert document["host"] == "127.0.0.2"
        assert [learner["name"] for learner in document["learners"]] == [MINE]
        assert f"{MINE}.banku-transactions" in document["learners"][0]["topics"]
    finally:
        room.down(here, wipe=True, log=_quiet)


def test_workshop_status_shows_the_learners_their_topics_and_lag(room_dir):
    """`banku --env-file instructor.env workshop status --json`: the room as the instructor sees
    it, read with the login the room keeps (and the env file loaded by --env-file)."""
    assert banku(room_dir, MINE, "create", "Lag Lovelace").returncode == 0
    assert banku(room_dir, MINE, "project", "--until-caught-up").returncode == 0
    assert banku(room_dir, MINE, "create", "Not Projected Yet").returncode == 0
    instructor = next(room_dir.rglob("instructor.env"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAFKA_", "REDIS_", "BANKU_"))}
    result = subprocess.run([sys.executable, "-m", "banku", "--env-file", str(instructor),
                             "workshop", "status", "--json"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(result.stdout)
    assert status["room"] is True and status["ok"] is True
    assert status["kafka"]["ok"] and status["redis"]["ok"]
    learners = {learner["name"]: learner for learner in status["learners"]}
    assert {MINE, THEIRS} <= set(learners)  # (and learner-03 once the late arrival came)
    mine = learners[MINE]
    assert f"{MINE}.banku-transactions" in mine["topics"]
    assert all(t.startswith((f"{MINE}.", f"{MINE}-")) for t in mine["topics"])
    assert mine["groups"][f"{MINE}.banku-consumer"] == 1  # one record created after the catch-up
    assert mine["env_file"] == str(room_dir / f"{MINE}.env")
    text = subprocess.run([sys.executable, "-m", "banku", "--env-file", str(instructor),
                           "workshop", "status"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert text.returncode == 0, text.stderr
    assert f"{MINE}  " in text.stdout and "projector lag 1" in text.stdout
    assert "OK    Kafka at" in text.stdout and "OK    Redis at" in text.stdout
