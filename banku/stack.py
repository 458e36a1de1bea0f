"""The local stack: a real Apache Kafka broker (KRaft) and a real ``redis-server``, no Docker.

Kafka's jars come from Maven Central (pinned below) and are cached outside the repository, in
``$BANKU_HOME`` (default ``~/.cache/banku``). Storage is formatted once, then ``kafka.Kafka`` runs
as a plain Java process. Ports come from the same settings the clients use
(``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL``), so the servers start where the kit looks for them.

Node ``i`` (1-based) of an N-broker stack listens for clients on ``port + 2*(i-1)`` and for the
KRaft quorum on the port after that: 9092/9093, 9094/9095, 9096/9097.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .config import Settings
from .errors import StackError

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
SCALA_VERSION = "2.13"
JAVA_MIN = 17
KAFKA_HEAP = ["-Xmx512m", "-Xms128m", "-XX:+UseSerialGC"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Failover demos use short session timeouts; the broker must allow them.
GROUP_MIN_SESSION_TIMEOUT_MS = 1000

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# --- where things live -------------------------------------------------------------------------
def banku_home() -> Path:
    return Path(os.environ.get("BANKU_HOME") or Path.home() / ".cache" / "banku")


def kafka_libs_dir() -> Path:
    return banku_home() / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}" / "libs"


@dataclass(frozen=True)
class StackPlan:
    """Which ports and directories one local stack uses."""

    kafka_port: int
    redis_port: int
    redis_password: str
    brokers: int
    kafka_username: str = ""
    kafka_password: str = ""

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
        return cls(
            kafka_port=int(port),
            redis_port=url.port or 6379,
            redis_password=url.password or "",
            brokers=brokers,
            kafka_username=settings.kafka_username,
            kafka_password=settings.kafka_password,
        )

    @property
    def directory(self) -> Path:
        return banku_home() / f"stack-{self.kafka_port}"

    def broker_port(self, node: int) -> int:
        return self.kafka_port + 2 * (node - 1)

    def controller_port(self, node: int) -> int:
        return self.kafka_port + 2 * (node - 1) + 1

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


# --- processes ---------------------------------------------------------------------------------
def _read_state(plan: StackPlan) -> dict:
    try:
        return json.loads(plan.state_file.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(plan: StackPlan, state: dict) -> None:
    plan.directory.mkdir(parents=True, exist_ok=True)
    plan.state_file.write_text(json.dumps(state, indent=2))


def pid_alive(pid: int | None, marker: str = "") -> bool:
    """True when ``pid`` runs (and is not a zombie) and its command line contains ``marker``."""
    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own dead child
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError):
        return False
    return marker in cmdline


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- prerequisites -------------------------------------------------------------------------------
def java_command() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if not java:
        raise StackError(
            "Java 17 or newer is needed to run Kafka and none was found:"
            " install it with `sudo apt-get install -y openjdk-17-jre-headless`"
            " (macOS: `brew install openjdk@17`)."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < JAVA_MIN:
        raise StackError(
            f"Kafka {KAFKA_VERSION} needs Java {JAVA_MIN}+, but {java} is Java {major or '?'}:"
            " install openjdk-17 and set JAVA_HOME to it."
        )
    return java


def redis_server_command() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise StackError(
            "redis-server is not installed: run `sudo apt-get install -y redis-server`"
            " (macOS: `brew install redis`), then `banku stack up` again."
        )
    return found


_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>banku.local</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.Kafka
        level: INFO
"""


def ensure_kafka_jars(log: Log = _quiet) -> Path:
    """Fetch Apache Kafka's jars from Maven Central once (cached in $BANKU_HOME)."""
    libs = kafka_libs_dir()
    marker = libs.parent / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError(
            "Maven is needed once to fetch Apache Kafka's jars from Maven Central:"
            " run `sudo apt-get install -y maven` (macOS: `brew install maven`)."
        )
    root = libs.parent
    root.mkdir(parents=True, exist_ok=True)
    (root / "pom.xml").write_text(
        _POM.format(scala=SCALA_VERSION, kafka=KAFKA_VERSION, log4j=LOG4J_VERSION)
    )
    (root / "log4j2.yaml").write_text(_LOG4J2)
    log(f"Fetching Apache Kafka {KAFKA_VERSION} from Maven Central into {root} (once) ...")
    result = subprocess.run(
        [mvn, "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={libs}",
         "-DincludeScope=runtime"],
        cwd=root, capture_output=True, text=True,
    )
    kafka_jar = libs / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar"
    if result.returncode != 0 or not kafka_jar.exists():
        detail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        raise StackError(
            "Could not fetch Kafka's jars from Maven Central (is the network up?): "
            + " | ".join(detail)
        )
    marker.write_text(KAFKA_VERSION + "\n")
    return libs


# --- Kafka -----------------------------------------------------------------------------------
def _server_properties(plan: StackPlan, node: int) -> str:
    voters = ",".join(
        f"{n}@127.0.0.1:{plan.controller_port(n)}" for n in range(1, plan.brokers + 1)
    )
    replication = 3 if plan.brokers >= 3 else 1
    min_isr = 2 if plan.brokers >= 3 else 1
    client = "SASL_PLAINTEXT" if plan.kafka_username else "PLAINTEXT"
    lines = [
        "process.roles=broker,controller",
        f"node.id={node}",
        f"controller.quorum.voters={voters}",
        f"listeners={client}://127.0.0.1:{plan.broker_port(node)},"
        f"CONTROLLER://127.0.0.1:{plan.controller_port(node)}",
        f"advertised.listeners={client}://127.0.0.1:{plan.broker_port(node)}",
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={client}",
        f"listener.security.protocol.map={client}:{client},CONTROLLER:PLAINTEXT",
        f"log.dirs={plan.node_dir(node) / 'data'}",
        "num.partitions=3",
        # Topics are created on purpose, with 3 partitions; a typo must not create one.
        "auto.create.topics.enable=false",
        f"default.replication.factor={replication}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={replication}",
        f"transaction.state.log.replication.factor={replication}",
        f"transaction.state.log.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        f"group.min.session.timeout.ms={GROUP_MIN_SESSION_TIMEOUT_MS}",
        "log.retention.hours=-1",
        # A crashed broker is fenced after 3 s without heartbeats (default 9 s), so failover
        # lessons show a leader election in seconds.
        "broker.session.timeout.ms=3000",
        "broker.heartbeat.interval.ms=1000",
    ]
    if plan.kafka_username:
        user, password = plan.kafka_username, plan.kafka_password
        lines += [
            "sasl.enabled.mechanisms=PLAIN",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{user}" password="{password}" user_{user}="{password}";',
        ]
    return "\n".join(lines) + "\n"


def _java_base(libs: Path) -> list[str]:
    return [
        java_command(), *KAFKA_HEAP, "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={libs.parent / 'log4j2.yaml'}",
        "-cp", f"{libs}/*",
    ]


def new_cluster_id() -> str:
    """A random cluster id in Kafka's form: a UUID as url-safe base64, 22 characters.

    Like Kafka's own ``Uuid.randomUuid()``, never one that starts with ``-``: the storage tool's
    argument parser would read ``-t -abc...`` as an option and refuse to format.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _format_storage(plan: StackPlan, node: int, cluster_id: str, libs: Path) -> None:
    data = plan.node_dir(node) / "data"
    if (data / "meta.properties").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    props = plan.node_dir(node) / "server.properties"
    result = subprocess.run(
        [*_java_base(libs), "kafka.tools.StorageTool", "format", "-t", cluster_id,
         "-c", str(props)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise StackError(
            f"Formatting Kafka storage for node {node} failed: "
            + (result.stderr or result.stdout).strip().splitlines()[-1:][0]
        )


def start_kafka_node(plan: StackPlan, node: int, log: Log = _quiet) -> int:
    """Start (or restart) one broker+controller process; returns its pid."""
    libs = ensure_kafka_jars(log)
    state = _read_state(plan)
    cluster_id = state.get("cluster_id")
    if not cluster_id:
        cluster_id = new_cluster_id()
        state["cluster_id"] = cluster_id
    # Every node of the cluster must be formatted with the same id: keep it before formatting.
    state["brokers"] = plan.brokers
    _write_state(plan, state)
    plan.node_dir(node).mkdir(parents=True, exist_ok=True)
    props = plan.node_dir(node) / "server.properties"
    props.write_text(_server_properties(plan, node))
    _format_storage(plan, node, cluster_id, libs)
    logfile = open(plan.kafka_log(node), "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [*_java_base(libs), "kafka.Kafka", str(props)],
        stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the `banku stack up` process
    )
    logfile.close()
    state.setdefault("kafka", {})[str(node)] = {"pid": proc.pid, "port": plan.broker_port(node)}
    state["brokers"] = plan.brokers
    _write_state(plan, state)
    return proc.pid


def kafka_pid(plan: StackPlan, node: int) -> int | None:
    pid = _read_state(plan).get("kafka", {}).get(str(node), {}).get("pid")
    return pid if pid_alive(pid, "kafka.Kafka") else None


def kafka_broker_count(settings: Settings, timeout: float = 3.0) -> int:
    """How many brokers answer a metadata request (0 when Kafka is not reachable)."""
    return kafka_check(settings, timeout)[0]


def kafka_check(settings: Settings, timeout: float = 3.0) -> tuple[int, str]:
    """How many brokers answer, and, when none does although one listens, why (a refused SASL
    login, for example); the reason is empty when nothing listens at all."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from .errors import ServiceUnavailable
    from .kafka_io import kafka_errors

    if not any(
        port_open(int(s.rpartition(":")[2]), s.rpartition(":")[0].strip("[]") or "127.0.0.1")
        for s in settings.bootstrap_list if s.rpartition(":")[2].isdigit()
    ):
        return 0, ""
    try:
        with kafka_errors(settings):
            admin = KafkaAdminClient(
                **settings.kafka_options(), request_timeout_ms=int(timeout * 1000),
            )
    except ServiceUnavailable as exc:
        return 0, str(exc)
    except (KafkaError, OSError, ValueError):
        return 0, ""
    try:
        cluster = admin.describe_cluster()
        return len([b for b in cluster.get("brokers", []) if not b.get("is_fenced")]), ""
    except (KafkaError, OSError, ValueError):
        return 0, ""
    finally:
        admin.close()


def _login_refused(problem: str) -> bool:
    return "refused the SASL/PLAIN login" in problem


# --- Redis -------------------------------------------------------------------------------------
def redis_answers(settings: Settings, timeout: float = 1.0) -> bool:
    return redis_check(settings, timeout)[0]


def redis_check(settings: Settings, timeout: float = 1.0) -> tuple[bool, str]:
    """Whether Redis answers, and, when it refuses the password, the sentence that says so."""
    import redis

    from .read_model import redis_login_refused

    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        try:
            return bool(client.ping()), ""
        finally:
            client.close()
    except redis.AuthenticationError as exc:
        return False, str(redis_login_refused(settings, exc))
    except (redis.RedisError, OSError, ValueError):
        return False, ""


def start_redis(plan: StackPlan) -> int:
    """Start (or restart) the stack's redis-server; returns its pid."""
    server = redis_server_command()
    plan.redis_dir.mkdir(parents=True, exist_ok=True)
    args = [
        server, "--bind", "127.0.0.1", "--port", str(plan.redis_port),
        "--dir", str(plan.redis_dir), "--daemonize", "no",
        # An append-only file keeps the view *and* the projector's positions across a restart;
        # both live in the same file, so whatever survives is a consistent prefix.
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        "--logfile", str(plan.redis_log),
    ]
    if plan.redis_password:
        args += ["--requirepass", plan.redis_password]
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = _read_state(plan)
    state["redis"] = {"pid": proc.pid, "port": plan.redis_port}
    _write_state(plan, state)
    return proc.pid


def redis_pid(plan: StackPlan) -> int | None:
    pid = _read_state(plan).get("redis", {}).get("pid")
    return pid if pid_alive(pid, "redis-server") else None


# --- the commands ------------------------------------------------------------------------------
def _wait(check: Callable[[], bool], timeout: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if not alive():
            return False
        time.sleep(0.3)
    return check()


def _formatted_brokers(plan: StackPlan) -> int:
    """How many brokers the storage in the stack directory was formatted for (0: none yet)."""
    if not (plan.node_dir(1) / "data" / "meta.properties").exists():
        return 0
    return int(_read_state(plan).get("brokers") or 1)


def up(settings: Settings, brokers: int = 1, log: Log = print, timeout: float = 90.0) -> None:
    """Start Kafka and Redis unless they already answer; wait until both do.

    Everything that can be checked is checked before a process starts (redis-server and Java
    installed, Kafka's jars fetched, ports free), so a refusal leaves nothing half-started; and
    if a server does not come up, the processes this call started are stopped again.
    """
    plan = StackPlan.from_settings(settings, brokers)
    state = _read_state(plan)
    running = [n for n in range(1, 4) if kafka_pid(plan, n)]
    if running and state.get("brokers", 1) < brokers:
        raise StackError(
            f"A {state.get('brokers', 1)}-broker stack is already running on port"
            f" {plan.kafka_port}; run `banku stack down` first to switch to {brokers}."
        )
    formatted = _formatted_brokers(plan)
    if not running and formatted and formatted != brokers:
        raise StackError(
            f"The stack on port {plan.kafka_port} was made with {formatted}"
            f" broker{'s' if formatted > 1 else ''}; run `banku stack down --wipe` (this deletes"
            f" its data) to start over with {brokers}, or set KAFKA_BOOTSTRAP_SERVERS to"
            " another port."
        )

    # --- what is needed, checked before anything starts ---
    redis_ok, redis_problem = redis_check(settings)
    need_redis = not redis_ok
    own_redis = redis_pid(plan) if need_redis else None
    if own_redis and redis_problem:
        raise StackError(
            f"{redis_problem} The redis-server on port {plan.redis_port} was started with"
            " another password: `banku stack down`, then `banku stack up` restarts it with the"
            " one in REDIS_URL."
        )
    if need_redis and not own_redis:
        redis_server_command()
        if port_open(plan.redis_port):
            raise StackError(
                f"Port {plan.redis_port} is taken by something that is not a Redis we can reach"
                " (a wrong password in REDIS_URL?); stop it or set REDIS_URL to another port."
            )
    answering, kafka_problem = kafka_check(settings)
    need_kafka = answering < brokers
    if kafka_problem and _login_refused(kafka_problem) and any(
            kafka_pid(plan, n) for n in range(1, 4)):
        raise StackError(
            f"{kafka_problem} The broker on port {plan.kafka_port} was started with other"
            " credentials: `banku stack down`, then `banku stack up` restarts it with the ones"
            " in KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD."
        )
    to_start: list[int] = []
    if need_kafka:
        java_command()
        ensure_kafka_jars(log)
        for node in range(1, brokers + 1):
            if kafka_pid(plan, node):
                continue  # ours, still starting: wait for it below
            if port_open(plan.broker_port(node)) or port_open(plan.controller_port(node)):
                raise StackError(
                    f"Port {plan.broker_port(node)} or {plan.controller_port(node)} is taken by"
                    " another program; stop it or set KAFKA_BOOTSTRAP_SERVERS to another port."
                )
            to_start.append(node)
    if not need_redis:
        log(f"Redis is already running at {settings.redis_location()}")
    if not need_kafka:
        log(f"Kafka is already running at {settings.bootstrap_servers}")

    # --- start, wait, and undo on failure ---
    started: list[tuple[int, str]] = []
    try:
        if need_redis and not own_redis:
            started.append((start_redis(plan), "redis-server"))
        for node in to_start:
            started.append((start_kafka_node(plan, node, log), "kafka.Kafka"))

        if need_redis:
            if not _wait(lambda: redis_answers(settings), 20, lambda: bool(redis_pid(plan))):
                raise StackError(
                    f"redis-server did not start; see {plan.redis_log}:"
                    f" {_tail(plan.redis_log, 2)}"
                )
            log(f"Redis is up at {settings.redis_location()} (log: {plan.redis_log})")
        if need_kafka:
            def alive() -> bool:
                return all(kafka_pid(plan, n) for n in range(1, brokers + 1))

            if not _wait(lambda: kafka_broker_count(settings) >= brokers, timeout, alive):
                dead = [n for n in range(1, brokers + 1) if not kafka_pid(plan, n)]
                node = dead[0] if dead else 1
                reason = "stopped" if dead else f"did not answer within {timeout:.0f}s"
                problem = "" if dead else kafka_check(settings)[1]
                if problem:
                    reason += f" ({problem})"
                raise StackError(
                    f"Kafka broker {node} {reason}; see {plan.kafka_log(node)}"
                    f" (last line: {_tail(plan.kafka_log(node), 1)})"
                )
            log(f"Kafka {KAFKA_VERSION} is up at {settings.bootstrap_servers}"
                f" ({brokers} broker{'s' if brokers > 1 else ''}, KRaft; logs in"
                f" {plan.directory})")
    except BaseException:
        for marker in ("kafka.Kafka", "redis-server"):
            _stop([pid for pid, m in started if m == marker], marker, timeout=30)
        raise


def _stop(pids: list[int], marker: str, timeout: float) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p, marker) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if pid_alive(pid, marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def down(settings: Settings, log: Log = print, wipe: bool = False) -> bool:
    """Stop what `up` started (by pid). Returns False when there was nothing to stop."""
    plan = StackPlan.from_settings(settings, 1)
    state = _read_state(plan)
    brokers = [p for p in (kafka_pid(plan, n) for n in range(1, 4)) if p]
    stopped = False
    if brokers:
        _stop(brokers, "kafka.Kafka", timeout=60)
        log(f"Stopped Kafka ({len(brokers)} broker{'s' if len(brokers) > 1 else ''})")
        stopped = True
    pid = redis_pid(plan)
    if pid:
        _stop([pid], "redis-server", timeout=20)
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
        _write_state(plan, state)
    return stopped


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


def status(settings: Settings) -> StackStatus:
    brokers, kafka_problem = kafka_check(settings)
    redis_ok, redis_problem = redis_check(settings)
    return StackStatus(brokers, redis_ok, settings, kafka_problem, redis_problem)
