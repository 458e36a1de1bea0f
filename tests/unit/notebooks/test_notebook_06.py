"""Notebook 06 (two writers, one account): its answers, computed another way (no servers).

The committed notebook holds the outputs of a run against the real Kafka and Redis; nbval checks
that a new run prints the same. Here those outputs are compared with what the numbers in the
lesson's own code imply, worked out by hand: the race's balance, the race of three, the retried
command. Then the lesson is checked for its exercises (each with a solution and a check), its
skeleton, its size and its stated time.
"""

from __future__ import annotations

import re

import pytest

from banku.lessons import authoring
from banku.lessons.checks import nb06
from tests.unit.notebooks import stored

NAME = "06_two_writers_one_account"


@pytest.fixture(scope="module")
def nb():
    return stored.notebook(NAME)


# --- the race --------------------------------------------------------------------------------
def test_the_race_in_direct_mode_overdraws_by_what_the_two_withdrawals_exceed(nb):
    opened = stored.cell(nb, "joint = opener.create_account(")
    deposit = stored.number(opened.source, r"opener\.deposit\(joint,")
    raced = stored.cell(nb, "hold_after_reading(bank, both_have_read)")
    amount = stored.number(raced.source, r"race\(\[adams_bank, eves_bank\], joint,")
    assert amount <= deposit < 2 * amount  # each passes alone, both together overdraw
    shown = stored.text(raced)
    assert shown.count(" accepted - partition ") == 2
    assert f"Adam's ledger: {deposit - amount}  in Eve's ledger: {deposit - amount}" in shown
    assert f"read model (Redis): {deposit - 2 * amount} cents" in stored.text(
        stored.cell(nb, "records = read_records(TOPIC)\nprint("))
    folded = stored.text(stored.cell(nb, "in_the_view, in_the_log ="))
    assert f"in the view {deposit - 2 * amount} cents; folded from the log {deposit - 2 * amount}" \
        in folded


def test_the_race_of_three_is_what_exercise_2_predicts(nb):
    accepted, balance = 3, nb06.THREE_BANKS_DEPOSIT - 3 * nb06.THREE_BANKS_AMOUNT
    # Each passes alone, and all three read before anyone wrote.
    assert nb06.THREE_BANKS_AMOUNT <= nb06.THREE_BANKS_DEPOSIT < 3 * nb06.THREE_BANKS_AMOUNT
    shown = stored.text(stored.cell(nb, "answers = race(trio, three_cards"))
    assert f"accepted: {accepted} of 3" in shown and f"from the log: {balance} cents" in shown
    solution = stored.cell(nb, "def my_prediction", tag=authoring.SOLUTION_TAG)
    namespace: dict = {}
    exec(solution.source, namespace)  # the notebook's own solution
    assert namespace["my_prediction"]() == (accepted, balance)


def test_a_command_retried_from_another_bank_is_one_event(nb):
    retried = stored.cell(nb, "first_bank.deposit(flat,")
    assert retried.source.count('command_id="nb06-rent-december"') == 3
    rent = stored.number(retried.source, r"first_bank\.deposit\(flat,")
    shown = stored.text(retried)
    assert "the retries' receipts are the first attempt's: True" in shown
    assert "events carrying nb06-rent-december: 1" in shown
    assert f"the flat share, folded from the log: {rent} cents" in shown


# --- exercises, skeleton, size --------------------------------------------------------------
def test_three_exercises_each_with_a_solution_and_a_check(nb):
    assert authoring.check_exercises(nb, NAME) == 3
    # The order of each exercise, solution and check: test_notebooks.py, for every notebook.
    checks = [c.source for c in nb.cells if authoring.CHECK_TAG in stored.tags(c)]
    assert all(source.startswith("_ = nb06.check_") for source in checks), checks
    # Two of them ask for code (a function that does something), one is a prediction.
    stubs = [c.source for c in nb.cells if authoring.EXERCISE_TAG in stored.tags(c)]
    assert all("raise NotImplementedError" in s for s in stubs)  # the stubs the learner fills
    assert sum("def balance_by_hand" in s or "def handle" in s for s in stubs) == 2


def test_no_lesson_cell_uses_an_exercise_answer(nb):
    later = "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                      and not set(stored.tags(c)) & {"exercise", "solution", "check"})
    for name in ("balance_by_hand(", "my_prediction(", "handle("):
        assert name not in later, name


def test_the_title_the_links_and_the_time(nb):
    # The skeleton, the stated minutes and the 2,000 words: test_notebooks.py, for every notebook.
    assert nb.cells[0].source.startswith("# 06 · Two writers, one account")
    text = stored.markdown(nb)
    minutes = nb.metadata["banku"]["minutes"]
    assert "(07_transactions_and_fencing.ipynb)" in text
    assert "![" in text and "(images/race.svg)" in text
    words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    # Reading at 150 words a minute, plus the exercises: the stated time covers both.
    assert minutes >= words / 150 + 3 * 5


def test_the_learner_races_banks_and_reads_the_log_with_the_raw_clients(nb):
    code = "\n".join(stored.learner_code(nb))
    assert "threading.Barrier(" in code and "KafkaConsumer(" in code
    assert "command_id=" in code and '"banku.command"' in code


def test_cells_whose_output_cannot_repeat_assert_what_they_show(nb):
    ignored = [c for c in nb.cells if "nbval-ignore-output" in stored.tags(c)]
    assert ignored
    for cell in ignored:
        assert "assert " in cell.source, cell.source[:80]


def test_the_glossary_terms_first_used_here_appear_here(nb):
    text = (stored.markdown(nb) + "\n".join(stored.learner_code(nb))).lower()
    rows = [line.split("|")[1:4] for line in stored.GLOSSARY.read_text().splitlines()
            if line.startswith("| ") and f"({NAME}.ipynb)" in line]
    assert len(rows) >= 5
    for term, _, _ in rows:
        words = [w.strip() for w in re.split(r"[`()/]| \(", term) if w.strip()]
        assert all(w.lower() in text for w in words), term
