"""A room served by JupyterHub: ``banku workshop up ... --hub [--hub-port P]``.

What the hub adds to a room, the way The Littlest JupyterHub does it on one machine:

- one hub login per learner, ``learner-NN``, whose password (``BANKU_HUB_PASSWORD``) is written
  in that learner's env file beside ``BANKU_HUB_URL``; the hub keeps only salted scrypt hashes,
  in a file only root reads (`RoomAuthenticator`, in `banku.lab.room_hub_classes`);
- one system user per learner (``banku-<kafka port>-learner-NN``: two rooms on one machine
  never share one), made with ``useradd``, whose home (mode 0700) holds a copy of the learner
  edition, the learner's env file and the room's CA; the learner's JupyterLab runs as that user
  (`RoomSpawner`), with that learner's settings in its environment and no one else's;
- the room's own files stay root's: the stack's folder (``room.json``, the hub's database and
  this config) lives under root's home, the env files' folder is 0700.

The hub runs as root (it switches to each learner's user to start their server), so ``--hub``
needs root. Its proxy, ``configurable-http-proxy``, comes from npm into the kit's cache
(`ensure_proxy`). No secret is ever on a command line: the hub reads them from its config file
(0600) and gives the proxy its token through the environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pwd
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from banku.config import Settings
from banku.errors import StackError
from banku.stack.plan import StackPlan, banku_home, private_dir, write_private

Log = Callable[[str], None]

DEFAULT_HUB_PORT = 8000  # JupyterHub's own default
# Each learner's server and kernels, as their system user (`RoomSpawner`): threads count as
# processes for RLIMIT_NPROC (a server with notebook 00's kernel measured 22 of them).
LEARNER_LIMITS = {"max_processes": 1024, "max_data_bytes": 4 * 1024**3,
                  "max_file_bytes": 2 * 1024**3}
PROXY_PACKAGE = "configurable-http-proxy@4.6.3"  # JupyterHub's proxy, from npm
PROXY_DIR = "hub-proxy"  # under the kit's cache (banku_home)
HOMES = Path("/home")
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class Hub:
    """Where a room's hub keeps its files and which ports it uses: ``port`` for the learners'
    browsers, the next two (on 127.0.0.1 only) for the proxy's and the hub's own APIs."""

    directory: Path
    kafka_port: int
    port: int
    listen: str  # 127.0.0.1, or every interface for a room open to other machines
    address: str  # what the learners' browsers use
    tls: bool
    tls_dir: Path

    @classmethod
    def of(cls, plan: StackPlan, port: int, host: str) -> Hub:
        return cls(plan.directory / "hub", plan.kafka_port, port,
                   "0.0.0.0" if host else "127.0.0.1", host or "127.0.0.1",
                   plan.tls, plan.tls_dir)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}:{self.port}/"

    @property
    def local_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    @property
    def config_file(self) -> Path:
        return self.directory / "jupyterhub_config.py"

    @property
    def passwords_file(self) -> Path:
        return self.directory / "passwords.json"

    @property
    def pid_file(self) -> Path:
        return self.directory / "hub.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "hub.log"

    @property
    def user_prefix(self) -> str:
        return f"banku-{self.kafka_port}-"

    def system_user(self, learner: str) -> str:
        return self.user_prefix + learner

    def home(self, learner: str) -> Path:
        return HOMES / self.system_user(learner)


def hub_url(settings: Settings, host: str, port: int) -> str:
    """``BANKU_HUB_URL``: HTTPS in a --tls room (with the room's certificate)."""
    scheme = "https" if settings.kafka_protocol.endswith("SSL") else "http"
    return f"{scheme}://{host or '127.0.0.1'}:{port}/"


# --- what --hub needs -------------------------------------------------------------------------
def require_root() -> None:
    """One sentence when this process cannot serve a hub."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise StackError(
            "--hub needs root: the room creates a system user per learner (useradd) and the hub"
            " starts each learner's JupyterLab as that user; run `sudo banku workshop up ..."
            " --hub` (or leave out --hub and hand out the env files).")
    if shutil.which("useradd") is None:
        raise StackError("--hub needs useradd (Linux's shadow utilities) to create a user per"
                         " learner: install the passwd package.")


def proxy_path() -> Path | None:
    """``configurable-http-proxy``: the kit's copy (`ensure_proxy`), or one on the PATH."""
    own = banku_home() / PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
    if own.exists():
        return own
    found = shutil.which("configurable-http-proxy")
    return Path(found) if found else None


def ensure_proxy(log: Log = print) -> Path:
    """JupyterHub's proxy, installed once from npm into the kit's cache (never globally)."""
    found = proxy_path()
    if found:
        return found
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise StackError("--hub needs Node.js and npm for JupyterHub's proxy"
                         " (configurable-http-proxy): sudo apt-get install -y nodejs npm.")
    prefix = banku_home() / PROXY_DIR
    prefix.mkdir(parents=True, exist_ok=True)
    log(f"Installing JupyterHub's proxy ({PROXY_PACKAGE}) from npm into {prefix}")
    done = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                           "--no-save", PROXY_PACKAGE], capture_output=True, text=True)
    found = proxy_path()
    if done.returncode != 0 or found is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"npm could not install {PROXY_PACKAGE}: {tail[0]}")
    return found


# --- the learners' Python ------------------------------------------------------------------
def _usable_by_others(path: Path) -> bool:
    """Whether a user other than root may run ``path``: every folder on its way enterable."""
    try:
        real = path.resolve(strict=True)
        return all(p.stat().st_mode & 0o001 for p in [real, *real.parents])
    except OSError:
        return False


def shared_env_dir() -> Path:
    """The learners' shared environment when the kit's own is out of their reach
    (``$BANKU_ROOM_ENV``, or ``/opt/banku/room-env``, as TLJH keeps ``/opt/tljh/user``)."""
    return Path(os.environ.get("BANKU_ROOM_ENV") or "/opt/banku/room-env")


def learners_bin(log: Log = print) -> Path:
    """The ``bin`` folder whose ``jupyterhub-singleuser`` and kernel the learners run: the
    kit's own environment when every learner can run it, else a shared one made from the
    system's Python (a Python under root's home, pyenv's say, is out of their reach)."""
    own = Path(sys.executable).parent
    if _usable_by_others(own / "python") and _usable_by_others(own / "jupyterhub-singleuser"):
        return own
    return ensure_shared_env(log)


def ensure_shared_env(log: Log = print) -> Path:
    """The kit, at the lock's pins (requirements/test.txt: JupyterLab and JupyterHub), in
    `shared_env_dir`, readable by everyone; made once, again only when the lock changed."""
    import banku

    root = Path(banku.__file__).resolve().parents[1]
    locks = [root / "requirements" / "bootstrap.txt", root / "requirements" / "test.txt"]
    if not all(lock.is_file() for lock in locks):
        raise StackError(f"--hub makes the learners' environment from the kit's lock, and"
                         f" {locks[1]} is missing: serve the room from the kit's folder.")
    stamp_text = hashlib.sha256(b"".join(lock.read_bytes() for lock in locks)).hexdigest()
    env = shared_env_dir()
    stamp = env / ".banku-installed"
    if stamp.is_file() and stamp.read_text().strip() == stamp_text \
            and (env / "bin" / "jupyterhub-singleuser").exists():
        return env / "bin"
    base = next((Path(p) for p in ("/usr/bin/python3", "/usr/local/bin/python3")
                 if _usable_by_others(Path(p))), None)
    if base is None:
        raise StackError("--hub needs a Python every learner may run (/usr/bin/python3, 3.10 or"
                         " newer): sudo apt-get install -y python3 python3-venv.")
    log(f"Installing the learners' shared environment in {env} (the lock's pins, once)")
    steps = [[str(base), "-m", "venv", str(env)]] if not (env / "bin" / "python").exists() else []
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q"]
    steps += [pip + ["--require-hashes", "-r", str(locks[0])],
              pip + ["--require-hashes", "-r", str(locks[1])],
              pip + ["--no-deps", "--no-build-isolation", "-e", str(root)]]
    env.parent.mkdir(parents=True, exist_ok=True)
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(f"The learners' environment ({env}) could not be made: {tail[0]}")
    for path in [env, *env.parents]:
        if path == Path("/"):
            break
        path.chmod(path.stat().st_mode | 0o005)  # learners read and run it, never write it
    stamp.write_text(stamp_text + "\n")
    return env / "bin"


# --- logins -----------------------------------------------------------------------------------
def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def password_matches(password: str, stored: str) -> bool:
    try:
        kind, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        salt_bytes = base64.b64decode(salt)
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=salt_bytes, **SCRYPT)
    return hmac.compare_digest(got, expected)


def check_login(passwords_file: Path, name: str, password: str) -> bool:
    """Whether ``password`` is learner ``name``'s hub password (read at each login, so that
    `workshop add` needs no restart of the hub)."""
    try:
        stored = json.loads(passwords_file.read_text()).get(name)
    except (OSError, ValueError):
        return False
    return isinstance(stored, str) and password_matches(password, stored)


def write_passwords(hub: Hub, passwords: dict[str, str]) -> None:
    """Every learner's hashed password; a hash kept when its password did not change."""
    try:
        old = json.loads(hub.passwords_file.read_text())
    except (OSError, ValueError):
        old = {}
    hashes = {name: old[name] if isinstance(old.get(name), str)
              and password_matches(password, old[name]) else hash_password(password)
              for name, password in passwords.items()}
    private_dir(hub.directory)
    write_private(hub.passwords_file, json.dumps(hashes, indent=2) + "\n")


# --- a learner's user and home ----------------------------------------------------------------
def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def build_edition(hub: Hub) -> Path:
    """The learner edition (no solutions, no outputs), built once per start of the hub into
    the hub's folder; each new learner's home gets a copy of it."""
    from banku.lessons.authoring import AuthoringError, learner_edition

    edition = hub.directory / "learner-edition"
    try:
        learner_edition(edition)
    except AuthoringError as exc:
        raise StackError(f"The learner edition could not be built for the learners' homes:"
                         f" {exc}") from None
    return edition


def ensure_learner(hub: Hub, learner: str, env_text: str, ca_text: str, edition: Path,
                   log: Log) -> None:
    """The learner's system user and home: made once; the env file (and CA) written each time,
    the learner edition copied only when the home has none (a restart keeps the work)."""
    name, home = hub.system_user(learner), hub.home(learner)
    if _user(name) is None:
        done = subprocess.run(["useradd", "--create-home", "--home-dir", str(home),
                               "--shell", "/bin/bash", "--user-group",
                               "--comment", f"Banku room {hub.kafka_port} {learner}", name],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise StackError(f"useradd could not create {name}: {done.stderr.strip()}")
    user = _user(name)
    assert user is not None
    home = Path(user.pw_dir)
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, user.pw_uid, user.pw_gid)
    home.chmod(0o700)  # useradd's default may let others in (HOME_MODE); a learner's is theirs
    env_file = home / f"{learner}.env"
    if ca_text:
        ca = home / "room-ca.pem"
        write_private(ca, ca_text)
        os.chown(ca, user.pw_uid, user.pw_gid)
        env_text = "\n".join(
            f"{line.split('=', 1)[0]}={ca}"
            if line.startswith(("KAFKA_SSL_CAFILE=", "REDIS_SSL_CA_CERTS=")) else line
            for line in env_text.splitlines()) + "\n"
    write_private(env_file, env_text)
    os.chown(env_file, user.pw_uid, user.pw_gid)
    work = home / "banku"
    if not work.exists():
        shutil.copytree(edition, work)
        _chown_tree(work, user.pw_uid, user.pw_gid)
        log(f"{learner}: user {name}, the learner edition in {work}")


def remove_learner(hub: Hub, learner: str, log: Log) -> None:
    """``workshop down --wipe``: the learner's user and home go (their work with them)."""
    name = hub.system_user(learner)
    if _user(name) is None:
        return
    done = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
    if done.returncode not in (0, 12):  # 12: the home was not there to remove
        log(f"userdel could not remove {name}: {done.stderr.strip()}")
    else:
        log(f"Removed {learner}'s user {name} and its home")


# --- the hub's config, start and stop ---------------------------------------------------------
def config_text(hub: Hub, proxy: Path, learners: Path) -> str:
    """The hub's config (written 0600): every secret it needs is in files it reads itself.
    ``learners``: the bin folder of the learners' environment (`learners_bin`)."""
    lines = [
        "# Written by `banku workshop up --hub`: written again at each start.",
        "c = get_config()  # noqa: F821",
        "from banku.lab.room_hub_classes import RoomAuthenticator, RoomSpawner",
        f"c.JupyterHub.bind_url = {hub.local_url.replace('127.0.0.1', hub.listen)!r}",
        "c.JupyterHub.hub_ip = '127.0.0.1'",
        f"c.JupyterHub.hub_port = {hub.port + 2}",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{hub.port + 1}'",
        f"c.ConfigurableHTTPProxy.command = [{str(proxy)!r}]",
        f"c.ConfigurableHTTPProxy.pid_file = {str(hub.directory / 'proxy.pid')!r}",
        f"c.JupyterHub.db_url = 'sqlite:///{hub.directory / 'jupyterhub.sqlite'}'",
        f"c.JupyterHub.cookie_secret_file = {str(hub.directory / 'cookie_secret')!r}",
        "c.JupyterHub.authenticator_class = RoomAuthenticator",
        f"c.RoomAuthenticator.passwords_file = {str(hub.passwords_file)!r}",
        "c.Authenticator.allow_all = True  # whoever has a room password; no one else logs in",
        "c.JupyterHub.spawner_class = RoomSpawner",
        f"c.RoomSpawner.user_prefix = {hub.user_prefix!r}",
        f"c.Spawner.cmd = [{str(learners / 'jupyterhub-singleuser')!r}]",
        "c.Spawner.ip = '127.0.0.1'",
        # the learners' own environment first: `banku` and `python` in a terminal are theirs
        f"c.Spawner.environment = {{'PATH': {f'{learners}:/usr/local/bin:/usr/bin:/bin'!r}}}",
        "c.Spawner.default_url = '/lab/tree/banku/notebooks'",
        "c.Spawner.start_timeout = 180",  # a busy room's machine starts servers slowly
        "c.Spawner.http_timeout = 180",
        "c.JupyterHub.shutdown_on_logout = False",
        *(f"c.RoomSpawner.{name} = {value}" for name, value in LEARNER_LIMITS.items()),
    ]
    if hub.tls:
        lines += [f"c.JupyterHub.ssl_cert = {str(hub.tls_dir / 'server.crt')!r}",
                  f"c.JupyterHub.ssl_key = {str(hub.tls_dir / 'server.key')!r}"]
    return "\n".join(lines) + "\n"


def _pid(hub: Hub) -> int:
    """The running hub's process id, 0 when none runs."""
    try:
        pid = int(hub.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return 0
    return pid if b"jupyterhub" in cmdline else 0


def _context(hub: Hub) -> ssl.SSLContext | None:
    if not hub.tls:
        return None
    return ssl.create_default_context(cafile=str(hub.tls_dir / "ca.pem"))


def answers(hub: Hub) -> bool:
    try:
        with urllib.request.urlopen(hub.local_url + "hub/api/", timeout=3,
                                    context=_context(hub)) as answer:
            return answer.status == 200
    except OSError:
        return False


def _log_tail(hub: Hub, lines: int = 5) -> str:
    try:
        text = hub.log_file.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:])


def start(hub: Hub, log: Log = print, timeout: float = 120.0) -> None:
    """Start the hub unless it runs; wait until it answers."""
    if _pid(hub):
        if answers(hub):
            return
        stop(hub, log=lambda line: None)
    proxy = ensure_proxy(log)
    learners = learners_bin(log)
    private_dir(hub.directory)
    write_private(hub.config_file, config_text(hub, proxy, learners))
    venv_bin = Path(sys.executable).parent
    # A clean environment: nothing of the instructor's (their logins) reaches the hub or,
    # through it, a learner's server.
    env = {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "HOME": str(hub.directory), "BANKU_HOME": str(banku_home())}
    with hub.log_file.open("ab") as out:
        os.chmod(hub.log_file, 0o600)
        process = subprocess.Popen([str(venv_bin / "jupyterhub"), "-f", str(hub.config_file)],
                                   cwd=hub.directory, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    write_private(hub.pid_file, f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while not answers(hub):
        if process.poll() is not None:
            raise StackError(f"JupyterHub exited at its start: {_log_tail(hub)}"
                             f" (the whole log: {hub.log_file})")
        if time.monotonic() > deadline:
            raise StackError(f"JupyterHub did not answer at {hub.local_url} within"
                             f" {timeout:.0f}s: {_log_tail(hub)}")
        time.sleep(0.5)
    log(f"JupyterHub at {hub.url} (a login per learner: learner-NN, BANKU_HUB_PASSWORD in"
        " their env file)")


def stop(hub: Hub, log: Log = print, timeout: float = 60.0) -> None:
    """Stop the hub; it stops the learners' servers and its proxy first. Their homes stay."""
    pid = _pid(hub)
    if not pid:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid(hub) and time.monotonic() < deadline:
        try:  # reap it when it is our child (a test starts and stops the room in one process)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.3)
    if _pid(hub):
        os.killpg(pid, signal.SIGKILL)
    hub.pid_file.unlink(missing_ok=True)
    log("JupyterHub stopped")
