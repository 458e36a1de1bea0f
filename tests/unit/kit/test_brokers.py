"""Notebook 05's cluster on a shared server: only the notebook that started it may break or stop it.

No Kafka here: a harmless process whose command line says ``kafka.Kafka`` stands in for a broker,
in a stack directory under a temporary ``BANKU_HOME``.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from banku import Settings, stack
from banku.lab import brokers
from tests import ports

BLOCK = 15  # a port block no stack of the test suite uses: nothing listens there


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    started = []
    monkeypatch.setattr(stack, "up", lambda settings, **kw: started.append(settings.namespace))
    return started


def learner(n: int) -> Settings:
    base = ports.settings_for(BLOCK, brokers=3)
    return Settings(bootstrap_servers=base.bootstrap_servers, redis_url=base.redis_url,
                    namespace=f"learner-{n:02d}-nb05")


@pytest.fixture
def broker_process():
    """A stand-in for broker 1: its command line contains kafka.Kafka, it does nothing."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                "kafka.Kafka"])
    yield process
    process.kill()
    process.wait()


def pretend_running(settings: Settings, process: subprocess.Popen) -> None:
    plan = stack.StackPlan.from_settings(settings, brokers=3)
    state = plan.read_state()
    state["kafka"] = {"1": {"pid": process.pid, "port": plan.broker_port(1)}}
    plan.write_state(state)


def test_the_learner_who_starts_it_owns_it(home):
    one, two = learner(1), learner(2)
    brokers.start_cluster(one)
    assert home == [one.namespace]
    assert brokers.owned(one) and not brokers.owned(two)
    assert brokers.owner(one)["namespace"] == one.namespace


def test_nobody_else_may_use_break_or_stop_it(home, broker_process):
    one, two = learner(1), learner(2)
    brokers.start_cluster(one)
    pretend_running(one, broker_process)
    with pytest.raises(brokers.ClusterNotYours, match="learner-01-nb05"):
        brokers.start_cluster(two)
    for attempt in (lambda: brokers.stop_cluster(two),
                    lambda: brokers.kill_broker(two, 1),
                    lambda: brokers.restart_broker(two, 1),
                    lambda: brokers.create_topic_on(two, "x", [1, 2, 3])):
        with pytest.raises(brokers.ClusterNotYours, match="instructor's demo"):
            attempt()
    with pytest.raises(brokers.ClusterNotYours), brokers.paused(two, [1]):
        pass
    assert broker_process.poll() is None, "the other learner's broker was signalled"
    assert brokers.owned(one) and home == [one.namespace]  # still the first learner's


def test_the_owner_may_start_it_again_and_stop_it(home, broker_process):
    one = learner(1)
    brokers.start_cluster(one)
    pretend_running(one, broker_process)
    brokers.start_cluster(one)  # the same learner again (a re-run): fine
    assert home == [one.namespace, one.namespace]
    brokers.kill_broker(one, 1, signal.SIGKILL)
    assert broker_process.wait(10) == -signal.SIGKILL
    brokers.stop_cluster(one)
    assert brokers.owner(one) is None  # wiped with the cluster's data


def test_a_cluster_nobody_claimed_is_nobodys_to_break(home, broker_process):
    """Started some other way (`banku stack up --brokers 3`): notebook 05 leaves it alone."""
    one = learner(1)
    pretend_running(one, broker_process)
    with pytest.raises(brokers.ClusterNotYours, match="not a notebook"):
        brokers.start_cluster(one)
    with pytest.raises(brokers.ClusterNotYours):
        brokers.stop_cluster(one)
    assert broker_process.poll() is None


def test_a_stopped_cluster_can_be_claimed_by_the_next_learner(home):
    one, two = learner(1), learner(2)
    brokers.start_cluster(one)  # and then it stopped, its directory kept (no --wipe)
    brokers.start_cluster(two)
    assert brokers.owned(two) and not brokers.owned(one)


@pytest.mark.parametrize("secured", [
    {"kafka_username": "learner-01", "kafka_password": "pw"},
    {"kafka_security_protocol": "SSL"},
    {"redis_url": "rediss://127.0.0.1:6380/0"},
    {"redis_url": "redis://learner-01:pw@127.0.0.1:6379/0"},
])
def test_a_room_or_managed_service_gets_one_sentence_not_a_cluster(home, secured):
    settings = Settings(**{"bootstrap_servers": "127.0.0.1:9092",
                           "redis_url": "redis://127.0.0.1:6379/0", **secured})
    with pytest.raises(brokers.NoClusterHere, match="Watch the instructor's demo"):
        brokers.cluster_settings(settings)
    assert home == []
    plain = brokers.cluster_settings(Settings(bootstrap_servers="127.0.0.1:9092",
                                              redis_url="redis://127.0.0.1:6379/0"))
    assert plain.bootstrap_servers == "127.0.0.1:9192,127.0.0.1:9194,127.0.0.1:9196"
