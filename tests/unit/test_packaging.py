"""The files that set the kit up agree with each other (no servers needed).

docker-compose.yml runs the same Kafka as `banku stack up`; environment.yml installs the same
packages as pyproject.toml; the `banku` command offers every command of the contract.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from banku import stack

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]

CONTRACT_COMMANDS = [
    "stack", "create", "deposit", "withdraw", "transfer", "balances", "project", "replay",
    "console",
]

# conda-forge names that differ from the PyPI name of the same package.
CONDA_TO_PYPI = {"redis-py": "redis"}
# Entries of environment.yml that are not Python packages of pyproject.toml. On conda-forge,
# `redis` is the Redis *server*; the Python client is `redis-py`.
CONDA_ONLY = {"python", "pip", "openjdk", "maven", "redis", "redis-server"}


# --- docker-compose.yml ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_compose_has_kafka_and_redis_with_healthchecks(compose):
    services = compose["services"]
    assert {"kafka", "redis"} <= set(services)
    for name in ("kafka", "redis"):
        check = services[name].get("healthcheck", {})
        assert check.get("test"), f"{name} has no health check, so `up --wait` cannot wait for it"
        assert not check.get("disable", False)


def test_compose_runs_the_same_kafka_as_banku_stack(compose):
    image = compose["services"]["kafka"]["image"]
    repository, _, tag = image.partition(":")
    assert repository == "apache/kafka"
    assert tag == stack.KAFKA_VERSION


def test_compose_redis_is_7_with_append_only_file(compose):
    redis = compose["services"]["redis"]
    assert redis["image"].partition(":")[2].split(".")[0] == "7"
    command = redis.get("command", [])
    command = command.split() if isinstance(command, str) else command
    assert "--appendonly" in command
    assert command[command.index("--appendonly") + 1] == "yes"


def test_compose_ports_are_bound_to_loopback(compose):
    for name in ("kafka", "redis"):
        ports = compose["services"][name]["ports"]
        assert ports, name
        for port in ports:
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port!r} beyond this machine"
    published = {str(p).split(":")[1] for p in compose["services"]["kafka"]["ports"]}
    assert "9092" in published
    published = {str(p).split(":")[1] for p in compose["services"]["redis"]["ports"]}
    assert "6379" in published


def test_compose_kafka_is_kraft_and_configured_like_the_local_stack(compose):
    env = _environment(compose["services"]["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env.get("CLUSTER_ID")
    # One listener for this machine, one for other containers.
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    hosts = [entry.split("://", 1)[1] for entry in advertised]
    assert any(h in ("127.0.0.1:9092", "localhost:9092") for h in hosts), advertised
    assert len(advertised) >= 2
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert env["KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS"] == str(stack.GROUP_MIN_SESSION_TIMEOUT_MS)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"].lower() == "false"


# --- environment.yml and pyproject.toml ----------------------------------------------------------
def normalise(name: str) -> str:
    """PEP 503: case and runs of -, _ and . do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements(text: str) -> dict[str, SpecifierSet]:
    project = tomllib.loads(text)["project"]
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    requirements = [Requirement(line) for line in lines]
    return {normalise(r.name): r.specifier for r in requirements}


_CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")


def environment_requirements(text: str) -> dict[str, SpecifierSet]:
    """The Python packages environment.yml installs, by PyPI name, with their version ranges."""
    found: dict[str, SpecifierSet] = {}
    for entry in yaml.safe_load(text)["dependencies"]:
        if isinstance(entry, dict):  # the pip: section
            for line in entry.get("pip", []):
                if line.startswith("-"):  # -e ., -r file, options
                    continue
                requirement = Requirement(line)
                found[normalise(requirement.name)] = requirement.specifier
            continue
        match = _CONDA_SPEC.match(entry.split("::")[-1])
        name, spec = normalise(match.group(1)), match.group(2).replace(" ", "")
        if name in CONDA_ONLY:
            continue
        if spec[:1].isdigit() or (spec[:1] == "=" and spec[:2] != "=="):
            # conda's "1.2" and "=1.2" both mean "1.2.*"
            version = spec.lstrip("=")
            spec = f"=={version}" if version.endswith("*") else f"=={version}.*"
        found[CONDA_TO_PYPI.get(name, name)] = SpecifierSet(spec)
    return found


def dependency_disagreements(pyproject_text: str, environment_text: str) -> list[str]:
    wanted = pyproject_requirements(pyproject_text)
    have = environment_requirements(environment_text)
    problems = [f"{n} is in pyproject.toml but not in environment.yml"
                for n in sorted(wanted.keys() - have.keys())]
    problems += [f"{n} is in environment.yml but not in pyproject.toml"
                 for n in sorted(have.keys() - wanted.keys())]
    problems += [f"{n}: pyproject.toml says {wanted[n] or 'any'},"
                 f" environment.yml says {have[n] or 'any'}"
                 for n in sorted(wanted.keys() & have.keys()) if wanted[n] != have[n]]
    return problems


def test_environment_yml_installs_what_pyproject_declares():
    problems = dependency_disagreements(
        (ROOT / "pyproject.toml").read_text(), (ROOT / "environment.yml").read_text()
    )
    assert not problems, "environment.yml and pyproject.toml disagree:\n" + "\n".join(problems)


def test_environment_yml_is_a_conda_forge_env_named_banku_with_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "banku"
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in [str(d).replace(" ", "") for d in env["dependencies"]]
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip and "-e ." in pip[0], "the kit itself is installed (editable) by the pip section"


_PYPROJECT = """
[project]
name = "x"
dependencies = ["kafka-python>=3.0,<3.1", "redis>=5", "Py_YAML>=6"]
[project.optional-dependencies]
dev = ["ruff>=0.5"]
"""


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        # the same set, spelt the conda way: no disagreement
        ("dependencies: [python=3.11, 'kafka-python >=3.0,<3.1', redis-py >=5, py-yaml >=6,"
         " ruff >=0.5, openjdk]", []),
        # conda's "=0.5" pins 0.5.*, which is not pyproject's ">=0.5"
        ("dependencies: ['kafka-python >=3.0,<3.1', redis-py >=5, py-yaml >=6, ruff =0.5]",
         ["ruff: pyproject.toml says >=0.5, environment.yml says ==0.5.*"]),
        # a package missing from environment.yml
        ("dependencies: ['kafka-python >=3.0,<3.1', redis-py >=5, ruff >=0.5]",
         ["py-yaml is in pyproject.toml but not in environment.yml"]),
        # a package only in environment.yml (here via pip)
        ("dependencies: ['kafka-python >=3.0,<3.1', redis-py >=5, py-yaml >=6, ruff >=0.5,"
         " {pip: [-e ., numpy>=1]}]",
         ["numpy is in environment.yml but not in pyproject.toml"]),
        # conda's `redis` is the server, not the client
        ("dependencies: ['kafka-python >=3.0,<3.1', redis >=5, py-yaml >=6, ruff >=0.5]",
         ["redis is in pyproject.toml but not in environment.yml"]),
        # the same package with another version range
        ("dependencies: ['kafka-python >=2.0', redis-py >=5, py-yaml >=6, ruff >=0.5]",
         ["kafka-python: pyproject.toml says <3.1,>=3.0, environment.yml says >=2.0"]),
    ],
)
def test_the_dependency_check_catches_disagreements(environment, expected):
    assert dependency_disagreements(_PYPROJECT, environment) == expected


# --- the command line ---------------------------------------------------------------------
def _banku_script() -> Path:
    script = Path(sys.executable).with_name("banku")
    assert script.exists(), f"the `banku` console script is not installed next to {sys.executable}"
    return script


def test_banku_help_lists_the_contract_commands():
    result = subprocess.run([str(_banku_script()), "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^\s{2,}([a-z]+)\s", result.stdout, flags=re.MULTILINE))
    missing = [c for c in CONTRACT_COMMANDS if c not in listed]
    assert not missing, f"`banku --help` does not list {missing}:\n{result.stdout}"


def test_python_m_banku_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "banku", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert all(c in result.stdout for c in CONTRACT_COMMANDS)


def test_banku_stack_help_offers_up_down_status_and_brokers():
    result = subprocess.run([str(_banku_script()), "stack", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for word in ("up", "down", "status", "--brokers", "--wipe"):
        assert word in result.stdout
