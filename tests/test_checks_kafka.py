"""Notebook 04's checks against the real broker: a real group keeps the learner's book, a real
member too slow for max.poll.interval.ms fails its commit, and the checks say so in one line.
(Notebook 05's need its three-broker cluster; they run in the notebook under nbval.)"""

from __future__ import annotations

import time

import pytest
from kafka import ConsumerRebalanceListener
from kafka.errors import KafkaError

from banku.lab import sample
from banku.lessons.checks import nb04
from banku.lessons.notebook import reset_notebook


@pytest.fixture
def loaded(settings, bank):
    bank.load(sample.read()[:300])
    yield settings
    reset_notebook(settings)


class OwnerBook(ConsumerRebalanceListener):
    def __init__(self, name, book):
        self.name, self.book = name, book
        self.book.setdefault(name, set())

    def on_partitions_revoked(self, revoked):
        self.book[self.name] -= {tp.partition for tp in revoked}

    def on_partitions_assigned(self, assigned):
        self.book[self.name] |= {tp.partition for tp in assigned}


class TopicPartitionBook(OwnerBook):
    """Passes the calls by hand only if the check compared loosely: it keeps the objects."""

    def on_partitions_assigned(self, assigned):
        self.book[self.name] |= set(assigned)


def _records(consumer):
    records = {}
    while not consumer.assignment() or not records:
        records = consumer.poll(timeout_ms=500)
    return records


def too_slow(consumer, pause):
    _records(consumer)
    time.sleep(pause)
    try:
        consumer.commit()
        return "committed"
    except KafkaError as error:
        return type(error).__name__


def polls_again_first(consumer, pause):
    _records(consumer)
    time.sleep(pause)
    consumer.poll(timeout_ms=3000)  # rejoins the group: the commit then works
    try:
        consumer.commit()
        return "committed"
    except KafkaError as error:
        return type(error).__name__


def test_the_book_of_a_real_group_matches_the_coordinator(loaded, capsys):
    assert nb04.check_owner_book(OwnerBook, loaded) is True
    assert "two real members" in capsys.readouterr().out


def test_a_book_of_topic_partition_objects_is_refused(loaded, capsys):
    assert nb04.check_owner_book(TopicPartitionBook, loaded) is False
    out = capsys.readouterr().out
    assert out.startswith("✘") and "tp.partition" in out


def test_a_member_too_slow_for_max_poll_interval_fails_its_commit(loaded, capsys):
    assert nb04.check_too_slow(too_slow, loaded) is True
    assert "max.poll.interval.ms" in capsys.readouterr().out


def test_polling_again_before_the_commit_hides_it(loaded, capsys):
    assert nb04.check_too_slow(polls_again_first, loaded) is False
    out = capsys.readouterr().out
    assert out.startswith("✘") and "rejoin" in out
