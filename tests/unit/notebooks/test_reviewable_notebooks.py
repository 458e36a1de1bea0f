"""Notebooks that review well: nothing stored changes by itself from one run to the next, and every
lesson ends with its resources and references (no servers; one test starts a local kernel)."""

from __future__ import annotations

import base64
import copy
import json
import re
import struct
import zlib
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from banku.lessons import authoring
from tests.helpers import ROOT
from tests.unit.notebooks import stored

ALL = authoring.notebook_paths()
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
HEX_ID = re.compile(r"^[0-9a-f]{32}$")
LINK = re.compile(r"\]\((https?://[^)\s]+)\)")
RESOURCES = "## Resources and references"
DPI_100 = 3937  # pixels per metre in a PNG's pHYs chunk


def read(path: Path):
    return nbformat.read(path, as_version=4)


def _png(*extra: tuple[bytes, bytes]) -> str:
    """A 1x1 PNG with extra chunks after IHDR, base64 as a notebook stores it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    raw = (authoring.PNG_SIGNATURE + chunk(b"IHDR", ihdr)
           + b"".join(chunk(k, d) for k, d in extra)
           + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return base64.b64encode(raw).decode()


def _idat(encoded: str) -> bytes:
    raw = base64.b64decode(encoded)
    at = raw.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", raw[at:at + 4])
    return raw[at + 8:at + 8 + length]


def _pngs(nb):
    for outputs in authoring._output_lists(nb):
        for output in outputs:
            if "image/png" in output.get("data", {}):
                yield output["data"]["image/png"]


def _model_ids(nb) -> set[str]:
    """Every widget model id a notebook mentions: state keys, references, output views."""
    text = json.dumps(nb)
    return (set(authoring.widget_state(nb))
            | set(re.findall(r"IPY_MODEL_([^\"]+)", text))
            | set(re.findall(r'"model_id": "([^"]+)"', text)))


# --- the stored notebooks -------------------------------------------------------------------------
@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_no_stored_timestamp_or_timing_metadata(path):
    nb = read(path)
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {})
        assert not set(authoring.TIMING_KEYS) & set(meta), f"{path.name} cell {index}: {meta}"
        assert not TIMESTAMP.search(json.dumps(meta)), f"{path.name} cell {index}: a timestamp"
    assert not TIMESTAMP.search(json.dumps(nb.metadata)), f"{path.name}: a timestamp in metadata"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_stored_pictures_carry_no_text_and_a_fixed_resolution(path):
    for encoded in _pngs(read(path)):
        chunks = authoring.png_chunks(encoded)
        assert not set(chunks) & authoring.PNG_TEXT_CHUNKS, f"{path.name}: {chunks}"
        raw = base64.b64decode(encoded)
        if b"pHYs" in chunks:
            at = raw.index(b"pHYs") + 4
            assert struct.unpack(">II", raw[at:at + 8]) == (DPI_100, DPI_100), path.name


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_widget_ids_are_derived_not_random(path):
    nb = read(path)
    ids = _model_ids(nb)
    for index, cell in enumerate(nb.cells):
        for number, output in enumerate(cell.get("outputs", [])):
            view = output.get("data", {}).get(authoring.WIDGET_VIEW)
            if view:
                expected = authoring.widget_id(path.stem, f"cell{index}/output{number}/0")
                assert view["model_id"] == expected, f"{path.name} cell {index}: a random id"
    # Every model is one the normalisation would have named so: none is left random.
    renamed = copy.deepcopy(nb)
    authoring.normalise(renamed, path.stem)
    assert _model_ids(renamed) == ids
    assert ids <= set(authoring.widget_state(nb)), f"{path.name}: a widget without its state"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_stored_notebooks_are_normalised(path):
    """What `authoring normalise --check` checks: normalising again changes nothing at all."""
    nb = read(path)
    again = copy.deepcopy(nb)
    authoring.normalise(again, path.stem)
    assert again == nb, f"{path.name}: run `python -m banku.lessons.authoring normalise`"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_stored_progress_bars_have_no_timings(path):
    for cell in read(path).cells:
        for output in cell.get("outputs", []):
            if authoring.WIDGET_VIEW in output.get("data", {}):
                text = output["data"].get("text/plain", "")
                assert not authoring.BAR_TIMING.search(text), text


def test_the_check_command_passes_on_the_stored_notebooks(capsys):
    assert authoring.main(["normalise", "--check"]) == 0
    assert "not normalised" not in capsys.readouterr().out


# --- the normalisation ----------------------------------------------------------------------------
def _run_like(seed: str):
    """A notebook as nbclient leaves it after one run; ``seed`` stands for the run's random ids."""
    box, bar, left, right, layout = (f"{seed}{n:031x}" for n in range(5))
    state = {
        box: {"model_name": "HBoxModel", "state": {
            "children": [f"IPY_MODEL_{left}", f"IPY_MODEL_{bar}", f"IPY_MODEL_{right}"],
            "layout": f"IPY_MODEL_{layout}"}},
        left: {"model_name": "HTMLModel", "state": {"value": "loading: 100%"}},
        bar: {"model_name": "FloatProgressModel", "state": {"value": 30.0, "max": 30.0}},
        right: {"model_name": "HTMLModel",
                "state": {"value": "\u200730/30\u2007[00:03&lt;00:00,\u20079.81event/s]"}},
        layout: {"model_name": "LayoutModel", "state": {}},
        f"{seed}{99:031x}": {"model_name": "LayoutModel", "state": {}},  # shown nowhere
    }
    view = new_output("display_data", data={
        authoring.WIDGET_VIEW: {"model_id": box, "version_major": 2, "version_minor": 0},
        "text/plain": "loading:   0%|          | 0/30 [00:00<?, ?event/s]"})
    picture = new_output("display_data", data={
        "image/png": _png((b"tEXt", b"Software\x00Matplotlib version3.x"),
                          (b"pHYs", struct.pack(">IIB", DPI_100, DPI_100, 1)),
                          (b"tIME", b"\x07\xea\x0c\x02\x11\x2a\x00")),
        "text/plain": "<Figure size 900x300 with 1 Axes>"})
    timing = {"iopub.execute_input": "2026-12-01T18:33:44.562468Z",
              "shell.execute_reply": "2026-12-01T18:33:44.565127Z"}
    nb = new_notebook(cells=[
        new_markdown_cell("# A lesson"),
        new_code_cell("load()", metadata={"execution": timing, "tags": ["keep"]},
                      outputs=[view], execution_count=1),
        new_code_cell("plot()", metadata={"ExecuteTime": {"end_time": "2026-12-01T18:33:45"}},
                      outputs=[picture], execution_count=2),
    ])
    for index, cell in enumerate(nb.cells):  # stored ids: the same on every run
        cell["id"] = f"c{index}"
    nb.metadata["widgets"] = {authoring.WIDGET_STATE: {
        "state": state, "version_major": 2, "version_minor": 0}}
    return nbformat.from_dict(nb)


def test_two_runs_with_different_random_ids_store_the_same_notebook():
    first, second = _run_like("a"), _run_like("b")
    assert first != second
    authoring.normalise(first, "01_lesson")
    authoring.normalise(second, "01_lesson")
    assert first == second


def test_normalise_strips_timing_metadata_and_keeps_the_rest():
    nb = _run_like("a")
    authoring.normalise(nb, "01_lesson")
    assert nb.cells[1].metadata == {"tags": ["keep"]}
    assert nb.cells[2].metadata == {}
    assert [c.get("execution_count") for c in nb.cells[1:]] == [1, 2]


def test_normalise_renames_widgets_consistently_and_drops_the_unshown():
    nb = _run_like("a")
    authoring.normalise(nb, "01_lesson")
    state = authoring.widget_state(nb)
    box = nb.cells[1].outputs[0].data[authoring.WIDGET_VIEW]["model_id"]
    assert box == authoring.widget_id("01_lesson", "cell1/output0/0")
    assert HEX_ID.match(box) and box in state
    children = [c.removeprefix("IPY_MODEL_") for c in state[box]["state"]["children"]]
    assert [state[c]["model_name"] for c in children] == ["HTMLModel", "FloatProgressModel",
                                                         "HTMLModel"]
    assert len(state) == 5, "the layout nobody shows is dropped"
    assert all(i.startswith("a") is False for i in state)
    # Another notebook, same places: other ids (two notebooks open side by side never clash).
    other = _run_like("a")
    authoring.normalise(other, "02_lesson")
    assert not set(state) & set(authoring.widget_state(other))


def test_normalise_finishes_the_bar_without_its_timings():
    nb = _run_like("a")
    authoring.normalise(nb, "01_lesson")
    assert nb.cells[1].outputs[0].data["text/plain"] == "loading: 100%|██████████| 30/30"
    values = [m["state"].get("value") for m in authoring.widget_state(nb).values()]
    assert "\u200730/30" in values


def test_normalise_strips_png_text_and_keeps_the_pixels():
    nb = _run_like("a")
    before = nb.cells[2].outputs[0].data["image/png"]
    authoring.normalise(nb, "01_lesson")
    after = nb.cells[2].outputs[0].data["image/png"]
    assert authoring.png_chunks(before) == [b"IHDR", b"tEXt", b"pHYs", b"tIME", b"IDAT", b"IEND"]
    assert authoring.png_chunks(after) == [b"IHDR", b"pHYs", b"IDAT", b"IEND"]
    assert _idat(after) == _idat(before)


def test_normalise_twice_changes_nothing_the_second_time():
    nb = _run_like("a")
    authoring.normalise(nb, "01_lesson")
    once = copy.deepcopy(nb)
    authoring.normalise(nb, "01_lesson")
    assert nb == once


def test_consecutive_stream_outputs_become_one():
    def out(name, text):
        return new_output("stream", name=name, text=text)
    nb = new_notebook(cells=[new_code_cell("run()", outputs=[
        out("stdout", "a\n"), out("stdout", ["b\n", "c\n"]), out("stderr", "warn\n"),
        new_output("display_data", data={"text/plain": "x"}), out("stdout", "d\n")])])
    authoring.normalise(nb, "01_lesson")
    assert [(o.output_type, o.get("name"), o.get("text")) for o in nb.cells[0].outputs] == [
        ("stream", "stdout", "a\nb\nc\n"), ("stream", "stderr", "warn\n"),
        ("display_data", None, None), ("stream", "stdout", "d\n")]


def test_without_outputs_the_widget_state_goes():
    nb = _run_like("a")
    for cell in nb.cells[1:]:
        cell.outputs = []
    authoring.normalise(nb, "01_lesson")
    assert "widgets" not in nb.metadata


def test_the_learner_edition_is_normalised(tmp_path):
    source = tmp_path / "01_lesson.ipynb"
    nb = _run_like("a")
    nb.cells.append(new_code_cell("# your code", metadata={"tags": ["exercise"]}))
    nb.cells.append(new_code_cell("x = 1", metadata={"tags": ["solution"]}))
    nb.cells.append(new_code_cell("check(x)", metadata={"tags": ["check"]}))
    nbformat.write(nb, source)
    (written,) = authoring.learner_edition(tmp_path / "learner", [source])
    text = written.read_text()
    assert "widgets" not in json.loads(text)["metadata"]
    assert not TIMESTAMP.search(text) and '"execution"' not in text


def test_the_check_command_names_a_notebook_left_as_a_run_stored_it(tmp_path, capsys):
    path = tmp_path / "01_lesson.ipynb"
    nbformat.write(_run_like("a"), path)
    assert authoring.main(["normalise", "--check", str(path)]) == 1
    assert "01_lesson.ipynb" in capsys.readouterr().out
    assert authoring.main(["normalise", str(path)]) == 0
    assert authoring.main(["normalise", "--check", str(path)]) == 0


def test_a_real_kernel_run_twice_stores_the_same_bytes(tmp_path):
    """Through `execute_notebook` (nbclient, ipykernel, the inline backend): a picture and a
    progress bar, run twice, give the same file; no timing, no random id, no PNG text."""
    pytest.importorskip("nbclient")
    path = tmp_path / "01_lesson.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("import matplotlib.pyplot as plt\n"
                      "fig, ax = plt.subplots(figsize=(2, 1))\nax.plot([1, 3, 2]);"),
        new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(50), desc='loading'):\n"
                      "    pass"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}}), path)
    authoring.execute_notebook(path, timeout=120)
    first = path.read_bytes()
    authoring.execute_notebook(path, timeout=120)
    assert path.read_bytes() == first
    nb = read(path)
    (picture,) = list(_pngs(nb))
    assert not set(authoring.png_chunks(picture)) & authoring.PNG_TEXT_CHUNKS
    assert b"pHYs" in authoring.png_chunks(picture)
    assert all(not set(authoring.TIMING_KEYS) & set(c.metadata) for c in nb.cells)
    bar = nb.cells[1].outputs[0].data
    assert bar["text/plain"] == "loading: 100%|██████████| 50/50"
    assert bar[authoring.WIDGET_VIEW]["model_id"] == authoring.widget_id("01_lesson",
                                                                         "cell1/output0/0")


def test_execute_asks_nbclient_for_no_timing(monkeypatch, tmp_path):
    seen = {}

    class Client:
        def __init__(self, nb, **kwargs):
            seen.update(kwargs)

        def execute(self):
            return None

    import nbclient
    monkeypatch.setattr(nbclient, "NotebookClient", Client)
    path = tmp_path / "01_lesson.ipynb"
    nbformat.write(_run_like("a"), path)
    authoring.execute_notebook(path)
    assert seen["record_timing"] is False
    assert seen["extra_arguments"] == [f"--IPKernelApp.exec_lines={authoring.KERNEL_SETUP}"]
    assert "'Software': None" in authoring.KERNEL_SETUP and "'dpi': 100" in authoring.KERNEL_SETUP
    assert '"execution"' not in path.read_text()


# --- resources and references ---------------------------------------------------------------------
@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_notebook_ends_with_resources_and_references(path):
    nb = read(path)
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith(RESOURCES), path.name
    links = LINK.findall(last.source)
    assert links, f"{path.name}: no link in its resources"
    assert all(url.startswith("https://") for url in links), links
    prose = stored.markdown(nb)
    assert prose.index("## What's next") < prose.index(RESOURCES), "after Summary / What's next"
    assert prose.count(RESOURCES) == 1


def test_notebook_00_credits_the_go_original():
    nb = read(next(p for p in ALL if p.name.startswith("00_")))
    go = "https://github.com/adamnoto/banku"
    assert f"({go})" in nb.cells[-1].source
    assert sum(c.source.count(f"({go})") for c in nb.cells if c.cell_type == "markdown") >= 2


def test_the_kips_are_linked_where_they_are_named():
    """A KIP in a notebook's references is a link to the Apache wiki, with its number in the URL."""
    for path in ALL:
        refs = read(path).cells[-1].source
        for number, url in re.findall(r"\[KIP-(\d+)[^\]]*\]\(([^)]+)\)", refs):
            assert url.startswith("https://cwiki.apache.org/confluence/display/KAFKA/KIP-" + number)


# --- git ------------------------------------------------------------------------------------------
def test_gitattributes_route_notebook_diffs_through_nbdime():
    lines = (ROOT / ".gitattributes").read_text().splitlines()
    assert any(re.match(r"^\*\.ipynb\s+.*diff=jupyternotebook", line) for line in lines)
    assert any(re.match(r"^\*\.ipynb\s+.*merge=jupyternotebook", line) for line in lines)
