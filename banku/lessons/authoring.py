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
        nbformat.write(nb, path)
        print(f"executed {path.name} in {time.monotonic() - started:.1f}s")


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
