"""The command line's conventions, without servers: --version, help on every argument, --json
documents, env files, TLS settings, the Redis and Java version checks and their sentences."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging

import pytest

from banku import Settings, cli
from banku.config import read_env_file
from banku.errors import ConfigError, StackError
from banku.lab import doctor, room, room_status
from banku.lab.room_access import Login
from banku.stack import control, health, versions
from banku.stack.plan import StackPlan


@pytest.fixture(autouse=True)
def _banku_log_handlers():
    """cli.main() adds a stderr handler to the "banku" logger, as a process does once; a test
    calling it in-process takes it away again so that later tests do not log twice."""
    logger = logging.getLogger("banku")
    before = list(logger.handlers)
    yield
    logger.handlers[:] = before


# --- --version and help --------------------------------------------------------------------------
def test_version_prints_the_installed_packages_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"banku {importlib.metadata.version('banku')}"


def _parsers(parser: argparse.ArgumentParser, path: str = "banku"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_argument_of_every_subcommand_has_help():
    missing = []
    seen = 0
    for path, parser in _parsers(cli.build_parser()):
        for action in parser._actions:
            seen += 1
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {action.dest}")
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {choice.dest}" for choice in action._choices_actions
                            if not choice.help]
    assert seen > 40  # the walk reached the subcommands
    assert missing == []


def test_json_is_offered_where_the_contract_says():
    parsers = dict(_parsers(cli.build_parser()))
    for command in ("balances", "doctor", "stack", "dlq", "workshop"):
        options = {o for a in parsers[f"banku {command}"]._actions for o in a.option_strings}
        assert "--json" in options, command
    top = {o for a in parsers["banku"]._actions for o in a.option_strings}
    assert {"--version", "--env-file"} <= top
    workshop = parsers["banku workshop"]
    action = next(a for a in workshop._actions if a.dest == "action")
    assert "status" in action.choices


# --- env files -----------------------------------------------------------------------------------
LEARNER = Settings(bootstrap_servers="10.0.0.5:9092", redis_url="redis://learner-07:pw@10.0.0.5:6379/7",
                   namespace="learner-07", kafka_username="learner-07", kafka_password="s3cret-_x",
                   kafka_mechanism="SCRAM-SHA-256")


def test_an_env_file_as_workshop_up_writes_it_gives_the_same_settings(tmp_path):
    path = tmp_path / "learner-07.env"
    path.write_text(room.env_file_text(LEARNER, "learner-07"))
    assert Settings.from_env({"BANKU_ENV_FILE": str(path)}) == LEARNER


def test_the_env_file_wins_over_the_environment_and_the_rest_still_counts(tmp_path):
    path = tmp_path / "learner-07.env"
    path.write_text(room.env_file_text(LEARNER, "learner-07"))
    environ = {"BANKU_ENV_FILE": str(path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
               "BANKU_NAMESPACE": "someone-else", "BANKU_COMMANDS": "topic"}
    settings = Settings.from_env(environ)
    assert settings.bootstrap_servers == "10.0.0.5:9092"
    assert settings.namespace == "learner-07"
    assert settings.commands == "topic"  # not in the file: from the environment


def test_env_file_syntax_comments_export_quotes(tmp_path):
    path = tmp_path / "x.env"
    path.write_text("# a comment\n\nexport BANKU_NAMESPACE=alice\nBANKU_TOPIC='t-1'\n"
                    'REDIS_URL="redis://127.0.0.1:7000/0"\nKAFKA_SASL_MECHANISM=PLAIN # why\n')
    assert read_env_file(path) == {"BANKU_NAMESPACE": "alice", "BANKU_TOPIC": "t-1",
                                   "REDIS_URL": "redis://127.0.0.1:7000/0",
                                   "KAFKA_SASL_MECHANISM": "PLAIN"}


def test_a_missing_unreadable_or_garbled_env_file_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match=r"^The env file .*nope\.env does not exist"):
        Settings.from_env({"BANKU_ENV_FILE": str(tmp_path / "nope.env")})
    with pytest.raises(ConfigError, match=r"cannot be read"):
        read_env_file(tmp_path)  # a directory
    garbled = tmp_path / "garbled.env"
    garbled.write_text("KAFKA_SASL_PASSWORD=fine\nthis is no setting hunter2\n")
    with pytest.raises(ConfigError, match=r"Line 2 of the env file") as refused:
        read_env_file(garbled)
    assert "hunter2" not in str(refused.value)  # the line may hold a password: never echoed
    assert "\n" not in str(refused.value)


def test_env_file_option_loads_the_file_for_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BANKU_ENV_FILE", "")  # restored after: main() sets it
    assert cli.main(["--env-file", str(tmp_path / "missing.env"), "stack", "status"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("banku: The env file")
    seen = {}
    path = tmp_path / "learner-07.env"
    path.write_text(room.env_file_text(LEARNER, "learner-07"))
    monkeypatch.setattr(cli, "_doctor", lambda args, settings: seen.setdefault("s", settings)
                        and 0)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), cli._doctor))
    assert cli.main(["--env-file", str(path), "doctor"]) == 0
    assert seen["s"] == LEARNER


def _with_func(parser: argparse.ArgumentParser, func) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.choices["doctor"].set_defaults(func=func)
    return parser


# --- TLS settings --------------------------------------------------------------------------------
def test_tls_settings_reach_kafka_python_and_redis_py(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"KAFKA_BOOTSTRAP_SERVERS": "kafka.example.com:9093", "KAFKA_SASL_USERNAME": "u",
           "KAFKA_SASL_PASSWORD": "p", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SSL_CAFILE": str(ca),
           "REDIS_URL": "rediss://u:p@redis.example.com:6380/0", "REDIS_SSL_CA_CERTS": str(ca)}
    settings = Settings.from_env(env)
    options = settings.kafka_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_cafile"] == str(ca)
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert settings.redis_options() == {"ssl_ca_certs": str(ca)}
    # Without a CA file: the system's CAs (kafka-python's default), nothing passed.
    system = Settings.from_env({**env, "KAFKA_SSL_CAFILE": "", "REDIS_SSL_CA_CERTS": ""})
    assert "ssl_cafile" not in system.kafka_options() and system.redis_options() == {}
    # As before: a login implies SASL_PLAINTEXT, none PLAINTEXT.
    assert Settings(kafka_username="u").kafka_options()["security_protocol"] == "SASL_PLAINTEXT"
    assert "security_protocol" not in Settings().kafka_options()


def test_a_ca_file_in_an_env_file_may_sit_next_to_it(tmp_path):
    (tmp_path / "ca.pem").write_text("pem")
    path = tmp_path / "learner-01.env"
    path.write_text("KAFKA_SECURITY_PROTOCOL=SSL\nKAFKA_SSL_CAFILE=ca.pem\n")
    settings = Settings.from_env({"BANKU_ENV_FILE": str(path)})
    assert settings.kafka_options()["ssl_cafile"] == str(tmp_path / "ca.pem")


@pytest.mark.parametrize(("env", "says"), [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL is 'TLS': use one of"),
    ({"KAFKA_SSL_CAFILE": "/no/such/ca.pem"}, "KAFKA_SSL_CAFILE names /no/such/ca.pem, which"),
    ({"REDIS_SSL_CA_CERTS": "/no/such.pem"}, "REDIS_SSL_CA_CERTS names /no/such.pem"),
])
def test_unusable_tls_settings_are_one_sentence(env, says):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    assert str(refused.value).startswith(says) and "\n" not in str(refused.value)


def test_tls_settings_that_disagree_are_refused_when_a_client_is_made(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    cases = [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_USERNAME is empty"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_USERNAME": "u"}, "use SASL_SSL"),
        ({"KAFKA_SSL_CAFILE": str(ca)}, "set KAFKA_SECURITY_PROTOCOL to SSL or SASL_SSL"),
    ]
    for env, says in cases:
        with pytest.raises(ConfigError, match=says):
            Settings.from_env(env).kafka_options()
    with pytest.raises(ConfigError, match="use rediss://"):
        Settings.from_env({"REDIS_SSL_CA_CERTS": str(ca)})


# --- Redis and Java versions ---------------------------------------------------------------------
@pytest.mark.parametrize(("text", "version"), [
    ("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d", (7, 0, 15)),
    ("Redis server v=6.0.16 sha=00000000:0 malloc=jemalloc-5.2.1 bits=64", (6, 0, 16)),
    ("Valkey server v=8.0.1 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64", (8, 0, 1)),
    ("redis_version:6.2.14", (6, 2, 14)),
    ("redis_version:7.4", (7, 4)),
    ("no version here", None),
])
def test_redis_versions_are_read(text, version):
    assert versions.parse_redis_version(text) == version


@pytest.mark.parametrize(("text", "major"), [
    ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
    ('openjdk version "21" 2023-09-19', 21),
    ('java version "1.8.0_292"', 8),
    ('Picked up JAVA_TOOL_OPTIONS: -Xss1m\nopenjdk version "11.0.2" 2019-01-15', 11),
    ("java: command garbled", None),
])
def test_java_versions_are_read(text, major):
    assert versions.parse_java_version(text) == major


def test_the_version_sentences():
    assert versions.redis_too_old((6, 2, 0), "redis-server") is None
    assert versions.redis_too_old((7, 0, 15), "redis-server") is None
    old = versions.redis_too_old((6, 0, 16), "/usr/bin/redis-server")
    assert old is not None and "\n" not in old
    assert old.startswith("/usr/bin/redis-server is Redis 6.0.16, but the kit needs Redis 6.2"
                          " or newer (7 recommended")
    assert "apt-get install -y redis-server" in old
    assert versions.redis_note((6, 2, 7)) == " (7 recommended)"
    assert versions.redis_note((7, 2)) == ""
    assert versions.java_too_old(17, "/usr/bin/java", "4.1.1") is None
    java = versions.java_too_old(11, "/usr/bin/java", "4.1.1")
    assert java == ("Kafka 4.1.1 needs Java 17 or newer, but /usr/bin/java is Java 11: install it"
                    " with `sudo apt-get install -y openjdk-17-jre-headless` (macOS: `brew install"
                    " openjdk@17`) and set JAVA_HOME to it.")
    assert "unknown version" in versions.java_too_old(None, "java", "4.1.1")


@pytest.fixture
def nowhere(tmp_path, monkeypatch) -> tuple[Settings, StackPlan]:
    """Settings on ports where nothing listens, and a stack directory of their own."""
    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    settings = Settings(bootstrap_servers="127.0.0.1:1", redis_url="redis://127.0.0.1:3/0")
    return settings, StackPlan.from_settings(settings)


def test_stack_up_refuses_a_redis_server_too_old_in_one_sentence(nowhere, monkeypatch):
    settings, plan = nowhere
    monkeypatch.setattr(control, "redis_server_command", lambda: "/opt/redis-6.0/redis-server")
    monkeypatch.setattr(control, "redis_server_version", lambda command: (6, 0, 16))
    with pytest.raises(StackError) as refused:
        control._plan_redis(settings, plan, control._Needs())
    assert str(refused.value).startswith("/opt/redis-6.0/redis-server is Redis 6.0.16, but the"
                                         " kit needs Redis 6.2 or newer")
    monkeypatch.setattr(control, "redis_server_version", lambda command: (6, 2, 6))
    needs = control._Needs()
    control._plan_redis(settings, plan, needs)
    assert needs.start_redis


def test_stack_up_refuses_a_running_redis_too_old(nowhere, monkeypatch):
    settings, plan = nowhere
    monkeypatch.setattr(control, "redis_check", lambda s: (True, None))
    monkeypatch.setattr(control, "redis_version", lambda s: (5, 0, 7))
    with pytest.raises(StackError, match=r"^The Redis at redis://127.0.0.1:3/0 is Redis 5.0.7"):
        control._plan_redis(settings, plan, control._Needs())


def test_stack_up_refuses_java_too_old(monkeypatch, tmp_path):
    from banku.stack import jars

    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").write_text("")
    monkeypatch.setattr(jars, "java_major", lambda java: 11)
    with pytest.raises(StackError, match=r"^Kafka .* needs Java 17 or newer, but .* is Java 11"):
        jars.java_command()


# --- doctor --------------------------------------------------------------------------------------
def test_doctor_says_a_version_too_old_in_one_line(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: "/usr/bin/redis-server")
    monkeypatch.setattr(doctor, "redis_server_version", lambda command: (6, 0, 16))
    check = doctor.check_redis_server()
    assert not check.ok and len(check.line().splitlines()) == 1
    assert check.line().startswith("FAIL  redis-server: /usr/bin/redis-server is Redis 6.0.16")
    monkeypatch.setattr(doctor, "redis_server_version", lambda command: (6, 2, 6))
    assert doctor.check_redis_server().line() == \
        "OK    redis-server: /usr/bin/redis-server (Redis 6.2.6 (7 recommended))"

    def old_java() -> str:
        raise StackError(versions.java_too_old(11, "/usr/bin/java", "4.1.1"))

    monkeypatch.setattr(doctor.stack, "java_command", old_java)
    java = doctor.check_java()
    assert not java.ok and len(java.line().splitlines()) == 1
    assert java.line().startswith("FAIL  Java 17+: Kafka 4.1.1 needs Java 17 or newer")


def test_doctor_checks_the_running_redis_version(monkeypatch):
    monkeypatch.setattr(doctor.stack, "redis_version", lambda settings: (6, 0, 3))
    check = doctor.check_redis_version(Settings())
    assert check is not None and not check.ok
    assert check.detail.startswith("the Redis at redis://127.0.0.1:6379/0 is Redis 6.0.3")
    monkeypatch.setattr(doctor.stack, "redis_version", lambda settings: None)
    assert doctor.check_redis_version(Settings()) is None  # a login that may not ask


def test_doctor_names_the_lab_install_for_a_missing_jupyterlab(monkeypatch):
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name in ("jupyterlab", "orjson"):
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(doctor.importlib.metadata, "version", version)
    checks = {c.item: c for c in doctor.check_packages()}
    lab = checks["package jupyterlab"]
    assert not lab.ok and "./kit lab" in lab.fix and "'.[lab]'" in lab.fix
    for check in checks.values():
        assert "pip install -e . " not in check.fix + " "
        assert not check.fix.rstrip().endswith("pip install -e .")


def test_doctor_json_holds_the_same_facts_as_the_lines():
    checks = [doctor.Check("Python", True, "3.11.2"),
              doctor.Check("redis-server", False, "not installed", "sudo apt-get install")]
    document = json.loads(json.dumps(doctor.report(checks)))
    assert document == {"ok": False, "checks": [
        {"item": "Python", "ok": True, "detail": "3.11.2", "fix": None},
        {"item": "redis-server", "ok": False, "detail": "not installed",
         "fix": "sudo apt-get install"}]}


# --- stack status and workshop status documents --------------------------------------------------
def test_stack_status_json():
    down = health.StackStatus(0, False, Settings(), "", "").to_dict()
    assert down == {"ok": False,
                    "kafka": {"ok": False, "bootstrap_servers": "127.0.0.1:9092", "brokers": 0,
                              "problem": "Kafka does not answer at 127.0.0.1:9092"},
                    "redis": {"ok": False, "url": "redis://127.0.0.1:6379/0",
                              "problem": "Redis does not answer at redis://127.0.0.1:6379/0"}}
    up = health.StackStatus(3, True, Settings(), "", "").to_dict()
    assert up["ok"] and up["kafka"]["brokers"] == 3 and up["redis"]["problem"] is None


def test_a_learners_names_are_told_apart():
    learners = ["learner-01", "learner-10", "learner-100"]
    assert room_status.owner("learner-10.banku-transactions", learners) == "learner-10"
    assert room_status.owner("learner-100-nb01.banku-consumer", learners) == "learner-100"
    assert room_status.owner("learner-01-nb04.banku-transactions.dlq", learners) == "learner-01"
    assert room_status.owner("learner-1.banku-transactions", learners) is None
    assert room_status.owner("banku-transactions", learners) is None


def test_workshop_status_lines_and_json():
    status = room_status.RoomStatus(
        port=9092, host="", out="/srv/room", kafka_brokers=1, kafka_problem="", redis=False,
        redis_problem="Redis does not answer at redis://127.0.0.1:6379/0: run `banku workshop"
                      " up` again to restart the room",
        bootstrap_servers="127.0.0.1:9092", redis_location="redis://127.0.0.1:6379/0",
        learners=[room_status.LearnerStatus("learner-01", "/srv/room/learner-01.env",
                                            ["learner-01-nb01.banku-transactions"],
                                            {"learner-01-nb01.banku-consumer": 4}),
                  room_status.LearnerStatus("learner-02", "", [], {})])
    lines = status.lines()
    assert lines[0] == ("Workshop room on port 9092 (this machine only): 2 learners, env files in"
                        " /srv/room")
    assert lines[1] == "OK    Kafka at 127.0.0.1:9092 (1 broker)"
    assert lines[2].startswith("FAIL  Redis does not answer")
    assert "learner-01  1 topic, projector lag 4" in lines
    assert "learner-02  0 topics, projector lag - (nothing written yet)" in lines
    document = json.loads(json.dumps(status.to_dict()))
    assert document["room"] is True and document["ok"] is False
    assert document["learners"][0] == {
        "name": "learner-01", "namespace": "learner-01", "env_file": "/srv/room/learner-01.env",
        "topics": ["learner-01-nb01.banku-transactions"], "projector_lag": 4,
        "groups": {"learner-01-nb01.banku-consumer": 4}}
    assert document["learners"][1]["projector_lag"] is None
    assert room_status.no_room(9092)["room"] is False
    assert room_status.no_room_sentence(9092).startswith("No workshop room runs on port 9092:")


def test_workshop_status_without_a_room_is_one_sentence(nowhere, capsys, monkeypatch):
    settings, _ = nowhere
    for key, value in (("KAFKA_BOOTSTRAP_SERVERS", settings.bootstrap_servers),
                       ("REDIS_URL", settings.redis_url)):
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BANKU_ENV_FILE", "")
    assert room.status(settings) is None
    assert cli.main(["workshop", "status"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [room_status.no_room_sentence(1)]
    assert cli.main(["workshop", "status", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["room"] is False


def test_workshop_status_reads_the_room_with_the_instructors_login(nowhere, monkeypatch):
    settings, plan = nowhere
    made = room.RoomFile("a", "c", Login("kafka-pw", "redis-pw"),
                         {"learner-02": Login("k2", "r2"), "learner-01": Login("k1", "r1")},
                         out="/srv/room")
    made.save(plan)
    seen = []
    monkeypatch.setattr(health, "kafka_check", lambda s: (seen.append(s), (0, None))[1])
    monkeypatch.setattr(health, "redis_check", lambda s: (seen.append(s), (False, None))[1])
    monkeypatch.setattr("banku.stack.kafka_check", health.kafka_check)
    monkeypatch.setattr("banku.stack.redis_check", health.redis_check)
    found = room.status(settings)
    assert found is not None and not found.ok
    assert [learner.name for learner in found.learners] == ["learner-01", "learner-02"]
    assert {s.kafka_username for s in seen} == {"instructor"}
    assert {s.kafka_password for s in seen} == {"kafka-pw"}
    assert found.kafka_problem.startswith("Kafka does not answer at 127.0.0.1:1")


def test_a_subprocess_gets_the_notebooks_settings_not_the_env_file(tmp_path, monkeypatch):
    """A notebook works in learner-07-nb04 while BANKU_ENV_FILE names learner-07's file: the
    `banku` processes it starts must get the notebook's namespace (and the TLS settings)."""
    from banku.lessons.notebook import environment_for

    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    path = tmp_path / "learner-07.env"
    path.write_text(room.env_file_text(LEARNER, "learner-07")
                    + f"KAFKA_SECURITY_PROTOCOL=SASL_SSL\nKAFKA_SSL_CAFILE={ca}\n")
    monkeypatch.setenv("BANKU_ENV_FILE", str(path))
    notebook = Settings.from_env().with_namespace("learner-07-nb04")
    env = environment_for(notebook)
    assert "BANKU_ENV_FILE" not in env
    assert Settings.from_env(env) == notebook
    assert Settings.from_env(env).kafka_options()["ssl_cafile"] == str(ca)


def test_a_running_redis_says_its_version_through_hello_or_info():
    import redis

    class Client:
        def __init__(self, hello: object, info: object) -> None:
            self.hello, self.info_reply = hello, info

        def execute_command(self, name: str) -> object:
            if isinstance(self.hello, Exception):
                raise self.hello
            return self.hello

        def info(self, section: str) -> object:
            if isinstance(self.info_reply, Exception):
                raise self.info_reply
            return self.info_reply

    refused = redis.ResponseError("NOPERM")
    assert versions.running_redis_version(
        Client([b"server", b"redis", b"version", b"6.2.14"], refused)) == (6, 2, 14)
    assert versions.running_redis_version(Client({b"version": b"7.0.15"}, refused)) == (7, 0, 15)
    assert versions.running_redis_version(
        Client(redis.ResponseError("unknown command 'HELLO'"), {"redis_version": "5.0.7"})
    ) == (5, 0, 7)
    assert versions.running_redis_version(Client(refused, refused)) is None


def test_doctor_names_the_env_file_it_read(monkeypatch, tmp_path):
    monkeypatch.setenv("BANKU_ENV_FILE", "")
    assert doctor.check_env_file() is None
    monkeypatch.setenv("BANKU_ENV_FILE", str(tmp_path / "learner-07.env"))
    check = doctor.check_env_file()
    assert check is not None and check.ok
    assert check.line().startswith(f"OK    env file: {tmp_path / 'learner-07.env'} (BANKU_ENV")
