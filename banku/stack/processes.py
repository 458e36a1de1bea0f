"""The stack's processes: start Kafka nodes and redis-server, find them again, stop them.

Processes are found by the pid `up` wrote down *and* their command line, so that a pid reused by
another program is never mistaken for (or killed as) our broker. The checks use `os.kill(pid, 0)`
and `ps`, which work on Linux and macOS alike.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

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


def _quiet(_: str) -> None:
    pass


def command_line(pid: int) -> tuple[str, str] | None:
    """(state, command line) of a process as `ps` shows them; None if there is no such process.

    `ps` is on Linux and macOS alike. Should it fail to run (a busy machine that cannot fork),
    Linux's /proc answers instead.
    """
    try:
        done = subprocess.run(["ps", "-ww", "-o", "stat=", "-o", "command=", "-p", str(pid)],
                              capture_output=True, text=True, timeout=30)
        out = done.stdout.strip()
        if out:
            state, _, command = out.partition(" ")
            return state, command.strip()
        if done.returncode in (0, 1):  # ran fine and found no such process
            return None
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        return stat, command
    except (OSError, IndexError):
        return None


def pid_alive(pid: int | None, marker: str = "") -> bool:
    """True when ``pid`` runs (and is not a zombie) and its command line contains ``marker``."""
    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own dead child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists but is not ours: the command line decides
    found = command_line(pid)
    if found is None or found[0].startswith("Z"):
        return False
    return marker in found[1]


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
    state.setdefault("kafka", {})[str(node)] = {"pid": proc.pid, "port": plan.broker_port(node)}
    state["brokers"] = plan.brokers
    plan.write_state(state)
    return proc.pid


def _private_log(path: Path):  # noqa: ANN202 - a binary file handed to the child process
    """A server's log, appended to, readable by its owner only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def kafka_pid(plan: StackPlan, node: int) -> int | None:
    pid = plan.read_state().get("kafka", {}).get(str(node), {}).get("pid")
    return pid if pid_alive(pid, "kafka.Kafka") else None


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
    state["redis"] = {"pid": proc.pid, "port": plan.redis_port}
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
    pid = plan.read_state().get("redis", {}).get("pid")
    return pid if pid_alive(pid, "redis-server") else None


# --- stopping ------------------------------------------------------------------------------------
def stop_pids(pids: list[int], marker: str, timeout: float) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL whatever is still running at the deadline."""
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
