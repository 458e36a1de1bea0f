"""For authors and instructors: re-execute the notebooks in place, build the learner edition.

    python -m banku.lessons.authoring execute [NOTEBOOK ...]   # after a change that alters outputs
    python -m banku.lessons.authoring learner [--out DIR]      # solutions removed, outputs cleared

Exercise solutions live in cells tagged ``solution`` (collapsed in JupyterLab). The learner
edition drops those cells, so the learner copy has the exercise and not the answer. Every cell
tagged ``exercise`` must be followed by a ``solution`` cell (before the next exercise); a
notebook that breaks this rule stops the build with the reason.
"""

from __future__ import annotations

import argparse
import html
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"


class AuthoringError(ValueError):
    """A notebook breaks an authoring rule (for example an exercise without its solution)."""


def tags(cell) -> list[str]:  # noqa: ANN001 - an nbformat cell (a dict)
    return list(cell.get("metadata", {}).get("tags", []))


def check_exercises(nb, name: str = "notebook") -> int:  # noqa: ANN001 - an nbformat notebook
    """Raise `AuthoringError` unless every exercise cell has a solution cell after it.

    A solution belongs to the nearest exercise before it, so each exercise needs a solution
    cell before the next exercise (or the end of the notebook). A cell cannot be both: the
    learner edition would drop the exercise with its solution. Returns the number of exercises.
    """
    problems: list[str] = []
    open_exercise: int | None = None
    exercises = 0
    for index, cell in enumerate(nb.cells):
        cell_tags = tags(cell)
        if EXERCISE_TAG in cell_tags and SOLUTION_TAG in cell_tags:
            problems.append(f"cell {index} is tagged both {EXERCISE_TAG!r} and {SOLUTION_TAG!r}")
            continue
        if EXERCISE_TAG in cell_tags:
            if open_exercise is not None:
                problems.append(f"the exercise in cell {open_exercise} has no solution cell")
            open_exercise = index
            exercises += 1
        elif SOLUTION_TAG in cell_tags:
            open_exercise = None
    if open_exercise is not None:
        problems.append(f"the exercise in cell {open_exercise} has no solution cell")
    if problems:
        raise AuthoringError(
            f"{name}: " + "; ".join(problems)
            + f" (put a code cell tagged {SOLUTION_TAG!r} after each exercise)"
        )
    return exercises


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    if names:
        return [Path(n) if Path(n).exists() else NOTEBOOKS / n for n in names]
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def execute(paths: list[Path], timeout: int = 600) -> None:
    """Run every cell of each notebook against the running stack and save the outputs."""
    import nbformat
    from nbclient import NotebookClient

    from .. import stack
    from ..config import Settings

    stack.up(Settings.from_env())
    for path in paths:
        started = time.monotonic()
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
        finish_progress_bars(nb)
        nbformat.write(nb, path)
        print(f"executed {path.name} in {time.monotonic() - started:.1f}s")


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def finish_progress_bars(nb) -> int:  # noqa: ANN001 - an nbformat notebook
    """Make each stored progress bar read as it ended, not as it began.

    A `tqdm.auto` bar is a widget; its output keeps a plain-text copy of the bar *as first
    drawn* ("0%"), which is what a static render (GitHub, nbviewer) shows. The widget state saved
    with the notebook holds its final values: write those into the plain text.
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
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
            left, right = (html.unescape(p.get("value", "")).replace("\u2007", " ")
                           for p in (parts[0], parts[2]))
            share = min(1.0, parts[1].get("value", 0) / parts[1]["max"])
            output["data"]["text/plain"] = f"{left}|{'█' * round(10 * share):<10}|{right}"
            finished += 1
    return finished


def learner_edition(out: Path, paths: list[Path] | None = None) -> list[Path]:
    """Copy the notebooks without solution cells and without outputs into ``out``.

    Every notebook is checked first (`check_exercises`), so a broken one stops the build
    before anything is written.
    """
    import nbformat

    paths = notebook_paths() if paths is None else paths
    notebooks = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        check_exercises(nb, path.name)
        notebooks.append((path, nb))
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    written = []
    for path, nb in notebooks:
        nb.cells = [c for c in nb.cells if SOLUTION_TAG not in tags(c)]
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        target = out / "notebooks" / path.name
        nbformat.write(nb, target)
        written.append(target)
    for extra in ("data",):
        if (ROOT / extra).exists():
            shutil.copytree(ROOT / extra, out / extra)
    for page in NOTEBOOKS.glob("*.md"):  # the glossary the notebooks link to
        shutil.copy(page, out / "notebooks" / page.name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m banku.lessons.authoring")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("execute")
    p.add_argument("notebooks", nargs="*")
    p = sub.add_parser("learner")
    p.add_argument("--out", default=str(ROOT / "learner-edition"))
    args = parser.parse_args(argv)
    if args.command == "execute":
        execute(notebook_paths(args.notebooks))
    else:
        try:
            written = learner_edition(Path(args.out))
        except AuthoringError as exc:
            print(f"banku.lessons.authoring: {exc}", file=sys.stderr)
            return 1
        for path in written:
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
