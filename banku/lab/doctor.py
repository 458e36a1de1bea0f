"""`banku doctor`: check what the kit needs, one line per item, with the fix for each failure."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from dataclasses import dataclass
from urllib.parse import urlparse

from banku import stack
from banku.config import ENV_FILE_VAR, Settings
from banku.diagnostics import LEARNER_NAME
from banku.errors import NotAllowed, ServiceUnavailable, StackError
from banku.stack.jars import java_major
from banku.stack.versions import (
    JAVA_MIN,
    REDIS_MIN,
    redis_note,
    redis_server_version,
    redis_too_old,
    show,
)

PACKAGES = ["kafka-python", "crc32c", "redis", "pandas", "matplotlib", "ipywidgets", "tqdm",
            "cryptography", "orjson", "jupyterlab"]
# JupyterLab is the `lab` extra: a plain `pip install -e .` would not bring it.
INSTALL_KIT = "./kit lab (from the kit's folder), or pip install -e '.[lab]'"
INSTALL_FIX = {"jupyterlab": "./kit lab (installs the kit and JupyterLab), or pip install -e"
                             " '.[lab]' from the kit's folder"}


@dataclass(frozen=True)
class Check:
    item: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'OK  ' if self.ok else 'FAIL'}  {self.item}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n      fix: {self.fix}"

    def to_dict(self) -> dict[str, object]:
        return {"item": self.item, "ok": self.ok, "detail": self.detail, "fix": self.fix or None}


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
                                INSTALL_FIX.get(name, INSTALL_KIT)))
    return checks


def check_java() -> Check:
    """Java 17+ (Kafka's); a Java too old is said in one line."""
    item = f"Java {JAVA_MIN}+"
    try:
        java = stack.java_command()
    except StackError as exc:
        return Check(item, False, str(exc))
    return Check(item, True, f"{java} (Java {java_major(java)})")


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
    """The redis-server `banku stack up` starts: installed, and 6.2 or newer."""
    found = shutil.which("redis-server")
    if not found:
        return Check("redis-server", False, "not installed",
                     "sudo apt-get install -y redis-server (macOS: brew install redis)")
    return _redis_version_check("redis-server", found, redis_server_version(found))


def check_redis_version(settings: Settings) -> Check | None:
    """The version of the Redis that answers at REDIS_URL (None when it will not say)."""
    version = stack.redis_version(settings)
    if version is None:
        return None
    return _redis_version_check(f"Redis {show(REDIS_MIN)}+", f"the Redis at"
                                f" {settings.redis_location()}", version)


def _redis_version_check(item: str, what: str, version: tuple[int, ...] | None) -> Check:
    if version is None:
        return Check(item, True, f"{what} (version unknown)")
    too_old = redis_too_old(version, what)
    if too_old:
        return Check(item, False, too_old)
    return Check(item, True, f"{what} (Redis {show(version)}{redis_note(version)})")


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
    from banku.lab.workshop import check_access as ask

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


def check_env_file() -> Check | None:
    """Which env file the settings were read from (BANKU_ENV_FILE or --env-file), if any."""
    path = (os.environ.get(ENV_FILE_VAR) or "").strip()
    if not path:
        return None
    return Check("env file", True, f"{path} ({ENV_FILE_VAR}; its values win over the"
                 " environment's)")


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
    version = check_redis_version(settings) if servers[1].ok else None
    return [check_python(), *check_packages(), *tools, *servers,
            *([version] if version else []), *filter(None, [check_env_file()]),
            *check_identity(settings, servers), check_namespace(settings)]


def report(checks: list[Check]) -> dict[str, object]:
    """The checks as one JSON-ready document (``banku doctor --json``)."""
    return {"ok": all(c.ok for c in checks), "checks": [c.to_dict() for c in checks]}


def _local(settings: Settings) -> bool:
    """Whether the servers are this machine's (a learner of a remote room needs no Java)."""
    host = (settings.bootstrap_list or [""])[0].rpartition(":")[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")
