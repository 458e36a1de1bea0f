"""How the stack finds its processes again: a pid *and* its command line, with `os.kill(pid, 0)`
and `ps` (Linux and macOS alike), never by reading /proc first.

Every test here runs with /proc made unreadable to the code under test, as on macOS.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from banku.stack import processes
from banku.stack.processes import command_line, pid_alive

MARKER = "banku-test-marker-7c1f"
SLEEPER = [sys.executable, "-c", "import sys, time; time.sleep(60)", MARKER]


@pytest.fixture(autouse=True)
def no_proc(monkeypatch):
    """Reading anything under /proc fails, as on a machine that has none."""
    real_text, real_bytes = Path.read_text, Path.read_bytes

    def guarded(real):
        def read(self, *args, **kwargs):
            if str(self).startswith("/proc"):
                raise FileNotFoundError(f"no /proc here: {self}")
            return real(self, *args, **kwargs)
        return read

    monkeypatch.setattr(Path, "read_text", guarded(real_text))
    monkeypatch.setattr(Path, "read_bytes", guarded(real_bytes))


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(SLEEPER)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_running_child_is_found_by_pid_and_marker(sleeper):
    assert pid_alive(sleeper.pid, MARKER)
    state, command = command_line(sleeper.pid)
    assert MARKER in command and not state.startswith("Z")


def test_a_pid_running_another_command_line_is_not_ours(sleeper):
    assert not pid_alive(sleeper.pid, "kafka.Kafka")
    assert not pid_alive(sleeper.pid, "redis-server")


def test_a_dead_process_is_not_alive(sleeper):
    sleeper.send_signal(signal.SIGKILL)
    sleeper.wait()
    assert not pid_alive(sleeper.pid, MARKER)
    assert command_line(sleeper.pid) is None


def test_our_own_dead_child_is_reaped_and_not_alive():
    proc = subprocess.Popen(SLEEPER)
    proc.send_signal(signal.SIGKILL)
    time.sleep(0.3)  # a zombie now: dead, not yet waited for
    assert not pid_alive(proc.pid, MARKER)


def test_a_zombie_that_is_not_our_child_is_not_alive():
    # A child that forks a grandchild, lets it die and never waits for it: the grandchild stays
    # a zombie that we cannot reap (it is not ours), so only `ps` can tell that it is dead.
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
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = command_line(zombie)
            if found and found[0].startswith("Z"):
                break
            time.sleep(0.1)
        assert found is not None and found[0].startswith("Z"), found
        assert not pid_alive(zombie, "")
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.parametrize("pid", [None, 0])
def test_no_pid_is_not_alive(pid):
    assert not pid_alive(pid, "")


def test_ps_output_as_macos_prints_it(monkeypatch):
    """macOS's ps prints the state then the command line, like procps; both are parsed."""
    def fake_run(args, **kwargs):
        assert args[:2] == ["ps", "-ww"] and "-p" in args
        return subprocess.CompletedProcess(
            args, 0, stdout="Ss   /usr/bin/java -Xmx512m -cp libs/* kafka.Kafka s.properties\n",
            stderr="")

    monkeypatch.setattr(processes.subprocess, "run", fake_run)
    monkeypatch.setattr(processes.os, "kill", lambda pid, sig: None)
    assert command_line(4242) == ("Ss", "/usr/bin/java -Xmx512m -cp libs/* kafka.Kafka"
                                        " s.properties")
    assert pid_alive(4242, "kafka.Kafka")
    assert not pid_alive(4242, "redis-server")


def test_ps_finding_nothing_means_no_such_process(monkeypatch):
    monkeypatch.setattr(processes.subprocess, "run", lambda args, **kw:
                        subprocess.CompletedProcess(args, 1, stdout="", stderr=""))
    assert command_line(4242) is None


def test_a_pid_that_os_kill_does_not_know_is_dead_without_asking_ps(monkeypatch):
    def no_such(pid, sig):
        raise ProcessLookupError

    def ps_must_not_run(*args, **kwargs):
        raise AssertionError("ps was asked about a pid that does not exist")

    monkeypatch.setattr(processes.os, "kill", no_such)
    monkeypatch.setattr(processes.subprocess, "run", ps_must_not_run)
    assert not pid_alive(999_999, "kafka.Kafka")
