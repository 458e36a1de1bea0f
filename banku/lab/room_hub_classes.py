"""The room's login and spawner, loaded by JupyterHub itself (from the config that
`banku.lab.room_hub` writes): only the hub's process imports this module, and JupyterHub with it.

`RoomAuthenticator`: a learner's password, checked against the salted hashes of the room's
passwords file (root's, 0600). `RoomSpawner`: JupyterHub's LocalProcessSpawner, run as the
learner's own system user (``banku-<port>-learner-NN``) with that learner's env file in its
environment, and limits of its own (processes, memory per process, file size) that a learner's
fork bomb, runaway cell or huge file meets before the room's machine does.
"""

from __future__ import annotations

import pwd
import resource
from pathlib import Path

from jupyterhub.auth import Authenticator
from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Integer, Unicode

from banku.config import ENV_FILE_VAR, read_env_file
from banku.lab.room_hub import check_login


class RoomAuthenticator(Authenticator):
    passwords_file = Unicode(config=True, help="the room's hashed hub passwords (JSON)")

    async def authenticate(self, handler, data):  # JupyterHub's API
        name = (data or {}).get("username", "").strip().lower()
        password = (data or {}).get("password", "")
        if name and password and check_login(Path(self.passwords_file), name, password):
            return name
        self.log.warning("Failed room login for %r", name)
        return None


class RoomSpawner(LocalProcessSpawner):
    user_prefix = Unicode("", config=True, help="system user = prefix + hub user name")

    max_processes = Integer(0, config=True, help="RLIMIT_NPROC: processes and threads of the"
                            " learner's system user (0: no limit)")
    max_data_bytes = Integer(0, config=True, help="RLIMIT_DATA: memory of each process")
    max_file_bytes = Integer(0, config=True, help="RLIMIT_FSIZE: size of each file written")

    @property
    def system_user(self) -> str:
        return self.user_prefix + self.user.name

    def make_preexec_fn(self, name):
        become = set_user_setuid(self.system_user)
        asked = ((resource.RLIMIT_NPROC, self.max_processes),
                 (resource.RLIMIT_DATA, self.max_data_bytes),
                 (resource.RLIMIT_FSIZE, self.max_file_bytes))
        limits = [(which, value) for which, value in asked if value]
        limits.append((resource.RLIMIT_CORE, 0))  # no core dumps of a learner's memory

        def preexec() -> None:  # in the child, as root, before it becomes the learner
            for which, value in limits:
                resource.setrlimit(which, (value, value))  # hard too: theirs to lower only
            become()

        return preexec

    def user_env(self, env):
        user = pwd.getpwnam(self.system_user)
        env["USER"] = user.pw_name
        env["HOME"] = user.pw_dir
        env["SHELL"] = user.pw_shell or "/bin/bash"
        # The learner's settings and no one else's: their own env file, in their home.
        env_file = Path(user.pw_dir) / f"{self.user.name}.env"
        if env_file.is_file():
            env.update(read_env_file(env_file))
            env[ENV_FILE_VAR] = str(env_file)
        return env
