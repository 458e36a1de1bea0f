"""A room served by JupyterHub (`banku workshop up --tls --hub`), driven in headless Chromium as
learners would: each logs in with the password of their env file, their JupyterLab runs as a
system user of their own and works in their own namespace, and nothing of another learner's,
nor the room's own files, is within their reach.

The room runs on a block of its own (`tests/ports.HUB`), its hub on `tests/ports.hub_port()`,
all on 127.0.0.1, and is wiped afterwards (the learners' users and homes too). The hub needs
root (it creates a user per learner), as `./kit test` runs in CI.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import ssl
import stat
import time
from pathlib import Path

import pytest

from banku import Settings
from banku.config import read_env_file
from tests import ports
from tests.browser import jupyterlab as lab_tools
from tests.fault.util import banku
from tests.helpers import ROOT, wait_until

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "artifacts"
KAFKA = ports.kafka_port(ports.HUB)
ROOM = ports.settings_for(ports.HUB)
HUB_PORT = ports.hub_port()
HUB = f"https://127.0.0.1:{HUB_PORT}/"
NOTEBOOK = "00_check_your_setup.ipynb"


def system_user(learner: str) -> str:
    return f"banku-{KAFKA}-{learner}"


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """The room's env files folder, with two learners; wiped at the end."""
    if os.geteuid() != 0:
        pytest.skip("a room with --hub creates a system user per learner: run as root (CI does)")
    out = tmp_path_factory.mktemp("hub-room") / "room"
    try:
        up = banku(ROOM, "workshop", "up", "--tls", "--hub", "--hub-port", str(HUB_PORT),
                   "--learners", "2", "--out", str(out), timeout=900)
        assert up.returncode == 0, up.stdout + up.stderr
        for learner in ("learner-01", "learner-02"):  # no password printed
            env = env_of(out, learner)
            assert env["BANKU_HUB_PASSWORD"] not in up.stdout + up.stderr
            assert env["KAFKA_SASL_PASSWORD"] not in up.stdout + up.stderr
        yield out
    finally:
        down = banku(ROOM, "workshop", "down", "--wipe", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr
        for learner in ("learner-01", "learner-02", "learner-03"):
            with pytest.raises(KeyError):
                pwd.getpwnam(system_user(learner))
            assert not Path(f"/home/{system_user(learner)}").exists()
        assert _hub_pids() == []


def env_of(room: Path, learner: str) -> dict[str, str]:
    return read_env_file(room / f"{learner}.env")


def _hub_pids() -> list[int]:
    """The room's hub (started with its config file) and its proxy (its API port)."""
    return [pid for pid, cmd in _processes()
            if f"stack-{KAFKA}/hub/jupyterhub_config.py" in cmd
            or ("configurable-http-proxy" in cmd and f"--api-port {HUB_PORT + 1}" in cmd)]


def _processes() -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
            except OSError:
                continue
            found.append((int(entry.name), cmd))
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)
    return dict(pairs)


def _servers() -> dict[str, tuple[int, int]]:
    """The learners' JupyterLab servers: hub user -> (pid, uid)."""
    found = {}
    for pid, cmd in _processes():
        if "jupyterhub-singleuser" not in cmd:
            continue
        try:
            env = _environ(pid)
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if env.get("JUPYTERHUB_SERVICE_PREFIX", "").startswith("/user/") \
                and env.get("USER", "").startswith(f"banku-{KAFKA}-"):
            found[env["JUPYTERHUB_USER"]] = (pid, uid)
    return found


def _uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _threads(pid: int) -> int:
    try:
        found = re.search(r"^Threads:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:  # gone meanwhile
        return 0
    return int(found.group(1)) if found else 0


# --- driving the hub in the browser ------------------------------------------------------------
class HubLab:
    """What tests/browser/jupyterlab.py's notebook helpers need, for one learner's server
    behind the hub (the page's own cookies reach its REST API)."""

    def __init__(self, page, learner: str) -> None:
        self.page, self.learner = page, learner
        self.url = f"{HUB}user/{learner}"

    def notebook_url(self, name: str) -> str:
        workspace = re.sub(r"[^A-Za-z0-9]+", "-", Path(name).stem)
        return f"{self.url}/lab/workspaces/{workspace}/tree/banku/notebooks/{name}?reset"

    def kernel_of(self, name: str) -> dict | None:
        answer = self.page.request.get(f"{self.url}/api/sessions")
        for session in answer.json() if answer.ok else []:
            if Path(session.get("path", "")).name == name:
                return session.get("kernel")
        return None

    def log_tail(self, lines: int = 30) -> str:
        log = Path.home() / ".cache" / "banku" / f"stack-{KAFKA}" / "hub" / "hub.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _browser(tmp_path: Path):
    """Chromium trusting nothing but what the test checks itself: the room's certificate is
    verified against the room's CA by `test_the_hub_speaks_https_with_the_rooms_certificate`;
    Chromium has no way to be given one CA for one run, so it is told to accept the page."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=lab_tools.chromium_path(), headless=True,
        args=lab_tools.CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1800},
        ignore_https_errors=True)
    return playwright, context


@pytest.fixture
def page(tmp_path):
    playwright, context = _browser(tmp_path)
    try:
        yield context.pages[0] if context.pages else context.new_page()
    finally:
        context.close()
        playwright.stop()


def lab_settings(learner: str) -> None:
    """The check's JupyterLab settings (tests/browser/jupyterlab.py), as the learner's own:
    every cell kept in the page, no pop-up about news."""
    import json

    user = pwd.getpwnam(system_user(learner))
    for name, values in lab_tools.LAB_SETTINGS.items():
        path = Path(user.pw_dir) / ".jupyter" / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    for root, dirs, files in os.walk(Path(user.pw_dir) / ".jupyter"):
        for entry in [root, *(os.path.join(root, f) for f in dirs + files)]:
            os.chown(entry, user.pw_uid, user.pw_gid)


def run_to_the_first_exercise(page, lab: HubLab, name: str, timeout: float = 240) -> None:
    """Run > Run All Cells, as a learner does first: it runs every cell up to the first
    exercise, whose stub says "your code here" (the learner edition has no solutions)."""
    for _attempt in range(5):
        lab_tools._run_all_from_the_menu(page)
        try:
            wait_until(lambda: page.evaluate(lab_tools._STARTED, lab_tools._PANEL), 10,
                       "a cell to start")
            break
        except AssertionError:
            lab_tools.accept_kernel_dialog(page)
            page.keyboard.press("Escape")
    stub = page.locator(".jp-OutputArea-output", has_text="your code here")
    wait_until(lambda: (stub.count() or page.evaluate(lab_tools._ALL_RAN, lab_tools._PANEL))
               and (lab.kernel_of(name) or {}).get("execution_state") == "idle",
               timeout, "the cells up to the first exercise to run")


def log_in(page, learner: str, password: str) -> None:
    page.goto(f"{HUB}hub/login", timeout=60_000)
    page.fill("#username_input", learner)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_load_state()


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-hub-{name}.png"))


def run_in_new_cell(page, code: str, timeout: float = 60) -> str:
    """Type ``code`` into a new cell at the end of the open notebook, run it, return its output."""
    panel = lab_tools._PANEL
    cells = page.locator(f"{panel} .jp-CodeCell")
    before = cells.count()
    page.locator(f"{panel} .jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below, in command mode
    wait_until(lambda: cells.count() == before + 1, 30, "a new cell")
    page.keyboard.press("Enter")  # edit it
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    output = cells.nth(before).locator(".jp-OutputArea-output")
    output.first.wait_for(state="visible", timeout=timeout * 1000)
    return "\n".join(output.all_inner_texts())


# --- the tests ----------------------------------------------------------------------------------
def test_the_hub_speaks_https_with_the_rooms_certificate(room):
    context = ssl.create_default_context(cafile=str(room / "room-ca.pem"))
    with socket.create_connection(("127.0.0.1", HUB_PORT), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # Only on this machine's loopback: the room was not opened to others (--host).
    listening = Path("/proc/net/tcp").read_text()
    assert f"0100007F:{HUB_PORT:04X}" in listening
    assert f"00000000:{HUB_PORT:04X}" not in listening


def test_workshop_status_reports_the_hub(room):
    status = banku(ROOM, "workshop", "status", "--json", timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["hub"] == {"ok": True, "url": HUB}


def test_the_env_files_carry_the_hub_and_the_files_of_the_room_are_roots(room):
    one, two = env_of(room, "learner-01"), env_of(room, "learner-02")
    assert one["BANKU_HUB_URL"] == two["BANKU_HUB_URL"] == HUB
    assert len(one["BANKU_HUB_PASSWORD"]) >= 20
    assert one["BANKU_HUB_PASSWORD"] != two["BANKU_HUB_PASSWORD"]
    hub_dir = Path.home() / ".cache" / "banku" / f"stack-{KAFKA}" / "hub"
    for path in (room, room / "instructor", hub_dir, hub_dir.parent):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in (hub_dir / "jupyterhub_config.py", hub_dir / "passwords.json",
                 room / "learner-01.env", hub_dir.parent / "room.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # The hub keeps hashes, never the passwords; no secret is on a command line.
    assert one["BANKU_HUB_PASSWORD"] not in (hub_dir / "passwords.json").read_text()
    secrets = [one["BANKU_HUB_PASSWORD"], one["KAFKA_SASL_PASSWORD"],
               Settings.from_env(one).redis_url.split("@")[0].rsplit(":", 1)[1]]
    for _pid, cmd in _processes():
        assert not any(secret in cmd for secret in secrets), cmd
    for learner in ("learner-01", "learner-02"):
        home = Path(f"/home/{system_user(learner)}")
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert home.stat().st_uid == pwd.getpwnam(system_user(learner)).pw_uid
        assert (home / "banku" / "notebooks" / NOTEBOOK).is_file()


def test_a_learner_logs_in_and_runs_notebook_00_in_their_own_namespace(room, page):
    env = env_of(room, "learner-01")
    lab_settings("learner-01")
    log_in(page, "learner-01", env["BANKU_HUB_PASSWORD"])
    page.wait_for_url(re.compile(r".*/user/learner-01/lab.*"), timeout=240_000)
    lab = HubLab(page, "learner-01")
    try:
        lab_tools.open_notebook(page, lab, NOTEBOOK, timeout=180)
        run_to_the_first_exercise(page, lab, NOTEBOOK)
        texts = "\n".join(lab_tools.outputs(page))
        assert "namespace set: True" in texts
        assert re.search(r"All \d+ checks passed\.", texts), texts
        assert texts.count("Traceback") <= 1  # the exercise's stub's, if any
        shown = run_in_new_cell(
            page, "import getpass, os; print(settings.namespace, settings.topic_name,"
                  " getpass.getuser(), os.getuid())")
    except Exception:
        _screenshot(page, "notebook-00-failed")
        print(lab.log_tail())
        raise
    _screenshot(page, "notebook-00")
    user = pwd.getpwnam(system_user("learner-01"))
    assert shown.split() == ["learner-01", "learner-01.banku-transactions", user.pw_name,
                             str(user.pw_uid)]
    # Its server runs as learner-01's own user, with learner-01's settings only.
    pid, uid = _servers()["learner-01"]
    assert uid == user.pw_uid != 0
    server_env = _environ(pid)
    assert server_env["KAFKA_SASL_USERNAME"] == "learner-01"
    assert server_env["BANKU_NAMESPACE"] == "learner-01"
    others = env_of(room, "learner-02")
    assert others["KAFKA_SASL_PASSWORD"] not in "\n".join(server_env.values())
    assert others["BANKU_HUB_PASSWORD"] not in "\n".join(server_env.values())
    # Limits of its own: a learner's fork bomb, runaway cell or huge file stops at them.
    limits = Path(f"/proc/{pid}/limits").read_text()
    for row, value in (("Max processes", 1024), ("Max data size", 4 * 1024**3),
                       ("Max file size", 2 * 1024**3), ("Max core file size", 0)):
        assert re.search(rf"^{row}\s+{value}\s+{value}\s", limits, re.M), limits
    # Threads count against "Max processes": the learner's server and kernel run far fewer.
    threads = sum(_threads(p) for p, _ in _processes() if _uid(p) == user.pw_uid)
    print(f"learner-01's user runs {threads} threads")
    assert 0 < threads < 1024 // 4


def test_learner_01s_user_cannot_read_another_learners_files_or_the_rooms(room, page):
    """What learner-01 types in JupyterLab's terminal, as learner-01's user."""
    env = env_of(room, "learner-01")
    lab_settings("learner-01")
    log_in(page, "learner-01", env["BANKU_HUB_PASSWORD"])
    page.wait_for_url(re.compile(r".*/user/learner-01/lab.*"), timeout=240_000)
    home = Path(f"/home/{system_user('learner-01')}")
    probe = home / "probe.txt"
    probe.unlink(missing_ok=True)
    own = str(home / "learner-01.env")  # the probe's control: their own file they read
    targets = [own, f"/home/{system_user('learner-02')}/learner-02.env",
               f"/home/{system_user('learner-02')}", str(room / "learner-02.env"),
               str(room / "instructor" / "instructor.env"),
               str(Path.home() / ".cache" / "banku" / f"stack-{KAFKA}" / "room.json")]
    command = "; ".join(f"cat {t} >/dev/null 2>&1 || ls {t} >/dev/null 2>&1 && echo READ {t}"
                        " || echo DENIED " + t for t in targets)
    # A terminal, from the launcher's "Terminal" card, as a learner opens one.
    page.goto(f"{HUB}user/learner-01/lab?reset", timeout=120_000)
    page.locator(".jp-LauncherCard", has_text="Terminal").first.click(timeout=120_000)
    terminal = page.locator(".jp-Terminal .xterm-helper-textarea").first
    terminal.wait_for(state="attached", timeout=120_000)

    def answered() -> bool:
        return probe.exists() and len(probe.read_text().splitlines()) > len(targets)

    # What is typed before the terminal's connection opens is lost, and the page shows no
    # sign of it that a test can read (xterm draws on a canvas): the line is typed again until
    # its answer is there (it only rewrites the same file).
    deadline = time.monotonic() + 120
    while not answered():
        assert time.monotonic() < deadline, "the terminal never ran the line"
        terminal.focus()
        page.keyboard.type(f"{{ id -un; {command}; }} > ~/probe.txt 2>&1\n")
        try:
            wait_until(answered, 10, "the terminal's answer")
        except AssertionError:
            continue
    _screenshot(page, "terminal")
    lines = probe.read_text().splitlines()
    assert lines[0] == system_user("learner-01")
    assert lines[1:] == [f"READ {own}"] + [f"DENIED {t}" for t in targets[1:]]
    assert probe.stat().st_uid == pwd.getpwnam(system_user("learner-01")).pw_uid


def test_another_learners_password_does_not_open_a_server(room, page):
    one, two = env_of(room, "learner-01"), env_of(room, "learner-02")
    log_in(page, "learner-01", two["BANKU_HUB_PASSWORD"])
    assert "/hub/login" in page.url
    assert page.locator("text=Invalid username or password").count()
    log_in(page, "learner-01", "")
    assert "/hub/login" in page.url
    # learner-02, logged in, asks for learner-01's server: the hub does not hand it over.
    log_in(page, "learner-02", two["BANKU_HUB_PASSWORD"])
    page.wait_for_url(re.compile(r".*/user/learner-02/lab.*"), timeout=240_000)
    answer = page.goto(f"{HUB}user/learner-01/lab", timeout=60_000)
    page.wait_for_load_state()
    assert answer.status == 403  # "You do not have permission to access Server at ..."
    assert not page.locator(".jp-LabShell").count()
    api = page.request.get(f"{HUB}user/learner-01/api/contents")
    assert not api.ok or "learner-01" not in api.text()
    assert page.request.get(f"{HUB}hub/api/users/learner-01").status in (403, 404)
    _screenshot(page, "other-learner")
    assert one["BANKU_HUB_PASSWORD"] != two["BANKU_HUB_PASSWORD"]
    servers = _servers()
    assert servers["learner-02"][1] == pwd.getpwnam(system_user("learner-02")).pw_uid != 0


def test_a_late_arrival_gets_a_user_and_a_login(room, page):
    added = banku(ROOM, "workshop", "add", "--learners", "1", timeout=300)
    assert added.returncode == 0, added.stdout + added.stderr
    env = env_of(room, "learner-03")
    user = pwd.getpwnam(system_user("learner-03"))
    assert stat.S_IMODE(Path(user.pw_dir).stat().st_mode) == 0o700
    log_in(page, "learner-03", env["BANKU_HUB_PASSWORD"])  # no restart of the hub
    page.wait_for_url(re.compile(r".*/user/learner-03/.*"), timeout=240_000)
    wait_until(lambda: "learner-03" in _servers(), 120, "learner-03's server")
    assert _servers()["learner-03"][1] == user.pw_uid


def test_a_restarted_room_keeps_the_learners_work(room):
    work = Path(f"/home/{system_user('learner-01')}/banku/notebooks/mine.txt")
    work.write_text("my notes\n")
    down = banku(ROOM, "workshop", "down", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not _servers() and work.exists()
    up = banku(ROOM, "workshop", "up", "--learners", "2", "--out", str(room), timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr  # the hub comes back with the room
    assert work.read_text() == "my notes\n"
    context = ssl.create_default_context(cafile=str(room / "room-ca.pem"))
    import urllib.request

    with urllib.request.urlopen(f"{HUB}hub/api/", context=context, timeout=10) as answer:
        assert answer.status == 200
