"""The instructor's diagrams: each one renders (SVG and PNG) from the code that draws it, and the
committed copies in instructors/diagrams/ are there for every one of them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from banku.lessons import diagrams

COMMITTED = Path(__file__).resolve().parents[2] / "instructors" / "diagrams"


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_each_diagram_renders_as_svg_and_png(name, tmp_path):
    written = diagrams.render(tmp_path, [name])
    assert [p.name for p in written] == [f"{name}.svg", f"{name}.png"]
    root = ET.parse(tmp_path / f"{name}.svg").getroot()
    assert root.tag.endswith("svg")
    texts = "".join(root.itertext())
    png = (tmp_path / f"{name}.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    assert len((tmp_path / f"{name}.svg").read_bytes()) > 20_000, texts


def test_the_covered_topics_are_the_guides():
    assert set(diagrams.DIAGRAMS) == {"partitions", "cqrs", "atomic_step", "rebalance", "isr"}


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_the_committed_copies_exist(name):
    for suffix in (".svg", ".png"):
        path = COMMITTED / f"{name}{suffix}"
        assert path.exists() and path.stat().st_size > 20_000, \
            f"{path} is missing: run ./kit diagrams and commit the result"


def test_redrawing_gives_the_same_svg(tmp_path):
    first = diagrams.render(tmp_path / "a", ["cqrs"])[0].read_bytes()
    second = diagrams.render(tmp_path / "b", ["cqrs"])[0].read_bytes()
    assert first == second
