"""Helpers for the notebooks: a clean namespace per notebook, sentences instead of tracebacks,
and a look at who owns which partition in a consumer group.

Each notebook works in its own namespace (``nb01``, ``nb02``, ... prefixed with your
``BANKU_NAMESPACE`` on a shared cluster), and starts by resetting it, so running a notebook twice
in a row gives the same result. A notebook owns its namespace entirely: besides the kit's topic,
groups and view, the lessons make topics ``<namespace>.*`` and Redis keys ``<namespace>:*`` of
their own with the raw clients, and the reset deletes those too.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import warnings
from dataclasses import replace

from banku.config import Settings
from banku.errors import BankuError


def notebook_settings(notebook: str, settings: Settings | None = None) -> Settings:
    """The settings of one notebook: your servers, namespace ``<yours>-<notebook>``."""
    base = settings or Settings.from_env()
    namespace = f"{base.namespace}-{notebook}" if base.namespace else notebook
    return replace(base, namespace=namespace)


def start(notebook: str, reset: bool = True) -> Settings:
    """Prepare a notebook: quiet logs, readable errors, and (by default) a clean namespace."""
    quiet()
    show_errors_as_sentences()
    settings = notebook_settings(notebook)
    if reset:
        reset_notebook(settings)
    return settings


def reset_notebook(settings: Settings) -> str:
    """Delete everything a notebook's namespace holds, the kit's and the lesson's own.

    `reset_namespace` deletes the kit's topics, consumer groups (``<namespace>.*banku*``) and
    view; the lessons also make topics ``<namespace>.*`` and Redis keys ``<namespace>:*`` with
    the raw clients (a scratch topic, a hand-written projector's hashes), deleted here as well.
    Only for a notebook's namespace, which is never empty: the default namespace is shared.
    """
    if not settings.namespace:
        raise BankuError("A notebook's namespace is never empty: use notebook_settings().")
    from banku.adapters.kafka.clients import delete_topics, list_topics
    from banku.adapters.redis.view import ReadModel
    from banku.diagnostics import redis_errors
    from banku.lab.workshop import reset_namespace

    done = reset_namespace(settings)
    prefix = f"{settings.namespace}."
    delete_topics(settings, [t for t in list_topics(settings) if t.startswith(prefix)])
    with ReadModel(settings) as view, redis_errors(settings):
        own = list(view.redis.scan_iter(match=f"{settings.key_prefix}*", count=1000))
        if own:
            view.redis.delete(*own)
    return done


def quiet() -> None:
    """kafka-python logs reconnect attempts as warnings; a notebook should show only the lesson."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


class _WarningLine(logging.Handler):
    """Writes each record as one line to whatever `sys.stderr` is when it is emitted (in
    IPython: the output of the cell that caused it)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr)
        except Exception:  # logging must never break the lesson
            self.handleError(record)


def show_warnings(*loggers: str) -> None:
    """Show the kit's warnings from these loggers (default: all of ``banku``) as one line each.

    The kit says what it worked around (a refused snapshot, a name whose key is missing) with a
    warning through `logging`; outside the CLI nothing prints it. A lesson that teaches such a
    case turns it on for the logger concerned, e.g.
    ``show_warnings("banku.snapshots")``.
    Calling it again adds nothing: each warning is shown once.
    """
    for name in loggers or ("banku",):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _WarningLine) for h in logger.handlers):
            logger.addHandler(_WarningLine())


def show_errors_as_sentences() -> None:
    """In IPython, show an error of the kit or of the Kafka and Redis clients as one sentence.

    The notebooks put kafka-python and redis-py in the learner's hands; when the broker or Redis
    is down, their errors (a `KafkaTimeoutError` from the bootstrap, a redis `ConnectionError`)
    say so in one line, with what to do, instead of a traceback through the client's internals.
    Any other error keeps its traceback: it is the learner's own code that needs looking at.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from kafka.errors import KafkaError
    from redis.exceptions import RedisError

    def handler(shell, etype, value, tb, tb_offset=None):  # IPython's signature
        print(sentence_for(value), file=sys.stderr)
        return None

    shell.set_custom_exc((BankuError, KafkaError, RedisError), handler)


def sentence_for(error: BaseException) -> str:
    """One line for an error of the kit or of the clients, with the fix when there is one."""
    name = type(error).__name__
    # kafka-python repeats the class name in its message, after the error code of the protocol.
    text = re.sub(rf"^(\[Error -?\d+\] )?{re.escape(name)}: ", "", str(error))
    line = f"{name}: {text}" if text else name
    if isinstance(error, BankuError):
        return line
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(error, (KafkaTimeoutError, KafkaConnectionError)):
        return (f"{line}. Kafka does not answer: start it with `banku stack up` in a terminal"
                " (or check KAFKA_BOOTSTRAP_SERVERS), then run the notebook again from the top.")
    if isinstance(error, (RedisConnectionError, RedisTimeoutError)):
        return (f"{line}. Redis does not answer: start it with `banku stack up` in a terminal"
                " (or check REDIS_URL), then run the notebook again from the top.")
    return line


def environment_for(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment variables that make a `banku` subprocess use exactly these settings."""
    # Credentials come from the settings only, never from whatever the parent had; nor does an
    # env file (BANKU_ENV_FILE), whose values would win over the notebook's own namespace.
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_MECHANISM",
                        "BANKU_ENV_FILE")}
    env.update(KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers, REDIS_URL=settings.redis_url,
               BANKU_TOPIC=settings.topic, BANKU_NAMESPACE=settings.namespace,
               BANKU_COMMANDS=settings.commands,
               BANKU_ENCRYPT_NAMES="1" if settings.encrypt_names else "0",
               KAFKA_SECURITY_PROTOCOL=settings.kafka_security_protocol,
               KAFKA_SSL_CAFILE=settings.kafka_ssl_cafile,
               REDIS_SSL_CA_CERTS=settings.redis_ssl_ca_certs,
               PYTHONUNBUFFERED="1")
    if settings.kafka_username:
        env.update(KAFKA_SASL_USERNAME=settings.kafka_username,
                   KAFKA_SASL_PASSWORD=settings.kafka_password,
                   KAFKA_SASL_MECHANISM=settings.kafka_mechanism)
    env.update(extra)
    return env


def start_projector_process(settings: Settings, *args: str) -> subprocess.Popen:
    """Run `banku project` as a separate process (so it can be killed like a real service)."""
    return subprocess.Popen(
        [sys.executable, "-m", "banku", "project", *args], env=environment_for(settings),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def group_ownership(settings: Settings, group: str = "banku-consumer") -> dict[str, list[int]]:
    """Which member (by client id) owns which partitions of the topic, as Kafka reports it."""
    from banku.adapters.kafka.clients import admin_client

    group_id = settings.group_id(group)
    with admin_client(settings) as admin:
        described = admin.describe_groups([group_id]).get(group_id, {})
    return owners_in(settings, described)


def owners_in(settings: Settings, described: dict) -> dict[str, list[int]]:
    """Member (client id) -> partitions of this namespace's topic, from a group description."""
    owners: dict[str, list[int]] = {}
    for member in described.get("members", []):
        assignment = member.get("member_assignment") or {}
        parts = [
            p
            for entry in assignment.get("assigned_partitions", [])
            if entry.get("topic") == settings.topic_name
            for p in entry.get("partitions", [])
        ]
        owners[member.get("client_id") or member.get("member_id", "?")] = sorted(parts)
    return dict(sorted(owners.items()))


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1) -> float:
    """Poll ``predicate`` until it is true; return the seconds it took (raise on timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    raise BankuError(f"Gave up after {timeout:.0f}s waiting for the condition.")
