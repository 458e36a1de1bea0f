"""Servers as fixtures: the real Kafka and Redis are started for the test session.

Tests under tests/unit/ are pure logic and need no servers. Everything else (integration tests
and the notebooks run by nbval) needs both; they are started here with `banku stack up` (a no-op
when they already answer). If they cannot start, the run stops with the reason: no test is
skipped for want of a server.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from banku import Settings, stack
from banku.errors import BankuError

ROOT = Path(__file__).parent
_needs_stack = False


def pytest_collection_modifyitems(session, config, items):
    global _needs_stack
    unit = ROOT / "tests" / "unit"
    _needs_stack = any(unit not in Path(str(item.fspath)).parents for item in items)
    if not _needs_stack or config.getoption("collectonly"):
        return
    try:
        stack.up(Settings.from_env(), log=lambda line: None)
    except BankuError as exc:
        pytest.exit(f"The test stack could not start: {exc}", returncode=1)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings.from_env()


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """A fresh namespace per test: its own topic, consumer group and Redis keys."""
    return base_settings.with_namespace(f"t{uuid.uuid4().hex[:10]}")


@pytest.fixture
def bank(settings):
    from banku import Bank

    with Bank(settings) as b:
        yield b


@pytest.fixture
def projector(settings):
    from banku import Projector

    with Projector(settings) as p:
        yield p


@pytest.fixture(scope="session")
def cli_env(base_settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(KAFKA_BOOTSTRAP_SERVERS=base_settings.bootstrap_servers,
               REDIS_URL=base_settings.redis_url)
    return env
