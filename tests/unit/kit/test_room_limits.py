"""What a workshop room's broker is told about limits, and how the kit words them, without
servers (the attacks themselves run in tests/fault/test_room_attacks_kafka.py)."""

from __future__ import annotations

import os
import socket
import stat
import threading

from kafka import errors as kafka_errors

from banku import NotAllowed, ServiceUnavailable, Settings
from banku.adapters.kafka.sasl_check import SILENT, login_refusal
from banku.diagnostics import explain_kafka, kafka_down
from banku.lab import room
from banku.stack import jars, kafka_config
from banku.stack.plan import StackPlan, private_dir, write_private
from banku.stack.policy import POLICY_CLASS, SOURCE

SETTINGS = Settings(bootstrap_servers="127.0.0.1:9092", redis_url="redis://127.0.0.1:6379/0")


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_every_broker_bounds_its_requests_and_exits_when_out_of_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    props = _properties(kafka_config.server_properties(StackPlan.from_settings(SETTINGS), 1))
    request = int(props["socket.request.max.bytes"])
    # Room for the kit's largest record (a 16 MiB snapshot), far below Kafka's 100 MiB default.
    assert kafka_config.MAX_RECORD_BYTES < request <= 32 * 1024 * 1024
    assert request <= int(props["queued.max.request.bytes"]) <= 128 * 1024 * 1024
    assert int(props["message.max.bytes"]) == 1024 * 1024 + 12
    assert "-XX:+ExitOnOutOfMemoryError" in jars.KAFKA_HEAP
    assert "create.topic.policy.class.name" not in props, "a plain stack has no policy"


def test_a_room_broker_caps_connections_and_runs_the_topic_policy(tmp_path, monkeypatch):
    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    room.RoomFile.new().save(StackPlan.from_settings(SETTINGS))
    props = _properties(kafka_config.server_properties(StackPlan.from_settings(SETTINGS), 1))
    assert props["create.topic.policy.class.name"] == POLICY_CLASS
    assert props["alter.config.policy.class.name"] == POLICY_CLASS
    assert int(props["max.connections.per.ip"]) < int(props["max.connections"])
    assert props["max.connections.per.ip.overrides"] == "127.0.0.1:1500"
    assert props["banku.room.max.partitions"] == "12"
    assert props["banku.room.max.message.bytes"] == str(kafka_config.MAX_RECORD_BYTES)
    source = SOURCE.read_text()
    for key in ("banku.room.max.partitions", "banku.room.max.message.bytes",
                "banku.room.min.segment.ms", "banku.room.min.segment.bytes"):
        assert f'"{key}"' in source, key


def test_a_room_open_to_a_network_lets_its_own_address_hold_the_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    made = room.RoomFile.new()
    made.host = "10.1.2.3"
    made.save(StackPlan.from_settings(SETTINGS))
    props = _properties(kafka_config.server_properties(StackPlan.from_settings(SETTINGS), 1))
    assert props["max.connections.per.ip.overrides"] == "127.0.0.1:1500,10.1.2.3:1500"


def test_private_files_and_folders_are_never_open_to_others(tmp_path):
    old = os.umask(0o022)
    try:
        folder = private_dir(tmp_path / "a" / "b")
        path = folder / "secret"
        path.write_text("x")  # an existing file, 0644 ...
        write_private(path, "password")  # ... becomes 0600
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "password"


def test_an_argfile_keeps_each_argument_whole():
    quoted = kafka_config._quoted('SCRAM-SHA-256=[name=a,password=p"q\\r s]')
    assert quoted == '"SCRAM-SHA-256=[name=a,password=p\\"q\\\\r s]"'


def test_policy_refusals_and_throttling_read_as_one_sentence():
    me = Settings(bootstrap_servers="127.0.0.1:9092", kafka_username="learner-01",
                  kafka_password="x", kafka_mechanism="SCRAM-SHA-256")
    policy = kafka_errors.PolicyViolationError(
        "Request 'CreateTopicsRequest(...)' failed with response 'CreateTopicsResponse(topics=["
        "CreatableTopicResult(name='learner-01.x', error_code=44, error_message='topic"
        " learner-01.x: segment.ms=1 is less than this room allows (600000)')])'.")
    said = explain_kafka(me, policy)
    assert isinstance(said, NotAllowed)
    assert str(said) == ("not allowed in this room: topic learner-01.x: segment.ms=1 is less than"
                         " this room allows (600000).")
    throttled = explain_kafka(me, kafka_errors.ThrottlingQuotaExceededError("..."))
    assert isinstance(throttled, ServiceUnavailable) and "wait a few seconds" in str(throttled)


def test_a_learner_is_told_the_room_s_broker_is_down():
    me = Settings(bootstrap_servers="127.0.0.1:9092", kafka_username="learner-01",
                  kafka_password="x", kafka_mechanism="SCRAM-SHA-256")
    assert str(kafka_down(me)).startswith("the room's broker is down: ")
    assert "banku stack up" in str(kafka_down(SETTINGS))  # one's own stack: start it


def test_a_broker_that_takes_the_connection_and_says_nothing_is_silent_not_a_refusal():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    held: list[socket.socket] = []
    accepted = threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True)
    accepted.start()
    try:
        port = server.getsockname()[1]
        assert login_refusal([f"127.0.0.1:{port}"], "SCRAM-SHA-256", "u", "p",
                             timeout=0.5) == SILENT
    finally:
        accepted.join(timeout=5)
        for sock in [*held, server]:
            sock.close()
