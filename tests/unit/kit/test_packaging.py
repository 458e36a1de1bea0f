"""The files that set the kit up agree with each other (no servers needed).

docker-compose.yml runs the same Kafka as `banku stack up`; the `banku` command offers every
command of the contract. The lock and environment.yml are checked in test_lock.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from banku import stack
from tests.helpers import ROOT

CONTRACT_COMMANDS = [
    "stack", "create", "deposit", "withdraw", "transfer", "balances", "project", "replay",
    "console",
]


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


# --- licences and credit --------------------------------------------------------------------
def test_the_code_is_mit_and_the_lessons_cc_by_4():
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    lessons = (ROOT / "LICENSE-lessons").read_text()
    assert "Creative Commons Attribution 4.0 International Public License" in lessons
    assert "Section 8 -- Interpretation." in lessons, "the licence's full text"
    readme = (ROOT / "README.md").read_text()
    assert "## Licence and credit" in readme
    assert "[LICENSE](LICENSE)" in readme and "[LICENSE-lessons](LICENSE-lessons)" in readme


def test_the_go_original_is_credited_and_the_kit_citable():
    original = "https://github.com/adamnoto/banku"
    assert original in (ROOT / "README.md").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(citation)
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version and citation["version"] == version.group(1)
    assert sorted(citation["license"]) == ["CC-BY-4.0", "MIT"]
    assert [r["repository-code"] for r in citation["references"]] == [original]


def test_the_readme_installs_jupyterlab_on_the_compose_path():
    readme = (ROOT / "README.md").read_text()
    compose = readme[readme.index("### With Docker instead"):readme.index("## The notebooks")]
    assert "docker compose up --wait" in compose
    # JupyterLab is in the lab extra (and the learner's lock), never in a bare `pip install -e .`
    assert "-r requirements/learner.txt" in compose and "'.[lab]'" in compose
    assert not re.search(r"pip install -e \.(?!\[)", compose)
    assert "05" in compose and "Java 17+" in compose
    for text in (readme, (ROOT / "CONTRIBUTING.md").read_text()):
        for named in set(re.findall(r"requirements/[a-z]+\.txt", text)):
            assert (ROOT / named).exists(), named
