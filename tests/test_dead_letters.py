"""One dead letter per refused record on the real servers: `banku replay` refuses the Go
original's overflow record again, and the dead-letter topic does not grow."""

from __future__ import annotations

import json

from kafka import KafkaProducer

from tests.helpers import banku, connection, raw_records


def test_replays_leave_one_dead_letter_per_refused_record(settings):
    acc = banku(settings, "create", "Ada").stdout.strip()
    assert banku(settings, "deposit", acc, "10").returncode == 0
    # The Go original's overflow: a deposit beyond what the view can add up (a producer other
    # than the kit can write it; the kit's own rules refuse it).
    producer = KafkaProducer(**connection(settings))
    overflow = json.dumps({"AccId": acc, "Type": "DepositEvent", "Amount": 2**63 - 1}).encode()
    sent = producer.send(settings.topic_name, key=acc.encode(), value=overflow).get(timeout=30)
    producer.close()
    source = f"{settings.topic_name}/{sent.partition}/{sent.offset}"

    assert banku(settings, "project", "--until-caught-up").returncode == 0
    for _ in range(2):
        replayed = banku(settings, "replay")
        assert replayed.returncode == 0, replayed.stderr

    letters = json.loads(banku(settings, "dlq", "--json").stdout)["dead_letters"]
    assert [letter["source"] for letter in letters] == [source]
    assert "beyond" in letters[0]["reason"]
    assert len(raw_records(settings, settings.dlq_topic)) == 1
    balances = json.loads(banku(settings, "balances", "--json").stdout)
    assert [(a["Id"], a["Balance"]) for a in balances] == [(acc, 10)]
