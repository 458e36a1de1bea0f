"""Tools for a room of learners on one cluster: namespaces, resets, dead letters.

A namespace owns: its topic (``ns.banku-transactions``), its dead-letter topic (``... .dlq``), its
consumer groups (``ns.*``) and its Redis keys (``ns:*``). Resetting a namespace deletes exactly
those and nothing of anybody else's.
"""

from __future__ import annotations

from dataclasses import replace

from .config import _NAMESPACE_RE, Settings
from .kafka_io import admin_client, delete_topics, list_topics, make_reader, read_to_end
from .read_model import ReadModel


def _delete_groups(settings: Settings, namespace: str) -> list[str]:
    prefix = f"{namespace}." if namespace else ""
    with admin_client(settings) as admin:
        groups = [g["group_id"] for g in admin.list_groups()]
        mine = [g for g in groups if (g.startswith(prefix) if prefix else "." not in g)
                and "banku" in g]
        if mine:
            try:
                admin.delete_groups(mine)
            except Exception:  # noqa: BLE001 - a group with live members cannot be deleted
                pass
    return mine


def reset_namespace(settings: Settings) -> str:
    """Delete one namespace's topics, consumer groups and Redis view."""
    topics = delete_topics(settings, [settings.topic_name, settings.dlq_topic])
    groups = _delete_groups(settings, settings.namespace)
    view = ReadModel(settings)
    try:
        accounts = view.wipe()
    finally:
        view.close()
    name = settings.namespace or "(default)"
    return (f"Reset namespace {name}: deleted {len(topics)} topic(s), {len(groups)} group(s),"
            f" {accounts} account(s) from Redis.")


def namespace_of_topic(topic: str, base_topic: str) -> str | None:
    """The namespace a topic belongs to (``''`` for the default), or None if it is not banku's.

    ``alice.banku-transactions`` and ``alice.banku-transactions.dlq`` belong to ``alice``; a
    topic with another name, or whose head is not a valid namespace, belongs to nobody.
    """
    ours = (base_topic, f"{base_topic}.dlq")
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


def namespaces(settings: Settings) -> list[str]:
    """Every namespace that has a topic or a Redis view on this cluster ('' is the default)."""
    found: set[str] = set()
    for topic in list_topics(settings):
        namespace = namespace_of_topic(topic, settings.topic)
        if namespace is not None:
            found.add(namespace)
    view = ReadModel(settings.with_namespace(""))
    try:
        for key in view.redis.scan_iter(match="*banku:*", count=1000):
            namespace = namespace_of_key(key)
            if namespace is not None:
                found.add(namespace)
    finally:
        view.close()
    return sorted(found)


def reset_all(settings: Settings) -> list[str]:
    """The instructor's reset between cohorts: every namespace on the cluster."""
    return [reset_namespace(replace(settings, namespace=ns)) for ns in namespaces(settings)]


def dead_letters(settings: Settings) -> list[dict[str, object]]:
    """The records the projector refused, with the reason and where they came from."""
    if settings.dlq_topic not in list_topics(settings):
        return []
    reader = make_reader(settings)
    letters: list[dict[str, object]] = []
    try:
        for records in read_to_end(reader, {}, settings.dlq_topic):
            for record in records:
                headers = {k: v.decode(errors="replace") for k, v in record.headers or []}
                letters.append({
                    "source": headers.get("banku.source", "?"),
                    "reason": headers.get("banku.reason", "?"),
                    "value": record.value,
                    "offset": record.offset,
                })
    finally:
        reader.close()
    return letters
