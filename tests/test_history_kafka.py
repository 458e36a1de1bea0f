"""Time travel against the real broker: load sample events, read them back with their times."""

from __future__ import annotations

import pandas as pd
import pytest

from banku import Bank, CommandRejected, history
from banku.adapters.kafka.clients import ensure_topic, make_producer
from banku.domain.ledger import fold
from banku.lab import sample


@pytest.fixture
def rows() -> list[dict]:
    return sample.generate(seed=3, accounts=8, events=300)


@pytest.fixture
def loaded(settings, rows, tmp_path):
    path = sample.write(tmp_path / "events.jsonl", rows)
    with Bank(settings) as bank:
        assert sample.load_file(bank, path) == len(rows)
    return settings


def test_load_events_returns_the_log_with_its_original_timestamps(loaded, rows):
    df = history.load_events(loaded)
    assert list(df.columns) == history.COLUMNS
    assert len(df) == len(rows)
    expected = pd.to_datetime([r["Timestamp"] for r in rows], utc=True)
    assert (df["timestamp"].to_numpy() == expected.to_numpy()).all()
    assert df["timestamp"].iloc[0] == pd.Timestamp("2026-01-05T08:00:00Z")
    # Kafka put each account on the partition the offline frame predicts, at the same offset.
    offline = history.events_frame(rows)
    where = ["partition", "offset"]
    assert (df[where].to_numpy() == offline[where].to_numpy()).all()


def test_balances_from_kafka_equal_the_fold(loaded, rows):
    df = history.load_events(loaded)
    items = [sample.row_to_event(r) for r in rows]
    assert history.balances_at(df).to_dict() == fold(e for e, _ in items).balances
    middle = rows[len(rows) // 2]["Timestamp"]
    assert history.balances_at(df, middle).to_dict() == history.balances_at_python(items, middle)


def test_records_that_are_not_events_are_skipped(loaded, rows):
    producer = make_producer(loaded)
    try:
        producer.send(loaded.topic_name, key=b"x", value=b"not json at all").get(timeout=30)
        producer.send(loaded.topic_name, key=b"x", value=b'{"Type":"DepositEvent"}').get(timeout=30)
    finally:
        producer.close()
    df = history.load_events(loaded)
    assert len(df) == len(rows)


def test_loading_the_same_log_twice_is_refused(loaded, rows, tmp_path):
    path = sample.write(tmp_path / "again.jsonl", rows)
    with Bank(loaded) as bank, pytest.raises(CommandRejected, match="already exists"):
        sample.load_file(bank, path)
    assert len(history.load_events(loaded)) == len(rows)


def test_an_empty_or_missing_topic_gives_an_empty_frame(settings):
    assert history.load_events(settings).empty  # never created
    ensure_topic(settings)
    df = history.load_events(settings, progress=True)
    assert df.empty and list(df.columns) == history.COLUMNS
