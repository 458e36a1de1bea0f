"""Notebook 06 (two writers, one account): its answers, computed another way (no servers).

The committed notebook holds the outputs of a run against the real Kafka and Redis; nbval checks
that a new run prints the same. Here those outputs are compared with what the numbers in the
lesson's own code imply, worked out by hand: the race's balance, the exercise's count of
accepted withdrawals, the offsets that transaction markers take, the retried command. Then the
lesson is checked for what it must put in the learner's hands (a transactional producer, both
isolation levels, handler processes) and for its skeleton.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from banku.lessons import authoring

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAME = "06_two_writers_one_account"


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
    """A whole number the lesson's code writes (``10_000`` included) after ``pattern``."""
    found = re.search(pattern + r"\s*([0-9_]+)", source)
    assert found, pattern
    return int(found.group(1).replace("_", ""))


def _learner_code(nb) -> str:
    return "\n".join(c.source for c in nb.cells
                     if c.cell_type == "code" and authoring.SOLUTION_TAG not in _tags(c))


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


# --- the race --------------------------------------------------------------------------------
def test_the_race_in_direct_mode_overdraws_by_what_the_two_withdrawals_exceed(nb):
    opened = _cell(nb, "joint = opener.create_account(")
    deposit = _number(opened.source, r"opener\.deposit\(joint,")
    raced = _cell(nb, "hold_after_reading(bank, both_have_read)")
    amount = _number(raced.source, r"race\(adams_bank, eves_bank, joint,")
    assert amount <= deposit < 2 * amount  # each passes alone, both together overdraw
    shown = _text(raced)
    assert shown.count(" accepted - partition ") == 2
    # Each Bank's ledger holds its own withdrawal only.
    assert f"Adam's ledger: {deposit - amount}  in Eve's ledger: {deposit - amount}" in shown
    folded = _text(_cell(nb, "the joint account folded by hand"))
    assert f"read model (Redis): {deposit - 2 * amount} cents" in folded
    assert f"folded by hand from the log: {deposit - 2 * amount} cents" in folded


def test_the_same_race_through_the_handler_accepts_one(nb):
    raced = _cell(nb, "answers = race(adams_phone, eves_phone, shared,")
    deposit = _number(raced.source, r"front_desk\.deposit\(shared,")
    amount = _number(raced.source, r"race\(adams_phone, eves_phone, shared,")
    lines = _text(raced).strip().splitlines()
    assert lines[0].startswith("accepted - partition ")
    assert lines[1].startswith("refused - Insufficient funds")
    assert f"has {deposit - amount} cents, cannot take {amount}." in lines[1]
    folded = _text(_cell(nb, "the handled account folded by hand"))
    assert f"read model: {deposit - amount} cents" in folded
    assert f"folded by hand: {deposit - amount} cents" in folded


def test_the_handlers_share_the_three_command_partitions_as_the_range_assignor_does(nb):
    # Kafka's range assignor sorts members by id (the client id first): 3 partitions over two
    # members gives the first two partitions to the first.
    shown = _text(_cell(nb, "handlers = {name: start_handler(name)"))
    assert "{'handler-1': [0, 1], 'handler-2': [2]}" in shown


# --- transactions by hand --------------------------------------------------------------------
def test_every_transaction_leaves_one_marker_in_the_partition(nb):
    """Replay the lesson's steps: records sent, transactions ended, on a one-partition topic."""
    steps = [("open", 2, 0), ("aborted", 0, 1), ("committed", 2, 1), ("zombie fenced", 2, 2)]
    records = markers = 0
    expected = {}
    for stage, sent, ended in steps:
        records, markers = records + sent, markers + ended
        expected[stage] = (records + markers, records, markers)
    table = _text(_cell(nb, "table[\"markers\"] = table[\"end offset\"]"))
    for stage, (end, count, marks) in expected.items():
        assert re.search(rf"^{stage}\s+{end}\s+{count}\s+{marks}\b", table, re.MULTILINE), stage
    zombie = _text(_cell(nb, "successor.init_transactions()"))
    assert "the old producer tried to commit: ProducerFencedError" in zombie
    assert "'read_committed sees': ['deposit 3', 'deposit 4', 'deposit 5']" in zombie
    assert "'end offset': 10" in zombie


def test_the_open_and_the_aborted_transaction_are_invisible_to_read_committed(nb):
    opened = _text(_cell(nb, 'look("open")'))
    assert "'read_uncommitted sees': ['deposit 1', 'deposit 2']" in opened
    assert "'read_committed sees': []" in opened
    aborted = _text(_cell(nb, 'look("aborted")'))
    assert "'end offset': 3" in aborted and "'read_committed sees': []" in aborted


# --- the retried command ---------------------------------------------------------------------
def test_a_command_sent_three_times_is_one_event(nb):
    timed_out = _cell(nb, "impatient.submit(DepositEvent(shared,")
    retried = _cell(nb, "first = adams_phone.deposit(shared,")
    attempts = (timed_out.source.count('"nb06-rent-december"')
                + retried.source.count('command_id="nb06-rent-december"'))
    assert attempts == 3
    assert "No command handler answered within 3s" in _text(timed_out)
    assert "the retries' receipts are the same one: True" in _text(retried)
    counted = _text(_cell(nb, "events carrying nb06-rent-december"))
    assert "events carrying nb06-rent-december: 1" in counted
    assert f"commands carrying nb06-rent-december: {attempts}" in counted
    rent = _number(retried.source, r"adams_phone\.deposit\(shared,")
    race = _cell(nb, "answers = race(adams_phone, eves_phone, shared,")
    before = (_number(race.source, r"front_desk\.deposit\(shared,")
              - _number(race.source, r"race\(adams_phone, eves_phone, shared,"))
    assert f"the handled account: {before + rent} cents" in counted


# --- the exercise ----------------------------------------------------------------------------
def test_exercise_ten_withdrawals_accept_as_many_as_fit(nb):
    exercise = _cell(nb, "family = front_desk.create_account(", tag=authoring.EXERCISE_TAG)
    solution = _cell(nb, "def withdraw_30", tag=authoring.SOLUTION_TAG)
    balance = _number(exercise.source, r"front_desk\.deposit\(family,")
    amount = _number(solution.source, r"phone\.withdraw\(family,")
    attempts = _number(solution.source, r"pool\.map\(withdraw_30, range\(")
    # One at a time, in any order: accept while the money lasts.
    left, accepted = balance, 0
    for _ in range(attempts):
        if amount <= left:
            left, accepted = left - amount, accepted + 1
    shown = _text(solution)
    assert f"accepted: {accepted}  refused: {attempts - accepted}" in shown
    assert f"left, folded by hand: {left} cents; in the view: {left} cents" in shown
    assert (accepted, left) == (3, 1000)


# --- what the learner holds, and the skeleton ------------------------------------------------
def test_the_learner_drives_transactions_and_both_isolation_levels_with_the_raw_clients(nb):
    code = _learner_code(nb)
    assert re.search(r"KafkaProducer\((?:[^()]|\([^()]*\))*transactional_id=", code)
    for call in (".init_transactions()", ".begin_transaction()", ".abort_transaction()",
                 ".commit_transaction()"):
        assert call in code, call
    assert 'isolation_level="read_uncommitted"' in code
    assert 'isolation_level="read_committed"' in code
    assert '"banku", "handler"' in code and "subprocess.Popen(" in code
    assert 'commands="topic"' in code and "command_id=" in code
    assert "signal.SIGTERM" in code


def test_the_skeleton(nb):
    first = nb.cells[0].source
    assert first.startswith("# 06 · Two writers, one account") and "(GLOSSARY.md)" in first
    text = _markdown(nb)
    for heading in ("## Overview", "## Prerequisites", "## Time to learn", "## Imports",
                    "## Summary", "## What's next"):
        assert heading in text, heading
    assert "[Glossary](GLOSSARY.md)" in text and "35 minutes" in text
    assert "07 · Changing events and snapshots" in text
    assert authoring.check_exercises(nb, NAME) == 1
    cells = nb.cells
    exercise = next(i for i, c in enumerate(cells) if authoring.EXERCISE_TAG in _tags(c))
    assert authoring.SOLUTION_TAG in _tags(cells[exercise + 1])  # right after it
    images = [o for c in cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "no stored picture"


def test_cells_whose_output_cannot_repeat_assert_what_they_show(nb):
    ignored = [c for c in nb.cells if "nbval-ignore-output" in _tags(c)]
    assert ignored
    for cell in ignored:
        assert "assert " in cell.source, cell.source[:80]


def test_the_glossary_terms_first_used_here_appear_here(nb):
    text = (_markdown(nb) + _learner_code(nb)).lower()
    rows = [line.split("|")[1:4] for line in (NOTEBOOKS / "GLOSSARY.md").read_text().splitlines()
            if line.startswith("| ") and f"({NAME}.ipynb)" in line]
    assert len(rows) >= 10
    for term, _, _ in rows:
        words = [w.strip() for w in re.split(r"[`()/]| \(", term) if w.strip()]
        assert all(w.lower() in text for w in words), term
