"""The topic policy of a workshop room (`RoomTopicPolicy.java`), compiled with the JDK's ``javac``
against the kit's Kafka jars the first time a room's broker starts, and cached by the source's hash.

Kafka takes such a policy as a class on the broker's classpath (``create.topic.policy.class.name``
and ``alter.config.policy.class.name``); a plain local stack runs without it.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

from banku.errors import StackError
from banku.stack.jars import jdk_tool
from banku.stack.plan import banku_home

POLICY_CLASS = "banku.room.RoomTopicPolicy"
SOURCE = Path(__file__).with_name("RoomTopicPolicy.java")


def javac_command() -> str:
    """The JDK's compiler: beside ``java`` in JAVA_HOME, or on the PATH."""
    found = jdk_tool("javac")
    if not found:
        raise StackError(
            "A workshop room's broker needs the JDK's javac (to compile its topic policy) and"
            " none was found: install it with `sudo apt-get install -y openjdk-17-jdk-headless`"
            " (macOS: `brew install openjdk@17` has it)."
        )
    return found


def policy_classes(libs: Path) -> Path:
    """The folder holding the compiled policy (compiled now unless the cache has it)."""
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + str(libs).encode()).hexdigest()[:16]
    target = banku_home() / f"room-policy-{digest}"
    if (target / ".complete").exists():
        return target
    javac = javac_command()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".room-policy-") as work:
        classes = Path(work, "classes")
        result = subprocess.run(
            [javac, "-nowarn", "--release", "17", "-cp", f"{libs}/*", "-d", str(classes),
             str(SOURCE)], capture_output=True, text=True)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[:3]
            raise StackError("Compiling the room's topic policy failed: " + " | ".join(detail))
        (classes / ".complete").write_text(POLICY_CLASS + "\n")
        try:
            classes.rename(target)
        except OSError:  # another `stack up` compiled it at the same moment
            if not (target / ".complete").exists():
                raise
    return target
