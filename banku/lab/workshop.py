"""Tools for a room of learners on one cluster: namespaces, resets, dead letters.

A namespace owns: its topics (``ns.banku-transactions`` and its dead letters, ``ns.banku-commands``
with its outcomes and dead letters, ``ns.banku-snapshots``), its consumer groups (``ns.*``) and its
Redis keys (``ns:*``). Resetting a namespace deletes exactly those and nothing of anybody else's.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlparse, urlunparse

import redis
from kafka.admin import NewTopic
from kafka.errors import KafkaError

from banku.adapters.kafka.clients import (
    admin_client,
    delete_topics,
    list_topics,
    make_reader,
    read_to_end,
)
from banku.adapters.redis.view import ReadModel
from banku.config import _NAMESPACE_RE, PARTITIONS, Settings
from banku.diagnostics import kafka_errors, namespace_phrase, not_allowed, redis_errors
from banku.domain.projection import REASON_HEADER, SOURCE_HEADER
from banku.errors import NotAllowed


def _delete_groups(settings: Settings, namespace: str) -> list[str]:
    prefix = f"{namespace}." if namespace else ""
    admin = admin_client(settings)
    try:
        with kafka_errors(settings, f"the groups of namespace {namespace or '(default)'}"):
            groups = [g["group_id"] for g in admin.list_groups()]
            mine = [g for g in groups if (g.startswith(prefix) if prefix else "." not in g)
                    and "banku" in g]
            if mine:
                try:
                    admin.delete_groups(mine)
                except KafkaError:
                    pass  # a group with live members cannot be deleted
    finally:
        admin.close()
    return mine


TOPIC_AUTHORIZATION_FAILED = 29


def check_access(settings: Settings) -> None:
    """Refuse at once, before anything is deleted, a namespace this login may not use.

    Asks the servers, not a naming rule: Redis answers NOPERM for a key of someone else's
    namespace, and Kafka refuses to even validate the creation of someone else's topic (on a
    cluster without ACLs both simply say yes).
    """
    what = namespace_phrase(settings)
    with ReadModel(settings) as view, redis_errors(settings, what):
        view.redis.exists(view.positions_key)
    if not settings.kafka_username:
        return
    admin = admin_client(settings)
    try:
        with kafka_errors(settings, what):
            answer = admin.create_topics([NewTopic(settings.topic_name, PARTITIONS, 1)],
                                         validate_only=True, raise_errors=False)
    finally:
        admin.close()
    if any(t.get("error_code") == TOPIC_AUTHORIZATION_FAILED for t in answer.get("topics", [])):
        raise not_allowed(settings, what)


def reset_namespace(settings: Settings) -> str:
    """Delete one namespace's topics, consumer groups, Redis view and kept keys."""
    check_access(settings)
    topics = delete_topics(settings, settings.topics)
    groups = _delete_groups(settings, settings.namespace)
    with ReadModel(settings) as view:
        accounts = view.wipe()
        with redis_errors(settings, namespace_phrase(settings)):
            try:
                own = list(view.redis.scan_iter(match=f"{settings.key_prefix}banku:*",
                                                count=1000))
            except redis.exceptions.NoPermissionError:
                # A workshop room's learners may not SCAN (it would list everybody's key
                # names): delete the view's own keys by name instead.
                own = list(view.keys)
            if own:
                view.redis.delete(*own)
    name = settings.namespace or "(default)"
    return (f"Reset namespace {name}: deleted {len(topics)} topic(s), {len(groups)} group(s),"
            f" {accounts} account(s) from Redis.")


def namespace_of_topic(topic: str, base_topic: str) -> str | None:
    """The namespace a topic belongs to (``''`` for the default), or None if it is not banku's.

    ``alice.banku-transactions``, ``alice.banku-commands`` ... belong to ``alice``; a
    topic with another name, or whose head is not a valid namespace, belongs to nobody.
    """
    ours = set(Settings(topic=base_topic).topics)
    if topic in ours:
        return ""
    head, dot, rest = topic.partition(".")
    if head and dot and rest in ours and _NAMESPACE_RE.match(head):
        return head
    return None


def namespace_of_key(key: str) -> str | None:
    """The namespace of a Redis key of the view (``alice:banku:positions`` -> ``alice``).

    Only the view's own keys (``[ns:]banku:...``) count. The namespace is what precedes the
    first ``:``, so a namespace whose name contains "banku" is read correctly.
    """
    if key.startswith("banku:"):
        return ""
    head, colon, rest = key.partition(":")
    if head and colon and rest.startswith("banku:") and _NAMESPACE_RE.match(head):
        return head
    return None


def _databases(settings: Settings) -> list[Settings]:
    """The settings of every Redis database that holds keys: a workshop room keeps each learner
    in a database of their own. Asking takes INFO, which only the instructor of a room has."""
    with ReadModel(settings.with_namespace("")) as view, redis_errors(settings):
        try:
            keyspace = view.redis.info("keyspace")
        except redis.exceptions.NoPermissionError:
            who = settings.kafka_username or "this login"
            raise NotAllowed(
                f"not allowed: --all-namespaces lists and resets every learner's namespace,"
                f" which only the instructor may do ({who} may reset only its own)."
            ) from None
    url = urlparse(settings.redis_url)
    current = int(url.path.strip("/") or 0) if url.path.strip("/").isdigit() else 0
    found = {current} | {int(name[2:]) for name in keyspace if name[2:].isdigit()}
    return [replace(settings, redis_url=urlunparse(url._replace(path=f"/{db}")))
            for db in sorted(found)]


def locate(settings: Settings) -> dict[str, Settings]:
    """Every namespace that has a topic or a Redis view on this cluster ('' is the default),
    each with the settings whose Redis database holds its view."""
    found: dict[str, Settings] = {}
    for topic in list_topics(settings):
        namespace = namespace_of_topic(topic, settings.topic)
        if namespace is not None:
            found.setdefault(namespace, settings)
    for database in _databases(settings):
        with ReadModel(database.with_namespace("")) as view, redis_errors(settings):
            for key in view.redis.scan_iter(match="*banku:*", count=1000):
                namespace = namespace_of_key(key)
                if namespace is not None:
                    found[namespace] = database
    return found


def namespaces(settings: Settings) -> list[str]:
    """Every namespace that has a topic or a Redis view on this cluster ('' is the default)."""
    return sorted(locate(settings))


def reset_all(settings: Settings) -> list[str]:
    """The instructor's reset between cohorts: every namespace on the cluster."""
    return [reset_namespace(replace(where, namespace=ns))
            for ns, where in sorted(locate(settings).items())]


def dead_letters(settings: Settings, topic: str | None = None) -> list[dict[str, object]]:
    """The records the projector (or, with ``settings.commands_dlq_topic``, the command handler)
    refused, with the reason and where they came from."""
    check_access(settings)
    topic = topic or settings.dlq_topic
    if topic not in list_topics(settings):
        return []
    reader = make_reader(settings)
    letters: list[dict[str, object]] = []
    try:
        for records in read_to_end(reader, {}, topic):
            for record in records:
                headers = {k: v.decode(errors="replace") for k, v in record.headers or []}
                letters.append({
                    "source": headers.get(SOURCE_HEADER, "?"),
                    "reason": headers.get(REASON_HEADER, "?"),
                    "value": record.value,
                    "offset": record.offset,
                })
    finally:
        reader.close()
    return letters
