"""`banku stack up | down`: start what is missing, wait until it answers, stop what we started.

`up` first checks everything that can be checked before a process starts (redis-server and Java
installed, Kafka's jars fetched, ports free, the data made for this many brokers), so that a
refusal leaves nothing half-started; if a server then does not come up, the processes this call
started are stopped again.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlparse

from banku.config import Settings
from banku.errors import LoginRefused, StackError
from banku.stack.health import (
    kafka_broker_count,
    kafka_check,
    redis_answers,
    redis_check,
    redis_version,
)
from banku.stack.jars import KAFKA_VERSION, ensure_kafka_jars, java_command
from banku.stack.plan import StackPlan
from banku.stack.policy import policy_classes
from banku.stack.processes import (
    kafka_pid,
    port_open,
    redis_pid,
    redis_server_command,
    start_kafka_node,
    start_redis,
    stop_pids,
    tail,
)
from banku.stack.versions import Version, redis_server_version, redis_too_old

Log = Callable[[str], None]
NODES = range(1, 4)


@dataclass
class _Needs:
    """What `up` has to do, worked out before anything starts."""

    redis: bool = False  # Redis does not answer yet
    start_redis: bool = False  # ... and no redis-server of ours is starting
    kafka: bool = False
    nodes: list[int] = field(default_factory=list)  # Kafka nodes to start


def _check_brokers(plan: StackPlan, brokers: int) -> None:
    state = plan.read_state()
    running = [n for n in NODES if kafka_pid(plan, n)]
    if running and state.get("brokers", 1) < brokers:
        raise StackError(
            f"A {state.get('brokers', 1)}-broker stack is already running on port"
            f" {plan.kafka_port}; run `banku stack down` first to switch to {brokers}."
        )
    formatted = plan.formatted_brokers()
    if not running and formatted and formatted != brokers:
        raise StackError(
            f"The stack on port {plan.kafka_port} was made with {formatted}"
            f" broker{'s' if formatted > 1 else ''}; run `banku stack down --wipe` (this deletes"
            f" its data) to start over with {brokers}, or set KAFKA_BOOTSTRAP_SERVERS to"
            " another port."
        )


def _plan_redis(settings: Settings, plan: StackPlan, needs: _Needs) -> None:
    answers, problem = redis_check(settings)
    needs.redis = not answers
    if answers:
        _refuse_old_redis(redis_version(settings), f"The Redis at {settings.redis_location()}")
        return
    own = redis_pid(plan)
    if own and problem:
        raise StackError(
            f"{problem} The redis-server on port {plan.redis_port} was started with another"
            " password: `banku stack down`, then `banku stack up` restarts it with the one in"
            " REDIS_URL."
        )
    if not own:
        command = redis_server_command()
        _refuse_old_redis(redis_server_version(command), command)
        if port_open(plan.redis_port):
            raise StackError(
                f"Port {plan.redis_port} is taken by something that is not a Redis we can reach"
                " (a wrong password in REDIS_URL?); stop it or set REDIS_URL to another port."
            )
        needs.start_redis = True


def _refuse_old_redis(version: Version | None, what: str) -> None:
    """Refuse, in one sentence, a Redis older than the kit needs (an unknown version passes)."""
    too_old = redis_too_old(version, what) if version else None
    if too_old:
        raise StackError(too_old)


def _plan_kafka(settings: Settings, plan: StackPlan, brokers: int, needs: _Needs,
                log: Log) -> None:
    answering, problem = kafka_check(settings)
    if isinstance(problem, LoginRefused):
        if any(kafka_pid(plan, n) for n in NODES):
            raise StackError(
                f"{problem} The broker on port {plan.kafka_port} was started with other"
                " credentials: `banku stack down`, then `banku stack up` restarts it with the"
                " ones in KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD."
            )
        raise StackError(f"{problem} (That broker was not started by `banku stack up` here.)")
    needs.kafka = answering < brokers
    if not needs.kafka:
        return
    java_command()
    libs = ensure_kafka_jars(log)
    if plan.room:  # its topic policy, compiled (once) before anything starts
        policy_classes(libs)
    for node in range(1, brokers + 1):
        if kafka_pid(plan, node):
            continue  # ours, still starting: wait for it below
        if port_open(plan.broker_port(node)) or port_open(plan.controller_port(node)):
            raise StackError(
                f"Port {plan.broker_port(node)} or {plan.controller_port(node)} is taken by"
                " another program; stop it or set KAFKA_BOOTSTRAP_SERVERS to another port."
            )
        needs.nodes.append(node)


def _wait(check: Callable[[], bool], timeout: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if not alive():
            return False
        time.sleep(0.3)
    return check()


def _wait_for_redis(settings: Settings, plan: StackPlan, log: Log) -> None:
    if not _wait(lambda: redis_answers(settings), 20, lambda: bool(redis_pid(plan))):
        raise StackError(
            f"redis-server did not start; see {plan.redis_log}: {tail(plan.redis_log, 2)}"
        )
    log(f"Redis is up at {settings.redis_location()} (log: {plan.redis_log})")


def _wait_for_kafka(settings: Settings, plan: StackPlan, brokers: int, timeout: float,
                    log: Log) -> None:
    def alive() -> bool:
        return all(kafka_pid(plan, n) for n in range(1, brokers + 1))

    if not _wait(lambda: kafka_broker_count(settings) >= brokers, timeout, alive):
        dead = [n for n in range(1, brokers + 1) if not kafka_pid(plan, n)]
        node = dead[0] if dead else 1
        reason = "stopped" if dead else f"did not answer within {timeout:.0f}s"
        problem = None if dead else kafka_check(settings)[1]
        if problem:
            reason += f" ({problem})"
        raise StackError(
            f"Kafka broker {node} {reason}; see {plan.kafka_log(node)}"
            f" (last line: {tail(plan.kafka_log(node), 1)})"
        )
    log(f"Kafka {KAFKA_VERSION} is up at {settings.bootstrap_servers}"
        f" ({brokers} broker{'s' if brokers > 1 else ''}, KRaft; logs in {plan.directory})")


def client_settings(settings: Settings) -> Settings:
    """The settings a client of the local stack at ``settings``' ports needs: over TLS with its
    CA when it was started with --tls; ``settings`` themselves for any other stack."""
    try:
        return StackPlan.from_settings(settings).client_settings(settings)
    except StackError:
        return settings  # not a stack of this machine


def tls_env(settings: Settings) -> dict[str, str]:
    """What a client of a --tls stack puts in its environment (empty for a plain stack)."""
    plan = _plan_or_none(settings)
    if plan is None or not plan.tls:
        return {}
    tls = plan.client_settings(settings)
    return {"KAFKA_BOOTSTRAP_SERVERS": tls.bootstrap_servers,
            "KAFKA_SECURITY_PROTOCOL": tls.kafka_protocol,
            "KAFKA_SSL_CAFILE": tls.kafka_ssl_cafile, "REDIS_URL": tls.redis_url,
            "REDIS_SSL_CA_CERTS": tls.redis_ssl_ca_certs}


def _plan_or_none(settings: Settings) -> StackPlan | None:
    try:
        return StackPlan.from_settings(settings)
    except StackError:
        return None


def _start_tls(plan: StackPlan) -> StackPlan:
    """`up --tls` of a stack without certificates: make them (`banku.stack.tls`), unless its servers
    already run without TLS."""
    from banku.stack.tls import make_certificates

    if redis_pid(plan) or any(kafka_pid(plan, n) for n in NODES):
        raise StackError(
            f"The stack on port {plan.kafka_port} runs without TLS: `banku stack down`, then"
            " `banku stack up --tls` restarts it with TLS (its data kept).")
    hosts = ["127.0.0.1", "localhost", "::1"]
    if plan.room and plan.room.host:
        hosts.append(plan.room.host)
    make_certificates(plan.tls_dir, hosts)
    return replace(plan, tls=True)


def up(settings: Settings, brokers: int = 1, log: Log = print, timeout: float = 90.0,
       tls: bool = False) -> None:
    """Start Kafka and Redis unless they already answer; wait until both do. With ``tls`` (or
    when the stack was started with it before), both speak only TLS."""
    plan = StackPlan.from_settings(settings, brokers)
    _check_brokers(plan, brokers)
    made_tls = tls and not plan.tls
    if made_tls:
        plan = _start_tls(plan)
    settings = plan.client_settings(settings)
    try:
        _up(settings, plan, brokers, log, timeout)
    except BaseException:
        if made_tls:  # refused or failed: the stack is not remembered as a TLS one
            shutil.rmtree(plan.tls_dir, ignore_errors=True)
        raise
    if plan.tls and plan.room:  # the room's env files carry its settings (and passwords)
        log(f"TLS only (SASL_SSL and rediss://); the room's CA: {plan.ca_file}")
    elif plan.tls:
        log("TLS only. A client of this stack needs:")
        for key, value in tls_env(settings).items():
            if key == "REDIS_URL" and urlparse(value).password:
                value = value.replace(f":{urlparse(value).password}@", ":PASSWORD@", 1)
            log(f"  {key}={value}")


def _up(settings: Settings, plan: StackPlan, brokers: int, log: Log, timeout: float) -> None:
    if plan.room and not settings.kafka_username:
        raise StackError(
            f"The stack on port {plan.kafka_port} is a workshop room (logins required): source"
            " the instructor's file (set -a; . DIR/instructor/instructor.env; set +a) or run `banku"
            " workshop up --learners N --out DIR`.")
    needs = _Needs()
    _plan_redis(settings, plan, needs)
    _plan_kafka(settings, plan, brokers, needs, log)
    if not needs.redis:
        log(f"Redis is already running at {settings.redis_location()}")
    if not needs.kafka:
        log(f"Kafka is already running at {settings.bootstrap_servers}")
    started: list[tuple[int, str]] = []
    try:
        if needs.start_redis:
            started.append((start_redis(plan), "redis-server"))
        for node in needs.nodes:
            started.append((start_kafka_node(plan, node, log), "kafka.Kafka"))
        if needs.redis:
            _wait_for_redis(settings, plan, log)
        if needs.kafka:
            _wait_for_kafka(settings, plan, brokers, timeout, log)
    except BaseException:
        for marker in ("kafka.Kafka", "redis-server"):
            stop_pids([pid for pid, m in started if m == marker], marker, timeout=30)
        raise


def down(settings: Settings, log: Log = print, wipe: bool = False) -> bool:
    """Stop what `up` started (by pid). Returns False when there was nothing to stop."""
    plan = StackPlan.from_settings(settings, 1)
    state = plan.read_state()
    brokers = [p for p in (kafka_pid(plan, n) for n in NODES) if p]
    stopped = False
    # A clean shutdown protects data; with --wipe the data is deleted next, so there is nothing
    # to protect and no reason to wait (a KRaft cluster that has lost its quorum, e.g. after a
    # broker was killed, can hang in its controlled shutdown until the deadline).
    grace = 5 if wipe else 60
    if brokers:
        stop_pids(brokers, "kafka.Kafka", timeout=grace)
        log(f"Stopped Kafka ({len(brokers)} broker{'s' if len(brokers) > 1 else ''})")
        stopped = True
    pid = redis_pid(plan)
    if pid:
        stop_pids([pid], "redis-server", timeout=min(grace, 20))
        log("Stopped Redis")
        stopped = True
    if not stopped:
        log(f"Nothing to stop: no stack started by banku on port {plan.kafka_port}.")
    state.pop("kafka", None)
    state.pop("redis", None)
    if wipe and plan.directory.exists():
        shutil.rmtree(plan.directory)
        log(f"Removed {plan.directory}")
    elif plan.directory.exists():
        plan.write_state(state)
    return stopped
