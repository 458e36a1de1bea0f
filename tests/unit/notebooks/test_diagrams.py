"""The instructor's diagrams: each one renders (SVG and PNG) from the code that draws it, and the
committed copies in instructors/diagrams/ are there for every one of them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from banku.lessons import diagrams
from tests.helpers import ROOT

COMMITTED = ROOT / "instructors" / "diagrams"


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_each_diagram_renders_as_svg_and_png(name, tmp_path):
    written = diagrams.render(tmp_path, [name])
    assert [p.name for p in written] == [f"{name}.svg", f"{name}.png"]
    root = ET.parse(tmp_path / f"{name}.svg").getroot()
    assert root.tag.endswith("svg")
    texts = "".join(root.itertext())
    png = (tmp_path / f"{name}.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    assert len((tmp_path / f"{name}.svg").read_bytes()) > 10_000, texts
    # Words are real <text> (not outlines), and the alt text is the SVG's <title>.
    svg = "{http://www.w3.org/2000/svg}"
    words = " ".join("".join(t.itertext()) for t in root.iter(f"{svg}text"))
    assert len(words.split()) > 20, words
    assert root.find(f"{svg}title").text == diagrams.ALT[name]
    assert root.get("role") == "img"


def test_the_palette_has_no_red_green_pair():
    from matplotlib.colors import to_rgb

    for colour in (diagrams.ADAM, diagrams.EVE, diagrams.BOB):
        red, green, blue = to_rgb(colour)
        pure_red = red > 0.8 and green < 0.45 and blue < 0.45
        pure_green = green > 0.55 and red < 0.3 and blue < 0.5
        assert not (pure_red or pure_green), colour


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_the_notebooks_embed_the_same_pictures(name):
    embedded = ROOT / "notebooks" / "images" / f"{name}.svg"
    assert embedded.read_bytes() == (COMMITTED / f"{name}.svg").read_bytes(), \
        "run ./kit diagrams and commit notebooks/images/ too"


def test_the_covered_topics_are_the_guides():
    assert set(diagrams.DIAGRAMS) == {"partitions", "cqrs", "atomic_step", "rebalance", "isr",
                                     "race", "command_handler", "upcasting", "snapshot_tail",
                                     "snapshot_scopes", "crypto_shredding"}


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_the_committed_copies_exist(name):
    for suffix in (".svg", ".png"):
        path = COMMITTED / f"{name}{suffix}"
        assert path.exists() and path.stat().st_size > 10_000, \
            f"{path} is missing: run ./kit diagrams and commit the result"


def test_redrawing_gives_the_same_svg(tmp_path):
    first = diagrams.render(tmp_path / "a", ["cqrs"])[0].read_bytes()
    second = diagrams.render(tmp_path / "b", ["cqrs"])[0].read_bytes()
    assert first == second
