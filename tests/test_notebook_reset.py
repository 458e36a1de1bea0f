"""`notebook.start` deletes all a notebook's namespace holds, and nothing else (real servers).

Besides the kit's topics, groups and view, the lessons make topics ``<namespace>.*`` and Redis
keys ``<namespace>:*`` with the raw clients (a scratch topic, a hand-written projector's hashes).
"""

from __future__ import annotations

import uuid

import redis

from banku import Bank, Projector
from banku.adapters.kafka.clients import ensure_topic, list_topics
from banku.lessons import notebook


def test_reset_notebook_deletes_the_lessons_own_topics_and_keys(base_settings):
    mine = base_settings.with_namespace(f"t{uuid.uuid4().hex[:8]}-nb99")
    other = base_settings.with_namespace(mine.namespace + "x")  # a longer name, same start
    r = redis.Redis.from_url(base_settings.redis_url, decode_responses=True)
    try:
        for settings in (mine, other):
            with Bank(settings) as bank:
                bank.create_account("Ada")
            with Projector(settings) as projector:
                projector.run_until_caught_up(timeout=120)
            ensure_topic(settings, f"{settings.namespace}.go-style", partitions=1)
            r.hset(f"{settings.key_prefix}naive:{uuid.uuid4()}", mapping={"Balance": 1})
        notebook.reset_notebook(mine)
        topics = list_topics(base_settings)
        assert not [t for t in topics if t.startswith(f"{mine.namespace}.")]
        assert not list(r.scan_iter(match=f"{mine.key_prefix}*"))
        # The neighbour keeps everything.
        assert f"{other.namespace}.go-style" in topics and other.topic_name in topics
        assert list(r.scan_iter(match=f"{other.key_prefix}naive:*"))
        assert list(r.scan_iter(match=f"{other.key_prefix}banku:*"))
    finally:
        notebook.reset_notebook(other)
        r.close()
