"""A hostile learner against the room's Redis: a 3-learner room of its own (tests/ports.py, block
ROOM_ATTACKS_REDIS), each attack run as learner-01.

After each attack, learner-02 and the instructor still complete a round trip (create, deposit,
project, read back), and the attack was refused or contained with one sentence. Each attack's
outcome is a row of the fault report (``attack``, ``got``). The last test restarts the room
(`workshop down` and `up`) and finds every view, every sealed name and a forgotten name as they
were.
"""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import replace

import pytest
import redis

from banku import Bank, Projector, ServiceUnavailable, Settings, stack
from banku.adapters.redis.view import FUNCTIONS, ReadModel
from banku.domain.projection import Batch
from banku.domain.sealing import FORGOTTEN
from banku.lab import room
from banku.lab.room_access import INSTRUCTOR_DATABASE
from banku.stack import redis_config
from tests import ports
from tests.fault.room_attacks import ATTACKER, OTHER, AttackedRoom, quiet, round_trip
from tests.fault.util import banku

ROOM = ports.settings_for(ports.ROOM_ATTACKS_REDIS)
ATTACKED = AttackedRoom(ROOM)
learner, instructor = ATTACKED.learner, ATTACKED.instructor
others_still_work = ATTACKED.others_still_work
MB = 1024 * 1024


@pytest.fixture(scope="module")
def the_room(tmp_path_factory):
    out = tmp_path_factory.mktemp("attacks") / "learners"
    stack.down(ROOM, log=quiet, wipe=True)
    try:
        room.up(ROOM, 3, out, log=quiet)
        yield out
    finally:
        room.down(ROOM, wipe=True, log=quiet)


def raw(settings: Settings, **options) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=10,
                                **options)


def sentence(exc: BaseException) -> str:
    text = str(exc).strip()
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


def test_a_long_lua_loop_is_refused(the_room, report):
    client = raw(learner(ATTACKER))
    refusals = {}
    try:
        for name, attempt in [
                ("EVAL", lambda: client.eval("while true do end", 0)),
                ("EVALSHA", lambda: client.evalsha("a" * 40, 0)),
                ("SCRIPT LOAD", lambda: client.script_load("while true do end")),
                ("FUNCTION LOAD", lambda: client.function_load(
                    "#!lua name=spin\nredis.register_function('spin', function() while true do"
                    " end end)", replace=True)),
                ("FUNCTION FLUSH", client.function_flush),
                ("FUNCTION DELETE", lambda: client.function_delete("banku"))]:
            with pytest.raises(redis.exceptions.NoPermissionError) as refused:
                attempt()
            refusals[name] = sentence(refused.value)
        # The kit's own function, called with a hostile batch (an open in partition 10^12 would
        # loop that many times): refused before it reads or writes anything.
        started = time.monotonic()
        with pytest.raises(redis.ResponseError, match="banku_apply refused the call") as hostile:
            client.fcall(FUNCTIONS["apply"], 6, *ReadModel(learner(ATTACKER)).keys,
                         f"{ATTACKER}:", 0, 1, "x", "1000000000000", "n", 0, 0, 0, 0)
        hostile_ms = round((time.monotonic() - started) * 1000, 1)
        assert client.ping()
    finally:
        client.close()
    figures = others_still_work("lua")
    report(attack='EVAL "while true do end" 0 (and EVALSHA, SCRIPT LOAD, FUNCTION LOAD)',
           got=f"refused: {refusals['EVAL']}",
           hostile_fcall=f"refused in {hostile_ms} ms: {sentence(hostile.value)}", **figures)


def test_a_400_mb_value_is_refused(the_room, report):
    me = learner(ATTACKER)
    # The header of a 400 MB SET is enough: Redis refuses the declared length before it reads
    # any of it, and closes the connection.
    user, password = me.redis_url.split("//", 1)[1].split("@", 1)[0].split(":", 1)
    with socket.create_connection(("127.0.0.1", ports.redis_port(ports.ROOM_ATTACKS_REDIS)),
                                  timeout=10) as sock:
        reader = sock.makefile("rb")

        def command(*parts: str, tail: bytes = b"") -> bytes:
            wire = f"*{len(parts) + bool(tail)}\r\n".encode()
            for part in parts:
                wire += f"${len(part.encode())}\r\n{part}\r\n".encode()
            sock.sendall(wire + tail)
            return reader.readline().strip()

        assert command("AUTH", user, password) == b"+OK"
        assert command("SELECT", "1") == b"+OK"
        answer = command("SET", f"{ATTACKER}:big", tail=f"${400 * MB}\r\n".encode())
    assert answer.startswith(b"-ERR Protocol error: invalid bulk length"), answer
    # A value just over the limit, sent whole through redis-py: refused too.
    client = raw(me)
    try:
        with pytest.raises(redis.RedisError) as over:
            client.set(f"{ATTACKER}:big", b"x" * (redis_config.MAX_VALUE + 1))
        assert not raw(me).exists(f"{ATTACKER}:big")
    finally:
        client.close()
    figures = others_still_work("big")
    report(attack="SET of a 400 MB value", got=f"refused: {answer.decode()[1:]}",
           just_over_1_mb=f"refused ({type(over.value).__name__}: {over.value})", **figures)


def test_filling_memory_is_refused_with_one_sentence_and_the_instructor_recovers(the_room,
                                                                                 report):
    """Redis has no quota per user: a learner can fill maxmemory with many small values. Writes
    are then refused for everyone (noeviction: nothing of anyone's is dropped) until the
    instructor empties that learner's database, which INFO keyspace names."""
    admin = raw(instructor())
    used = int(admin.info("memory")["used_memory"])
    ceiling = used + 24 * MB  # the room's 1 GB, lowered for this test, so that filling is quick
    admin.config_set("maxmemory", ceiling)
    written = 0

    def fill(size: int) -> None:
        """Values of ``size`` bytes until Redis refuses one (64 MB at most: the ceiling is
        reached long before). A connection of its own, closed after: a big value's read buffer
        would otherwise be given back a moment later, and make room again."""
        nonlocal written
        me = raw(learner(ATTACKER))
        try:
            with pytest.raises(redis.exceptions.OutOfMemoryError):
                for _ in range(64 * MB // size):
                    me.set(f"{ATTACKER}:fill:{written}", b"x" * size)
                    written += 1
        finally:
            me.close()

    try:
        fill(MB - 1024)
        # Full: learner-02's next write through the kit is refused with one sentence.
        with ReadModel(learner(OTHER, f"{OTHER}-full")) as view:
            for _ in range(50):  # Redis frees a little now and then: fill what it freed
                fill(256)
                try:
                    view.apply(Batch())
                except ServiceUnavailable as exc:
                    full = exc
                    break
            else:
                raise AssertionError("learner-02's writes were never refused")
        keyspace = admin.info("keyspace")
        assert keyspace["db1"]["keys"] >= written, keyspace  # learner-01's database
        admin.execute_command("SELECT", 1)
        admin.flushdb()
    finally:
        admin.config_set("maxmemory", redis_config.ROOM_MAXMEMORY)
        admin.close()
    figures = others_still_work("fill")
    report(attack="values of 1 MB (then of 256 bytes) up to maxmemory",
           got=f"{written} values, then OOM for every write in the room; learner-02 was told:"
               f" {sentence(full)} The instructor emptied db1 (INFO keyspace names it)",
           **figures)


def test_database_0_shows_nothing_of_anyone(the_room, report):
    round_trip(instructor(f"teacher-{uuid.uuid4().hex[:6]}"))  # the instructor has keys
    me = learner(ATTACKER)
    user, password = me.redis_url.split("//", 1)[1].split("@", 1)[0].split(":", 1)
    # No SELECT at all: a connection starts in database 0.
    client = redis.Redis(port=ports.redis_port(ports.ROOM_ATTACKS_REDIS), username=user,
                         password=password, db=0, decode_responses=True, socket_timeout=10)
    try:
        listed = list(client.scan_iter(match="*", count=1000))
        refused = []
        for database in (0, 2, 3, INSTRUCTOR_DATABASE):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command("SELECT", database)
            refused.append(database)
    finally:
        client.close()
    assert listed == []
    admin = raw(instructor())
    try:
        keyspace = admin.info("keyspace")
    finally:
        admin.close()
    assert "db0" not in keyspace and f"db{INSTRUCTOR_DATABASE}" in keyspace, keyspace
    figures = others_still_work("scan")
    report(attack="SCAN of database 0 (no SELECT)",
           got=f"{len(listed)} keys: database 0 is empty (the instructor works in database"
               f" {INSTRUCTOR_DATABASE}); SELECT of {refused} refused", **figures)


FLOOD = 2_000
FLOOD_SECONDS = 20


def test_a_flood_of_idle_connections_locks_nobody_out(the_room, report):
    """2,000 idle sockets to 127.0.0.1, held for at most 20 s: learner-02 and the instructor
    still get in. (Redis has no limit per address; a flood of ROOM_MAXCLIENTS sockets would
    lock everyone out until it ends or the idle timeout closes it.)"""
    admin = raw(instructor())
    before = admin.info("clients")["connected_clients"]
    memory_before = int(admin.info("memory")["used_memory"])
    sockets: list[socket.socket] = []
    deadline = time.monotonic() + FLOOD_SECONDS
    try:
        while len(sockets) < FLOOD and time.monotonic() < deadline:
            sockets.append(socket.create_connection(
                ("127.0.0.1", ports.redis_port(ports.ROOM_ATTACKS_REDIS)), timeout=5))
        opened = len(sockets)

        def all_connected() -> bool:
            return admin.info("clients")["connected_clients"] >= before + opened

        while not all_connected() and time.monotonic() < deadline:
            time.sleep(0.1)
        during = admin.info("clients")["connected_clients"]
        per_socket = (int(admin.info("memory")["used_memory"]) - memory_before) / max(opened, 1)
        figures = others_still_work("flood")  # while the flood is held
        held_s = round(FLOOD_SECONDS - (deadline - time.monotonic()), 1)
        assert time.monotonic() < deadline + 120, "the round trips ran during the flood"
    finally:
        for sock in sockets:
            sock.close()
        admin.close()
    assert opened == FLOOD and during >= before + opened
    limits = dict(redis_config.redis_directives(room=True))
    report(attack=f"{FLOOD} idle TCP connections to Redis (127.0.0.1), never logged in",
           got=f"all {opened} accepted and held {held_s} s; others still got in (maxclients"
               f" {limits['maxclients']}, idle timeout {limits['timeout']} s)",
           bytes_per_idle_socket=round(per_socket), connected_during=during, **figures)


def _views(names: dict[str, Settings]) -> dict[str, dict]:
    found = {}
    for who, settings in names.items():
        with ReadModel(settings) as view:
            found[who] = {"accounts": [(a.id, a.name, a.balance) for a in view.accounts()],
                          "positions": view.positions(), "stats": view.stats()}
    return found


def test_the_room_restarts_with_every_view_and_the_forgotten_name_stays_forgotten(the_room,
                                                                                    report):
    sealed = replace(learner(OTHER, f"{OTHER}-restart"), encrypt_names=True)
    plain = learner("learner-03", "learner-03-restart")
    teacher = instructor("teacher-restart")
    ids = {}
    for who, settings, names in [("sealed", sealed, ["Ada Lovelace", "Grace Hopper"]),
                                 ("plain", plain, ["Edsger Dijkstra"]),
                                 ("instructor", teacher, ["Barbara Liskov"])]:
        with Bank(settings) as bank:
            ids[who] = [bank.create_account(name) for name in names]
            for n, account in enumerate(ids[who]):
                bank.deposit(account, 100 * (n + 1))
        with Projector(settings) as projector:
            projector.run_until_caught_up()
    forgotten = ids["sealed"][0]
    # A learner's own `banku project` reveals sealed names (SMISMEMBER, allowed to learners).
    projected = banku(sealed, "project", "--until-caught-up")
    assert projected.returncode == 0, projected.stderr
    result = banku(sealed, "forget", forgotten)
    assert result.returncode == 0, result.stderr
    settings = {"sealed": sealed, "plain": plain, "instructor": teacher}
    before = _views(settings)
    assert (forgotten, FORGOTTEN, 100) in before["sealed"]["accounts"]
    assert (ids["sealed"][1], "Grace Hopper", 200) in before["sealed"]["accounts"]

    plan = stack.StackPlan.from_settings(ROOM)
    started = time.monotonic()
    room.down(ROOM, log=quiet)
    room.up(ROOM, 3, the_room, log=quiet)
    restart_s = round(time.monotonic() - started, 1)

    after = _views(settings)
    assert after == before
    noperm = plan.redis_log.read_text(errors="replace").count("NOPERM")
    assert noperm == 0, "Redis threw blocks of its append-only file away"
    with Projector(sealed) as projector:  # from offset zero: the key is gone for good
        projector.replay()
        replayed = {a.id: (a.name, a.balance) for a in projector.view.accounts()}
    assert replayed[forgotten] == (FORGOTTEN, 100)
    assert replayed[ids["sealed"][1]] == ("Grace Hopper", 200)
    with ReadModel(sealed) as view:
        assert view.redis.hget(f"{sealed.key_prefix}banku:keys", forgotten) is None
    figures = others_still_work("restart")
    report(attack="workshop down + up",
           got=f"every view intact ({sum(len(v['accounts']) for v in after.values())} accounts,"
               " positions, sealed names); the forgotten name stays (forgotten), after a replay"
               f" too; {noperm} NOPERM lines in Redis's log", restart_s=restart_s, **figures)
