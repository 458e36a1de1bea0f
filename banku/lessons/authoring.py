"""For authors and instructors: re-execute the notebooks in place, build the learner edition.

    python -m banku.lessons.authoring execute [NOTEBOOK ...]   # after a change that alters outputs
    python -m banku.lessons.authoring learner [--out DIR] [--keep-edited]  # what ./kit lab serves
    python -m banku.lessons.authoring normalise [--check] [NOTEBOOK ...]  # metadata only, no kernel
    python -m banku.lessons.authoring timetable [--check]     # README's and guide's tables

Every exercise is three code cells: the stub the learner fills (tagged ``exercise``), the same
solved (``solution``, collapsed in JupyterLab) and one call that answers it (``check``, from
`banku.lessons.checks`). The learner edition drops the solutions and every stored output, so
the learner copy has the exercise and not the answer; a notebook that breaks the pattern stops
the build with the reason. Each notebook's time lives in its metadata (``banku.minutes``);
``timetable`` writes the README's and the instructor guide's tables from it.

Both write notebooks that review well (`normalise`): no execution timestamps, widget ids derived
from the notebook and the cell instead of random ones, PNGs without the encoder's text chunks,
progress bars stored as they ended without their timings. Re-executing an unchanged notebook
then changes only what the lesson itself measures (and notebooks/sanitize.cfg masks).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import html
import json
import re
import shutil
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
CHECK_TAG = "check"


class AuthoringError(ValueError):
    """A notebook breaks an authoring rule (for example an exercise without its solution)."""


def tags(cell) -> list[str]:  # an nbformat cell (a dict)
    return list(cell.get("metadata", {}).get("tags", []))


def check_exercises(nb, name: str = "notebook") -> int:  # an nbformat notebook
    """Raise `AuthoringError` unless every exercise cell has a solution, then a check, after it.

    The pattern of every exercise: a code cell tagged ``exercise`` (the stub the learner fills),
    a code cell tagged ``solution`` (the same, solved; the learner edition drops it), then a code
    cell tagged ``check`` (one call that answers the learner), all before the next exercise. A
    cell cannot be two of these: the learner edition would drop the exercise with its solution.
    Returns the number of exercises.
    """
    problems: list[str] = []
    open_exercise: int | None = None  # the exercise still waiting for its solution or check
    solved = False
    exercises = 0

    def unfinished(index: int) -> str:
        missing = "check cell after its solution" if solved else "solution cell"
        return f"the exercise in cell {index} has no {missing}"

    for index, cell in enumerate(nb.cells):
        cell_tags = [t for t in tags(cell) if t in (EXERCISE_TAG, SOLUTION_TAG, CHECK_TAG)]
        if len(cell_tags) > 1:
            problems.append(f"cell {index} is tagged both {cell_tags[0]!r} and {cell_tags[1]!r}")
            continue
        if EXERCISE_TAG in cell_tags:
            if open_exercise is not None:
                problems.append(unfinished(open_exercise))
            open_exercise, solved = index, False
            exercises += 1
        elif SOLUTION_TAG in cell_tags and open_exercise is not None:
            solved = True
        elif CHECK_TAG in cell_tags and open_exercise is not None and solved:
            open_exercise = None
    if open_exercise is not None:
        problems.append(unfinished(open_exercise))
    if problems:
        raise AuthoringError(
            f"{name}: " + "; ".join(problems)
            + f" (after each exercise: a code cell tagged {SOLUTION_TAG!r}, then one tagged"
            f" {CHECK_TAG!r})"
        )
    return exercises


def prose_words(nb) -> int:  # an nbformat notebook
    """Words of prose a learner reads: the markdown cells (code, outputs and solutions aside)."""
    return sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    if names:
        return [Path(n) if Path(n).exists() else NOTEBOOKS / n for n in names]
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


# The inline backend's PNGs: a fixed resolution, and no "Software: Matplotlib version ..." chunk.
FIGURE_KWARGS = {"bbox_inches": "tight", "dpi": 100, "metadata": {"Software": None}}
# Run by the kernel at start-up, outside the history (the cells keep execution counts 1, 2, ...).
KERNEL_SETUP = f"%config InlineBackend.print_figure_kwargs = {FIGURE_KWARGS!r}"


def execute(paths: list[Path], timeout: int = 600) -> None:
    """Run every cell of each notebook against the running stack and save the outputs.

    Nothing is stored that changes from one run to the next by itself: no timing metadata
    (``record_timing=False``), and the notebook is normalised (`normalise`) before it is written.
    """
    from banku import stack
    from banku.config import Settings

    stack.up(Settings.from_env())
    for path in paths:
        started = time.monotonic()
        execute_notebook(path, timeout)
        print(f"executed {path.name} in {time.monotonic() - started:.1f}s")


def execute_notebook(path: Path, timeout: int = 600) -> None:
    """Run one notebook in a fresh kernel (in its own folder), normalise it, save it in place."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            extra_arguments=[f"--IPKernelApp.exec_lines={KERNEL_SETUP}"],
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    normalise(nb, path.stem)
    nbformat.write(nb, path)


# Cell metadata that only says when a cell ran (nbclient's; JupyterLab's execute-time extension).
TIMING_KEYS = ("execution", "ExecuteTime")
# PNG chunks that carry text or a time (the encoder's name and version), never pixels.
PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"tIME"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODEL_REF = "IPY_MODEL_"
# tqdm's "[elapsed<remaining, rate]" after the counts: different on every run.
BAR_TIMING = re.compile(r"\s*\[[^\]]*(?:<|&lt;)[^\]]*\]")


def normalise(nb, name: str) -> None:  # an nbformat notebook
    """Remove from a notebook, in place, what would change on every run without the lesson changing.

    - cell metadata that records when a cell ran (``execution``, ``ExecuteTime``);
    - text and time chunks of stored PNGs (the pixels are untouched);
    - the timings of finished progress bars (`finish_progress_bars`);
    - the split of a cell's printed text into stream outputs, which follows how the kernel's
      messages happened to be batched: consecutive outputs of one stream become one;
    - random widget model ids: each becomes `widget_id` of the notebook ``name`` and its place
      (cell, output, then its position under the widget that refers to it), in the cell outputs
      and in ``metadata.widgets`` alike, so JupyterLab still renders the stored widgets. Models
      that no stored output refers to are dropped, and so is ``metadata.widgets`` when empty.

    Running it twice changes nothing the second time.
    """
    for cell in nb.cells:
        for key in TIMING_KEYS:
            cell.get("metadata", {}).pop(key, None)
    for cell in nb.cells:
        if cell.get("outputs"):
            cell["outputs"] = coalesce_streams(cell["outputs"])
    for outputs in _output_lists(nb):
        for output in outputs:
            data = output.get("data", {})
            if isinstance(data.get("image/png"), str):
                data["image/png"] = strip_png_text(data["image/png"])
    finish_progress_bars(nb)
    _renumber_widgets(nb, name)


def coalesce_streams(outputs: list) -> list:
    """The outputs with each run of consecutive ``stream`` outputs of one name (stdout, stderr)
    joined into one, as the notebook shows them anyway."""
    joined: list = []
    for output in outputs:
        last = joined[-1] if joined else None
        if (output.get("output_type") == "stream" and last is not None
                and last.get("output_type") == "stream" and last.get("name") == output.get("name")):
            last["text"] = _text(last.get("text", "")) + _text(output.get("text", ""))
        else:
            joined.append(output)
    return joined


def _text(value) -> str:  # a stream's text: a string, or a list of lines
    return "".join(value) if isinstance(value, list) else value


def strip_png_text(encoded: str) -> str:
    """A base64 PNG without its text and time chunks (anything that is not a PNG is kept)."""
    raw = base64.b64decode(encoded)
    if not raw.startswith(PNG_SIGNATURE):
        return encoded
    kept, at = [PNG_SIGNATURE], len(PNG_SIGNATURE)
    while at + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[at:at + 4])
        end = at + 12 + length
        if raw[at + 4:at + 8] not in PNG_TEXT_CHUNKS:
            kept.append(raw[at:end])
        at = end
    stripped = base64.b64encode(b"".join(kept)).decode("ascii")
    return stripped + "\n" if encoded.endswith("\n") else stripped


def png_chunks(encoded: str) -> list[bytes]:
    """The chunk types of a base64 PNG, in order (``[b"IHDR", b"pHYs", b"IDAT", b"IEND"]``)."""
    raw = base64.b64decode(encoded)
    types, at = [], len(PNG_SIGNATURE)
    while at + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[at:at + 4])
        types.append(raw[at + 4:at + 8])
        at += 12 + length
    return types


def widget_id(name: str, place: str) -> str:
    """The model id of the widget at ``place`` in notebook ``name``: 32 hex digits, like
    ipywidgets' own, but the same on every run."""
    return hashlib.sha256(f"{name}/{place}".encode()).hexdigest()[:32]


def widget_state(nb) -> dict:  # an nbformat notebook
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _output_lists(nb):  # every list of outputs: cells' and Output widgets'
    for cell in nb.cells:
        if cell.get("outputs"):
            yield cell["outputs"]
    for model in widget_state(nb).values():
        if isinstance(model.get("state", {}).get("outputs"), list):
            yield model["state"]["outputs"]


def _references(value) -> list[str]:  # JSON
    """The model ids a piece of widget state or output refers to, in a fixed order."""
    found: list[str] = []
    if isinstance(value, str):
        if value.startswith(MODEL_REF):
            found.append(value.removeprefix(MODEL_REF))
    elif isinstance(value, dict):
        view = value.get(WIDGET_VIEW)
        if isinstance(view, dict) and isinstance(view.get("model_id"), str):
            found.append(view["model_id"])
        for key in sorted(value):
            if key != WIDGET_VIEW:
                found.extend(_references(value[key]))
    elif isinstance(value, list):
        for item in value:
            found.extend(_references(item))
    return found


def _replaced(value, new: dict[str, str]):  # JSON in, JSON out
    if isinstance(value, str):
        if value.startswith(MODEL_REF) and value.removeprefix(MODEL_REF) in new:
            return MODEL_REF + new[value.removeprefix(MODEL_REF)]
        return value
    if isinstance(value, dict):
        out = {k: _replaced(v, new) for k, v in value.items()}
        view = out.get(WIDGET_VIEW)
        if isinstance(view, dict) and view.get("model_id") in new:
            out[WIDGET_VIEW] = {**view, "model_id": new[view["model_id"]]}
        return out
    if isinstance(value, list):
        return [_replaced(item, new) for item in value]
    return value


def _renumber_widgets(nb, name: str) -> None:  # an nbformat notebook
    import nbformat

    state = widget_state(nb)
    new: dict[str, str] = {}
    queue: list[tuple[str, str]] = []  # (old id, place), breadth first from the cell outputs
    for index, cell in enumerate(nb.cells):
        for number, output in enumerate(cell.get("outputs", [])):
            for n, old in enumerate(_references(output.get("data", {}))):
                queue.append((old, f"cell{index}/output{number}/{n}"))
    while queue:
        old, place = queue.pop(0)
        if old in new:
            continue
        new[old] = widget_id(name, place)
        for n, child in enumerate(_references(state.get(old, {}).get("state", {}))):
            queue.append((child, f"{place}/{n}"))
    for cell in nb.cells:
        if cell.get("outputs"):
            cell["outputs"] = nbformat.from_dict(_replaced(list(cell["outputs"]), new))
    if "widgets" not in nb.metadata:
        return
    kept = {new[old]: _replaced(model, new) for old, model in state.items() if old in new}
    if kept:
        nb.metadata["widgets"][WIDGET_STATE]["state"] = nbformat.from_dict(kept)
    else:
        del nb.metadata["widgets"]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def finish_progress_bars(nb) -> int:  # an nbformat notebook
    """Make each stored progress bar read as it ended, not as it began.

    A `tqdm.auto` bar is a widget; its output keeps a plain-text copy of the bar *as first
    drawn* ("0%"), which is what a static render (GitHub, nbviewer) shows. The widget state saved
    with the notebook holds its final values: write those into the plain text. The bar's timings
    ("[00:03<00:00, 10539.31event/s]") differ on every run: they are left out of both.
    """
    state = widget_state(nb)
    finished = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            box = state.get(view.get("model_id", "")) if view else None
            children = (box or {}).get("state", {}).get("children", [])
            parts = [state.get(str(c).removeprefix("IPY_MODEL_"), {}).get("state", {})
                     for c in children]
            if len(parts) != 3 or not parts[1].get("max"):
                continue
            if isinstance(parts[2].get("value"), str):
                parts[2]["value"] = BAR_TIMING.sub("", parts[2]["value"])
            left, right = (html.unescape(p.get("value", "")).replace("\u2007", " ")
                           for p in (parts[0], parts[2]))
            share = min(1.0, parts[1].get("value", 0) / parts[1]["max"])
            output["data"]["text/plain"] = f"{left}|{'█' * round(10 * share):<10}|{right}"
            finished += 1
    return finished


BUILD_RECORD = ".banku-build.json"  # what the last build wrote: file name -> sha256


def learner_edition(out: Path, paths: list[Path] | None = None,
                    keep_edited: bool = False) -> list[Path]:
    """Write the learner edition of the notebooks into ``out/notebooks``; the files written.

    Each notebook without its solution cells and without any stored output (so no exercise or
    check cell shows an answer), normalised like the executed notebooks (`normalise`): with the
    outputs gone, the widget state goes too, and no cell keeps the time it last ran. The sample
    data, the glossary and the pictures the notebooks show come along.

    Every notebook is checked first (`check_exercises`), so a broken one stops the build
    before anything is written. Without ``keep_edited`` the folder is built from scratch; with
    it (``./kit lab``), a notebook the learner changed since the last build is left as it is
    (`edited_notebooks`), and every other one is written fresh from ``notebooks/``.
    """
    import nbformat

    paths = notebook_paths() if paths is None else paths
    notebooks = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        check_exercises(nb, path.name)
        notebooks.append((path, nb))
    kept = edited_notebooks(out) if keep_edited else set()
    if out.exists() and not keep_edited:
        shutil.rmtree(out)
    folder = out / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    record = _build_record(out) if keep_edited else {}
    for name in sorted(set(record) - {path.name for path, _ in notebooks} - kept):
        (folder / name).unlink(missing_ok=True)  # a notebook the kit no longer has (renamed)
        del record[name]
    written = []
    for path, nb in notebooks:
        if path.name in kept:
            continue
        nb.cells = [c for c in nb.cells if SOLUTION_TAG not in tags(c)]
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        normalise(nb, path.stem)
        target = folder / path.name
        nbformat.write(nb, target)
        record[path.name] = _sha256(target)
        written.append(target)
    (out / BUILD_RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    for extra in ("data",):
        if (ROOT / extra).exists():
            shutil.copytree(ROOT / extra, out / extra, dirs_exist_ok=True)
    for page in NOTEBOOKS.glob("*.md"):  # the glossary the notebooks link to
        shutil.copy(page, folder / page.name)
    if (NOTEBOOKS / PICTURES).is_dir():  # the diagrams the lessons embed
        shutil.copytree(NOTEBOOKS / PICTURES, folder / PICTURES, dirs_exist_ok=True)
    return written


PICTURES = "images"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_record(out: Path) -> dict[str, str]:
    try:
        record = json.loads((out / BUILD_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def edited_notebooks(out: Path) -> set[str]:
    """Notebooks of a learner edition that differ from what its last build wrote: the learner's
    work (an answered exercise, a note), which a rebuild must not overwrite."""
    record = _build_record(out)
    folder = out / "notebooks"
    if not folder.is_dir():
        return set()
    return {path.name for path in folder.glob("*.ipynb")
            if record.get(path.name) != _sha256(path)}


# --- the timetable: each notebook's minutes, in its metadata, are the one source -------------
README = ROOT / "README.md"
GUIDE = ROOT / "instructors" / "README.md"
TIMETABLE_MARKERS = ("<!-- timetable:start (python -m banku.lessons.authoring timetable) -->",
                     "<!-- timetable:end -->")
OBJECTIVES_MARKERS = ("<!-- objectives:start (python -m banku.lessons.authoring timetable) -->",
                      "<!-- objectives:end -->")
DAYS_MARKERS = ("<!-- days:start (python -m banku.lessons.authoring timetable) -->",
                "<!-- days:end -->")
HALF_DAY_MARKERS = ("<!-- half-day:start (python -m banku.lessons.authoring timetable) -->",
                    "<!-- half-day:end -->")
# The shape of a workshop day: its hours, a break after at most this long without one, lunch.
DAY_START, DAY_END, HALF_DAY_END = 9 * 60, 17 * 60, 12 * 60 + 30
WELCOME, WRAP_UP, BREAK, LUNCH, LUNCH_FROM = 15, 15, 15, 60, 12 * 60
WORK_BEFORE_A_BREAK = 90
_NOTEBOOK_NAME = re.compile(r"\b(\d\d_[a-z0-9_]+)")


def lesson_facts(nb, name: str) -> dict:  # an nbformat notebook
    """What the timetable says of a notebook: its title, its minutes (``metadata.banku.minutes``,
    the one place a notebook's time is written), its exercises and words of prose.

    Optional in ``metadata.banku``: ``learn`` (the README's "You learn") and ``objectives`` (the
    guide's); where absent, the tables keep the text they already have for the notebook.
    """
    meta = nb.metadata.get("banku", {})
    minutes = meta.get("minutes")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
        raise AuthoringError(f"{name}: metadata.banku.minutes must be a whole number of minutes"
                             f" (the time the notebook takes), not {minutes!r}")
    heading = next((c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown"
                    and c.source.startswith("# ")), f"# {name}")
    return {"name": name, "title": heading.lstrip("# ").strip(), "minutes": minutes,
            "exercises": sum(1 for c in nb.cells if EXERCISE_TAG in tags(c)),
            "words": prose_words(nb), "learn": meta.get("learn"),
            "objectives": meta.get("objectives")}


def _between(text: str, markers: tuple[str, str], where: Path) -> tuple[str, str, str]:
    start, end = markers
    if start not in text or end not in text:
        raise AuthoringError(f"{where}: the markers {start!r} and {end!r} are missing")
    before, rest = text.split(start, 1)
    inside, after = rest.split(end, 1)
    return before, inside, after


def _kept_cells(inside: str, column: int, key_column: int = 0) -> dict[str, str]:
    """Text of one column of a generated table, by notebook, to carry over to the next run."""
    kept = {}
    for line in inside.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        found = _NOTEBOOK_NAME.search(cells[key_column]) if len(cells) > key_column else None
        if found and len(cells) > column:
            kept[found.group(1)] = cells[column]
    return kept


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def schedule(lessons: list[dict], notes: dict[str, str], day_end: int = DAY_END,
             days: int | None = None) -> list[list[str]]:
    """The notebooks laid out on workshop days: one table's rows per day.

    Each day starts at 9:00 (the first with a welcome), takes a break after at most
    `WORK_BEFORE_A_BREAK` minutes of lessons, lunch at the first notebook boundary after noon,
    and ends at ``day_end``; a notebook that would run past it starts the next day. With
    ``days``, the notebooks that do not fit in that many days are left out.
    """
    tables: list[list[str]] = []
    rows: list[str] = []
    now, since_break, lunched = DAY_START + WELCOME, 0, False
    rows.append(f"| {_clock(DAY_START)} | Welcome; the Go tutorial's story"
                " ([the story to tell](#the-story-to-tell)) | |")
    for index, lesson in enumerate(lessons):
        last = index == len(lessons) - 1
        pause = ""
        if not lunched and now >= LUNCH_FROM and day_end >= LUNCH_FROM + LUNCH:
            pause, length = f"*Lunch ({LUNCH} min)*", LUNCH
        elif since_break and since_break + lesson["minutes"] > WORK_BEFORE_A_BREAK:
            pause, length = f"*Break ({BREAK} min)*", BREAK
        if now + (length if pause else 0) + lesson["minutes"] + (WRAP_UP if last else 0) \
                > day_end:
            rows.append(f"| {_clock(now)} | End of the day | |")
            tables.append(rows)
            if days is not None and len(tables) >= days:
                return tables
            rows, now, since_break, lunched = [], DAY_START, 0, False
        elif pause:
            rows.append(f"| {_clock(now)} | {pause} | |")
            now, since_break = now + length, 0
            lunched = lunched or length == LUNCH
        rows.append(f"| {_clock(now)} | `{lesson['name']}` ({lesson['minutes']} min) | "
                    f"{_say(notes.get(lesson['name']), '')} |")
        now += lesson["minutes"]
        since_break += lesson["minutes"]
    rows.append(f"| {_clock(now)} | Wrap-up: the mistakes of the original and where each was"
                " fixed; questions; feedback | |")
    rows.append(f"| {_clock(now + WRAP_UP)} | End ([between cohorts](#between-cohorts)) | |")
    tables.append(rows)
    return tables


def _days_text(tables: list[list[str]], titled: bool) -> str:
    parts = []
    for number, rows in enumerate(tables, start=1):
        if titled:
            parts.append(f"**Day {number}**")
        parts.append("\n".join(["| Time | Notebook | What to do |", "| --- | --- | --- |", *rows]))
    return "\n\n".join(parts)


def _say(value: object, missing: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ") if value else missing


def _required(value: object, name: str, key: str, table: Path) -> str:
    """A cell no table may leave blank: the notebook's metadata, or the text the table has."""
    if not value:
        raise AuthoringError(f"{name}: nothing says {key!r} for it: add metadata.banku.{key} to"
                             f" the notebook (or a row for it in {table.name}'s table)")
    return _say(value, "")


def timetable_text(lessons: list[dict], readme: str, guide: str) -> tuple[str, str]:
    """The README and the guide with their notebook tables regenerated from ``lessons``."""
    before, inside, after = _between(readme, TIMETABLE_MARKERS, README)
    learn = _kept_cells(inside, 1)
    rows = ["| Notebook | You learn | Time |", "| --- | --- | --- |"]
    rows += [f"| [`{n['name']}`](notebooks/{n['name']}.ipynb) | "
             f"{_required(n['learn'] or learn.get(n['name']), n['name'], 'learn', README)} | "
             f"{n['minutes']} min |" for n in lessons]
    rows.append(f"| **All {len(lessons)}** | | **{_hours(sum(n['minutes'] for n in lessons))}** |")
    readme = "".join((before, TIMETABLE_MARKERS[0], "\n", "\n".join(rows), "\n",
                      TIMETABLE_MARKERS[1], after))
    before, inside, after = _between(guide, TIMETABLE_MARKERS, GUIDE)
    notes = _kept_cells(inside, 3)
    rows = ["| Notebook | Time | Exercises | Notes |", "| --- | --- | --- | --- |"]
    rows += [f"| `{n['name']}` | {n['minutes']} min | {n['exercises']} | "
             f"{_say(notes.get(n['name']), '')} |" for n in lessons]
    rows.append(f"| **All {len(lessons)}** | **{_hours(sum(n['minutes'] for n in lessons))}** |"
                f" **{sum(n['exercises'] for n in lessons)}** | |")
    guide = "".join((before, TIMETABLE_MARKERS[0], "\n", "\n".join(rows), "\n",
                     TIMETABLE_MARKERS[1], after))
    before, inside, after = _between(guide, OBJECTIVES_MARKERS, GUIDE)
    objectives = _kept_cells(inside, 1)
    rows = ["| Notebook | Objectives |", "| --- | --- |"]
    for n in lessons:
        said = _required(n["objectives"] or objectives.get(n["name"]), n["name"], "objectives",
                         GUIDE)
        rows.append(f"| `{n['name']}` | {said} |")
    guide = "".join((before, OBJECTIVES_MARKERS[0], "\n", "\n".join(rows), "\n",
                     OBJECTIVES_MARKERS[1], after))
    for markers, end, days in ((DAYS_MARKERS, DAY_END, None), (HALF_DAY_MARKERS, HALF_DAY_END, 1)):
        if markers[0] not in guide:
            continue
        before, inside, after = _between(guide, markers, GUIDE)
        notes = _kept_cells(inside, 2, key_column=1)
        tables = schedule(lessons, notes, end, days)
        guide = "".join((before, markers[0], "\n", _days_text(tables, days is None), "\n",
                         markers[1], after))
    return readme, guide


def _hours(minutes: int) -> str:
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def lessons(paths: list[Path] | None = None) -> list[dict]:
    import nbformat

    return [lesson_facts(nbformat.read(path, as_version=4), path.stem)
            for path in (notebook_paths() if paths is None else paths)]


def write_timetable(check: bool = False) -> list[Path]:
    """Regenerate the README's and the guide's tables from the notebooks; the files that
    changed (with ``check``, nothing is written: the files that are out of date)."""
    readme, guide = README.read_text(encoding="utf-8"), GUIDE.read_text(encoding="utf-8")
    new_readme, new_guide = timetable_text(lessons(), readme, guide)
    changed = [path for path, old, new in ((README, readme, new_readme), (GUIDE, guide, new_guide))
               if old != new]
    if not check:
        README.write_text(new_readme, encoding="utf-8")
        GUIDE.write_text(new_guide, encoding="utf-8")
    return changed


def normalise_files(paths: list[Path], check: bool = False) -> list[Path]:
    """Normalise stored notebooks in place (outputs otherwise untouched); the ones that changed.

    With ``check``, nothing is written: the list says which notebooks are not normalised.
    """
    import nbformat

    changed = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        before = copy.deepcopy(nb)
        normalise(nb, path.stem)
        if nb != before:
            changed.append(path)
            if not check:
                nbformat.write(nb, path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m banku.lessons.authoring")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("execute")
    p.add_argument("notebooks", nargs="*")
    p = sub.add_parser("learner")
    p.add_argument("--out", default=str(ROOT / "learner-edition"))
    p.add_argument("--keep-edited", action="store_true",
                   help="leave the notebooks the learner changed since the last build")
    p = sub.add_parser("timetable", help="the README's and the guide's tables from the notebooks")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if a table is out of date")
    p = sub.add_parser("normalise", help="normalise stored notebooks without running them")
    p.add_argument("notebooks", nargs="*")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if a notebook is not normalised")
    args = parser.parse_args(argv)
    if args.command == "execute":
        execute(notebook_paths(args.notebooks))
    elif args.command == "timetable":
        try:
            changed = write_timetable(check=args.check)
        except AuthoringError as exc:
            print(f"banku.lessons.authoring: {exc}", file=sys.stderr)
            return 1
        for path in changed:
            print(f"{'out of date' if args.check else 'rewrote'}: {path}")
        return 1 if args.check and changed else 0
    elif args.command == "normalise":
        changed = normalise_files(notebook_paths(args.notebooks), check=args.check)
        for path in changed:
            print(f"{'not normalised' if args.check else 'normalised'}: {path}")
        return 1 if args.check and changed else 0
    else:
        out = Path(args.out)
        kept = sorted(edited_notebooks(out)) if args.keep_edited else []
        try:
            written = learner_edition(out, keep_edited=args.keep_edited)
        except AuthoringError as exc:
            print(f"banku.lessons.authoring: {exc}", file=sys.stderr)
            return 1
        for path in written:
            print(f"wrote {path}")
        for name in kept:
            print(f"kept your copy of {name} (delete it for a fresh one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
