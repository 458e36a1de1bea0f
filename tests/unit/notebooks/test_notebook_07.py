"""Notebook 07 (transactions and fencing): its answers, computed another way (no servers).

The stored outputs are compared with what the lesson's numbers imply: one withdrawal of two
accepted through the handler, the offsets transaction markers take, the retried command; then
the lesson is checked for its exercises, its skeleton, its size, its stated time, and for what it
puts in the learner's hands (a transactional producer, both isolation levels, the group's
metadata, handler processes it waits for).
"""

from __future__ import annotations

import re

import pytest

from banku.lessons import authoring
from tests.unit.notebooks import stored

NAME = "07_transactions_and_fencing"


@pytest.fixture(scope="module")
def nb():
    return stored.notebook(NAME)


def test_the_race_through_the_handler_accepts_one(nb):
    raced = stored.cell(nb, "answers = race([adams_phone, eves_phone], shared,")
    deposit = stored.number(raced.source, r"front_desk\.deposit\(shared,")
    amount = stored.number(raced.source, r"race\(\[adams_phone, eves_phone\], shared,")
    lines = stored.text(raced).strip().splitlines()
    assert lines[0].startswith("accepted - partition ")
    assert lines[1].startswith("refused - Insufficient funds")
    assert f"has {deposit - amount} cents, cannot take {amount}." in lines[1]
    folded = stored.text(stored.cell(nb, "the handled account folded by hand"))
    assert f"read model: {deposit - amount} cents" in folded


def test_the_handlers_share_the_three_command_partitions_as_the_range_assignor_does(nb):
    shown = stored.text(stored.cell(nb, "handlers = {name: start_handler(name)"))
    assert "{'handler-1': [0, 1], 'handler-2': [2]}" in shown


def test_every_transaction_leaves_one_marker_in_the_partition(nb):
    """Replay the lesson's steps (records sent, transactions ended) on a one-partition topic;
    the zombie stage is exercise 2's answer."""
    steps = [("open", 2, 0), ("aborted", 0, 1), ("committed", 2, 1), ("zombie fenced", 2, 2)]
    records = markers = 0
    expected = {}
    for stage, sent, ended in steps:
        records, markers = records + sent, markers + ended
        expected[stage] = (records + markers, records, markers)
    table = stored.text(stored.cell(nb, "table[\"markers\"] = table[\"end offset\"]"))
    for stage, (end, count, marks) in expected.items():
        assert re.search(rf"^{stage}\s+{end}\s+{count}\s+{marks}\b", table, re.MULTILINE), stage
    solution = stored.cell(nb, "def my_prediction", tag=authoring.SOLUTION_TAG)
    namespace: dict = {}
    exec(solution.source, namespace)  # the notebook's own solution
    assert namespace["my_prediction"]() == (expected["zombie fenced"][0],
                                            ["deposit 3", "deposit 4", "deposit 5"])
    zombie = stored.text(stored.cell(nb, "successor.init_transactions()"))
    assert "the old producer tried to commit: ProducerFencedError" in zombie


def test_a_command_sent_three_times_is_one_event(nb):
    timed_out = stored.cell(nb, "impatient.submit(DepositEvent(shared,")
    retried = stored.cell(nb, "first = adams_phone.deposit(shared,")
    attempts = (timed_out.source.count('"nb07tx-rent-december"')
                + retried.source.count('command_id="nb07tx-rent-december"'))
    assert attempts == 3
    assert "No command handler answered within 3s" in stored.text(timed_out)
    counted = stored.text(stored.cell(nb, "events carrying nb07tx-rent-december"))
    assert "events carrying nb07tx-rent-december: 1" in counted
    assert f"commands carrying nb07tx-rent-december: {attempts}" in counted


def test_cells_after_a_handler_starts_wait_for_its_readiness(nb):
    for fragment in ("handlers = {name: start_handler(name)", 'handlers = {"handler-3"'):
        cell = stored.cell(nb, fragment)
        assert "notebook.wait_for(" in cell.source and "handlers_ready()" in cell.source
    assert "ready_partitions(" in stored.cell(nb, "def handlers_ready").source


def test_three_exercises_each_with_a_solution_and_a_check(nb):
    assert authoring.check_exercises(nb, NAME) == 3
    # The order of each exercise, solution and check: test_notebooks.py, for every notebook.
    checks = [c.source for c in nb.cells if authoring.CHECK_TAG in stored.tags(c)]
    assert all(source.startswith("_ = nb07.check_") for source in checks), checks
    stubs = [c.source for c in nb.cells if authoring.EXERCISE_TAG in stored.tags(c)]
    assert all("raise NotImplementedError" in s for s in stubs)  # the stubs the learner fills
    assert sum("def ten_withdrawals" in s or "def read_process_write" in s for s in stubs) == 2


def test_no_lesson_cell_uses_an_exercise_answer(nb):
    later = "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                      and not set(stored.tags(c)) & {"exercise", "solution", "check"})
    for name in ("ten_withdrawals(", "my_prediction(", "read_process_write("):
        assert name not in later, name


def test_kip_447_is_taught_and_used(nb):
    text = stored.markdown(nb)
    assert "KIP-447" in text and "group_metadata()" in text and "generation" in text
    assert "one transactional producer per consumer" in text
    solution = stored.cell(nb, "def read_process_write", tag=authoring.SOLUTION_TAG).source
    assert "send_offsets_to_transaction(offsets, group_metadata)" in solution
    assert "except CommitFailedError" in solution and "abort_transaction()" in solution


def test_the_learner_drives_transactions_and_both_isolation_levels_with_the_raw_clients(nb):
    code = "\n".join(stored.learner_code(nb))
    assert re.search(r"KafkaProducer\((?:[^()]|\([^()]*\))*transactional_id=", code)
    for call in (".init_transactions()", ".begin_transaction()", ".abort_transaction()",
                 ".commit_transaction()"):
        assert call in code, call
    assert 'isolation_level="read_uncommitted"' in code
    assert 'isolation_level="read_committed"' in code
    assert '"banku", "handler"' in code and "subprocess.Popen(" in code
    assert 'commands="topic"' in code and "signal.SIGTERM" in code


def test_the_title_the_links_and_the_time(nb):
    # The skeleton, the stated minutes and the 2,000 words: test_notebooks.py, for every notebook.
    assert nb.cells[0].source.startswith("# 07 · Transactions and fencing")
    text = stored.markdown(nb)
    minutes = nb.metadata["banku"]["minutes"]
    assert "(06_two_writers_one_account.ipynb)" in text and "(08_changing_events.ipynb)" in text
    assert "(images/command_handler.svg)" in text
    words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    assert minutes >= words / 150 + 3 * 5


def test_cells_whose_output_cannot_repeat_assert_what_they_show(nb):
    ignored = [c for c in nb.cells if "nbval-ignore-output" in stored.tags(c)]
    assert ignored
    for cell in ignored:
        assert "assert " in cell.source, cell.source[:80]


def test_the_glossary_terms_first_used_here_appear_here(nb):
    text = (stored.markdown(nb) + "\n".join(stored.learner_code(nb))).lower()
    rows = [line.split("|")[1:4] for line in stored.GLOSSARY.read_text().splitlines()
            if line.startswith("| ") and f"({NAME}.ipynb)" in line]
    assert len(rows) >= 8
    for term, _, _ in rows:
        words = [w.strip() for w in re.split(r"[`()/]| \(", term) if w.strip()]
        assert all(w.lower() in text for w in words), term
