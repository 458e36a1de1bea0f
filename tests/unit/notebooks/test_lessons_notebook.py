"""The notebooks' helpers that need no server: one-line errors, the notebook's namespace."""

from __future__ import annotations

import pytest
import redis.exceptions
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from banku import InsufficientFunds, Settings
from banku.errors import BankuError
from banku.lessons import notebook


def test_a_broker_that_does_not_answer_is_one_sentence_with_the_fix():
    line = notebook.sentence_for(KafkaTimeoutError("Unable to bootstrap from ['127.0.0.1:9']"))
    assert line.startswith("KafkaTimeoutError: Unable to bootstrap from ['127.0.0.1:9']. Kafka")
    assert "banku stack up" in line and "\n" not in line


def test_redis_that_does_not_answer_is_one_sentence_with_the_fix():
    line = notebook.sentence_for(redis.exceptions.ConnectionError("Error 111 connecting"))
    assert line.startswith("ConnectionError: Error 111 connecting. Redis does not answer")
    assert "banku stack up" in line


def test_other_client_errors_and_refusals_are_their_message():
    line = notebook.sentence_for(TopicAlreadyExistsError("Topic 'nb01.x' already exists."))
    assert line == "TopicAlreadyExistsError: Topic 'nb01.x' already exists."
    refusal = InsufficientFunds("Insufficient funds: account a has 1 cents, cannot take 2.")
    assert notebook.sentence_for(refusal) == f"InsufficientFunds: {refusal}"


def test_a_notebook_namespace_is_yours_then_the_notebook():
    assert notebook.notebook_settings("nb02", Settings()).namespace == "nb02"
    assert notebook.notebook_settings("nb02", Settings(namespace="bob")).namespace == "bob-nb02"


def test_the_notebook_reset_refuses_the_shared_default_namespace():
    with pytest.raises(BankuError, match="never empty"):
        notebook.reset_notebook(Settings())  # before touching any server


def test_warnings_a_lesson_asks_for_are_one_line_each_and_shown_once(capsys):
    import logging

    notebook.show_warnings("banku.lessons-test")
    notebook.show_warnings("banku.lessons-test")  # a cell run twice
    logger = logging.getLogger("banku.lessons-test")
    try:
        logger.info("not shown")
        logger.warning("Ignoring the snapshot of %s: %s.", "t.banku-transactions", "it is corrupt")
        other = logging.getLogger("banku.somewhere-else")
        other.warning("not asked for")
        err = capsys.readouterr().err
        assert err == ("WARNING banku.lessons-test: Ignoring the snapshot of"
                       " t.banku-transactions: it is corrupt.\n")
    finally:
        logger.handlers.clear()
