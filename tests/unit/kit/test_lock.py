"""The lock (requirements/*.txt, written by `./kit lock`) agrees with pyproject.toml and with
itself, for every Python the kit supports and every platform: what a learner installs is what
the tests ran with."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

from tests.helpers import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

LOCK = ROOT / "requirements"

# The environments a pin must serve: each supported minor version (and the patch releases the
# lock's markers tell apart) on each platform.
PYTHONS = ["3.10.0", "3.10.13", "3.11.0", "3.11.4", "3.11.9", "3.12.1", "3.13.0", "3.14.0"]
PLATFORMS = [("linux", "posix", "Linux"), ("darwin", "posix", "Darwin"),
             ("win32", "nt", "Windows")]


def environments() -> list[dict[str, str]]:
    found = []
    for full in PYTHONS:
        for sys_platform, os_name, system in PLATFORMS:
            found.append({
                "python_version": ".".join(full.split(".")[:2]), "python_full_version": full,
                "sys_platform": sys_platform, "os_name": os_name, "platform_system": system,
                "platform_machine": "x86_64", "implementation_name": "cpython",
                "platform_python_implementation": "CPython", "extra": "",
            })
    return found


ENVIRONMENTS = environments()


def _env_id(env: dict[str, str]) -> str:
    return f"{env['python_full_version']}-{env['sys_platform']}"


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: int

    def applies(self, env: dict[str, str]) -> bool:
        return self.marker is None or self.marker.evaluate(env)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> list[Pin]:
    """Parse a lock written by uv: `name==version ; marker \\` then `--hash=...` lines."""
    pins = []
    for entry in re.sub(r"\\\n", " ", text).splitlines():
        entry = entry.strip()
        if not entry or entry.startswith(("#", "-")):
            continue
        requirement, *hashes = re.split(r"\s+--hash=", entry)
        parsed = Requirement(requirement)
        (specifier,) = parsed.specifier
        assert specifier.operator == "==", f"not a pin: {entry}"
        pins.append(Pin(normalise(parsed.name), Version(specifier.version), parsed.marker,
                        len([h for h in hashes if h.startswith("sha256:")])))
    return pins


def lock(name: str) -> list[Pin]:
    return read_pins((LOCK / name).read_text())


def pinned(pins: list[Pin], env: dict[str, str]) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for pin in pins:
        if pin.applies(env):
            assert pin.name not in found, f"{pin.name} is pinned twice for {_env_id(env)}"
            found[pin.name] = pin.version
    return found


def declared(extras: list[str]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def disagreements(requirements: list[Requirement], pins: list[Pin]) -> list[str]:
    """What pyproject.toml asks for that the lock does not give, in any environment."""
    problems: set[str] = set()
    for env in ENVIRONMENTS:
        have = pinned(pins, env)
        for requirement in requirements:
            if requirement.marker is not None and not requirement.marker.evaluate(env):
                continue
            name = normalise(requirement.name)
            if name not in have:
                problems.add(f"{name} is not pinned for Python {env['python_version']}")
            elif not requirement.specifier.contains(have[name], prereleases=True):
                problems.add(f"{name}=={have[name]} does not satisfy {requirement.specifier}"
                             f" (Python {env['python_version']})")
    return sorted(problems)


def all_extras() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return sorted(project["optional-dependencies"])


# --- pyproject.toml and the lock ----------------------------------------------------------------
def test_the_test_lock_pins_every_dependency_and_extra_of_pyproject():
    problems = disagreements(declared(all_extras()), lock("test.txt"))
    assert not problems, "requirements/test.txt and pyproject.toml disagree (run ./kit lock):\n" \
        + "\n".join(problems)


def test_the_learner_lock_pins_the_dependencies_and_jupyterlab():
    problems = disagreements(declared(["lab"]), lock("learner.txt"))
    assert not problems, "requirements/learner.txt and pyproject.toml disagree" \
        " (run ./kit lock):\n" + "\n".join(problems)


def test_the_learner_lock_has_no_test_tools():
    # (nbclient, nbformat and pyyaml are in `dev` too, but JupyterLab needs them anyway)
    tools = {"pytest", "nbval", "hypothesis", "ruff", "mypy", "playwright", "uv"}
    assert tools <= {normalise(r.name) for r in declared(["dev"])}
    learner = {pin.name for pin in lock("learner.txt")}
    assert not learner & tools, f"the learner installs test tools: {sorted(learner & tools)}"


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=_env_id)
def test_a_learner_gets_the_versions_the_tests_ran_with(env):
    tested = pinned(lock("test.txt"), env)
    learner = pinned(lock("learner.txt"), env)
    differ = {name: (version, tested.get(name)) for name, version in learner.items()
              if tested.get(name) != version}
    assert not differ, f"learner.txt and test.txt pin differently: {differ}"


def test_the_build_backend_and_pip_are_locked():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    problems = disagreements([Requirement(line) for line in build] + [Requirement("pip")],
                             lock("bootstrap.txt"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["bootstrap.txt", "learner.txt", "test.txt"])
def test_every_pin_carries_hashes_and_the_command_that_wrote_it(name):
    text = (LOCK / name).read_text()
    assert "#    ./kit lock" in text.splitlines()[1], "the lock names the command that writes it"
    pins = read_pins(text)
    assert pins
    assert not [pin.name for pin in pins if pin.hashes == 0]


def test_the_lock_check_catches_disagreements():
    pins = read_pins("kafka-python==3.0.1 \\\n    --hash=sha256:aa\n"
                     "numpy==2.2.6 ; python_full_version < '3.11' \\\n    --hash=sha256:bb\n"
                     "numpy==2.4.6 ; python_full_version >= '3.11' \\\n    --hash=sha256:cc\n"
                     "    # via pandas\n")
    assert [(p.name, str(p.version), p.hashes) for p in pins] == [
        ("kafka-python", "3.0.1", 1), ("numpy", "2.2.6", 1), ("numpy", "2.4.6", 1)]
    assert disagreements([Requirement("kafka-python>=3.0,<3.1"), Requirement("numpy>=2")],
                         pins) == []
    assert disagreements([Requirement("numpy>=2.3")], pins) == [
        "numpy==2.2.6 does not satisfy >=2.3 (Python 3.10)"]
    assert disagreements([Requirement("Redis>=5")], pins) == [
        f"redis is not pinned for Python {v}" for v in ("3.10", "3.11", "3.12", "3.13", "3.14")]
    # a requirement that applies to some Pythons only needs a pin only there
    assert disagreements([Requirement("tomli>=2; python_version < '3.11'")], pins) == [
        "tomli is not pinned for Python 3.10"]


# --- environment.yml, written from the learner's lock -------------------------------------------
def _lock_module():
    spec = importlib.util.spec_from_file_location("lock", LOCK / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_environment_yml_is_what_kit_lock_writes_from_the_learner_lock():
    written = _lock_module().environment_yml((LOCK / "learner.txt").read_text())
    assert (ROOT / "environment.yml").read_text() == written, \
        "environment.yml is not the learner lock's: run ./kit lock"


def test_environment_yml_pins_the_learner_set_and_installs_the_kit():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "banku" and env["channels"] == ["conda-forge"]
    conda = [str(d).replace(" ", "") for d in env["dependencies"] if not isinstance(d, dict)]
    assert "python=3.11" in conda
    # Every Python package comes from the lock through pip; conda brings Python, pip and Java.
    assert {re.split(r"[<>=]", d)[0] for d in conda} == {"python", "pip", "openjdk", "maven"}
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip[-1] == "-e ."
    from_env = read_pins("\n".join(f"{line} --hash=sha256:x" for line in pip[:-1]))
    assert from_env == [Pin(p.name, p.version, p.marker, 1) for p in lock("learner.txt")]
