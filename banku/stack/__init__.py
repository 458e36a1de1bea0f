"""The local stack: a real Apache Kafka broker (KRaft) and a real ``redis-server``, no Docker.

Kafka's jars come from Maven Central (pinned in `jars`) and are cached outside the repository, in
``$BANKU_HOME`` (default ``~/.cache/banku``). Storage is formatted once, then ``kafka.Kafka`` runs
as a plain Java process. Ports come from the same settings the clients use
(``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL``), so the servers start where the kit looks for them.

The modules: `plan` (ports and directories), `jars` (Maven Central, Java), `kafka_config`
(server.properties, storage), `policy` (a workshop room's topic policy, compiled with javac),
`processes` (start, find, stop), `health` (does it answer?) and
`control` (`up` and `down`), `versions` (which Redis and Java are new enough).
"""

from banku.stack.control import client_settings, down, tls_env, up
from banku.stack.health import (
    StackStatus,
    kafka_broker_count,
    kafka_check,
    redis_answers,
    redis_check,
    redis_version,
    status,
)
from banku.stack.jars import (
    KAFKA_VERSION,
    ensure_kafka_jars,
    jars_fetched,
    java_command,
    kafka_libs_dir,
)
from banku.stack.kafka_config import GROUP_MIN_SESSION_TIMEOUT_MS, new_cluster_id
from banku.stack.plan import StackPlan, banku_home
from banku.stack.processes import (
    kafka_pid,
    pid_alive,
    port_open,
    redis_pid,
    redis_server_command,
    start_kafka_node,
    start_redis,
    stop_pids,
)

__all__ = [
    "GROUP_MIN_SESSION_TIMEOUT_MS", "KAFKA_VERSION", "StackPlan", "StackStatus", "banku_home",
    "client_settings", "tls_env",
    "down", "ensure_kafka_jars", "jars_fetched", "java_command", "kafka_broker_count",
    "kafka_check", "kafka_libs_dir", "kafka_pid", "new_cluster_id", "pid_alive", "port_open",
    "redis_answers", "redis_check", "redis_pid", "redis_server_command", "redis_version",
    "start_kafka_node", "start_redis", "status", "stop_pids", "up",
]
