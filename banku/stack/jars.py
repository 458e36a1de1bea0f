"""Apache Kafka's jars from Maven Central (pinned, fetched once), and the Java that runs them.

This file is the one place the Kafka version is written; ``kit`` reads it from here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from banku.errors import StackError
from banku.stack.plan import banku_home
from banku.stack.versions import java_too_old, parse_java_version

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
SCALA_VERSION = "2.13"
# A small heap and the serial collector suit a 2-core laptop running three brokers. A broker
# out of memory exits at once (and `banku stack status` says it is down) instead of running on,
# half-broken, at full CPU while every client is told something else.
KAFKA_HEAP = ["-Xmx512m", "-Xms128m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError"]

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def kafka_libs_dir() -> Path:
    return banku_home() / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}" / "libs"


def jars_fetched() -> bool:
    return (kafka_libs_dir().parent / ".complete").exists()


def java_major(java: str) -> int | None:
    """The major version of the Java at ``java`` (None when ``java -version`` does not say)."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_java_version(out.stderr + out.stdout)


def jdk_tool(name: str) -> str | None:
    """A Java program (``java``, ``javac``): in JAVA_HOME's bin, or else on the PATH."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", name) if java_home else None
    return str(candidate) if candidate and candidate.exists() else shutil.which(name)


def java_command() -> str:
    java = jdk_tool("java")
    if not java:
        raise StackError(
            "Java 17 or newer is needed to run Kafka and none was found:"
            " install it with `sudo apt-get install -y openjdk-17-jre-headless`"
            " (macOS: `brew install openjdk@17`)."
        )
    too_old = java_too_old(java_major(java), java, KAFKA_VERSION)
    if too_old:
        raise StackError(too_old)
    return java


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


def java_base(libs: Path, extra_classpath: tuple[Path, ...] = ()) -> list[str]:
    """The start of every Kafka command line: Java, heap, logging, classpath."""
    classpath = os.pathsep.join([f"{libs}/*", *map(str, extra_classpath)])
    return [
        java_command(), *KAFKA_HEAP, "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={libs.parent / 'log4j2.yaml'}",
        "-cp", classpath,
    ]
