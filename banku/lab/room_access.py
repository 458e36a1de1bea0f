"""Who may use what in a workshop room: each learner's Kafka ACLs and Redis ACL user, and
adding them to the running servers (`banku.lab.room` decides who the learners are).

Learner ``learner-07`` owns the names starting with ``learner-07.`` or ``learner-07-`` (their
namespace and its sub-namespaces, such as a notebook's ``learner-07-nb01``); the separator
matters, so that ``learner-07`` does not own ``learner-070.banku-transactions``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from ..config import Settings
from ..errors import StackError
from ..stack.kafka_config import INSTRUCTOR_USER
from ..stack.processes import ROOM_DATABASES


def new_password() -> str:
    return secrets.token_urlsafe(18)  # 24 characters of [A-Za-z0-9_-]: safe in URLs and files


@dataclass
class Login:
    kafka: str
    redis: str

    @classmethod
    def new(cls) -> Login:
        return cls(new_password(), new_password())


# The Redis commands the kit needs (the view, its Lua step, resets of one's own namespace), and
# nothing that reaches beyond one's keys: no KEYS, FLUSHALL, CONFIG, CLIENT KILL, SCRIPT FLUSH,
# MONITOR, DEBUG ... SCAN lists the names of every key of a database whatever the ACL says, so
# each learner works in a database of their own (`learner_database`) and may SELECT only that.
LEARNER_REDIS_COMMANDS = [
    "+scan",
    "+ping", "+echo", "+client|setname", "+client|getname", "+client|id", "+hello",
    "+hget", "+hgetall", "+hset", "+hsetnx", "+hincrby", "+hmget", "+hexists", "+hdel",
    "+hkeys", "+hlen", "+hvals",
    "+sadd", "+srem", "+smembers", "+sismember", "+scard",
    "+get", "+set", "+setnx", "+getdel", "+incr", "+incrby", "+mget", "+expire", "+ttl",
    "+del", "+unlink", "+exists", "+type",
    "+eval", "+evalsha", "+script|load", "+script|exists", "+@transaction",
]


def owned_prefixes(name: str) -> list[str]:
    """The name prefixes a learner owns: their namespace and its sub-namespaces."""
    return [f"{name}.", f"{name}-"]


def redis_key_patterns(name: str) -> list[str]:
    return [f"~{name}:*", f"~{name}-*"]


def kafka_acls(name: str) -> list:
    """The ACLs of one learner: prefixed, for their namespace and its sub-namespaces.

    DESCRIBE is implied by each of these operations. Nothing on the cluster is granted: clients
    need none (an idempotent producer needs only WRITE on a topic since Kafka 3).
    """
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    grants = [
        # DESCRIBE_CONFIGS: notebook 01 shows a topic's retention.ms and cleanup.policy.
        (ResourceType.TOPIC, [ACLOperation.CREATE, ACLOperation.DELETE, ACLOperation.READ,
                              ACLOperation.WRITE, ACLOperation.DESCRIBE_CONFIGS]),
        (ResourceType.GROUP, [ACLOperation.READ, ACLOperation.DELETE]),
        (ResourceType.TRANSACTIONAL_ID, [ACLOperation.WRITE]),
    ]
    return [ACL(f"User:{name}", "*", operation, ACLPermissionType.ALLOW,
                ResourcePattern(kind, prefix, ACLResourcePatternType.PREFIXED))
            for prefix in owned_prefixes(name) for kind, operations in grants
            for operation in operations]


# A room's Redis has this many databases (`redis-server --databases`, started by the stack).


def learner_database(name: str) -> int:
    """``learner-07`` works in Redis database 7 (the instructor in 0)."""
    number = int(name.rsplit("-", 1)[1])
    if not 0 < number < ROOM_DATABASES:
        raise StackError(f"A room has room for {ROOM_DATABASES - 1} learners, not {number}.")
    return number


def redis_acl_rules(name: str, password: str) -> list[str]:
    return ["reset", "on", f">{password}", *redis_key_patterns(name), "resetchannels", "-@all",
            *LEARNER_REDIS_COMMANDS, f"+select|{learner_database(name)}"]


def initial_acl_file(instructor_redis_password: str) -> str:
    """users.acl before redis-server first starts: no default user, the instructor may do all."""
    digest = hashlib.sha256(instructor_redis_password.encode()).hexdigest()
    return ("user default off resetchannels -@all\n"
            f"user {INSTRUCTOR_USER} on #{digest} ~* &* +@all\n")


def add_logins(instructor: Settings, logins: dict[str, Login]) -> None:
    """Create (or update) the learners' Kafka users, their ACLs and their Redis users; every
    answer is checked, since the admin API reports failures instead of raising them."""
    import redis
    from kafka import KafkaAdminClient
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    from ..diagnostics import kafka_errors, redis_errors

    if not logins:
        return
    with kafka_errors(instructor, "the room's users"):
        admin = KafkaAdminClient(**instructor.kafka_options(), request_timeout_ms=30_000)
        try:
            answers = admin.alter_user_scram_credentials([
                UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_256, login.kafka)
                for name, login in logins.items()])
            failed = {user: error for user, error in answers.items() if error}
            if failed or set(answers) != set(logins):
                raise StackError(f"Kafka did not create the learners' logins: {failed or answers}")
            created = admin.create_acls([acl for name in logins for acl in kafka_acls(name)])
            if created.get("failed"):
                raise StackError(f"Kafka refused some ACLs: {created['failed'][:3]}")
        finally:
            admin.close()
    client = redis.Redis.from_url(instructor.redis_url, socket_timeout=30)
    try:
        with redis_errors(instructor, "the room's Redis users"):
            for name, login in logins.items():
                client.execute_command("ACL", "SETUSER", name, *redis_acl_rules(name, login.redis))
            client.execute_command("ACL", "SAVE")  # into users.acl: kept across restarts
    finally:
        client.close()
