"""Where one local stack lives: its ports, its directories, its state file.

Node ``i`` (1-based) of an N-broker stack listens for clients on ``port + 2*(i-1)`` and for the
KRaft quorum on the port after that: 9092/9093, 9094/9095, 9096/9097.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from banku.config import Settings
from banku.errors import StackError

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
ROOM_FILE = "room.json"  # a workshop room's secrets, beside the stack's data (mode 0600)
TLS_DIR = "tls"  # `banku stack up --tls`: the CA and the server's certificate (banku.stack.tls)


@dataclass(frozen=True)
class RoomKeys:
    """The logins a secured workshop room is started with (`banku.lab.room` makes them).

    Clients log in with SCRAM-SHA-256; Kafka's ``StandardAuthorizer`` lets each learner use only
    their own names. ``admin`` is the broker's own login (between brokers); the KRaft controller
    listener takes a static PLAIN login of its own; ``instructor`` may do everything.
    """

    admin_password: str
    controller_password: str
    instructor_password: str
    # The address other machines reach the room at (its servers then listen on every
    # interface); empty: this machine only (127.0.0.1).
    host: str = ""

    @classmethod
    def load(cls, directory: Path) -> RoomKeys | None:
        try:
            data = json.loads((directory / ROOM_FILE).read_text())
            return cls(data["admin_password"], data["controller_password"],
                       data["instructor"]["kafka"], data.get("host", ""))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read or write, from the first byte (it may hold passwords):
    created with mode 0600, never 0644 for a moment before a chmod."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # an existing file keeps its mode through O_CREAT
        f.write(text)


def private_dir(path: Path) -> Path:
    """A folder only its owner may enter (mode 0700), made if missing."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def banku_home() -> Path:
    """Where Kafka's jars and the stacks' data live (``$BANKU_HOME``, or ``~/.cache/banku``)."""
    return Path(os.environ.get("BANKU_HOME") or Path.home() / ".cache" / "banku")


@dataclass(frozen=True)
class StackPlan:
    """Which ports and directories one local stack uses."""

    kafka_port: int
    redis_port: int
    redis_password: str
    brokers: int
    kafka_username: str = ""
    kafka_password: str = ""
    kafka_mechanism: str = "PLAIN"
    # A workshop room (SCRAM logins and ACLs); None for a plain local stack.
    room: RoomKeys | None = None
    # Started with --tls: clients speak SSL (SASL_SSL) to Kafka and rediss:// to Redis. The stack
    # remembers it by its CA file, so `status` and `down` need no flag.
    tls: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, brokers: int = 1) -> StackPlan:
        if brokers not in (1, 3):
            raise StackError(
                "banku stack starts either 1 or 3 brokers (--brokers 1 or --brokers 3)."
            )
        first = settings.bootstrap_list[0] if settings.bootstrap_list else ""
        host, _, port = first.rpartition(":")
        if host.strip("[]") not in LOCAL_HOSTS or not port.isdigit():
            raise StackError(
                f"KAFKA_BOOTSTRAP_SERVERS is {settings.bootstrap_servers!r}: banku stack only"
                " starts local servers, so point it at 127.0.0.1:<port> (or unset it)."
            )
        url = urlparse(settings.redis_url)
        if (url.hostname or "127.0.0.1") not in LOCAL_HOSTS:
            raise StackError(
                f"REDIS_URL points at {url.hostname}: banku stack only starts a local redis-server;"
                " unset REDIS_URL or point it at 127.0.0.1."
            )
        directory = banku_home() / f"stack-{int(port)}"
        return cls(
            room=RoomKeys.load(directory),
            kafka_port=int(port),
            redis_port=url.port or 6379,
            redis_password=url.password or "",
            brokers=brokers,
            kafka_username=settings.kafka_username,
            kafka_password=settings.kafka_password,
            kafka_mechanism=settings.kafka_mechanism,
            tls=(directory / TLS_DIR / "ca.pem").is_file(),
        )

    @property
    def directory(self) -> Path:
        return banku_home() / f"stack-{self.kafka_port}"

    @property
    def room_file(self) -> Path:
        return self.directory / ROOM_FILE

    @property
    def redis_acl_file(self) -> Path:
        """A workshop room's Redis users (redis-server then starts with ``--aclfile``)."""
        return self.redis_dir / "users.acl"

    @property
    def advertised_host(self) -> str:
        """Where clients are told to find the brokers: a room's host, or this machine."""
        return (self.room.host if self.room else "") or "127.0.0.1"

    @property
    def listen_host(self) -> str:
        """Where the servers listen for clients: every interface for a room open to others."""
        return "0.0.0.0" if self.room and self.room.host else "127.0.0.1"

    @property
    def client_protocol(self) -> str:
        sasl = self.kafka_username or self.room
        if self.tls:
            return "SASL_SSL" if sasl else "SSL"
        return "SASL_PLAINTEXT" if sasl else "PLAINTEXT"

    @property
    def tls_dir(self) -> Path:
        return self.directory / TLS_DIR

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    def client_settings(self, settings: Settings) -> Settings:
        """``settings`` as a client of this stack needs them: over TLS, with its CA, when the
        stack was started with --tls; unchanged otherwise."""
        if not self.tls:
            return settings
        url = urlparse(settings.redis_url)
        ca = str(self.ca_file)
        return replace(
            settings,
            kafka_security_protocol="SASL_SSL" if settings.kafka_username else "SSL",
            kafka_ssl_cafile=ca, redis_url=url._replace(scheme="rediss").geturl(),
            redis_ssl_ca_certs=ca)

    def broker_port(self, node: int) -> int:
        return self.kafka_port + 2 * (node - 1)

    def controller_port(self, node: int) -> int:
        return self.kafka_port + 2 * (node - 1) + 1

    def ports(self) -> set[int]:
        used = {self.redis_port}
        for node in range(1, self.brokers + 1):
            used |= {self.broker_port(node), self.controller_port(node)}
        return used

    def node_dir(self, node: int) -> Path:
        return self.directory / f"kafka-{node}"

    def kafka_log(self, node: int) -> Path:
        return self.directory / f"kafka-{node}.log"

    @property
    def redis_dir(self) -> Path:
        return self.directory / f"redis-{self.redis_port}"

    @property
    def redis_log(self) -> Path:
        return self.directory / f"redis-{self.redis_port}.log"

    @property
    def state_file(self) -> Path:
        return self.directory / "stack.json"

    # --- what `up` remembers about the processes it started ------------------------------------
    def read_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def write_state(self, state: dict) -> None:
        # The stack's folder holds its data (learners' records, the view, the logs): its owner's.
        private_dir(self.directory)
        write_private(self.state_file, json.dumps(state, indent=2))

    def formatted_brokers(self) -> int:
        """How many brokers the storage in the stack directory was formatted for (0: none)."""
        if not (self.node_dir(1) / "data" / "meta.properties").exists():
            return 0
        return int(self.read_state().get("brokers") or 1)
