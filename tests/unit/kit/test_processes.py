"""How the stack finds its processes again and stops them (psutil): a pid *and* its command line
*and* its start time, so that a reused pid is never taken for (or killed as) a server of ours."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest

from banku.stack.processes import pid_alive, started_at, stop_pids
from tests.helpers import wait_until

MARKER = "banku-test-marker-7c1f"
SLEEPER = [sys.executable, "-c", "import sys, time; time.sleep(60)", MARKER]
# Says "terminated" when SIGTERM comes, and ends.
POLITE = [sys.executable, "-c",
          "import signal, sys, time\n"
          "def bye(*_):\n"
          "    print('terminated', flush=True)\n"
          "    sys.exit(0)\n"
          "signal.signal(signal.SIGTERM, bye)\n"
          "print('ready', flush=True)\n"
          "time.sleep(60)\n", MARKER]
# Ignores SIGTERM once it says it is ready: only SIGKILL ends it.
STUBBORN = [sys.executable, "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n", MARKER]


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(SLEEPER)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_running_child_is_found_by_pid_and_marker(sleeper):
    assert pid_alive(sleeper.pid, MARKER)
    assert pid_alive(sleeper.pid, MARKER, started_at(sleeper.pid))


def test_a_pid_running_another_command_line_is_not_ours(sleeper):
    assert not pid_alive(sleeper.pid, "kafka.Kafka")
    assert not pid_alive(sleeper.pid, "redis-server")


def test_a_reused_pid_is_not_ours(sleeper):
    """Same pid, same command line, but it started after the one we launched: not ours."""
    started = started_at(sleeper.pid)
    assert started is not None
    assert not pid_alive(sleeper.pid, MARKER, started - 60)


def test_a_dead_process_is_not_alive(sleeper):
    sleeper.send_signal(signal.SIGKILL)
    sleeper.wait()
    assert not pid_alive(sleeper.pid, MARKER)
    assert started_at(sleeper.pid) is None


def test_our_own_dead_child_is_reaped_and_not_alive():
    proc = subprocess.Popen(SLEEPER)
    proc.send_signal(signal.SIGKILL)
    # a zombie now: dead, not yet waited for
    wait_until(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE, 10,
               "the killed child to be a zombie", interval=0.02)
    assert not pid_alive(proc.pid, MARKER)
    assert not psutil.pid_exists(proc.pid) or proc.poll() is not None


def test_a_zombie_that_is_not_our_child_is_not_alive():
    # A child that forks a grandchild, lets it die and never waits for it: the grandchild stays
    # a zombie that we cannot reap (it is not ours).
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time\n"
         "pid = os.fork()\n"
         "if pid == 0:\n"
         f"    os.execv(sys.executable, [sys.executable, '-c', 'pass', '{MARKER}'])\n"
         "print(pid, flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        zombie = int(parent.stdout.readline())
        wait_until(lambda: psutil.Process(zombie).status() == psutil.STATUS_ZOMBIE, 10,
                   "the grandchild to be a zombie", interval=0.02)
        assert not pid_alive(zombie, "")
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.parametrize("pid", [None, 0])
def test_no_pid_is_not_alive(pid):
    assert not pid_alive(pid, "")


def test_stop_pids_asks_a_process_to_end_with_sigterm_first():
    proc = subprocess.Popen(POLITE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        stop_pids([proc.pid], MARKER, timeout=10)
        assert proc.stdout.read().strip() == "terminated"  # its SIGTERM handler ran
        assert not pid_alive(proc.pid, MARKER)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_stop_pids_kills_what_ignores_sigterm_at_the_deadline():
    proc = subprocess.Popen(STUBBORN, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        stop_pids([proc.pid], MARKER, timeout=0.5)
        assert not pid_alive(proc.pid, MARKER)  # gone, although it ignored SIGTERM
        assert not psutil.pid_exists(proc.pid)  # and reaped
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_stop_pids_leaves_a_process_that_is_not_ours_alone(sleeper):
    stop_pids([sleeper.pid], "kafka.Kafka", timeout=0.5)
    assert sleeper.poll() is None and pid_alive(sleeper.pid, MARKER)
