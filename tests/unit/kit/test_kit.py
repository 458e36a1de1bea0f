"""The shell entry points (`kit`, `.ci/run`): clean under shellcheck, written in the bash that
macOS ships (3.2), and reading the Kafka version from its one place, `banku/stack/jars.py`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from banku.stack import jars
from tests.helpers import ROOT

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
    for command in ("lab", "test", "--unit", "lint", "lock", "bundle [--tests] DIR",
                    "--offline DIR", "diagrams"):
        assert command in result.stdout


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_kit_help_prints_the_usage_and_succeeds(flag):
    result = subprocess.run([str(ROOT / "kit"), flag], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("One entry point for the kit:")
    assert "./kit test [--offline DIR]" in result.stdout
    assert "Written for bash" not in result.stdout, "the usage stops before the notes"
    assert not result.stderr


def test_an_unknown_kit_command_fails_with_its_usage():
    result = subprocess.run([str(ROOT / "kit"), "tset"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown command tset" in result.stderr
    assert "./kit lab" in result.stdout


# --- what the kit runs, with stand-ins for the programs it calls ---------------------------------
# A copy of the kit in a temporary folder, with a .venv whose programs only write down how they
# were called (and `banku stack status` answers as told), and apt-get/brew that refuse.
RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$KIT_CALLS"
if [ "$(basename "$0") $1 $2" = "banku stack status" ]; then exit "${SERVERS_ANSWER_EXIT:-0}"; fi
case "$(basename "$0")" in apt-get|brew) exit 1 ;; esac
exit 0
"""


@pytest.fixture
def fake_kit(tmp_path):
    kit = tmp_path / "kit"
    (kit / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / "kit", kit / "kit")
    shutil.copy2(ROOT / ".ci" / "run", kit / ".ci" / "run")
    (kit / "banku" / "stack").mkdir(parents=True)
    shutil.copy2(ROOT / "banku" / "stack" / "jars.py", kit / "banku" / "stack" / "jars.py")
    tools = kit / ".venv" / "bin"
    tools.mkdir(parents=True)
    system = tmp_path / "system"
    system.mkdir()
    for folder, names in ((tools, ["python", "pip", "pytest", "ruff", "mypy", "banku",
                                   "jupyter"]), (system, ["apt-get", "brew"])):
        for name in names:
            (folder / name).write_text(RECORDER)
            (folder / name).chmod(0o755)
    # The lock's files are not in the copy, so the stamp stays current: nothing is installed.
    (kit / ".venv" / ".banku-installed").write_text("test\n")
    return kit


def run_kit(kit: Path, *args: str, servers_answer: bool = True) -> list[str]:
    calls = kit / "calls.log"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("KAFKA_", "REDIS_", "BANKU_"))}
    env.update(KIT_CALLS=str(calls), SERVERS_ANSWER_EXIT="0" if servers_answer else "1",
               PATH=f"{kit.parent / 'system'}:{env['PATH']}", BANKU_HOME=str(kit / "home"))
    result = subprocess.run([str(kit / "kit"), *args], cwd=kit, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return calls.read_text().splitlines() if calls.exists() else []


def test_kit_test_unit_runs_ruff_and_the_unit_tier_only(fake_kit):
    calls = run_kit(fake_kit, "test", "--unit", "-k", "lock")
    assert calls[0].startswith("ruff check banku tests")
    assert calls[1] == "pytest -p no:cacheprovider --durations=15 tests/unit -k lock"
    assert len(calls) == 2, "no server started, nothing installed: " + "\n".join(calls)


def test_kit_lint_runs_ruff_shellcheck_and_mypy(fake_kit):
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is missing (test_shellcheck_finds_nothing says so)")
    calls = run_kit(fake_kit, "lint")
    assert [call.split()[0] for call in calls] == ["ruff", "mypy"]  # shellcheck is the real one
    assert calls[1] == "mypy "


def test_kit_lab_installs_and_starts_nothing_when_the_servers_answer(fake_kit):
    calls = run_kit(fake_kit, "lab")
    assert calls[0] == "banku stack status"
    # The learner edition, built fresh (a learner's own changes kept), is what JupyterLab opens.
    assert calls[1] == (f"python -m banku.lessons.authoring learner --keep-edited --out "
                        f"{fake_kit / 'learner-edition'}")
    assert calls[2].startswith(  # (and --allow-root when run as root)
        f"jupyter lab --notebook-dir={fake_kit / 'learner-edition' / 'notebooks'}")
    assert len(calls) == 3, "\n".join(calls)


def test_kit_lab_solutions_opens_the_full_notebooks(fake_kit):
    calls = run_kit(fake_kit, "lab", "--solutions")
    assert calls[0] == "banku stack status" and len(calls) == 2, "\n".join(calls)
    assert calls[1].split()[:3] == ["jupyter", "lab", f"--notebook-dir={fake_kit / 'notebooks'}"]


def test_kit_lab_starts_the_stack_when_nothing_answers(fake_kit):
    if not (shutil.which("redis-server") and shutil.which("java")):
        pytest.skip("the kit would install redis-server or Java here first")
    (fake_kit / "home" / f"kafka_{jars.SCALA_VERSION}-{jars.KAFKA_VERSION}").mkdir(parents=True)
    (fake_kit / "home" / f"kafka_{jars.SCALA_VERSION}-{jars.KAFKA_VERSION}" / ".complete").touch()
    calls = run_kit(fake_kit, "lab", servers_answer=False)
    assert calls[:2] == ["banku stack status", "banku stack up"]
    assert calls[3].startswith("jupyter lab")
