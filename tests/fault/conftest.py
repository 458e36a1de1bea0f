"""Fault injection against real servers: the stacks these tests kill are their own.

Tests that only kill *projector* processes or feed bad input use the session's stack (each in a
fresh namespace, as every integration test does). Tests that stop or kill *servers* start stacks
of their own (`tests/ports.py` gives each a block of ports) and stop and wipe them at the end:

* one broker with Redis — Redis and broker restarts,
* three brokers with Redis,
* one broker with SASL/PLAIN and a password-protected Redis.

Every test prints one summary line with its figures (run ``pytest -s`` to see them) and records
them in ``artifacts/fault-report.json``.
"""

from __future__ import annotations

import json
import time

import pytest

from banku import Settings, StackError, stack
from tests import ports
from tests.helpers import ROOT

REPORT = ROOT / "artifacts" / "fault-report.json"

SINGLE = ports.settings_for(ports.FAULT_SINGLE)
# All three brokers named: a new client must find the cluster whichever node is down.
CLUSTER = ports.settings_for(ports.FAULT_CLUSTER, brokers=3)
SASL_USER, SASL_PASSWORD, REDIS_PASSWORD = "banku", "kafka-secret", "redis-secret"
SECURED = ports.settings_for(ports.FAULT_SECURED, redis_password=REDIS_PASSWORD,
                             kafka_username=SASL_USER, kafka_password=SASL_PASSWORD)


def ports_of_stack(settings: Settings, brokers: int) -> set[int]:
    plan = stack.StackPlan.from_settings(settings, brokers)
    used = {plan.redis_port}
    for node in range(1, brokers + 1):
        used |= {plan.broker_port(node), plan.controller_port(node)}
    return used


_OURS = ports_of_stack(SINGLE, 1) | ports_of_stack(CLUSTER, 3) | ports_of_stack(SECURED, 1)


def _session_ports() -> set[int]:
    session = Settings.from_env()
    used = set()
    for server in session.bootstrap_list:
        port = server.rpartition(":")[2]
        if port.isdigit():
            used |= {int(port), int(port) + 1}
    if session.redis_url:
        from urllib.parse import urlparse

        used.add(urlparse(session.redis_url).port or 6379)
    return used


@pytest.fixture(scope="session")
def own_ports_are_free_of_the_session_stack():
    clash = sorted(_OURS & _session_ports())
    assert not clash, (
        f"the session stack uses port(s) {clash}, which tests/fault/ starts, kills and wipes"
        " stacks on; point KAFKA_BOOTSTRAP_SERVERS / REDIS_URL elsewhere"
    )


def _quiet(_: str) -> None:
    pass


def _print_logs(settings: Settings, brokers: int) -> None:
    plan = stack.StackPlan.from_settings(settings, brokers)
    for path in [plan.kafka_log(n) for n in range(1, brokers + 1)] + [plan.redis_log]:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        important = [line for line in lines if " ERROR " in line or "Exception" in line]
        print(f"\n--- {path} (errors, then the last lines) ---", *important[-10:], "...",
              *lines[-15:], sep="\n")


def _fresh_stack(settings: Settings, brokers: int):
    """Wipe, start, yield, stop and wipe one stack of our own."""
    stack.down(settings, log=_quiet, wipe=True)
    started = time.monotonic()
    try:
        try:
            stack.up(settings, brokers=brokers, log=_quiet, timeout=150)
        except StackError as exc:
            # A JVM that dies while starting on a loaded 2-core machine (or a port briefly held
            # by another program) is not what these tests are about: say so, start once more.
            _print_logs(settings, brokers)  # the stack is wiped below: keep what it said
            print(f"\n[fault] starting the stack failed ({exc}); wiping it and trying once more")
            stack.down(settings, log=_quiet, wipe=True)
            stack.up(settings, brokers=brokers, log=_quiet, timeout=150)
        seconds = time.monotonic() - started
        print(f"\n[fault] stack on {settings.bootstrap_servers} ({brokers} broker"
              f"{'s' if brokers > 1 else ''}) up in {seconds:.1f}s", flush=True)
        yield settings
    finally:
        stack.down(settings, log=_quiet, wipe=True)


@pytest.fixture(scope="module")
def single_stack(own_ports_are_free_of_the_session_stack):
    yield from _fresh_stack(SINGLE, 1)


@pytest.fixture(scope="module")
def cluster_stack(own_ports_are_free_of_the_session_stack):
    yield from _fresh_stack(CLUSTER, 3)


@pytest.fixture(scope="module")
def secured_stack(own_ports_are_free_of_the_session_stack):
    yield from _fresh_stack(SECURED, 1)


# --- the report ------------------------------------------------------------------------------
_figures: dict[str, dict] = {}


@pytest.fixture
def report(request):
    """``report(**figures)``: print one summary line and keep the figures for the JSON file."""
    name = request.node.name

    def record(**figures) -> None:
        _figures[name] = figures
        line = ", ".join(f"{k}={v}" for k, v in figures.items())
        print(f"\n[fault] {name}: {line}", flush=True)
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps(
            {"written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "tests": _figures},
            indent=2, ensure_ascii=False,
        ) + "\n")

    return record
