"""A workshop room on one cluster, securely: a login per learner, and ACLs so that each learner
can use only their own namespace.

``banku workshop up --learners N --out DIR`` starts a stack (where KAFKA_BOOTSTRAP_SERVERS and
REDIS_URL say) whose Kafka takes SCRAM-SHA-256 logins and authorizes every request
(``StandardAuthorizer``, nothing allowed that no ACL allows), and whose Redis has no default
user, only one ACL user per learner plus the instructor. It writes ``DIR/learner-NN.env`` for
each learner and ``DIR/instructor/instructor.env`` (mode 0600, random passwords; the instructor's
file sits in a folder of its own, so that handing out the learners' files never hands it out too).

What learner ``learner-07`` may use: their namespace ``learner-07`` and its sub-namespaces
``learner-07-*`` (each notebook works in ``learner-07-nb01``, ``learner-07-nb02`` ...), that is
Kafka topics, consumer groups and transactional ids whose names start with ``learner-07.`` or
``learner-07-``, and Redis keys matching ``learner-07:*`` or ``learner-07-*``, with only the
Redis commands the kit uses. The separator after the name matters: ``learner-07`` must not
own ``learner-070.banku-transactions``. Nobody may list other learners' keys (no SCAN, no KEYS).

The room's passwords live in ``room.json`` beside the stack's data (mode 0600); the stack modules
read it to start the broker with the right logins (`banku.stack.plan.RoomKeys`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from banku.config import Settings
from banku.errors import StackError
from banku.lab.room_access import (
    INSTRUCTOR_DATABASE,
    Login,
    add_logins,
    initial_acl_file,
    learner_database,
    new_password,
    prepare_redis,
    upgrade_acl_file,
)
from banku.stack.kafka_config import INSTRUCTOR_USER, ROOM_MECHANISM
from banku.stack.plan import StackPlan, private_dir

if TYPE_CHECKING:
    from banku.lab.room_status import RoomStatus

Log = Callable[[str], None]

def learner_name(number: int) -> str:
    """``learner-07``; three digits from the hundredth learner on (``learner-100``)."""
    return f"learner-{number:02d}"


@dataclass
class RoomFile:
    """What `up` made, kept beside the stack's data: passwords, learners, where the files went."""

    admin_password: str
    controller_password: str
    instructor: Login
    learners: dict[str, Login] = field(default_factory=dict)
    out: str = ""
    host: str = ""  # the address learners' machines use; empty: this machine only
    # Redis's default user's: nobody logs in with it (banku.lab.room_access.default_user_rules)
    redis_default_password: str = ""
    hub_port: int = 0  # the room's JupyterHub (--hub), 0: none

    @classmethod
    def new(cls) -> RoomFile:
        return cls(new_password(), new_password(), Login.new(),
                   redis_default_password=new_password())

    @classmethod
    def load(cls, plan: StackPlan) -> RoomFile | None:
        try:
            data = json.loads(plan.room_file.read_text())
        except (OSError, ValueError):
            return None
        return cls(data["admin_password"], data["controller_password"],
                   Login(**data["instructor"]),
                   {name: Login(**login) for name, login in data.get("learners", {}).items()},
                   data.get("out", ""), data.get("host", ""),
                   data.get("redis_default_password", ""), int(data.get("hub_port", 0)))

    def save(self, plan: StackPlan) -> None:
        private_dir(plan.directory)
        data = {"admin_password": self.admin_password,
                "controller_password": self.controller_password,
                "instructor": vars(self.instructor),
                "learners": {name: vars(login) for name, login in self.learners.items()},
                "out": self.out, "host": self.host,
                "redis_default_password": self.redis_default_password,
                "hub_port": self.hub_port}
        _write_private(plan.room_file, json.dumps(data, indent=2) + "\n")

    def next_numbers(self, count: int) -> list[int]:
        taken = [int(name.rsplit("-", 1)[1]) for name in self.learners]
        start = max(taken, default=0) + 1
        return list(range(start, start + count))


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


# --- settings for each login ----------------------------------------------------------------------
def _redis_url(settings: Settings, user: str, password: str, database: int | None = None) -> str:
    url = urlparse(settings.redis_url)
    path = f"/{database}" if database is not None else (url.path or "/0")
    return (f"{url.scheme}://{user}:{password}@{url.hostname or '127.0.0.1'}:{url.port or 6379}"
            f"{path}")


def login_settings(settings: Settings, user: str, login: Login, namespace: str = "",
                   host: str = "") -> Settings:
    """The settings a login uses: the room's servers (at ``host`` for other machines), that
    user's passwords, a namespace."""
    if host:
        port = settings.bootstrap_list[0].rpartition(":")[2]
        url = urlparse(settings.redis_url)
        settings = replace(settings, bootstrap_servers=f"{host}:{port}",
                           redis_url=f"{url.scheme}://{host}:{url.port or 6379}{url.path}")
    database = learner_database(user) if user != INSTRUCTOR_USER else INSTRUCTOR_DATABASE
    # A room started with --tls: the login travels inside TLS (SASL_SSL).
    protocol = "SASL_SSL" if settings.kafka_protocol.endswith("SSL") else ""
    return replace(settings, kafka_username=user, kafka_password=login.kafka,
                   kafka_mechanism=ROOM_MECHANISM, kafka_security_protocol=protocol,
                   redis_url=_redis_url(settings, user, login.redis, database), namespace=namespace)


def instructor_settings(settings: Settings, room: RoomFile) -> Settings:
    return login_settings(settings, INSTRUCTOR_USER, room.instructor)


def learner_settings(settings: Settings, room: RoomFile, name: str) -> Settings:
    return login_settings(settings, name, room.learners[name], namespace=name, host=room.host)


def env_file_text(settings: Settings, who: str) -> str:
    lines = [
        f"# Banku workshop room: {who}. Keep it private (it holds passwords). Use it with",
        f"#   set -a; . ./{who}.env; set +a; ./kit lab",
        f"KAFKA_BOOTSTRAP_SERVERS={settings.bootstrap_servers}",
        f"KAFKA_SASL_USERNAME={settings.kafka_username}",
        f"KAFKA_SASL_PASSWORD={settings.kafka_password}",
        f"KAFKA_SASL_MECHANISM={settings.kafka_mechanism}",
        f"REDIS_URL={settings.redis_url}",
        f"BANKU_NAMESPACE={settings.namespace}",
    ]
    if settings.kafka_ssl_cafile:  # a room started with --tls (its CA file beside this one)
        lines += [f"KAFKA_SECURITY_PROTOCOL={settings.kafka_protocol}",
                  f"KAFKA_SSL_CAFILE={settings.kafka_ssl_cafile}",
                  f"REDIS_SSL_CA_CERTS={settings.redis_ssl_ca_certs}"]
    return "\n".join(lines) + "\n"


ROOM_CA_FILE = "room-ca.pem"  # a --tls room's CA, beside the learners' files (not a secret)


def instructor_env_file(out: Path) -> Path:
    """``DIR/instructor/instructor.env``: apart from the learners' files in ``DIR``."""
    return out / INSTRUCTOR_USER / f"{INSTRUCTOR_USER}.env"


def learner_env_text(settings: Settings, room: RoomFile, name: str) -> str:
    """A learner's env file: the room's servers, their logins and, with --hub, their hub's."""
    text = env_file_text(learner_settings(settings, room, name), name)
    if room.hub_port:
        from banku.lab.room_hub import hub_url

        text += (f"BANKU_HUB_URL={hub_url(settings, room.host, room.hub_port)}\n"
                 f"BANKU_HUB_PASSWORD={room.learners[name].hub}\n")
    return text


def write_env_files(settings: Settings, room: RoomFile, out: Path, names: list[str]) -> None:
    private_dir(out)
    if settings.kafka_ssl_cafile:  # --tls: the room's CA goes beside the files that name it
        ca = (out / ROOM_CA_FILE).resolve()
        _write_private(ca, Path(settings.kafka_ssl_cafile).read_text())
        settings = replace(settings, kafka_ssl_cafile=str(ca), redis_ssl_ca_certs=str(ca))
    instructor = login_settings(settings, INSTRUCTOR_USER, room.instructor, host=room.host)
    private_dir(instructor_env_file(out).parent)
    _write_private(instructor_env_file(out), env_file_text(instructor, INSTRUCTOR_USER))
    for name in names:
        _write_private(out / f"{name}.env", learner_env_text(settings, room, name))


def _serve(settings: Settings, room: RoomFile, names: list[str], log: Log) -> None:
    """--hub: the system users and homes of ``names``, every learner's hub login, the hub."""
    from banku.lab import room_hub

    plan = StackPlan.from_settings(_bare(settings))
    hub = room_hub.Hub.of(plan, room.hub_port, room.host)
    for name, login in room.learners.items():
        if not login.hub:  # a learner of a room made before its hub
            room.learners[name] = replace(login, hub=new_password())
    room.save(plan)
    room_hub.write_passwords(hub, {n: login.hub for n, login in room.learners.items()})
    ca = Path(settings.kafka_ssl_cafile).read_text() if settings.kafka_ssl_cafile else ""
    edition = room_hub.build_edition(hub)
    for name in names:
        room_hub.ensure_learner(hub, name, learner_env_text(settings, room, name), ca, edition,
                                log)
    room_hub.start(hub, log)


# --- up, add, down --------------------------------------------------------------------------------
def _bare(settings: Settings) -> Settings:
    """Only where the servers are: whatever login the caller's environment holds is not used."""
    return replace(settings, kafka_username="", kafka_password="", kafka_mechanism="PLAIN",
                   namespace="", redis_url=settings.redis_location())


def _open_room(settings: Settings, learners: int,
               too_few: str) -> tuple[Settings, StackPlan, RoomFile | None]:
    """The room's plan and its file (None when there is no room yet), after checking the count."""
    if learners < 1:
        raise StackError(too_few)
    settings = _bare(settings)
    plan = StackPlan.from_settings(settings)
    return settings, plan, RoomFile.load(plan)


def up(settings: Settings, learners: int, out: Path, log: Log = print,
       host: str | None = None, tls: bool = False, hub: bool = False,
       hub_port: int | None = None) -> RoomFile:
    """Start the secured room (or restart it), with learners 1..``learners``; write the files.

    ``host``: the address other machines reach this one at; the servers then listen on every
    interface and the learner files name that address. None keeps what the room had.
    ``tls``: Kafka speaks only SASL_SSL and Redis only TLS (remembered, as `banku stack up --tls`
    does); the learner files then name the room's CA, copied beside them.
    ``hub``: JupyterHub too, on ``hub_port`` (`banku.lab.room_hub`; remembered, so a restart
    of the room starts it again); it needs root.
    """
    from banku import stack
    from banku.stack.processes import kafka_pid, redis_pid

    settings, plan, room = _open_room(settings, learners,
                                      "A room needs at least one learner (--learners N).")
    if hub_port is not None and not 1024 <= hub_port <= 65533:
        raise StackError(f"--hub-port {hub_port} is not a port the hub can use: give one from"
                         " 1024 to 65533 (the hub also takes the next two).")
    if hub or hub_port or (room is not None and room.hub_port):
        from banku.lab.room_hub import require_root

        require_root()  # before anything starts: one sentence, nothing half made
    if room is None:
        if kafka_pid(plan, 1) or redis_pid(plan) or plan.formatted_brokers():
            raise StackError(
                f"The stack on port {plan.kafka_port} was made without logins; a room starts from"
                " scratch: `banku stack down --wipe` (this deletes its data), then `banku"
                " workshop up` again, or set KAFKA_BOOTSTRAP_SERVERS/REDIS_URL to other ports.")
        room = RoomFile.new()
        room.host = host or ""
        room.save(plan)
        private_dir(plan.redis_dir)
        _write_private(plan.redis_acl_file, initial_acl_file(room.instructor.redis,
                                                             room.redis_default_password))
    if not room.redis_default_password:  # a room made when the default user was off
        room.redis_default_password = new_password()
        room.save(plan)
        if plan.redis_acl_file.exists() and not redis_pid(plan):
            _write_private(plan.redis_acl_file, upgrade_acl_file(
                plan.redis_acl_file.read_text(), room.redis_default_password))
    if host is not None and host != room.host:
        if kafka_pid(plan, 1) or redis_pid(plan):
            raise StackError(
                f"The room on port {plan.kafka_port} runs for {room.host or 'this machine'};"
                " `banku workshop down` first to open it at another address.")
        room.host = host
        room.save(plan)
    stack.up(instructor_settings(settings, room), log=log, tls=tls)
    settings = stack.client_settings(settings)  # over TLS when the room was started with it
    instructor = instructor_settings(settings, room)
    prepare_redis(instructor, room.redis_default_password)
    for number in range(1, learners + 1):
        room.learners.setdefault(learner_name(number), Login.new())
    add_logins(instructor, room.learners)  # idempotent: a restarted room gets them again
    if hub or hub_port:
        from banku.lab.room_hub import DEFAULT_HUB_PORT

        room.hub_port = hub_port or room.hub_port or DEFAULT_HUB_PORT
    room.out = str(out.resolve())
    room.save(plan)
    names = sorted(room.learners)
    if room.hub_port:
        _serve(settings, room, names, log)
    write_env_files(settings, room, out, names)
    where = learner_settings(settings, room, names[0]) if names else settings
    log(f"Workshop room up: Kafka at {where.bootstrap_servers} (SASL/{ROOM_MECHANISM},"
        f" ACLs) and Redis at {where.redis_location()} (a user per learner).")
    log(f"Wrote {len(names)} learner files in {out} ({names[0]}.env ... {names[-1]}.env) and"
        f" {instructor_env_file(out)}, mode 0600. A learner runs: set -a; . ./learner-NN.env;"
        " set +a; ./kit lab")
    return room


def add(settings: Settings, learners: int, out: Path | None = None,
        log: Log = print) -> list[str]:
    """Late arrivals: ``learners`` more logins on the running room, and their files."""
    settings, plan, room = _open_room(settings, learners,
                                      "Add at least one learner (--learners M).")
    if room is None:
        raise StackError(f"No workshop room on port {plan.kafka_port}: start one with"
                         " `banku workshop up --learners N --out DIR`.")
    settings = plan.client_settings(settings)
    new = {learner_name(n): Login.new() for n in room.next_numbers(learners)}
    if room.hub_port:
        from banku.lab.room_hub import require_root

        require_root()
    add_logins(instructor_settings(settings, room), new)
    room.learners.update(new)
    target = out or Path(room.out or "workshop")
    room.out = str(target.resolve())
    room.save(plan)
    if room.hub_port:  # their users and homes; the hub reads the new passwords at each login
        _serve(settings, room, sorted(new), log)
    write_env_files(settings, room, target, sorted(new))
    log(f"Added {', '.join(new)}: their files are in {target}.")
    return list(new)


def down(settings: Settings, wipe: bool = False, log: Log = print) -> None:
    """Stop the room; with ``wipe``, delete its data and the learner files it wrote (their
    passwords would open nothing any more)."""
    from banku import stack

    settings = _bare(settings)
    plan = StackPlan.from_settings(settings)
    room = RoomFile.load(plan)
    if room is not None and room.hub_port:
        from banku.lab import room_hub

        hub = room_hub.Hub.of(plan, room.hub_port, room.host)
        room_hub.stop(hub, log=log)
        if wipe:  # the next cohort starts from fresh users and homes
            for name in sorted(room.learners):
                room_hub.remove_learner(hub, name, log)
    stack.down(settings, log=log, wipe=wipe)
    if wipe and room is not None and room.out:
        out = Path(room.out)
        gone = [instructor_env_file(out), out / f"{INSTRUCTOR_USER}.env",  # (where it once was)
                out / ROOM_CA_FILE,
                *(out / f"{name}.env" for name in room.learners)]
        for path in gone:
            path.unlink(missing_ok=True)
        try:
            instructor_env_file(out).parent.rmdir()
        except OSError:
            pass  # not there, or the instructor keeps something of their own in it
        log(f"Removed the {len(room.learners) + 1} env files from {out}")


def status(settings: Settings) -> RoomStatus | None:
    """The room on the port KAFKA_BOOTSTRAP_SERVERS names, read with the instructor's login it
    keeps: its learners, their topics and projectors' lag, and whether its servers answer.
    None when no room was started on that port."""
    from banku.lab.room_status import room_status

    settings = _bare(settings)
    # The instructor's file of a room opened with --host names that address; the room (and its
    # room.json) is this machine's all the same.
    port = settings.bootstrap_list[0].rpartition(":")[2]
    url = urlparse(settings.redis_url)
    settings = replace(settings, bootstrap_servers=f"127.0.0.1:{port}",
                       redis_url=f"{url.scheme}://127.0.0.1:{url.port or 6379}{url.path}")
    plan = StackPlan.from_settings(settings)
    room = RoomFile.load(plan)
    if room is None:
        return None
    client = plan.client_settings(settings)
    return room_status(client, plan, room, instructor_settings(client, room))
