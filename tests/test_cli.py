"""The `banku` command line end to end, as a learner types it (real servers)."""

from __future__ import annotations

import json

from tests.helpers import banku, end_offsets


def test_create_deposit_withdraw_transfer_project_balances(settings):
    adam = banku(settings, "create", "Adam Pahlevi")
    assert adam.returncode == 0, adam.stderr
    adam_id = adam.stdout.strip()
    eve_id = banku(settings, "create", "Eve").stdout.strip()
    assert len(adam_id) == 36 and adam_id != eve_id

    out = banku(settings, "deposit", adam_id, "2000")
    assert out.returncode == 0 and "partition" in out.stdout and "offset" in out.stdout
    assert banku(settings, "withdraw", adam_id, "500").returncode == 0
    assert banku(settings, "transfer", adam_id, eve_id, "100").returncode == 0

    projected = banku(settings, "project", "--until-caught-up")
    assert projected.returncode == 0, projected.stderr
    assert "Applied 5 records" in projected.stdout

    table = banku(settings, "balances")
    assert "Adam Pahlevi" in table.stdout and "1400" in table.stdout
    as_json = json.loads(banku(settings, "balances", "--json").stdout)
    assert {a["Name"]: a["Balance"] for a in as_json} == {"Adam Pahlevi": 1400, "Eve": 100}
    assert {a["Id"] for a in as_json} == {adam_id, eve_id}

    replayed = banku(settings, "replay")
    assert replayed.returncode == 0 and "Replayed 5 records" in replayed.stdout
    again = json.loads(banku(settings, "balances", "--json").stdout)
    assert again == as_json


def test_refused_commands_exit_non_zero_with_one_line_and_write_nothing(settings):
    acc = banku(settings, "create", "Adam").stdout.strip()
    assert banku(settings, "deposit", acc, "100").returncode == 0
    before = end_offsets(settings)
    cases = [
        (["withdraw", acc, "101"], "Insufficient funds"),
        (["deposit", acc, "-5"], "positive"),
        (["deposit", acc, "0"], "positive"),
        (["deposit", acc, "12.50"], "whole number"),
        (["deposit", acc, "abc"], "whole number"),
        (["deposit", acc, "99999999999999999999999"], "too large"),
        (["deposit", "no-such-account", "5"], "no account"),
        (["transfer", acc, acc, "5"], "two different accounts"),
        (["create", "   "], "empty"),
        (["create", "x" * 101], "at most 100"),
    ]
    for args, reason in cases:
        result = banku(settings, *args)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert end_offsets(settings) == before


def test_console_speaks_the_go_tutorial_syntax(settings):
    acc = banku(settings, "create", "Adam").stdout.strip()
    script = "\n".join([
        "create###Eve",
        f"deposit###{acc}###2000",
        f"withdraw###{acc}###500",
        "create",
        "deposit###only-id",
        f"withdraw###{acc}",
        "transfer###a###b",
        "explode###now",
        f"withdraw###{acc}###999999",
        f"deposit###{acc}###-3",
    ]) + "\n"
    result = banku(settings, "console", stdin=script, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("-> ")
    assert out.count("Message is stored in partition") == 3
    assert '"Type":"CreateEvent","AccName":"Eve"' in out
    assert "Only specify create###Account Name" in out
    assert "Only specify deposit###Account ID###amount" in out
    assert "Only specify withdraw###Account ID###amount" in out
    assert "Only specify transfer###Source ID###Target ID###amount" in out
    assert "Unknown command explode, only: create, deposit, withdraw, transfer" in out
    assert out.count("Refused (nothing was written)") == 2
    assert sum(end_offsets(settings).values()) == 4  # Adam + Eve + deposit + withdraw


def test_console_exits_on_empty_input(settings):
    result = banku(settings, "console", stdin="", timeout=120)
    assert result.returncode == 0
    assert result.stdout.strip() == "->"


def test_reset_deletes_only_this_namespace(settings):
    other = settings.with_namespace(settings.namespace + "-other")
    mine = banku(settings, "create", "Mine").stdout.strip()
    theirs = banku(other, "create", "Theirs").stdout.strip()
    for s in (settings, other):
        assert banku(s, "project", "--until-caught-up").returncode == 0
    refused = banku(settings, "reset")  # no terminal and no --yes: refuses
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert banku(settings, "reset", "--yes").returncode == 0
    assert json.loads(banku(settings, "balances", "--json").stdout) == []
    assert end_offsets(settings) == {}
    kept = json.loads(banku(other, "balances", "--json").stdout)
    assert [a["Id"] for a in kept] == [theirs] and mine != theirs


def test_unreachable_servers_give_one_clear_line(settings):
    from dataclasses import replace

    down = replace(settings, bootstrap_servers="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")
    kafka = banku(down, "create", "Nobody")
    assert kafka.returncode == 1
    assert "Kafka does not answer at 127.0.0.1:1" in kafka.stderr
    assert "banku stack up" in kafka.stderr and "Traceback" not in kafka.stderr
    redis = banku(down, "balances")
    assert redis.returncode == 1
    assert "Redis does not answer" in redis.stderr and "Traceback" not in redis.stderr
    status = banku(down, "stack", "status")
    assert status.returncode == 1 and "FAIL" in status.stdout


def test_doctor_reports_every_item(settings):
    result = banku(settings, "doctor")
    assert result.returncode == 0, result.stdout
    for item in ("Python", "kafka-python", "Java 17+", "redis-server", "Kafka answers",
                 "Redis answers", "namespace"):
        assert item in result.stdout
    assert settings.namespace in result.stdout


def test_version_is_the_installed_packages(settings):
    import importlib.metadata

    result = banku(settings, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"banku {importlib.metadata.version('banku')}"


def test_doctor_json_is_one_document_with_the_same_facts(settings):
    text = banku(settings, "doctor")
    as_json = banku(settings, "doctor", "--json")
    assert as_json.returncode == text.returncode == 0, as_json.stdout
    document = json.loads(as_json.stdout)
    assert document["ok"] is True
    items = [c["item"] for c in document["checks"]]
    for item in ("Python", "package kafka-python", "Java 17+", "redis-server", "Kafka answers",
                 "Redis answers", "Redis 6.2+", "namespace"):
        assert item in items
        assert f"  {item}: " in text.stdout
    assert all(c["ok"] for c in document["checks"])
    namespace = next(c for c in document["checks"] if c["item"] == "namespace")
    assert settings.namespace in namespace["detail"]


def test_stack_status_json_and_its_exit_status(settings):
    from dataclasses import replace

    up = banku(settings, "stack", "status", "--json")
    assert up.returncode == 0, up.stdout
    document = json.loads(up.stdout)
    assert document["ok"] is True
    assert document["kafka"] == {"ok": True, "bootstrap_servers": settings.bootstrap_servers,
                                 "brokers": 1, "problem": None}
    assert document["redis"]["ok"] is True and document["redis"]["problem"] is None
    down = replace(settings, bootstrap_servers="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")
    failed = banku(down, "stack", "status", "--json")
    assert failed.returncode == 1
    document = json.loads(failed.stdout)
    assert document["ok"] is False and not document["kafka"]["ok"] and not document["redis"]["ok"]
    assert "127.0.0.1:1" in document["kafka"]["problem"]


def test_dlq_json_lists_the_dead_letters(settings):
    import base64

    from kafka import KafkaProducer

    from tests.helpers import connection

    assert json.loads(banku(settings, "dlq", "--json").stdout) == {
        "topic": settings.dlq_topic, "dead_letters": []}
    acc = banku(settings, "create", "Adam").stdout.strip()
    producer = KafkaProducer(**connection(settings))
    producer.send(settings.topic_name, key=acc.encode(), value=b"not json \xff")
    producer.flush()
    producer.close()
    assert banku(settings, "project", "--until-caught-up").returncode == 0
    result = banku(settings, "dlq", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["topic"] == settings.dlq_topic
    [letter] = document["dead_letters"]
    assert letter["value"].startswith("not json ")
    assert base64.b64decode(letter["value_base64"]) == b"not json \xff"
    assert letter["reason"] and letter["reason"] != "?"
    text = banku(settings, "dlq")
    assert letter["reason"] in text.stdout
