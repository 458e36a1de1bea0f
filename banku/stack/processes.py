"""The stack's processes: start Kafka nodes and redis-server, find them again, stop them.

Processes are found by the pid `up` wrote down, *and* their command line, *and* the moment they
started, so that a pid reused by another program is never mistaken for (or killed as) our broker.
`psutil` asks the operating system (Linux and macOS alike), and waits for processes to end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil

from banku.errors import StackError
from banku.stack.jars import ensure_kafka_jars, java_base
from banku.stack.kafka_config import format_storage, new_cluster_id, server_properties
from banku.stack.plan import StackPlan, private_dir, write_private
from banku.stack.policy import policy_classes
from banku.stack.redis_config import redis_arguments

Log = Callable[[str], None]
ROOM_DATABASES = 1000  # a workshop room's Redis: learner NN works in database NN
# The servers create their files (segments, the append-only file, logs) for their owner alone.
SERVER_UMASK = 0o077
# Two readings of one process's start time differ by rounding only (the clock ticks of /proc).
START_TOLERANCE_S = 1.0


def _quiet(_: str) -> None:
    pass


def _process(pid: int | None, marker: str = "", started: float | None = None,
             ) -> psutil.Process | None:
    """The running process ``pid`` if it is ours: not a zombie, ``marker`` in its command line
    and, when ``started`` is known, started at that moment (else the pid was reused)."""
    if not pid:
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            try:
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our own dead child
            except ChildProcessError:
                pass
            return None
        if started is not None and abs(process.create_time() - started) > START_TOLERANCE_S:
            return None
        if marker and marker not in " ".join(process.cmdline()):
            return None
        return process
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def pid_alive(pid: int | None, marker: str = "", started: float | None = None) -> bool:
    """True when ``pid`` runs (and is not a zombie), its command line contains ``marker`` and,
    with ``started`` (`started_at` when it was launched), it is the same process."""
    return _process(pid, marker, started) is not None


def started_at(pid: int) -> float | None:
    """When the process started (seconds since the epoch), to tell it from a later one that is
    given the same pid; None if it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def redis_server_command() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise StackError(
            "redis-server is not installed: run `sudo apt-get install -y redis-server`"
            " (macOS: `brew install redis`), then `banku stack up` again."
        )
    return found


# --- Kafka -----------------------------------------------------------------------------------
def start_kafka_node(plan: StackPlan, node: int, log: Log = _quiet) -> int:
    """Start (or restart) one broker+controller process; returns its pid."""
    libs = ensure_kafka_jars(log)
    state = plan.read_state()
    cluster_id = state.get("cluster_id")
    if not cluster_id:
        cluster_id = new_cluster_id()
        state["cluster_id"] = cluster_id
    # Every node of the cluster must be formatted with the same id: keep it before formatting.
    state["brokers"] = plan.brokers
    plan.write_state(state)
    private_dir(plan.node_dir(node))
    props = plan.node_dir(node) / "server.properties"
    write_private(props, server_properties(plan, node))  # a room's holds the broker's passwords
    # A room's broker takes its topic policy from a class compiled for it (banku.stack.policy).
    extra = (policy_classes(libs),) if plan.room else ()
    format_storage(plan, node, cluster_id, libs, extra)
    logfile = _private_log(plan.kafka_log(node))
    proc = subprocess.Popen(
        [*java_base(libs, extra), "kafka.Kafka", str(props)],
        stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the `banku stack up` process
        umask=SERVER_UMASK,
    )
    logfile.close()
    state = plan.read_state()
    state.setdefault("kafka", {})[str(node)] = {"pid": proc.pid, "port": plan.broker_port(node),
                                                "started": started_at(proc.pid)}
    state["brokers"] = plan.brokers
    plan.write_state(state)
    return proc.pid


def _private_log(path: Path):  # a binary file handed to the child process
    """A server's log, appended to, readable by its owner only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def kafka_pid(plan: StackPlan, node: int) -> int | None:
    known = plan.read_state().get("kafka", {}).get(str(node), {})
    pid = known.get("pid")
    return pid if pid_alive(pid, "kafka.Kafka", known.get("started")) else None


# --- Redis -------------------------------------------------------------------------------------
def start_redis(plan: StackPlan) -> int:
    """Start (or restart) the stack's redis-server; returns its pid."""
    server = redis_server_command()
    private_dir(plan.redis_dir)
    args = [
        server, *_redis_password_file(plan),  # a config file comes first, options after it
        "--bind", plan.listen_host, *_redis_ports(plan),
        "--dir", str(plan.redis_dir), "--daemonize", "no",
        # An append-only file keeps the view *and* the projector's positions across a restart;
        # both live in the same file, so whatever survives is a consistent prefix.
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        "--logfile", str(plan.redis_log),
    ]
    acl_file = plan.redis_acl_file
    if acl_file.exists():  # a workshop stack: one Redis user per learner, passwords in the file
        # ... and a database per learner (banku.lab.room_access.learner_database)
        args += ["--aclfile", str(acl_file), "--databases", str(ROOM_DATABASES)]
    args += redis_arguments(room=acl_file.exists())  # limits: banku.stack.redis_config
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
        # What redis-server writes (the append-only file, its log, users.acl rewritten by ACL
        # SAVE, which creates it 0644 otherwise) is its owner's alone.
        umask=SERVER_UMASK,
    )
    state = plan.read_state()
    state["redis"] = {"pid": proc.pid, "port": plan.redis_port, "started": started_at(proc.pid)}
    plan.write_state(state)
    return proc.pid


def _redis_ports(plan: StackPlan) -> list[str]:
    """Where redis-server listens: its port, or with --tls only its ``tls-port`` (port 0 closes
    the plaintext one), with the stack's certificate (`banku.stack.tls`); clients show no
    certificate."""
    if not plan.tls:
        return ["--port", str(plan.redis_port)]
    from banku.stack.tls import CA_FILE, SERVER_CERT, SERVER_KEY

    return ["--port", "0", "--tls-port", str(plan.redis_port),
            "--tls-cert-file", str(plan.tls_dir / SERVER_CERT),
            "--tls-key-file", str(plan.tls_dir / SERVER_KEY),
            "--tls-ca-cert-file", str(plan.tls_dir / CA_FILE), "--tls-auth-clients", "no"]


def _redis_password_file(plan: StackPlan) -> list[str]:
    """A password-protected stack's ``requirepass`` in a config file (mode 0600) that
    redis-server reads first: `ps` shows its path, not the password."""
    conf = plan.redis_dir / "redis.conf"
    if plan.redis_acl_file.exists() or not plan.redis_password:
        conf.unlink(missing_ok=True)
        return []
    quoted = plan.redis_password.replace("\\", "\\\\").replace('"', '\\"')
    write_private(conf, f'requirepass "{quoted}"\n')
    return [str(conf)]


def redis_pid(plan: StackPlan) -> int | None:
    known = plan.read_state().get("redis", {})
    pid = known.get("pid")
    return pid if pid_alive(pid, "redis-server", known.get("started")) else None


# --- stopping ------------------------------------------------------------------------------------
def stop_pids(pids: list[int], marker: str, timeout: float) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL whatever is still running at the deadline.

    Only processes whose command line carries ``marker`` are signalled: a pid that now belongs
    to another program is left alone."""
    ours = [p for p in (_process(pid, marker) for pid in pids) if p is not None]
    for process in ours:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(ours, timeout=timeout)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
