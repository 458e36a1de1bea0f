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

from banku.config import Settings
from banku.errors import StackError
from banku.stack.kafka_config import INSTRUCTOR_USER
from banku.stack.processes import ROOM_DATABASES


def new_password() -> str:
    return secrets.token_urlsafe(18)  # 24 characters of [A-Za-z0-9_-]: safe in URLs and files


@dataclass
class Login:
    kafka: str
    redis: str
    hub: str = ""  # the JupyterHub login's (banku workshop up --hub); "" in rooms made before

    @classmethod
    def new(cls) -> Login:
        return cls(new_password(), new_password(), new_password())


# The Redis commands the kit needs (the view, its Lua step, resets of one's own namespace), and
# nothing that reaches beyond one's keys: no KEYS, FLUSHALL, CONFIG, CLIENT KILL, SCRIPT FLUSH,
# MONITOR, DEBUG ... SCAN lists the names of every key of a database whatever the ACL says, so
# each learner works in a database of their own (`learner_database`) and may SELECT only that.
# No EVAL, EVALSHA, SCRIPT or FUNCTION LOAD either: one endless loop would freeze Redis for
# everyone (a script that wrote a key cannot even be killed). The kit's Lua steps are functions
# that `banku workshop up` loads (banku.adapters.redis.view.LIBRARY); learners call them with FCALL.
LEARNER_REDIS_COMMANDS = [
    "+scan",
    "+ping", "+echo", "+client|setname", "+client|getname", "+client|id", "+hello",
    "+hget", "+hgetall", "+hset", "+hsetnx", "+hincrby", "+hmget", "+hexists", "+hdel",
    "+hkeys", "+hlen", "+hvals",
    "+sadd", "+srem", "+smembers", "+sismember", "+smismember", "+scard",
    "+get", "+set", "+setnx", "+getdel", "+incr", "+incrby", "+mget", "+expire", "+ttl",
    "+del", "+unlink", "+exists", "+type",
    "+fcall", "+@transaction",
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


# A room's Redis has ROOM_DATABASES databases (`redis-server --databases`, started by the
# stack). A connection starts in database 0 before its SELECT, so nobody keeps anything there: the
# instructor works in the last database, each learner in the one of their number.
INSTRUCTOR_DATABASE = ROOM_DATABASES - 1


def learner_database(name: str) -> int:
    """``learner-07`` works in Redis database 7 (the instructor in `INSTRUCTOR_DATABASE`)."""
    number = int(name.rsplit("-", 1)[1])
    if not 0 < number < INSTRUCTOR_DATABASE:
        raise StackError(f"A room has room for {INSTRUCTOR_DATABASE - 1} learners, not {number}.")
    return number


def redis_acl_rules(name: str, password: str) -> list[str]:
    return ["reset", "on", f">{password}", *redis_key_patterns(name), "resetchannels", "-@all",
            *LEARNER_REDIS_COMMANDS, f"+select|{learner_database(name)}"]


def default_user_rules(password: str) -> list[str]:
    """The default user: on, with a random password nobody is given, allowed everything.

    Not ``user default off``: Redis 7.0 checks each MULTI/EXEC block of its append-only file
    against the default user's permissions when it loads the file, and throws away every block
    that user may not run (redis/redis#14541), and Redis logs scripts' effects as such blocks.
    A room restarted with the default user off came back with every view and every `forget`
    lost. Nobody logs in as this user: its password lives only in room.json (0600).
    """
    digest = hashlib.sha256(password.encode()).hexdigest()
    return ["reset", "on", f"#{digest}", "~*", "&*", "+@all"]


def initial_acl_file(instructor_redis_password: str, default_password: str) -> str:
    """users.acl before redis-server first starts: a default user nobody logs in as (see
    `default_user_rules`), the instructor may do all."""
    digest = hashlib.sha256(instructor_redis_password.encode()).hexdigest()
    default = " ".join(rule for rule in default_user_rules(default_password) if rule != "reset")
    return (f"user default {default}\n"
            f"user {INSTRUCTOR_USER} on #{digest} ~* &* +@all\n")


def upgrade_acl_file(text: str, default_password: str) -> str:
    """users.acl of a room made with ``user default off``, with the default user of today."""
    default = " ".join(rule for rule in default_user_rules(default_password) if rule != "reset")
    return "".join(f"user default {default}\n" if line.startswith("user default ") else line
                   for line in text.splitlines(keepends=True))


def prepare_redis(instructor: Settings, default_password: str) -> None:
    """What the room's Redis needs before anyone works in it: the default user of
    `default_user_rules` (a room made with it off gets it now) and the kit's functions
    (FUNCTION LOAD, which learners may not run). `add_logins` saves the users next."""
    import redis

    from banku.adapters.redis.view import load_library
    from banku.diagnostics import redis_errors

    client = redis.Redis.from_url(instructor.redis_url, socket_timeout=30,
                                  **instructor.redis_options())
    try:
        with redis_errors(instructor, "the room's Redis"):
            client.execute_command("ACL", "SETUSER", "default",
                                   *default_user_rules(default_password))
            try:
                load_library(client)
            except redis.ResponseError as exc:
                if "unknown command" not in str(exc).lower():
                    raise
                raise StackError(
                    f"The redis-server at {instructor.redis_location()} is older than 7: a room"
                    " needs Redis 7 or newer, whose functions let learners run the kit's Lua"
                    " step without running scripts of their own. Install a newer redis-server"
                    " (`sudo apt-get install -y redis-server` on Debian 12 or Ubuntu 24.04)."
                ) from None
    finally:
        client.close()


# What one learner may take of the broker (Kafka's client quotas, on each learner's user): bytes
# produced and fetched per second, the share of one broker thread their requests may keep busy,
# and partitions created or deleted per second (a burst of about eleven seconds' worth is allowed,
# so a notebook's reset deletes and re-creates its topics unthrottled). Over a quota, the broker
# delays that learner's answers (or refuses topic creations beyond the rate); nobody else waits.
LEARNER_QUOTAS = {
    "producer_byte_rate": 4 * 1024 * 1024,
    "consumer_byte_rate": 16 * 1024 * 1024,
    "request_percentage": 50,
    "controller_mutation_rate": 10,
}


def set_quotas(admin, names: list[str]) -> None:  # a KafkaAdminClient
    """`LEARNER_QUOTAS` on each of these users, in one AlterClientQuotas request.

    kafka-python has the request but no admin method for it: it is sent through the admin
    client's connection (`banku.adapters.kafka.compat.admin_request`).
    """
    from kafka.protocol.admin import AlterClientQuotasRequest

    entry, entity, op = (AlterClientQuotasRequest.EntryData,
                         AlterClientQuotasRequest.EntryData.EntityData,
                         AlterClientQuotasRequest.EntryData.OpData)
    request = AlterClientQuotasRequest(
        entries=[entry(entity=[entity(entity_type="user", entity_name=name)],
                       ops=[op(key=key, value=float(value), remove=False)
                            for key, value in LEARNER_QUOTAS.items()])
                 for name in names],
        validate_only=False)

    from banku.adapters.kafka.compat import admin_request

    answer = admin_request(admin, request)
    failed = {e.entity[0].entity_name: e.error_message or e.error_code
              for e in answer.entries if e.error_code}
    if failed:
        raise StackError(f"Kafka did not set the learners' quotas: {failed}")


def add_logins(instructor: Settings, logins: dict[str, Login]) -> None:
    """Create (or update) the learners' Kafka users, their ACLs and their Redis users; every
    answer is checked, since the admin API reports failures instead of raising them."""
    import redis
    from kafka import KafkaAdminClient
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    from banku.diagnostics import kafka_errors, redis_errors

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
            set_quotas(admin, list(logins))
        finally:
            admin.close()
    client = redis.Redis.from_url(instructor.redis_url, socket_timeout=30,
                                  **instructor.redis_options())
    try:
        with redis_errors(instructor, "the room's Redis users"):
            for name, login in logins.items():
                client.execute_command("ACL", "SETUSER", name, *redis_acl_rules(name, login.redis))
            client.execute_command("ACL", "SAVE")  # into users.acl: kept across restarts
    finally:
        client.close()
