"""All configuration in one place: `Settings`, read from the environment once.

A namespace isolates one learner on a shared cluster: with namespace ``alice`` the topic is
``alice.banku-transactions``, the consumer group ``alice.banku-consumer`` and every Redis key
starts with ``alice:``.

A setting the kit cannot use raises `ConfigError` with a sentence saying which and why.

A learner's env file (``learner-07.env``, as ``banku workshop up`` writes it) can stand in for
the environment: ``BANKU_ENV_FILE=path`` (or ``banku --env-file PATH``) loads it, see
`Settings.from_env`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from banku.defaults import BOOTSTRAP_TIMEOUT_MS
from banku.domain import ledger
from banku.errors import ConfigError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_TOPIC = "banku-transactions"
DEFAULT_GROUP = "banku-consumer"
HANDLER_GROUP = "banku-handler"
COMMANDS_TOPIC = "banku-commands"
SNAPSHOTS_TOPIC = "banku-snapshots"
PARTITIONS = ledger.PARTITIONS  # the domain's (banku.domain.ledger)
COMMAND_MODES = ("direct", "topic")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
ENV_FILE_VAR = "BANKU_ENV_FILE"
# Paths an env file may give relative to itself (a CA file kept next to the learner's file).
_FILE_RELATIVE = ("KAFKA_SSL_CAFILE", "REDIS_SSL_CA_CERTS")
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_TRUE = ("1", "true", "yes", "on")

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_-]{0,40}$")


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of an env file, as ``banku workshop up`` writes them.

    Blank lines and ``#`` comments are skipped; ``export KEY=VALUE`` and a value in matching
    quotes are accepted too, so a file written for ``set -a; . file`` reads the same here.
    ``KAFKA_SSL_CAFILE`` and ``REDIS_SSL_CA_CERTS`` may be relative to the file's folder.
    A missing or unreadable file, or a line that is not ``KEY=VALUE``, is a `ConfigError`.
    """
    where = Path(path).expanduser()
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"The env file {where} does not exist ({ENV_FILE_VAR} or --env-file): give the path"
            " of your learner file, for example workshop/learner-07.env."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(
            f"The env file {where} cannot be read ({reason}): check that it is your learner"
            " file and that you may read it."
        ) from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if not match:
            # The line itself is not shown: it may hold a password.
            raise ConfigError(
                f"Line {number} of the env file {where} is not KEY=VALUE: is it your learner"
                " file?"
            )
        key, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:  # a comment after the value, as a shell would read it
            value = value.split(" #", 1)[0].rstrip()
        if key in _FILE_RELATIVE and value:
            value = str(where.parent / Path(value).expanduser())
        values[key] = value
    return values


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
    # TLS: how clients speak to Kafka (empty: PLAINTEXT, or SASL_PLAINTEXT with a login), the
    # CA bundle that signed the brokers' certificates (empty: the system's CAs), and the one
    # for a rediss:// Redis.
    kafka_security_protocol: str = ""
    kafka_ssl_cafile: str = ""
    redis_ssl_ca_certs: str = ""

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
        self._check_tls(parsed.scheme)

    def _check_tls(self, redis_scheme: str) -> None:
        protocol = self.kafka_security_protocol
        if protocol and protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"KAFKA_SECURITY_PROTOCOL is {protocol!r}: use one of"
                f" {', '.join(SECURITY_PROTOCOLS)}."
            )
        for name, path in (("KAFKA_SSL_CAFILE", self.kafka_ssl_cafile),
                           ("REDIS_SSL_CA_CERTS", self.redis_ssl_ca_certs)):
            if path and not os.path.isfile(path):
                raise ConfigError(
                    f"{name} names {path}, which is not a file: give the CA bundle (PEM) that"
                    " came with your learner file, or unset it to trust the system's CAs."
                )
        if self.redis_ssl_ca_certs and redis_scheme != "rediss":
            raise ConfigError(
                "REDIS_SSL_CA_CERTS is set but REDIS_URL does not start with rediss://, so"
                " Redis would be spoken to without TLS: use rediss://."
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from the environment (``os.environ``, or ``environ`` when given).

        KAFKA_BOOTSTRAP_SERVERS, REDIS_URL, BANKU_TOPIC, BANKU_NAMESPACE, KAFKA_SASL_USERNAME,
        KAFKA_SASL_PASSWORD, KAFKA_SASL_MECHANISM, KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_CAFILE,
        REDIS_SSL_CA_CERTS, BANKU_COMMANDS and BANKU_ENCRYPT_NAMES.

        When the environment names an env file in ``BANKU_ENV_FILE`` (``banku --env-file PATH``
        sets it), that file's values are read too, and **the file wins** over the same keys in
        the environment: a learner on a JupyterHub names their ``learner-NN.env`` because it is
        the room they mean, and a server address the hub or the kit's defaults put in the
        environment must not silently replace it. Keys the file does not name still come from
        the environment. A missing or unreadable file is a `ConfigError`.
        """
        env: Mapping[str, str] = os.environ if environ is None else environ
        env_file = (env.get(ENV_FILE_VAR) or "").strip()
        if env_file:
            env = {**env, **read_env_file(env_file)}
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
            kafka_security_protocol=(env.get("KAFKA_SECURITY_PROTOCOL") or "").strip().upper(),
            kafka_ssl_cafile=(env.get("KAFKA_SSL_CAFILE") or "").strip(),
            redis_ssl_ca_certs=(env.get("REDIS_SSL_CA_CERTS") or "").strip(),
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

    @property
    def kafka_protocol(self) -> str:
        """KAFKA_SECURITY_PROTOCOL, or what a login implies: SASL_PLAINTEXT, else PLAINTEXT."""
        if self.kafka_security_protocol:
            return self.kafka_security_protocol
        return "SASL_PLAINTEXT" if self.kafka_username else "PLAINTEXT"

    def kafka_options(self) -> dict[str, object]:
        """Keyword arguments shared by every kafka-python client the kit makes."""
        # A learner with no broker running should hear about it in seconds, not after 30.
        options: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_list,
            "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        }
        protocol = self.kafka_protocol
        self._check_kafka_protocol(protocol)
        if protocol != "PLAINTEXT":
            options["security_protocol"] = protocol
        if protocol.startswith("SASL_"):
            options.update(
                sasl_mechanism=self.kafka_mechanism,
                sasl_plain_username=self.kafka_username,
                sasl_plain_password=self.kafka_password,
            )
        if protocol.endswith("SSL") and self.kafka_ssl_cafile:
            # Without a CA file kafka-python trusts the system's CAs (a managed cluster's case).
            options["ssl_cafile"] = self.kafka_ssl_cafile
        return options

    def _check_kafka_protocol(self, protocol: str) -> None:
        # Checked when a client is made, not in __post_init__: code that swaps the login with
        # `replace` passes through a moment where the two disagree.
        if protocol.startswith("SASL_") and not self.kafka_username:
            raise ConfigError(
                f"KAFKA_SECURITY_PROTOCOL is {protocol} but KAFKA_SASL_USERNAME is empty: give"
                " the login (your learner file has it), or use SSL or PLAINTEXT."
            )
        if not protocol.startswith("SASL_") and self.kafka_username:
            raise ConfigError(
                f"KAFKA_SASL_USERNAME is set but KAFKA_SECURITY_PROTOCOL is {protocol}, which"
                f" sends no login: use SASL_{protocol}, or unset the username."
            )
        if self.kafka_ssl_cafile and not protocol.endswith("SSL"):
            raise ConfigError(
                f"KAFKA_SSL_CAFILE is set but Kafka is spoken over {protocol}: set"
                " KAFKA_SECURITY_PROTOCOL to SSL or SASL_SSL."
            )

    def redis_options(self) -> dict[str, object]:
        """Keyword arguments for ``redis.Redis.from_url`` beyond the URL (the CA for rediss://)."""
        return {"ssl_ca_certs": self.redis_ssl_ca_certs} if self.redis_ssl_ca_certs else {}

    def redis_location(self) -> str:
        """The Redis URL without its password, for messages."""
        parsed = urlparse(self.redis_url)
        host = parsed.hostname or "127.0.0.1"
        return f"{parsed.scheme}://{host}:{parsed.port or 6379}{parsed.path}"
