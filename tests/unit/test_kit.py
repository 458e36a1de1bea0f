"""The shell entry points (`kit`, `.ci/run`): clean under shellcheck, written in the bash that
macOS ships (3.2), and reading the Kafka version from its one place, `banku/stack/jars.py`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from banku.stack import jars

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / "kit", ROOT / ".ci" / "run"]

# Idioms bash 3.2 (macOS's /bin/bash) does not accept, or treats differently under `set -u`.
BASH4_ONLY = {
    r"\bdeclare\s+-[aA]*A": "associative arrays (bash 4)",
    r"\b(mapfile|readarray|coproc)\b": "bash 4 builtins",
    r"\$\{\w+(,,?|\^\^?)\}": "case conversion in ${...} (bash 4)",
    r";;&|;&": "case fall-through (bash 4)",
    r"\|&": "|& (bash 4)",
    r"&>>": "&>> (bash 4)",
    r"shopt\s+-s\s+globstar": "globstar (bash 4)",
    # "${array[@]}" of an empty array is an unbound variable under set -u before bash 4.4;
    # the kit uses ${1+"$@"} and no arrays.
    r'(?<![{+])"\$\{?\w*\[@\]\}?"': "expanding an array that may be empty",
    r'(?<![{+])"\$@"': 'a bare "$@" (use ${1+"$@"})',
}


def test_shellcheck_finds_nothing():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: apt-get install -y shellcheck (./kit test does)"
    result = subprocess.run([shellcheck, *map(str, SCRIPTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_bash4_idioms(script):
    found = []
    for number, line in enumerate(script.read_text().splitlines(), 1):
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        for pattern, what in BASH4_ONLY.items():
            if re.search(pattern, code):
                found.append(f"{script.name}:{number}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_idiom_check_would_catch_them():
    array, args = list(BASH4_ONLY)[-2:]
    assert re.search(array, 'exec x "${as_root[@]}"')
    assert re.search(args, 'exec x "$@"')
    assert not re.search(args, 'lab ${1+"$@"}')


def test_kit_reads_the_kafka_version_from_jars_py():
    kit = (ROOT / "kit").read_text()
    assert jars.KAFKA_VERSION not in kit, "the Kafka version is written in jars.py only"
    functions = "\n".join(re.findall(r"^(?:kafka_version|scala_version|kafka_dir_name)\(\) \{"
                                     r".*?^\}", kit, flags=re.S | re.M))
    result = subprocess.run(["bash", "-c", f'ROOT="{ROOT}"\n{functions}\nkafka_dir_name'],
                            capture_output=True, text=True, check=True)
    assert result.stdout == f"kafka_{jars.SCALA_VERSION}-{jars.KAFKA_VERSION}"
    assert jars.kafka_libs_dir().parent.name == result.stdout


def test_kit_without_a_command_prints_its_usage():
    result = subprocess.run([str(ROOT / "kit")], capture_output=True, text=True)
    assert result.returncode == 2
    for command in ("lab", "test", "bundle DIR", "--offline DIR", "diagrams"):
        assert command in result.stdout
