"""The learner edition: solutions removed, exercises kept, and it still runs (real servers).

`./kit lab` serves it and `./kit learner` builds it, both with
`banku.lessons.authoring.learner_edition`; here it is built into a temporary directory, searched
for any line of solution code, and executed against the test stack with nbclient, the way a
learner would run it: top to bottom, exercises left as handed out, and every check answering
its stub with one line and a hint.
"""

from __future__ import annotations

import os
import re
import time
import uuid

import nbformat
import pytest
from nbclient import NotebookClient

from banku.lab import workshop
from banku.lessons import authoring
from banku.lessons.notebook import reset_notebook
from tests.unit.notebooks import stored

# Executed in the learner edition: every notebook that needs no cluster of three brokers. 05
# starts one of its own and kills its brokers; it runs in full under nbval, and the static
# check below proves that no later cell of it needs a name only a solution defines.
NOT_EXECUTED = ("05_",)

# Lines a solution may share with any code without giving anything away.
_TRIVIAL = re.compile(r"^(#.*|[\])}]+[,:]?|\.\.\.|pass|try:|else:|finally:|return|break)?$")


def _lines(source: str) -> set[str]:
    return {line.strip() for line in source.splitlines()}


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    """(original notebook, learner notebook path) for each notebook of the kit."""
    out = tmp_path_factory.mktemp("learner") / "learner-edition"
    originals = authoring.notebook_paths()
    written = authoring.learner_edition(out)
    assert [p.name for p in written] == [p.name for p in originals]
    assert (out / "data" / "sample-events.jsonl").exists(), "the sample log is copied along"
    assert (out / "notebooks" / "GLOSSARY.md").exists(), "the glossary the notebooks link to"
    assert (out / "notebooks" / "images" / "cqrs.svg").exists(), "the diagrams they embed"
    return [(nbformat.read(o, as_version=4), w) for o, w in zip(originals, written, strict=True)]


def test_no_solution_cell_and_no_solution_code_remains(edition):
    learner_text = {}
    for _, path in edition:
        learner = nbformat.read(path, as_version=4)
        assert not [c for c in learner.cells if authoring.SOLUTION_TAG in stored.tags(c)], path.name
        assert all(not c.get("outputs") for c in learner.cells), f"{path.name} kept outputs"
        learner_text[path.name] = "\n".join(c.source for c in learner.cells)
    everything = "\n".join(learner_text.values())
    learner_lines = _lines(everything)
    # Lines the lessons themselves use (an import, `before = end_offsets(...)`, `for row in
    # rows:`), in any notebook, are not solution code; every other non-trivial line of a
    # solution is.
    taught = set().union(*(_lines(c.source) for original, _ in edition for c in original.cells
                           if authoring.SOLUTION_TAG not in stored.tags(c)))
    for original, path in edition:
        solutions = [c for c in original.cells if authoring.SOLUTION_TAG in stored.tags(c)]
        assert solutions, f"{path.name} has no solution cell"
        secret = {line for c in solutions for line in _lines(c.source)
                  if not _TRIVIAL.match(line) and line not in taught}
        assert secret, f"every line of {path.name}'s solution also appears in the lesson"
        # A line leaks if the learner edition has it as a line, or (long enough not to be a
        # coincidence) anywhere inside its text.
        leaked = sorted(line for line in secret
                        if line in learner_lines or (len(line) >= 20 and line in everything))
        assert not leaked, f"solution code of {path.name} is in the learner edition: {leaked}"


def test_every_exercise_is_kept_unchanged(edition):
    for original, path in edition:
        learner = nbformat.read(path, as_version=4)
        wanted = [c.source for c in original.cells if authoring.EXERCISE_TAG in stored.tags(c)]
        kept = [c.source for c in learner.cells if authoring.EXERCISE_TAG in stored.tags(c)]
        assert wanted, f"{path.name} has no exercise"
        assert kept == wanted, path.name
        checks = [c.source for c in original.cells if authoring.CHECK_TAG in stored.tags(c)]
        assert [c.source for c in learner.cells if authoring.CHECK_TAG in stored.tags(c)] == checks
        removed = [c for c in original.cells if authoring.SOLUTION_TAG in stored.tags(c)]
        assert len(learner.cells) == len(original.cells) - len(removed)


def test_learner_notebooks_run_top_to_bottom_with_the_exercises_blank(edition, base_settings):
    """Every cell runs, including the (unanswered) exercise cells and everything after them,
    and each check cell answers its stub with one line: ✘, what is wrong, and a hint.

    No later cell of the kit's notebooks uses a name the removed solution defined; if one did,
    it would fail here with a NameError. The kernel gets its own BANKU_NAMESPACE so that it
    never shares a topic with the nbval run of the same notebook.
    """
    namespace = f"le{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=base_settings.bootstrap_servers,
               REDIS_URL=base_settings.redis_url, BANKU_NAMESPACE=namespace)
    env.pop("BANKU_TOPIC", None)
    timings = []
    try:
        for _, path in edition:
            if path.name.startswith(NOT_EXECUTED):
                continue
            started = time.monotonic()
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(nb, timeout=300, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}})
            client.execute(env=env)
            timings.append(f"{path.name[:2]} {time.monotonic() - started:.0f}s")
            code = [c for c in nb.cells if c.cell_type == "code"]
            assert all(c.execution_count for c in code), f"{path.name}: a cell did not run"
            assert any(authoring.EXERCISE_TAG in stored.tags(c) for c in code)
            errors = [c.source for c in code for o in c.outputs
                      if o.output_type == "error" and "raises-exception" not in stored.tags(c)]
            assert not errors, f"{path.name}: cells failed: {errors}"
            for cell in (c for c in code if authoring.CHECK_TAG in stored.tags(c)):
                said = "".join(o.get("text", "") for o in cell.outputs
                               if o.output_type == "stream")
                assert said.startswith("✘ ") and "Hint: " in said and said.count("\n") == 1, \
                    f"{path.name}: the check {cell.source!r} answered the stub with {said!r}"
    finally:
        for found in workshop.locate(base_settings):  # every namespace a notebook made
            if found.startswith(f"{namespace}-"):
                reset_notebook(base_settings.with_namespace(found))
    print("learner edition executed:", ", ".join(timings))


def _bound_and_used(source: str) -> tuple[set[str], set[str]]:
    """Names a cell binds (assignments, defs, imports) and names it reads."""
    import ast

    try:
        tree = ast.parse("\n".join(line for line in source.splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return set(), set()
    bound, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else used).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return bound, used


def needed_from_solutions(cells) -> set[str]:  # nbformat cells
    """Names a lesson cell reads that only a solution cell before it defines."""
    lesson_bound, solution_only, needed = set(), set(), set()
    for cell in cells:
        if cell.cell_type != "code":
            continue
        bound, used = _bound_and_used(cell.source)
        if authoring.SOLUTION_TAG in stored.tags(cell):
            solution_only |= bound - lesson_bound
            continue
        needed |= (used - bound - lesson_bound) & solution_only
        lesson_bound |= bound
    return needed


def test_the_static_check_finds_a_lesson_that_needs_a_solution():
    cells = [nbformat.v4.new_code_cell("a = 1"), nbformat.v4.new_code_cell("# try", metadata={
        "tags": ["exercise"]}), nbformat.v4.new_code_cell("answer = a + 1", metadata={
            "tags": [authoring.SOLUTION_TAG]}), nbformat.v4.new_code_cell("print(answer, a)")]
    assert needed_from_solutions(cells) == {"answer"}


@pytest.mark.parametrize("path", authoring.notebook_paths(), ids=lambda p: p.stem)
def test_no_lesson_cell_needs_what_only_a_solution_defines(path):
    """With the solutions gone, every name a later cell reads is still defined by a lesson cell
    (checked for every notebook, including those not executed above)."""
    needed = needed_from_solutions(nbformat.read(path, as_version=4).cells)
    assert not needed, f"{path.name}: a lesson cell reads {sorted(needed)}, set by a solution"
