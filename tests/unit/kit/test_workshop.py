"""Which namespaces a cluster holds, read from topic names and Redis keys (no servers)."""

from __future__ import annotations

import fnmatch

import pytest

from banku import Settings
from banku.lab import workshop


@pytest.mark.parametrize(
    ("topic", "namespace"),
    [
        ("banku-transactions", ""),
        ("banku-transactions.dlq", ""),
        ("alice.banku-transactions", "alice"),
        ("alice.banku-transactions.dlq", "alice"),
        ("alice-nb01.banku-transactions", "alice-nb01"),
        ("mybanku.banku-transactions", "mybanku"),
        ("__consumer_offsets", None),
        ("alice.other-topic", None),
        ("alice.banku-transactions.dlq.dlq", None),
        ("a.b.banku-transactions", None),  # "a.b" is not a namespace (no dots allowed)
        (".banku-transactions", None),
        ("x" * 41 + ".banku-transactions", None),
    ],
)
def test_namespace_of_topic(topic, namespace):
    assert workshop.namespace_of_topic(topic, "banku-transactions") == namespace


def test_namespace_of_topic_with_a_dotted_base_topic():
    assert workshop.namespace_of_topic("bank.events", "bank.events") == ""
    assert workshop.namespace_of_topic("bob.bank.events.dlq", "bank.events") == "bob"
    assert workshop.namespace_of_topic("bank.events.dlq.x", "bank.events") is None


@pytest.mark.parametrize(
    ("key", "namespace"),
    [
        ("banku:positions", ""),
        ("banku:accounts", ""),
        ("alice:banku:positions", "alice"),
        ("alice-nb02:banku:stats", "alice-nb02"),
        # "banku:" inside the namespace's own name must not cut it short
        ("mybanku:banku:positions", "mybanku"),
        ("t1banku:banku:accounts", "t1banku"),
        ("alice:3f2b0c1e-0000-4000-8000-000000000000", None),  # an account hash, not a marker
        ("somebody-else:cache:banku:x", None),
        ("other app:banku:x", None),
        (":banku:x", None),
    ],
)
def test_namespace_of_key(key, namespace):
    assert workshop.namespace_of_key(key) == namespace


class _FakeRedis:
    def __init__(self, keys):
        self.keys = keys

    def scan_iter(self, match="*", count=None):
        return (k for k in self.keys if fnmatch.fnmatchcase(k, match))

    def info(self, section=None):
        return {"db0": {"keys": len(self.keys)}}


class _FakeView:
    keys: list[str] = []

    def __init__(self, settings):
        assert settings.namespace == ""
        self.redis = _FakeRedis(self.keys)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_namespaces_are_found_in_topics_and_in_redis(monkeypatch):
    topics = ["__consumer_offsets", "banku-transactions", "alice.banku-transactions",
              "alice.banku-transactions.dlq", "bob.banku-transactions.dlq", "unrelated"]
    _FakeView.keys = ["carol:banku:positions", "carol:1234", "mybanku:banku:stats",
                      "alice:banku:accounts", "session:42"]
    monkeypatch.setattr(workshop, "list_topics", lambda settings: topics)
    monkeypatch.setattr(workshop, "ReadModel", _FakeView)
    found = workshop.namespaces(Settings(namespace="whoever"))
    assert found == ["", "alice", "bob", "carol", "mybanku"]


def test_reset_all_resets_each_namespace_found_in_its_own_database(monkeypatch):
    base = Settings(namespace="carol")
    in_db_7 = Settings(redis_url="redis://127.0.0.1:6379/7")
    monkeypatch.setattr(workshop, "locate",
                        lambda settings: {"": base, "alice": base, "bob": in_db_7})
    reset = []
    monkeypatch.setattr(workshop, "reset_namespace", lambda settings: reset.append(
        (settings.namespace, settings.redis_url)) or settings.namespace)
    assert workshop.reset_all(base) == ["", "alice", "bob"]
    assert reset == [("", base.redis_url), ("alice", base.redis_url),
                     ("bob", "redis://127.0.0.1:6379/7")]
