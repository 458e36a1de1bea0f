"""The committed notebooks, read as files: sizes, pictures, stored outputs, links (no servers)."""

from __future__ import annotations

import re

import nbformat
import pytest

from banku.lessons import authoring
from tests.unit.notebooks import stored

ALL = sorted(stored.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
# Every lesson after the setup check draws something.
WITH_PICTURES = [p.stem for p in ALL if not p.stem.startswith("00_")]


def size(nb) -> tuple[int, int]:
    """(words of prose in markdown cells, lines of code that are neither blank nor comments)."""
    words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    lines = sum(1 for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
                if line.strip() and not line.strip().startswith("#"))
    return words, lines


def test_notebook_04_is_at_most_1_3_times_notebook_02():
    words_02, lines_02 = size(stored.notebook("02_replay_from_offset_zero"))
    words_04, lines_04 = size(stored.notebook("04_consumer_group_failover"))
    assert words_04 <= 1.3 * words_02, (words_04, words_02)
    assert lines_04 <= 1.3 * lines_02, (lines_04, lines_02)


SKELETON = ("## Overview", "## Prerequisites", "## Time to learn", "## Imports", "## Summary",
            "## What's next", "## Resources and references")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_the_skeleton_the_stated_time_and_the_length(path):
    """Every lesson: its number and title, the glossary from the first cell, the same sections,
    its metadata's minutes in "Time to learn", and at most 2,000 words of prose."""
    nb = stored.notebook(path.stem)
    first = nb.cells[0].source
    assert first.startswith(f"# {path.stem[:2]} · ") and "(GLOSSARY.md)" in first
    headings = [line for c in nb.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    assert [h for h in SKELETON if not any(line.startswith(h) for line in headings)] == []
    assert f"{nb.metadata['banku']['minutes']} minutes" in stored.markdown(nb)
    assert authoring.prose_words(nb) <= 2000


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_each_exercise_is_followed_by_its_solution_then_a_check_that_echoes_nothing(path):
    """The stub, then its solution (which the learner edition drops), then one check whose
    value is bound to ``_``: the check's one line is then all the cell shows."""
    cells = stored.notebook(path.stem).cells
    exercises = [i for i, c in enumerate(cells) if authoring.EXERCISE_TAG in stored.tags(c)]
    assert exercises
    for index in exercises:
        assert authoring.SOLUTION_TAG in stored.tags(cells[index + 1]), (path.stem, index)
        check = cells[index + 2]
        assert authoring.CHECK_TAG in stored.tags(check), (path.stem, index)
        assert check.source.strip().splitlines()[-1].startswith("_ = "), check.source
    # Function stubs say they are not written yet (a check answers that with its hint).
    assert sum("raise NotImplementedError" in cells[i].source for i in exercises) \
        >= len(exercises) - 2


@pytest.mark.parametrize("stem", WITH_PICTURES)
def test_pictures_are_stored_as_images(stem):
    images = [o for c in stored.notebook(stem).cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, f"{stem} has no stored picture"


def _texts(nb):
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            yield index, output.get("data", {}).get("text/plain", "") or output.get("text", "")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_no_ellipsis_output(path):
    for index, text in _texts(nbformat.read(path, as_version=4)):
        assert text.strip() != "Ellipsis", f"{path.name} cell {index} shows Ellipsis"


@pytest.mark.parametrize("stem", [p.stem for p in ALL])
def test_no_progress_bar_stored_at_zero(stem):
    """A static render (GitHub) shows the stored text of a bar: finished, never 0%."""
    for index, text in _texts(stored.notebook(stem)):
        assert not re.search(r"(?<!\d)0%\|", text), f"{stem} cell {index}: a bar at 0%"


@pytest.mark.parametrize("stem", [p.stem for p in ALL])
def test_prerequisites_link_the_glossary(stem):
    prose = stored.markdown(stored.notebook(stem))
    prerequisites = prose.split("## Prerequisites", 1)[1].split("## Time to learn", 1)[0]
    assert "(GLOSSARY.md)" in prerequisites
