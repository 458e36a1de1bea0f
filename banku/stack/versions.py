"""Which versions of Redis and Java the kit needs, how to read them, and the sentence when one
is too old.

Redis 6.2 is the oldest the kit runs on: a workshop room's ACL rules use ``resetchannels``,
``&*`` and ``+getdel``, which older servers refuse. Redis 7 is recommended (the kit is tested on
it). Kafka 4 runs on Java 17 or newer.
"""

from __future__ import annotations

import re
import subprocess

Version = tuple[int, ...]

REDIS_MIN: Version = (6, 2)
REDIS_RECOMMENDED: Version = (7, 0)
JAVA_MIN = 17

REDIS_INSTALL = "`sudo apt-get install -y redis-server` (macOS: `brew install redis`)"
JAVA_INSTALL = ("`sudo apt-get install -y openjdk-17-jre-headless` (macOS: `brew install"
                " openjdk@17`)")

# `redis-server --version` says "Redis server v=7.0.15 sha=..." (Valkey: "Valkey server v=8.0.1");
# INFO says "redis_version:7.0.15".
_REDIS_VERSION = re.compile(r"(?:\bv=|redis_version:)(\d+)\.(\d+)(?:\.(\d+))?")
# `java -version` says 'openjdk version "17.0.15" 2025-04-15', 'openjdk version "21" ...' or,
# before Java 9, 'java version "1.8.0_292"'.
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def show(version: Version) -> str:
    return ".".join(map(str, version))


def parse_redis_version(text: str) -> Version | None:
    """(7, 0, 15) from ``redis-server --version`` or INFO's ``redis_version``; None if absent."""
    match = _REDIS_VERSION.search(text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def parse_java_version(text: str) -> int | None:
    """The major version from ``java -version`` (17, 21; 8 for "1.8.0"); None if absent."""
    match = _JAVA_VERSION.search(text)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    return major


def redis_too_old(version: Version, what: str) -> str | None:
    """One sentence when ``what`` (a server, a binary) is older than the kit needs, else None."""
    if version >= REDIS_MIN:
        return None
    return (f"{what} is Redis {show(version)}, but the kit needs Redis {show(REDIS_MIN)} or newer"
            f" ({show(REDIS_RECOMMENDED[:1])} recommended; a workshop room's ACL rules need"
            f" {show(REDIS_MIN)}): install a newer one with {REDIS_INSTALL}.")


def redis_note(version: Version) -> str:
    """What to add after a usable version: nothing, or that 7 is recommended."""
    if version >= REDIS_RECOMMENDED:
        return ""
    return f" ({show(REDIS_RECOMMENDED[:1])} recommended)"


def java_too_old(major: int | None, java: str, kafka_version: str) -> str | None:
    """One sentence when ``java`` is older than Kafka needs (or says no version), else None."""
    if major is not None and major >= JAVA_MIN:
        return None
    return (f"Kafka {kafka_version} needs Java {JAVA_MIN} or newer, but {java} is Java"
            f" {major if major is not None else '(unknown version)'}: install it with"
            f" {JAVA_INSTALL} and set JAVA_HOME to it.")


def redis_server_version(command: str) -> Version | None:
    """The version of a ``redis-server`` binary (None when it does not say)."""
    try:
        done = subprocess.run([command, "--version"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_redis_version(done.stdout + done.stderr)


def running_redis_version(client: object) -> Version | None:
    """The version a running Redis reports, through a redis-py ``client``: HELLO first (a
    learner of a workshop room may run it, and not INFO), then INFO (servers before 6.0, which
    know no HELLO); None when neither answers."""
    import redis

    try:
        hello = client.execute_command("HELLO")  # type: ignore[attr-defined]
    except (redis.RedisError, OSError):
        hello = None
    if isinstance(hello, list):  # RESP2: a flat list of names and values
        hello = dict(zip(hello[::2], hello[1::2], strict=False))
    if isinstance(hello, dict):
        version = hello.get(b"version", hello.get("version", b""))
        if isinstance(version, bytes):
            version = version.decode(errors="replace")
        return parse_redis_version(f"redis_version:{version}")
    try:
        info = client.info("server")  # type: ignore[attr-defined]
    except (redis.RedisError, OSError):
        return None
    return parse_redis_version(f"redis_version:{info.get('redis_version', '')}")
