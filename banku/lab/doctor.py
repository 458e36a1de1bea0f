"""`banku doctor`: check what the kit needs, one line per item, with the fix for each failure."""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from dataclasses import dataclass
from urllib.parse import urlparse

from .. import stack
from ..config import Settings
from ..diagnostics import LEARNER_NAME
from ..errors import NotAllowed, ServiceUnavailable, StackError

PACKAGES = ["kafka-python", "crc32c", "redis", "pandas", "matplotlib", "ipywidgets", "tqdm",
            "cryptography", "orjson", "jupyterlab"]


@dataclass(frozen=True)
class Check:
    item: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'OK  ' if self.ok else 'FAIL'}  {self.item}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n      fix: {self.fix}"


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 10)
    return Check("Python", ok, version, "" if ok else "install Python 3.10 or newer")


def check_packages() -> list[Check]:
    checks = []
    for name in PACKAGES:
        try:
            version = importlib.metadata.version(name)
            checks.append(Check(f"package {name}", True, version))
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(f"package {name}", False, "not installed",
                                "pip install -e . (from the kit's folder)"))
    return checks


def check_java() -> Check:
    try:
        java = stack.java_command()
        return Check("Java 17+", True, java)
    except StackError as exc:
        return Check("Java 17+", False, "missing or too old", str(exc))


def check_kafka_jars() -> Check:
    libs = stack.kafka_libs_dir()
    if (libs.parent / ".complete").exists():
        return Check(f"Kafka {stack.KAFKA_VERSION} jars", True, str(libs))
    if shutil.which("mvn"):
        return Check(f"Kafka {stack.KAFKA_VERSION} jars", True,
                     "not fetched yet; `banku stack up` fetches them with Maven")
    return Check(f"Kafka {stack.KAFKA_VERSION} jars", False, "not fetched and no Maven",
                 "sudo apt-get install -y maven (needed once to fetch Kafka)")


def check_redis_server() -> Check:
    found = shutil.which("redis-server")
    return Check("redis-server", bool(found), found or "not installed",
                 "" if found else
                 "sudo apt-get install -y redis-server (macOS: brew install redis)")


def check_servers(settings: Settings) -> list[Check]:
    brokers, kafka_problem = stack.kafka_check(settings)
    redis_ok, redis_problem = stack.redis_check(settings)
    return [
        Check("Kafka answers", brokers > 0,
              f"{settings.bootstrap_servers} ({brokers} broker{'s' if brokers != 1 else ''})"
              if brokers else str(kafka_problem or
                                  f"nothing answers at {settings.bootstrap_servers}"),
              "check KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD (your learner file)"
              if kafka_problem else
              "banku stack up  (or set KAFKA_BOOTSTRAP_SERVERS to your cluster)"),
        Check("Redis answers", redis_ok,
              settings.redis_location() if redis_ok or not redis_problem else str(redis_problem),
              "banku stack up  (or set REDIS_URL; a password goes in redis://:PASSWORD@host)"),
    ]


def check_identity(settings: Settings, servers: list[Check]) -> list[Check]:
    """Who you are on a secured cluster (a workshop room), and whether your logins work."""
    redis_user = urlparse(settings.redis_url).username or ""
    if not settings.kafka_username and not redis_user:
        return []
    kafka_ok, redis_ok = servers[0].ok, servers[1].ok
    who = settings.kafka_username or redis_user
    checks = [Check("you are", True, who + (" (a learner of this workshop room)"
                                            if LEARNER_NAME.match(who) else ""))]
    if settings.kafka_username:
        checks.append(Check("Kafka login", kafka_ok,
                            f"user {settings.kafka_username} (SASL/{settings.kafka_mechanism})"
                            + (" accepted" if kafka_ok else " not accepted: see above"),
                            "use the values of your learner file"))
    if redis_user:
        checks.append(Check("Redis login", redis_ok,
                            f"user {redis_user}" + (" accepted" if redis_ok
                                                    else " not accepted: see above"),
                            "use the REDIS_URL of your learner file"))
    if kafka_ok and redis_ok:
        checks.append(check_access(settings))
    return checks


def check_access(settings: Settings) -> Check:
    from .workshop import check_access as ask

    try:
        ask(settings)
    except NotAllowed as exc:
        return Check("namespace is yours", False, str(exc),
                     "set BANKU_NAMESPACE to the value in your learner file")
    except ServiceUnavailable as exc:
        return Check("namespace is yours", False, str(exc))
    return Check("namespace is yours", True,
                 f"{settings.namespace or '(default)'}: you may create, read and delete its"
                 " topics, groups and Redis keys")


def check_namespace(settings: Settings) -> Check:
    if settings.namespace:
        detail = (f"{settings.namespace!r}: topic {settings.topic_name},"
                  f" group {settings.group_id()}, Redis keys {settings.key_prefix}*")
    else:
        detail = f"(none): topic {settings.topic_name}; set BANKU_NAMESPACE on a shared cluster"
    return Check("namespace", True, detail)


def run_checks(settings: Settings | None = None) -> list[Check]:
    settings = settings or Settings.from_env()
    servers = check_servers(settings)
    local = _local(settings)
    tools = [check_java(), check_kafka_jars(), check_redis_server()] if local else []
    return [check_python(), *check_packages(), *tools, *servers,
            *check_identity(settings, servers), check_namespace(settings)]


def _local(settings: Settings) -> bool:
    """Whether the servers are this machine's (a learner of a remote room needs no Java)."""
    host = (settings.bootstrap_list or [""])[0].rpartition(":")[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")
