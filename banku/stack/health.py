"""Do the servers answer? And if one listens but refuses us, why (a login, a password)?"""

from __future__ import annotations

from dataclasses import dataclass

from banku.config import Settings
from banku.errors import ServiceUnavailable
from banku.stack.processes import port_open
from banku.stack.versions import Version, running_redis_version


def kafka_check(settings: Settings, timeout: float = 3.0,
                ) -> tuple[int, ServiceUnavailable | None]:
    """How many brokers answer, and, when none does although one listens, why (a refused SASL
    login is a `LoginRefused`); when nothing listens, None, or for a workshop room of this
    machine the sentence that its broker is down."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from banku.diagnostics import kafka_errors

    if not any(
        port_open(int(s.rpartition(":")[2]), s.rpartition(":")[0].strip("[]") or "127.0.0.1")
        for s in settings.bootstrap_list if s.rpartition(":")[2].isdigit()
    ):
        return 0, room_broker_down(settings)
    try:
        with kafka_errors(settings):
            admin = KafkaAdminClient(
                **settings.kafka_options(), request_timeout_ms=int(timeout * 1000),
            )
    except ServiceUnavailable as exc:
        return 0, exc
    except (KafkaError, OSError, ValueError):
        return 0, None
    try:
        cluster = admin.describe_cluster()
        return len([b for b in cluster.get("brokers", []) if not b.get("is_fenced")]), None
    except (KafkaError, OSError, ValueError):
        return 0, None
    finally:
        admin.close()


def room_broker_down(settings: Settings) -> ServiceUnavailable | None:
    """One line for a workshop room whose broker does not listen (None for any other stack):
    a room's learners cannot restart it, and it must not read like a refused login."""
    from banku.errors import StackError
    from banku.stack.plan import StackPlan
    from banku.stack.processes import tail

    try:
        plan = StackPlan.from_settings(settings)
    except StackError:
        return None  # not a stack of this machine
    if plan.room is None:
        return None
    log = plan.kafka_log(1)
    # -XX:+ExitOnOutOfMemoryError (banku.stack.jars) ends the broker with this line in its log.
    why = "; it ran out of memory" if "OutOfMemoryError" in tail(log, 20) else ""
    return ServiceUnavailable(
        f"the room's broker is down: Kafka does not answer at {settings.bootstrap_servers}{why}"
        f" (log: {log}); `banku workshop up --learners N --out DIR` restarts it, learners and"
        " data kept.")


def kafka_broker_count(settings: Settings, timeout: float = 3.0) -> int:
    """How many brokers answer a metadata request (0 when Kafka is not reachable)."""
    return kafka_check(settings, timeout)[0]


def redis_check(settings: Settings, timeout: float = 1.0,
                ) -> tuple[bool, ServiceUnavailable | None]:
    """Whether Redis answers, and, when it refuses the password, the error that says so."""
    import redis

    from banku.diagnostics import redis_login_refused

    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout,
            **settings.redis_options(),
        )
        try:
            return bool(client.ping()), None
        finally:
            client.close()
    except redis.AuthenticationError as exc:
        return False, redis_login_refused(settings, exc)
    except (redis.RedisError, OSError, ValueError):
        from banku.diagnostics import redis_tls_problem

        return False, redis_tls_problem(settings)  # TLS on one side only, a CA not trusted


def redis_answers(settings: Settings, timeout: float = 1.0) -> bool:
    return redis_check(settings, timeout)[0]


def redis_version(settings: Settings, timeout: float = 1.0) -> Version | None:
    """The version the Redis at REDIS_URL reports; None when it does not answer or will not say."""
    import redis

    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout,
            **settings.redis_options(),
        )
    except (redis.RedisError, ValueError):
        return None
    try:
        return running_redis_version(client)
    finally:
        client.close()


@dataclass
class StackStatus:
    kafka_brokers: int
    redis: bool
    settings: Settings
    kafka_problem: str = ""  # why Kafka listens but does not let us in (a refused login ...)
    redis_problem: str = ""  # why Redis refuses us (a wrong or missing password)

    @property
    def ok(self) -> bool:
        return self.kafka_brokers > 0 and self.redis

    def lines(self) -> list[str]:
        s = self.settings
        if self.kafka_brokers:
            kafka = (f"OK    Kafka at {s.bootstrap_servers} ({self.kafka_brokers} broker"
                     f"{'s' if self.kafka_brokers != 1 else ''})")
        elif self.kafka_problem:
            kafka = f"FAIL  {self.kafka_problem}"
        else:
            kafka = f"FAIL  Kafka does not answer at {s.bootstrap_servers}: run `banku stack up`"
        if self.redis:
            redis_line = f"OK    Redis at {s.redis_location()}"
        elif self.redis_problem:
            redis_line = f"FAIL  {self.redis_problem}"
        else:
            redis_line = (f"FAIL  Redis does not answer at {s.redis_location()}:"
                          " run `banku stack up`")
        return [kafka, redis_line]

    def to_dict(self) -> dict[str, object]:
        """The same facts as `lines`, for ``banku stack status --json``."""
        s = self.settings
        kafka_ok = self.kafka_brokers > 0
        return {
            "ok": self.ok,
            "kafka": {"ok": kafka_ok, "bootstrap_servers": s.bootstrap_servers,
                      "brokers": self.kafka_brokers,
                      "problem": None if kafka_ok else self.kafka_problem
                      or f"Kafka does not answer at {s.bootstrap_servers}"},
            "redis": {"ok": self.redis, "url": s.redis_location(),
                      "problem": None if self.redis else self.redis_problem
                      or f"Redis does not answer at {s.redis_location()}"},
        }


def status(settings: Settings) -> StackStatus:
    brokers, kafka_problem = kafka_check(settings)
    redis_ok, redis_problem = redis_check(settings)
    return StackStatus(brokers, redis_ok, settings, str(kafka_problem or ""),
                       str(redis_problem or ""))
