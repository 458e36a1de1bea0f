"""Credentials through the environment, on a stack of our own that requires them: Kafka with a
SASL_PLAINTEXT listener (SASL/PLAIN, from KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD) and a
redis-server with `requirepass` (the password in REDIS_URL, given to it in a 0600 redis.conf).

The right credentials work end to end through the command line; wrong or missing ones give one
clear line on stderr, never a traceback and never a hang.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import redis
from kafka import KafkaProducer
from kafka.errors import KafkaError

from banku import Bank, ServiceUnavailable, stack
from banku.adapters.redis.view import ReadModel
from tests import ports
from tests.fault.conftest import SASL_USER
from tests.fault.util import banku


@pytest.fixture
def secured(secured_stack):
    return secured_stack.with_namespace(f"t{uuid.uuid4().hex[:10]}")


def test_kafka_sasl_plain_and_a_redis_password_work_through_the_environment(secured, report):
    plan = stack.StackPlan.from_settings(secured)
    properties = (plan.node_dir(1) / "server.properties").read_text()
    assert f"listeners=SASL_PLAINTEXT://127.0.0.1:{KAFKA}" in properties
    assert "sasl.enabled.mechanisms=PLAIN" in properties

    status = banku(secured, "stack", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"OK    Kafka at 127.0.0.1:{KAFKA} (1 broker)" in status.stdout
    assert f"OK    Redis at redis://127.0.0.1:{REDIS}/0" in status.stdout  # no password shown

    ada = banku(secured, "create", "Ada Lovelace")
    assert ada.returncode == 0, ada.stderr
    ada_id = ada.stdout.strip()
    bob_id = banku(secured, "create", "Bob").stdout.strip()
    for args in (("deposit", ada_id, "2000"), ("withdraw", ada_id, "500"),
                 ("transfer", ada_id, bob_id, "300")):
        result = banku(secured, *args)
        assert result.returncode == 0, result.stderr
    projected = banku(secured, "project", "--until-caught-up")
    assert projected.returncode == 0, projected.stderr
    assert "Applied 5 records" in projected.stdout
    balances = banku(secured, "balances", "--json")
    assert balances.returncode == 0, balances.stderr
    accounts = json.loads(balances.stdout)
    assert sorted((a["Name"], a["Balance"]) for a in accounts) == [("Ada Lovelace", 1200),
                                                                   ("Bob", 300)]

    # The servers really do require the credentials: a client without them gets nowhere.
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=secured.bootstrap_list, bootstrap_timeout_ms=3000)
    client = redis.Redis(port=REDIS, socket_timeout=3)
    with pytest.raises(redis.AuthenticationError):
        client.ping()
    client.close()
    report(sasl_user=SASL_USER, cli_commands=8, balances="Ada 1200, Bob 300",
           unauthenticated_clients="refused")


def _wrong(settings, *, kafka_password=None, kafka_user=None, redis_url=None):
    changes = {}
    if kafka_password is not None:
        changes["kafka_password"] = kafka_password
    if kafka_user is not None:
        changes["kafka_username"] = kafka_user
    if redis_url is not None:
        changes["redis_url"] = redis_url
    return replace(settings, **changes)


KAFKA, REDIS = ports.kafka_port(ports.FAULT_SECURED), ports.redis_port(ports.FAULT_SECURED)
NO_PASSWORD = f"redis://127.0.0.1:{REDIS}/0"
WRONG_PASSWORD = f"redis://:not-it@127.0.0.1:{REDIS}/0"

# (what is wrong, settings change, command, what the one line must say)
CASES = [
    ("wrong Kafka password", dict(kafka_password="not-it"), ("create", "Eve"),
     "KAFKA_SASL_PASSWORD"),
    ("unknown Kafka user", dict(kafka_user="mallory"), ("create", "Eve"),
     "KAFKA_SASL_PASSWORD"),
    ("no Kafka credentials", dict(kafka_user="", kafka_password=""), ("create", "Eve"),
     "set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
    ("wrong Kafka password, projector", dict(kafka_password="not-it"), ("project",),
     "KAFKA_SASL_PASSWORD"),
    ("wrong Redis password", dict(redis_url=WRONG_PASSWORD), ("balances",),
     "refused the password in REDIS_URL"),
    ("no Redis password", dict(redis_url=NO_PASSWORD), ("balances",),
     "requires a password: put it in REDIS_URL"),
    ("wrong Redis password, projector", dict(redis_url=WRONG_PASSWORD),
     ("project", "--until-caught-up"), "refused the password in REDIS_URL"),
    ("wrong Kafka password, stack up", dict(kafka_password="not-it"), ("stack", "up"),
     "KAFKA_SASL_PASSWORD"),
    ("wrong Redis password, stack up", dict(redis_url=WRONG_PASSWORD), ("stack", "up"),
     "refused the password in REDIS_URL"),
]


def test_wrong_credentials_give_one_clear_line(secured, report):
    started = time.monotonic()

    def run(case):
        _, change, args, expected = case
        begun = time.monotonic()
        return banku(_wrong(secured, **change), *args, timeout=120), time.monotonic() - begun

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(run, CASES))
    slowest = 0.0
    for (what, _, _, expected), (result, seconds) in zip(CASES, results, strict=True):
        lines = [line for line in result.stderr.strip().splitlines()
                 if not line.startswith("Projecting ")]
        assert result.returncode != 0, (what, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (what, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("banku: "), (what, result.stderr)
        assert expected in lines[0], (what, lines[0])
        slowest = max(slowest, seconds)
    # How long each case took to say so is a figure for the report, not a test: a loaded machine
    # must not turn a correct refusal into a failure. (A refused SASL login used to surface only
    # as a bootstrap timeout, and `stack up` then waited 90 s; see banku.adapters.kafka.sasl_check.)
    timings = {what: round(seconds, 1) for (what, *_), (_, seconds) in zip(CASES, results,
                                                                            strict=True)}

    # `banku stack status` names what is wrong instead of saying "does not answer".
    status = banku(_wrong(secured, kafka_password="not-it", redis_url=WRONG_PASSWORD),
                   "stack", "status")
    assert status.returncode == 1
    lines = status.stdout.strip().splitlines()
    assert lines[0].startswith(f"FAIL  Kafka at 127.0.0.1:{KAFKA}") and "KAFKA_SASL" in lines[0]
    assert lines[1].startswith(f"FAIL  Redis at redis://127.0.0.1:{REDIS}/0 refused the password")

    # The Python API raises the same ServiceUnavailable.
    with pytest.raises(ServiceUnavailable, match="KAFKA_SASL_PASSWORD"):
        with Bank(_wrong(secured, kafka_password="not-it")) as bank:
            bank.create_account("Eve")
    with pytest.raises(ServiceUnavailable, match="refused the password in REDIS_URL"):
        ReadModel(_wrong(secured, redis_url=WRONG_PASSWORD)).accounts()
    # ... and the right ones still work (nothing was locked out).
    assert stack.status(secured).ok
    report(wrong_credential_cases=len(CASES) + 3, tracebacks=0,
           slowest_seconds=round(slowest, 1), seconds=round(time.monotonic() - started, 1),
           seconds_per_case=timings)
