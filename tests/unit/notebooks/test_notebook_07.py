"""Notebook 07 (transactions and fencing): its answers, computed another way (no servers).

The stored outputs are compared with what the lesson's numbers imply: one withdrawal of two
accepted through the handler, the offsets transaction markers take, the retried command; then
the lesson is checked for its exercises, its skeleton, its size, its stated time, and for what it
puts in the learner's hands (a transactional producer, both isolation levels, the group's
metadata, handler processes it waits for).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from banku.lessons import authoring
from tests.helpers import ROOT

NOTEBOOKS = ROOT / "notebooks"
NAME = "07_transactions_and_fencing"


@pytest.fixture(scope="module")
def nb():
    return nbformat.read(NOTEBOOKS / f"{NAME}.ipynb", as_version=4)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def _cell(nb, *fragments: str, tag: str | None = None):
    found = [c for c in nb.cells if c.cell_type == "code" and all(f in c.source for f in fragments)
             and (tag is None or tag in _tags(c))]
    assert len(found) == 1, f"expected one cell with {fragments}, found {len(found)}"
    return found[0]


def _number(source: str, pattern: str) -> int:
    found = re.search(pattern + r"\s*([0-9_]+)", source)
    assert found, pattern
    return int(found.group(1).replace("_", ""))


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _learner_code(nb) -> str:
    return "\n".join(c.source for c in nb.cells
                     if c.cell_type == "code" and authoring.SOLUTION_TAG not in _tags(c))


def test_the_race_through_the_handler_accepts_one(nb):
    raced = _cell(nb, "answers = race([adams_phone, eves_phone], shared,")
    deposit = _number(raced.source, r"front_desk\.deposit\(shared,")
    amount = _number(raced.source, r"race\(\[adams_phone, eves_phone\], shared,")
    lines = _text(raced).strip().splitlines()
    assert lines[0].startswith("accepted - partition ")
    assert lines[1].startswith("refused - Insufficient funds")
    assert f"has {deposit - amount} cents, cannot take {amount}." in lines[1]
    folded = _text(_cell(nb, "the handled account folded by hand"))
    assert f"read model: {deposit - amount} cents" in folded


def test_the_handlers_share_the_three_command_partitions_as_the_range_assignor_does(nb):
    shown = _text(_cell(nb, "handlers = {name: start_handler(name)"))
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
    table = _text(_cell(nb, "table[\"markers\"] = table[\"end offset\"]"))
    for stage, (end, count, marks) in expected.items():
        assert re.search(rf"^{stage}\s+{end}\s+{count}\s+{marks}\b", table, re.MULTILINE), stage
    solution = _cell(nb, "def my_prediction", tag=authoring.SOLUTION_TAG)
    namespace: dict = {}
    exec(solution.source, namespace)  # the notebook's own solution
    assert namespace["my_prediction"]() == (expected["zombie fenced"][0],
                                            ["deposit 3", "deposit 4", "deposit 5"])
    zombie = _text(_cell(nb, "successor.init_transactions()"))
    assert "the old producer tried to commit: ProducerFencedError" in zombie


def test_a_command_sent_three_times_is_one_event(nb):
    timed_out = _cell(nb, "impatient.submit(DepositEvent(shared,")
    retried = _cell(nb, "first = adams_phone.deposit(shared,")
    attempts = (timed_out.source.count('"nb07tx-rent-december"')
                + retried.source.count('command_id="nb07tx-rent-december"'))
    assert attempts == 3
    assert "No command handler answered within 3s" in _text(timed_out)
    counted = _text(_cell(nb, "events carrying nb07tx-rent-december"))
    assert "events carrying nb07tx-rent-december: 1" in counted
    assert f"commands carrying nb07tx-rent-december: {attempts}" in counted


def test_cells_after_a_handler_starts_wait_for_its_readiness(nb):
    for fragment in ("handlers = {name: start_handler(name)", 'handlers = {"handler-3"'):
        cell = _cell(nb, fragment)
        assert "notebook.wait_for(" in cell.source and "handlers_ready()" in cell.source
    assert "ready_partitions(" in _cell(nb, "def handlers_ready").source


def test_three_exercises_each_with_a_solution_and_a_check(nb):
    assert authoring.check_exercises(nb, NAME) == 3
    cells = nb.cells
    for index, cell in enumerate(cells):
        if authoring.EXERCISE_TAG in _tags(cell):
            assert "raise NotImplementedError" in cell.source
            assert authoring.SOLUTION_TAG in _tags(cells[index + 1])
            assert "check" in _tags(cells[index + 2])
            assert cells[index + 2].source.startswith("_ = nb07.check_")
    stubs = [c.source for c in cells if authoring.EXERCISE_TAG in _tags(c)]
    assert sum("def ten_withdrawals" in s or "def read_process_write" in s for s in stubs) == 2


def test_no_lesson_cell_uses_an_exercise_answer(nb):
    later = "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                      and not set(_tags(c)) & {"exercise", "solution", "check"})
    for name in ("ten_withdrawals(", "my_prediction(", "read_process_write("):
        assert name not in later, name


def test_kip_447_is_taught_and_used(nb):
    text = _markdown(nb)
    assert "KIP-447" in text and "group_metadata()" in text and "generation" in text
    assert "one transactional producer per consumer" in text
    solution = _cell(nb, "def read_process_write", tag=authoring.SOLUTION_TAG).source
    assert "send_offsets_to_transaction(offsets, group_metadata)" in solution
    assert "except CommitFailedError" in solution and "abort_transaction()" in solution


def test_the_learner_drives_transactions_and_both_isolation_levels_with_the_raw_clients(nb):
    code = _learner_code(nb)
    assert re.search(r"KafkaProducer\((?:[^()]|\([^()]*\))*transactional_id=", code)
    for call in (".init_transactions()", ".begin_transaction()", ".abort_transaction()",
                 ".commit_transaction()"):
        assert call in code, call
    assert 'isolation_level="read_uncommitted"' in code
    assert 'isolation_level="read_committed"' in code
    assert '"banku", "handler"' in code and "subprocess.Popen(" in code
    assert 'commands="topic"' in code and "signal.SIGTERM" in code


def test_the_skeleton_and_the_time(nb):
    first = nb.cells[0].source
    assert first.startswith("# 07 · Transactions and fencing") and "(GLOSSARY.md)" in first
    text = _markdown(nb)
    for heading in ("## Overview", "## Prerequisites", "## Time to learn", "## Imports",
                    "## Summary", "## What's next", "## Resources and references"):
        assert heading in text, heading
    minutes = nb.metadata["banku"]["minutes"]
    assert f"{minutes} minutes" in text
    assert "(06_two_writers_one_account.ipynb)" in text and "(08_changing_events.ipynb)" in text
    assert "(images/command_handler.svg)" in text
    words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    assert words <= 2000
    assert minutes >= words / 150 + 3 * 5


def test_cells_whose_output_cannot_repeat_assert_what_they_show(nb):
    ignored = [c for c in nb.cells if "nbval-ignore-output" in _tags(c)]
    assert ignored
    for cell in ignored:
        assert "assert " in cell.source, cell.source[:80]


def test_the_glossary_terms_first_used_here_appear_here(nb):
    text = (_markdown(nb) + _learner_code(nb)).lower()
    rows = [line.split("|")[1:4] for line in (NOTEBOOKS / "GLOSSARY.md").read_text().splitlines()
            if line.startswith("| ") and f"({NAME}.ipynb)" in line]
    assert len(rows) >= 8
    for term, _, _ in rows:
        words = [w.strip() for w in re.split(r"[`()/]| \(", term) if w.strip()]
        assert all(w.lower() in text for w in words), term
