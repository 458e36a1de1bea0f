"""For authors and instructors: re-execute the notebooks in place, build the learner edition.

    python -m banku.authoring execute [NOTEBOOK ...]   # after a change that alters outputs
    python -m banku.authoring learner [--out DIR]      # solutions removed, outputs cleared

Exercise solutions live in cells tagged ``solution`` (collapsed in JupyterLab). The learner
edition drops those cells, so the learner copy has the exercise and not the answer.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTION_TAG = "solution"


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    if names:
        return [Path(n) if Path(n).exists() else NOTEBOOKS / n for n in names]
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def execute(paths: list[Path], timeout: int = 600) -> None:
    """Run every cell of each notebook against the running stack and save the outputs."""
    import nbformat
    from nbclient import NotebookClient

    from . import stack
    from .config import Settings

    stack.up(Settings.from_env())
    for path in paths:
        started = time.monotonic()
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
        nbformat.write(nb, path)
        print(f"executed {path.name} in {time.monotonic() - started:.1f}s")


def learner_edition(out: Path) -> list[Path]:
    """Copy the notebooks without solution cells and without outputs into ``out``."""
    import nbformat

    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    written = []
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        nb.cells = [c for c in nb.cells
                    if SOLUTION_TAG not in c.get("metadata", {}).get("tags", [])]
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
    parser = argparse.ArgumentParser(prog="python -m banku.authoring")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("execute")
    p.add_argument("notebooks", nargs="*")
    p = sub.add_parser("learner")
    p.add_argument("--out", default=str(ROOT / "learner-edition"))
    args = parser.parse_args(argv)
    if args.command == "execute":
        execute(notebook_paths(args.notebooks))
    else:
        for path in learner_edition(Path(args.out)):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
