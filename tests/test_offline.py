"""An offline room: `./kit bundle DIR` writes Kafka's jars and the wheels of the learner's lock
(requirements/learner.txt), and `./kit setup --learner --offline DIR` installs from it on a
machine that cannot reach any registry: the learner's packages and no test tool.

Here the bundle is made (with the network), then a copy of the kit is installed from it with the
network blocked for that process: pip may not use an index (``--no-index``, and an index URL and
proxies that lead nowhere), Maven is replaced by a stand-in that records any call, and
``BANKU_HOME`` is empty so Kafka's jars can only come from the bundle. The installed kit then
starts a real broker and Redis from those jars.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from banku.stack import jars
from tests import ports
from tests.helpers import ROOT

KAFKA_PORT = ports.kafka_port(ports.WORKSHOP) + 2
REDIS_PORT = ports.redis_port(ports.WORKSHOP) - 2
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers there


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 900,
        ) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bundle")
    run([str(ROOT / "kit"), "bundle", str(folder)], dict(os.environ), ROOT)
    return folder


def offline_env(tmp: Path) -> dict[str, str]:
    fake = tmp / "bin"
    fake.mkdir()
    mvn = fake / "mvn"
    mvn.write_text(f'#!/bin/sh\necho "$@" >> "{tmp}/maven-was-called"\nexit 1\n')
    mvn.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "VIRTUAL_ENV", "KAFKA_", "REDIS_", "BANKU_"))}
    env.update(PATH=f"{fake}:{env['PATH']}", BANKU_HOME=str(tmp / "home"),
               PIP_INDEX_URL=f"{NOWHERE}/simple", PIP_NO_INDEX="1", PIP_RETRIES="0",
               PIP_TIMEOUT="3", http_proxy=NOWHERE, https_proxy=NOWHERE, HTTP_PROXY=NOWHERE,
               HTTPS_PROXY=NOWHERE, no_proxy="", NO_PROXY="",
               KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{KAFKA_PORT}",
               REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/0")
    return env


def test_the_bundle_holds_kafka_and_the_wheels(bundle):
    kafka = bundle / f"kafka_{jars.SCALA_VERSION}-{jars.KAFKA_VERSION}"
    assert (kafka / ".complete").exists()
    assert (kafka / "libs" / f"kafka_{jars.SCALA_VERSION}-{jars.KAFKA_VERSION}.jar").exists()
    wheels = {p.name.split("-")[0].lower().replace("_", "-") for p in (bundle / "wheels").iterdir()}
    for needed in ("kafka-python", "redis", "pandas", "jupyterlab", "setuptools", "pip"):
        assert needed in wheels, needed
    for tool in ("pytest", "hypothesis", "playwright", "nbval", "ruff", "mypy"):
        assert tool not in wheels, f"a learner's bundle carries {tool}"
    assert (bundle / "wheels" / "learner.txt").read_text() == \
        (ROOT / "requirements" / "learner.txt").read_text()
    assert "Python" in (bundle / "README.txt").read_text()


def test_a_copy_of_the_kit_installs_from_the_bundle_without_the_network(bundle, tmp_path):
    kit = tmp_path / "kit"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (kit / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, kit / name)
    env = offline_env(tmp_path)

    # Without --offline the same machine could not install: the registries are out of reach.
    python = shutil.which("python3")
    subprocess.run([python, "-m", "venv", str(tmp_path / "probe")], check=True)
    probe = subprocess.run([str(tmp_path / "probe" / "bin" / "pip"), "install", "--index-url",
                            f"{NOWHERE}/simple", "crc32c"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert probe.returncode != 0, "the network must be blocked for this test to mean anything"

    installed = run([str(kit / "kit"), "setup", "--learner", "--offline", str(bundle)], env, kit)
    assert "requirements/learner.txt" in installed.stdout and "no network" in installed.stdout
    # The test set is not in this bundle: asking for it says how to make one that has it.
    refused = subprocess.run([str(kit / "kit"), "setup", "--offline", str(bundle)], cwd=kit,
                             env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "./kit bundle --tests" in refused.stderr
    assert not (tmp_path / "maven-was-called").exists(), "Maven was asked for something"
    home = tmp_path / "home" / f"kafka_{jars.SCALA_VERSION}-{jars.KAFKA_VERSION}"
    assert (home / ".complete").exists()

    banku = str(kit / ".venv" / "bin" / "banku")
    listed = subprocess.run([str(kit / ".venv" / "bin" / "python"), "-m", "pip", "list"],
                            env=env, capture_output=True, text=True, check=True).stdout.lower()
    assert "jupyterlab " in listed
    for tool in ("pytest", "hypothesis", "playwright"):
        assert f"\n{tool} " not in listed, f"the learner's install has {tool}"
    doctor = subprocess.run([banku, "doctor"], env=env, capture_output=True, text=True)
    assert f"OK    Kafka {jars.KAFKA_VERSION} jars: {home / 'libs'}" in doctor.stdout
    assert "FAIL  package" not in doctor.stdout, doctor.stdout
    try:
        up = run([banku, "stack", "up"], env, kit, timeout=300)
        assert f"Kafka {jars.KAFKA_VERSION} is up at 127.0.0.1:{KAFKA_PORT}" in up.stdout
        created = run([banku, "create", "Offline Olga"], env, kit)
        assert created.stdout.strip()
    finally:
        subprocess.run([banku, "stack", "down", "--wipe"], env=env, capture_output=True,
                       timeout=300)
