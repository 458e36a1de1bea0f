"""The sentences a learner reads when Kafka or Redis does not answer, refuses a login, or refuses
a namespace: one place for all of them, so that every command says the same thing the same way.

`kafka_errors` and `redis_errors` are context managers that turn the clients' exceptions into a
`ServiceUnavailable` (or `NotAllowed`) carrying that sentence. They decide by exception *type*,
never by the wording of a client's log line.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

from banku.config import Settings
from banku.defaults import BOOTSTRAP_TIMEOUT_MS
from banku.errors import LoginRefused, NotAllowed, ServiceUnavailable

# How a workshop room names its learners (`banku.lab.room`): learner-01, learner-02, ...
LEARNER_NAME = re.compile(r"^learner-\d{2,3}$")


# --- Kafka ---------------------------------------------------------------------------------------
def _room_learner(settings: Settings) -> bool:
    """A learner of a workshop room (`banku.lab.room`): they cannot restart its servers."""
    return bool(LEARNER_NAME.match(settings.kafka_username or ""))


def kafka_down(settings: Settings, exc: BaseException | None = None) -> ServiceUnavailable:
    detail = f" ({type(exc).__name__})" if exc else ""
    if _room_learner(settings):
        return ServiceUnavailable(
            f"the room's broker is down: Kafka does not answer at {settings.bootstrap_servers}"
            f"{detail}. Tell your instructor; nothing of yours is lost.")
    return ServiceUnavailable(
        f"Kafka does not answer at {settings.bootstrap_servers}{detail}. Start it with"
        " `banku stack up`, or check KAFKA_BOOTSTRAP_SERVERS."
    )


def login_refused(settings: Settings, reason: str = "") -> LoginRefused:
    why = f" ({reason})" if reason else ""
    return LoginRefused(
        f"Kafka at {settings.bootstrap_servers} refused the SASL/{settings.kafka_mechanism}"
        f" login of user {settings.kafka_username!r}{why}; check KAFKA_SASL_USERNAME and"
        " KAFKA_SASL_PASSWORD."
    )


def not_allowed(settings: Settings, what: str) -> NotAllowed:
    """An ACL refused this user: ``what`` (a namespace, a topic, a group) is someone else's."""
    user = settings.kafka_username or _redis_user(settings)
    if user and LEARNER_NAME.match(user):
        hint = f"you are {user}: use BANKU_NAMESPACE={user}, as in your learner file"
    elif user:
        hint = (f"you are logged in as {user}; check BANKU_NAMESPACE against the one your"
                " instructor gave you")
    else:
        hint = "check BANKU_NAMESPACE against the one your instructor gave you"
    return NotAllowed(f"not allowed: {what} belongs to another learner ({hint}).")


def _redis_user(settings: Settings) -> str:
    return urlparse(settings.redis_url).username or ""


def namespace_phrase(settings: Settings) -> str:
    """How refusals name a namespace: ``namespace learner-02``."""
    return f"namespace {settings.namespace}" if settings.namespace else "the default namespace"


def _any_port_open(settings: Settings) -> bool:
    for server in settings.bootstrap_list:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), 0.5):
                return True
        except (OSError, ValueError):
            continue
    return False


def _first_open(servers: list[str]) -> tuple[str, int] | None:
    for server in servers:
        host, _, port = server.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        try:
            with socket.create_connection((host, int(port)), 0.5):
                return host, int(port)
        except (OSError, ValueError):
            continue
    return None


def kafka_tls_problem(settings: Settings) -> ServiceUnavailable | None:
    """A TLS mismatch between this client and the first broker that listens: a plaintext client
    at a TLS port, a TLS client at a plaintext one, or a certificate the client does not trust
    (`banku.stack.tls`); None when TLS is not the problem."""
    from banku.stack.tls import handshake_problem, plaintext_at_tls, speaks_tls

    found = _first_open(settings.bootstrap_list)
    if found is None:
        return None
    host, port = found
    what = f"Kafka at {host}:{port}"
    if settings.kafka_protocol.endswith("SSL"):
        problem = handshake_problem(host, port, settings.kafka_ssl_cafile, what,
                                    "KAFKA_SSL_CAFILE")
        return ServiceUnavailable(problem) if problem else None
    if speaks_tls(host, port):
        login = "SASL_SSL" if settings.kafka_username else "SSL"
        return ServiceUnavailable(plaintext_at_tls(
            what, f"set KAFKA_SECURITY_PROTOCOL={login} and KAFKA_SSL_CAFILE to its CA file"
                  " (`banku stack status --json` names both)"))
    return None


def bootstrap_failed(settings: Settings, exc: BaseException) -> ServiceUnavailable:
    """Why a client could not bootstrap: TLS on one side only or a certificate not trusted, a
    refused login (asked of the broker directly, see `banku.adapters.kafka.sasl_check`), a broker
    that lets us
    connect but not talk (a SASL login expected, or still starting), or no broker at all."""
    tls = kafka_tls_problem(settings)
    if tls is not None:
        return tls
    if _any_port_open(settings) and settings.kafka_username:
        from banku.adapters.kafka.sasl_check import ACCEPTED, SILENT, login_refusal

        reason = login_refusal(settings.bootstrap_list, settings.kafka_mechanism,
                               settings.kafka_username, settings.kafka_password,
                               ssl_context=_kafka_ssl_context(settings))
        if reason == SILENT:
            # The port is open but the broker does not even answer a login: it is stuck (out
            # of memory, say), which says nothing about this user's password.
            where = ("the room's broker is down or overloaded" if _room_learner(settings)
                     else "Kafka is stuck or overloaded")
            then = ("tell your instructor" if _room_learner(settings)
                    else "see `banku stack status`, or restart it: `banku stack down`, then up")
            return ServiceUnavailable(
                f"{where}: Kafka at {settings.bootstrap_servers} accepts connections but answers"
                f" nothing, not even a login; {then}.")
        if reason:
            return login_refused(settings, reason)
        if reason == ACCEPTED:
            return ServiceUnavailable(
                f"Kafka at {settings.bootstrap_servers} accepts the login of user"
                f" {settings.kafka_username!r} but did not answer within"
                f" {BOOTSTRAP_TIMEOUT_MS / 1000:.0f}s: the broker (or this machine) is busy;"
                " run it again in a moment."
            )
        return ServiceUnavailable(
            f"Kafka at {settings.bootstrap_servers} accepts connections but did not let user"
            f" {settings.kafka_username!r} in ({type(exc).__name__}): check KAFKA_SASL_USERNAME"
            " and KAFKA_SASL_PASSWORD (or unset them if the broker needs no login); if it is"
            " just starting, try again in a few seconds."
        )
    if _any_port_open(settings):
        return ServiceUnavailable(
            f"Kafka at {settings.bootstrap_servers} accepts connections but closes them"
            f" ({type(exc).__name__}): if the broker requires a SASL login, set"
            " KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD; if it is just starting, try again"
            " in a few seconds."
        )
    return kafka_down(settings, exc)


def _kafka_ssl_context(settings: Settings):  # an ssl.SSLContext or None
    """The TLS context of a SASL_SSL client (for the raw login check); None without TLS."""
    if not settings.kafka_protocol.endswith("SSL"):
        return None
    from banku.stack.tls import client_context

    return client_context(settings.kafka_ssl_cafile)


def explain_kafka(settings: Settings, exc: BaseException, what: str = "") -> Exception | None:
    """The sentence for a kafka-python error a learner can act on, or None for the others.

    ``what`` names the resource being used, for the 'not allowed' sentence.
    """
    from kafka import errors as kafka

    if isinstance(exc, kafka.SaslAuthenticationFailedError):
        return login_refused(settings, str(exc).rsplit(": ", 1)[-1])
    if isinstance(exc, (kafka.TopicAuthorizationFailedError, kafka.GroupAuthorizationFailedError,
                        kafka.TransactionalIdAuthorizationFailedError,
                        kafka.ClusterAuthorizationFailedError)):
        return not_allowed(settings, what or _resource_of(exc))
    if isinstance(exc, kafka.KafkaTimeoutError) and "bootstrap" in str(exc).lower():
        return bootstrap_failed(settings, exc)
    if isinstance(exc, kafka.PolicyViolationError):  # a workshop room's topic policy
        return NotAllowed(f"not allowed in this room: {_broker_said(exc)}.")
    if isinstance(exc, kafka.ThrottlingQuotaExceededError):  # a room's controller_mutation_rate
        return ServiceUnavailable(
            "the room limits how many topic partitions one learner creates or deletes per"
            " second, and this was more: wait a few seconds and run it again.")
    return None


def _broker_said(exc: BaseException) -> str:
    """The broker's own sentence in a kafka-python admin error, which also quotes the whole
    request and response (shown as is; the error's type decided what it means)."""
    found = re.search(r"error_message='([^']*)'", str(exc))
    return found.group(1) if found else getattr(exc, "description", "") or type(exc).__name__


@contextmanager
def kafka_errors(settings: Settings, what: str = "") -> Iterator[None]:
    """Turn the kafka-python errors a learner can act on into their sentence."""
    from kafka.errors import KafkaError

    try:
        yield
    except KafkaError as exc:
        better = explain_kafka(settings, exc, what)
        if better is None:
            raise
        raise better from None


def _resource_of(exc: BaseException) -> str:
    kind = type(exc).__name__
    if kind.startswith("Group"):
        return "this consumer group"
    if kind.startswith("Transactional"):
        return "this transactional id"
    if kind.startswith("Cluster"):
        return "this cluster operation"
    return "this topic"


# --- Redis ---------------------------------------------------------------------------------------
def redis_down(settings: Settings, exc: BaseException | None = None) -> ServiceUnavailable:
    reason = f" ({exc})" if exc else ""
    return ServiceUnavailable(
        f"Redis does not answer at {settings.redis_location()}{reason}. Start it with"
        " `banku stack up`, or check REDIS_URL."
    )


def redis_tls_problem(settings: Settings) -> ServiceUnavailable | None:
    """A TLS mismatch with the Redis at REDIS_URL (see `kafka_tls_problem`); None when TLS is
    not the problem (or it is a unix socket)."""
    from banku.stack.tls import handshake_problem, plaintext_at_tls, speaks_tls

    url = urlparse(settings.redis_url)
    if url.scheme not in ("redis", "rediss"):
        return None
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    what = f"Redis at {host}:{port}"
    if url.scheme == "rediss":
        problem = handshake_problem(host, port, settings.redis_ssl_ca_certs, what,
                                    "REDIS_SSL_CA_CERTS")
        return ServiceUnavailable(problem) if problem else None
    if speaks_tls(host, port, timeout=1.0):
        return ServiceUnavailable(plaintext_at_tls(
            what, "use REDIS_URL=rediss://... and REDIS_SSL_CA_CERTS=its CA file"
                  " (`banku stack status --json` names both)"))
    return None


def redis_login_refused(settings: Settings, exc: BaseException) -> LoginRefused:
    if not urlparse(settings.redis_url).password:
        return LoginRefused(
            f"Redis at {settings.redis_location()} requires a password: put it in REDIS_URL"
            " as redis://:PASSWORD@host:port/0."
        )
    return LoginRefused(
        f"Redis at {settings.redis_location()} refused the password in REDIS_URL ({exc})."
    )


def redis_full(settings: Settings) -> ServiceUnavailable:
    """Redis refused a write at its memory ceiling (maxmemory, with noeviction: it never drops a
    key of the view to make room)."""
    return ServiceUnavailable(
        f"Redis at {settings.redis_location()} is full (its maxmemory) and refuses every write"
        " until something is deleted; nothing was changed. On your own stack: `banku reset`"
        " of a namespace you no longer need; in a workshop room, tell the instructor.")


def _is_acl_refusal(exc: BaseException) -> bool:
    """A command inside a Lua script that the ACL refuses comes back as a plain error reply
    (``ERR ... can't access ...``), not as NOPERM; the script's own error text is the only
    machine-readable trace of it."""
    import redis

    return isinstance(exc, redis.ResponseError) and "can't access" in str(exc) \
        and "script" in str(exc).lower()


@contextmanager
def redis_errors(settings: Settings, what: str = "") -> Iterator[None]:
    import redis

    try:
        yield
    except redis.AuthenticationError as exc:
        raise redis_login_refused(settings, exc) from None
    except redis.exceptions.NoPermissionError:
        raise not_allowed(settings, what or namespace_phrase(settings)) from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise (redis_tls_problem(settings) or redis_down(settings, exc)) from None
    except redis.exceptions.OutOfMemoryError:
        raise redis_full(settings) from None
    except redis.ResponseError as exc:
        if _is_acl_refusal(exc):
            raise not_allowed(settings, what or namespace_phrase(settings)) from None
        raise
