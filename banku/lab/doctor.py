"""`banku doctor`: check what the kit needs, one line per item, with the fix for each failure."""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from dataclasses import dataclass

from .. import stack
from ..config import Settings
from ..errors import StackError

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
    brokers = stack.kafka_broker_count(settings)
    redis_ok = stack.redis_answers(settings)
    return [
        Check("Kafka answers", brokers > 0,
              f"{settings.bootstrap_servers} ({brokers} broker{'s' if brokers != 1 else ''})"
              if brokers else f"nothing answers at {settings.bootstrap_servers}",
              "banku stack up  (or set KAFKA_BOOTSTRAP_SERVERS to your cluster)"),
        Check("Redis answers", redis_ok, settings.redis_location(),
              "banku stack up  (or set REDIS_URL; a password goes in redis://:PASSWORD@host)"),
    ]


def check_namespace(settings: Settings) -> Check:
    if settings.namespace:
        detail = (f"{settings.namespace!r}: topic {settings.topic_name},"
                  f" group {settings.group_id()}, Redis keys {settings.key_prefix}*")
    else:
        detail = f"(none): topic {settings.topic_name}; set BANKU_NAMESPACE on a shared cluster"
    return Check("namespace", True, detail)


def run_checks(settings: Settings | None = None) -> list[Check]:
    settings = settings or Settings.from_env()
    return [check_python(), *check_packages(), check_java(), check_kafka_jars(),
            check_redis_server(), *check_servers(settings), check_namespace(settings)]
