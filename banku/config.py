"""All configuration in one place: `Settings`, read from the environment once.

A namespace isolates one learner on a shared cluster: with namespace ``alice`` the topic is
``alice.banku-transactions``, the consumer group ``alice.banku-consumer`` and every Redis key
starts with ``alice:``.

A setting the kit cannot use raises `ConfigError` with a sentence saying which and why.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlparse

from .defaults import BOOTSTRAP_TIMEOUT_MS
from .errors import ConfigError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_TOPIC = "banku-transactions"
DEFAULT_GROUP = "banku-consumer"
HANDLER_GROUP = "banku-handler"
COMMANDS_TOPIC = "banku-commands"
SNAPSHOTS_TOPIC = "banku-snapshots"
PARTITIONS = 3
COMMAND_MODES = ("direct", "topic")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_TRUE = ("1", "true", "yes", "on")

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_-]{0,40}$")


@dataclass(frozen=True)
class Settings:
    """Where Kafka and Redis are, which topic to use and which namespace isolates you."""

    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    redis_url: str = DEFAULT_REDIS_URL
    topic: str = DEFAULT_TOPIC
    namespace: str = ""
    # Optional SASL/PLAIN credentials for a secured broker (empty means PLAINTEXT).
    kafka_username: str = ""
    kafka_password: str = field(default="", repr=False)
    kafka_mechanism: str = "PLAIN"
    # How commands reach the log: "direct" (`Bank` checks and writes events itself) or "topic"
    # (`Bank` sends commands to the commands topic; `banku handler` decides them, one writer
    # per account).
    commands: str = "direct"
    # Crypto-shredding: account names travel encrypted under a per-account key kept in Redis.
    encrypt_names: bool = False

    def __post_init__(self) -> None:
        if not _NAMESPACE_RE.match(self.namespace):
            raise ConfigError(
                f"BANKU_NAMESPACE {self.namespace!r} is not usable: use up to 40 letters, digits,"
                " '-' or '_' (for example your first name)."
            )
        if not self.topic or not re.match(r"^[A-Za-z0-9._-]{1,200}$", self.topic):
            raise ConfigError(f"BANKU_TOPIC {self.topic!r} is not a valid Kafka topic name.")
        if self.commands not in COMMAND_MODES:
            raise ConfigError(
                f"BANKU_COMMANDS is {self.commands!r}: use 'direct' (the default) or 'topic'."
            )
        if self.kafka_mechanism not in SASL_MECHANISMS:
            raise ConfigError(
                f"KAFKA_SASL_MECHANISM is {self.kafka_mechanism!r}: use one of"
                f" {', '.join(SASL_MECHANISMS)}."
            )
        if not self.bootstrap_list:
            raise ConfigError("KAFKA_BOOTSTRAP_SERVERS is empty: give host:port of a broker.")
        parsed = urlparse(self.redis_url)
        if parsed.scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"REDIS_URL must start with redis://, rediss:// or unix://, not {parsed.scheme!r}."
            )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read KAFKA_BOOTSTRAP_SERVERS, REDIS_URL, BANKU_TOPIC and BANKU_NAMESPACE."""
        env = os.environ if environ is None else environ
        return cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP,
            redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            topic=env.get("BANKU_TOPIC") or DEFAULT_TOPIC,
            namespace=(env.get("BANKU_NAMESPACE") or "").strip(),
            kafka_username=env.get("KAFKA_SASL_USERNAME") or "",
            kafka_password=env.get("KAFKA_SASL_PASSWORD") or "",
            kafka_mechanism=(env.get("KAFKA_SASL_MECHANISM") or "PLAIN").strip().upper(),
            commands=(env.get("BANKU_COMMANDS") or "direct").strip().lower(),
            encrypt_names=(env.get("BANKU_ENCRYPT_NAMES") or "").strip().lower() in _TRUE,
        )

    def with_namespace(self, namespace: str) -> Settings:
        """The same servers, another namespace (used by notebooks and tests to stay apart)."""
        return replace(self, namespace=namespace)

    # --- names derived from the namespace -------------------------------------------------
    @property
    def topic_name(self) -> str:
        """The Kafka topic this namespace writes to, e.g. ``alice.banku-transactions``."""
        return f"{self.namespace}.{self.topic}" if self.namespace else self.topic

    @property
    def dlq_topic(self) -> str:
        """Where records that are not valid events go (the dead-letter topic)."""
        return f"{self.topic_name}.dlq"

    def _named(self, base: str) -> str:
        return f"{self.namespace}.{base}" if self.namespace else base

    @property
    def commands_topic(self) -> str:
        """Where `Bank` sends commands in topic mode (``<ns.>banku-commands``)."""
        return self._named(COMMANDS_TOPIC)

    @property
    def commands_dlq_topic(self) -> str:
        return f"{self.commands_topic}.dlq"

    @property
    def outcomes_topic(self) -> str:
        """Where the handler answers each command (accepted with its receipt, or refused)."""
        return f"{self.commands_topic}.outcomes"

    @property
    def snapshots_topic(self) -> str:
        """The compacted topic holding the command side's latest snapshot."""
        return self._named(SNAPSHOTS_TOPIC)

    @property
    def topics(self) -> list[str]:
        """Every topic this namespace may own (what a reset deletes)."""
        return [self.topic_name, self.dlq_topic, self.commands_topic, self.commands_dlq_topic,
                self.outcomes_topic, self.snapshots_topic]

    def group_id(self, group: str = DEFAULT_GROUP) -> str:
        """The consumer group name for this namespace."""
        prefix = f"{self.namespace}."
        if self.namespace and not group.startswith(prefix):
            return prefix + group
        return group

    @property
    def key_prefix(self) -> str:
        """Prefix of every Redis key of this namespace (empty without a namespace)."""
        return f"{self.namespace}:" if self.namespace else ""

    # --- client options -------------------------------------------------------------------
    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def kafka_options(self) -> dict[str, object]:
        """Keyword arguments shared by every kafka-python client the kit makes."""
        # A learner with no broker running should hear about it in seconds, not after 30.
        options: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_list,
            "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        }
        if self.kafka_username:
            options.update(
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism=self.kafka_mechanism,
                sasl_plain_username=self.kafka_username,
                sasl_plain_password=self.kafka_password,
            )
        return options

    def redis_location(self) -> str:
        """The Redis URL without its password, for messages."""
        parsed = urlparse(self.redis_url)
        host = parsed.hostname or "127.0.0.1"
        return f"{parsed.scheme}://{host}:{parsed.port or 6379}{parsed.path}"
