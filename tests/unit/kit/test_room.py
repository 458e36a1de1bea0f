"""A workshop room's configuration, without servers: who owns which names, which Redis commands
a learner gets, what the broker is told, what the learner files say, how refusals read."""

from __future__ import annotations

import stat

import pytest
from kafka.admin import ACLOperation, ACLResourcePatternType, ResourceType

from banku import Settings, StackError
from banku.diagnostics import not_allowed
from banku.lab import room, room_access
from banku.stack import kafka_config
from banku.stack.plan import RoomKeys, StackPlan

SETTINGS = Settings(bootstrap_servers="127.0.0.1:9092", redis_url="redis://127.0.0.1:6379/0")


def test_learner_names_and_the_names_they_own():
    assert room.learner_name(7) == "learner-07"
    assert room.learner_name(100) == "learner-100"
    assert room_access.owned_prefixes("learner-07") == ["learner-07.", "learner-07-"]
    # The separator keeps learner-07 out of learner-070's names, and the other way round.
    for prefix in room_access.owned_prefixes("learner-07"):
        assert not "learner-070.banku-transactions".startswith(prefix)
        assert not "learner-070-nb01.banku-transactions".startswith(prefix)
    assert any("learner-07-nb01.banku-transactions".startswith(p)
               for p in room_access.owned_prefixes("learner-07"))


def test_each_learner_gets_prefixed_acls_on_topics_groups_and_transactional_ids_only():
    acls = room_access.kafka_acls("learner-07")
    assert len(acls) == 16
    assert {acl.principal for acl in acls} == {"User:learner-07"}
    assert {acl.resource_pattern.pattern_type for acl in acls} == {ACLResourcePatternType.PREFIXED}
    assert {acl.resource_pattern.resource_name for acl in acls} == {"learner-07.", "learner-07-"}
    kinds = {(acl.resource_pattern.resource_type, acl.operation) for acl in acls}
    assert kinds == {
        (ResourceType.TOPIC, ACLOperation.CREATE), (ResourceType.TOPIC, ACLOperation.DELETE),
        (ResourceType.TOPIC, ACLOperation.READ), (ResourceType.TOPIC, ACLOperation.WRITE),
        (ResourceType.TOPIC, ACLOperation.DESCRIBE_CONFIGS),
        (ResourceType.GROUP, ACLOperation.READ), (ResourceType.GROUP, ACLOperation.DELETE),
        (ResourceType.TRANSACTIONAL_ID, ACLOperation.WRITE),
    }  # nothing on the cluster, no ALL, no wildcard


def test_redis_rules_limit_keys_and_leave_out_what_lists_or_breaks_the_server():
    rules = room_access.redis_acl_rules("learner-07", "pw")
    assert rules[:3] == ["reset", "on", ">pw"]
    assert "~learner-07:*" in rules and "~learner-07-*" in rules
    assert "-@all" in rules and "~*" not in rules and "+@all" not in rules
    # SCAN is allowed, in the learner's own database only (it lists a database's every key).
    assert "+scan" in rules and "+select|7" in rules and "+select" not in rules
    assert room_access.learner_database("learner-07") == 7
    assert room_access.learner_database("learner-120") == 120
    for forbidden in ("+keys", "+flushall", "+flushdb", "+config", "+acl", "+debug",
                      "+monitor", "+script|flush", "+client|kill", "+shutdown", "+@dangerous",
                      "+eval", "+evalsha", "+eval_ro", "+script|load", "+@scripting",
                      "+function|load", "+function"):
        assert forbidden not in rules
    # The kit's Lua steps are functions the room loads; learners call them (and smismember
    # reveals sealed names).
    assert "+fcall" in rules and "+smismember" in rules
    # Database 0 is nobody's: every connection starts there. The instructor has the last one.
    assert room_access.INSTRUCTOR_DATABASE == 999
    with pytest.raises(StackError):
        room_access.learner_database("learner-999")


def test_the_default_user_is_on_with_a_password_nobody_has_and_no_password_is_in_clear():
    # Not `off`: Redis 7.0 checks the MULTI/EXEC blocks of its append-only file against the
    # default user's permissions when it loads them, and drops the ones it may not run.
    text = room_access.initial_acl_file("s3cret", "d3fault")
    assert text.startswith("user default on #") and "~* &* +@all" in text.splitlines()[0]
    assert "s3cret" not in text and "d3fault" not in text and "instructor on #" in text
    assert "nopass" not in text
    upgraded = room_access.upgrade_acl_file("user default off resetchannels -@all\n"
                                            "user instructor on #ab ~* &* +@all\n", "d3fault")
    assert upgraded.splitlines()[0] == text.splitlines()[0]
    assert upgraded.splitlines()[1] == "user instructor on #ab ~* &* +@all"
    assert room.RoomFile.new().redis_default_password


def test_a_room_on_a_redis_older_than_7_is_refused_with_one_sentence(monkeypatch):
    import redis

    class Redis6:
        asked: list = []

        def execute_command(self, *args):
            self.asked.append(args[:3])

        def function_load(self, code, replace=False):
            raise redis.ResponseError("unknown command 'FUNCTION', with args beginning with:")

        def close(self):
            pass

    monkeypatch.setattr(redis.Redis, "from_url", lambda *a, **k: Redis6())
    with pytest.raises(StackError, match="older than 7: a room needs Redis 7 or newer"):
        room_access.prepare_redis(SETTINGS, "d3fault")
    assert Redis6.asked == [("ACL", "SETUSER", "default")]


def test_a_room_broker_logs_in_on_every_listener_and_authorizes_every_request(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    plan = StackPlan.from_settings(SETTINGS)
    assert plan.room is None
    room.RoomFile.new().save(plan)
    assert stat.S_IMODE(plan.room_file.stat().st_mode) == 0o600
    plan = StackPlan.from_settings(SETTINGS)
    assert isinstance(plan.room, RoomKeys)
    text = kafka_config.server_properties(plan, 1)
    assert "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT," \
           "CONTROLLER:SASL_PLAINTEXT" in text
    assert "PLAINTEXT://" not in text.replace("SASL_PLAINTEXT://", "")
    assert "ANONYMOUS" not in text
    assert "allow.everyone.if.no.acl.found=false" in text
    assert "super.users=User:admin;User:instructor" in text
    assert "sasl.enabled.mechanisms=SCRAM-SHA-256" in text
    users = kafka_config.format_users(plan)
    assert users[0] == "--add-scram" and users[1].startswith("SCRAM-SHA-256=[name=admin,")


def test_env_files_carry_the_contract_variables(tmp_path):
    file = room.RoomFile.new()
    file.learners["learner-01"] = room_access.Login("k-pw", "r-pw")
    room.write_env_files(SETTINGS, file, tmp_path / "out", ["learner-01"])
    text = (tmp_path / "out" / "learner-01.env").read_text()
    assert "KAFKA_SASL_USERNAME=learner-01\nKAFKA_SASL_PASSWORD=k-pw\n" in text
    assert "KAFKA_SASL_MECHANISM=SCRAM-SHA-256\n" in text
    assert "REDIS_URL=redis://learner-01:r-pw@127.0.0.1:6379/1\n" in text  # database 1
    assert "BANKU_NAMESPACE=learner-01\n" in text
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    loaded = Settings.from_env(dict(line.split("=", 1) for line in text.splitlines()
                                    if line and not line.startswith("#")))
    assert loaded.kafka_username == "learner-01" and loaded.namespace == "learner-01"


def test_late_arrivals_get_the_next_numbers():
    file = room.RoomFile.new()
    assert file.next_numbers(2) == [1, 2]
    file.learners.update({"learner-01": room_access.Login.new(),
                          "learner-04": room_access.Login.new()})
    assert file.next_numbers(3) == [5, 6, 7]


@pytest.mark.parametrize(("user", "hint"), [
    ("learner-01", "you are learner-01: use BANKU_NAMESPACE=learner-01"),
    ("alice", "you are logged in as alice"),
    ("", "check BANKU_NAMESPACE"),
])
def test_a_refusal_names_the_cause_and_who_you_are(user, hint):
    settings = Settings(namespace="learner-02", kafka_username=user, kafka_password="x")
    text = str(not_allowed(settings, "namespace learner-02"))
    assert text.startswith("not allowed: namespace learner-02 belongs to another learner")
    assert hint in text and "\n" not in text


def test_a_room_for_other_machines_listens_everywhere_and_advertises_its_address(tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    plan = StackPlan.from_settings(SETTINGS)
    file = room.RoomFile.new()
    file.host = "192.0.2.10"
    file.save(plan)
    plan = StackPlan.from_settings(SETTINGS)
    text = kafka_config.server_properties(plan, 1)
    assert "listeners=SASL_PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093" in text
    assert "advertised.listeners=SASL_PLAINTEXT://192.0.2.10:9092" in text
    file.learners["learner-01"] = room_access.Login("k", "r")
    learner = room.learner_settings(SETTINGS, file, "learner-01")
    assert learner.bootstrap_servers == "192.0.2.10:9092"
    assert learner.redis_url == "redis://learner-01:r@192.0.2.10:6379/1"


def test_a_local_stack_listens_on_loopback_only(tmp_path, monkeypatch):
    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    plan = StackPlan.from_settings(SETTINGS)
    assert plan.listen_host == plan.advertised_host == "127.0.0.1"
