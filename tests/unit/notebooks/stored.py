"""The committed notebooks read as files (no kernel, no servers): a lesson by name, the one code
cell that holds some source, a cell's tags, what it printed, the lesson's prose, the code the
learner runs (everything but the solutions), a number the lesson's code writes, the glossary."""

from __future__ import annotations

import re

import nbformat

from banku.lessons import authoring
from tests.helpers import ROOT

NOTEBOOKS = ROOT / "notebooks"
GLOSSARY = NOTEBOOKS / "GLOSSARY.md"


def notebook(name: str):
    """The committed notebook ``notebooks/<name>.ipynb``."""
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def text(cell) -> str:
    """Everything a code cell printed or displayed, as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def cell(nb, *fragments: str, tag: str | None = None):
    """The one code cell whose source holds every fragment (and the tag, if given)."""
    found = [c for c in nb.cells if c.cell_type == "code" and all(f in c.source for f in fragments)
             and (tag is None or tag in tags(c))]
    assert len(found) == 1, f"expected one cell with {fragments}, found {len(found)}"
    return found[0]


def learner_code(nb) -> list[str]:
    """Sources of the code cells the learner runs: everything but the solutions."""
    return [c.source for c in nb.cells
            if c.cell_type == "code" and authoring.SOLUTION_TAG not in tags(c)]


def markdown(nb) -> str:
    """The lesson's prose: its markdown cells, one after the other."""
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def number(source: str, pattern: str) -> int:
    """A whole number the lesson's code writes (``10_000`` included) after ``pattern``."""
    found = re.search(pattern + r"\s*([0-9_]+)", source)
    assert found, pattern
    return int(found.group(1).replace("_", ""))


def glossary_rows() -> list[tuple[str, str, str]]:
    """The glossary's rows: (term, meaning, where it is first used)."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("Term", "---"):
            rows.append((cells[0], cells[1], cells[2]))
    return rows
