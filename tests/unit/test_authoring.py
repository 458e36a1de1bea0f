"""The learner-edition build refuses a notebook whose exercise has no solution (no servers)."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from banku.lessons import authoring


def cell(source: str, *tags: str):
    return new_code_cell(source, metadata={"tags": list(tags)} if tags else {})


def notebook(*cells):
    return new_notebook(cells=[new_markdown_cell("# A lesson"), *cells])


def test_each_exercise_followed_by_its_solution_passes():
    nb = notebook(cell("x = 1"), cell("# your code", "exercise"), new_markdown_cell("hint"),
                  cell("y = 2", "solution"), cell("# again", "exercise"),
                  cell("z = 3", "solution", "nbval-ignore-output"), cell("print(x)"))
    assert authoring.check_exercises(nb, "ok.ipynb") == 2


def test_a_notebook_without_exercises_passes():
    assert authoring.check_exercises(notebook(cell("x = 1")), "plain.ipynb") == 0


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ([cell("# your code", "exercise")], "the exercise in cell 1 has no solution cell"),
        ([cell("# your code", "exercise"), cell("# more", "exercise"), cell("a", "solution")],
         "the exercise in cell 1 has no solution cell"),
        ([cell("a", "solution"), cell("# your code", "exercise")],
         "the exercise in cell 2 has no solution cell"),
        ([cell("both", "exercise", "solution")], "cell 1 is tagged both"),
    ],
)
def test_an_exercise_without_a_solution_is_refused(cells, reason):
    with pytest.raises(authoring.AuthoringError) as refused:
        authoring.check_exercises(notebook(*cells), "broken.ipynb")
    assert str(refused.value).startswith("broken.ipynb: ")
    assert reason in str(refused.value)


def test_learner_edition_fails_loudly_and_writes_nothing(tmp_path):
    good = tmp_path / "src" / "01_good.ipynb"
    bad = tmp_path / "src" / "02_bad.ipynb"
    good.parent.mkdir()
    nbformat.write(notebook(cell("# e", "exercise"), cell("s = 1", "solution")), good)
    nbformat.write(notebook(cell("# e", "exercise")), bad)
    out = tmp_path / "learner"
    with pytest.raises(authoring.AuthoringError, match="02_bad.ipynb"):
        authoring.learner_edition(out, [good, bad])
    assert not out.exists()


def test_learner_edition_drops_solutions_and_outputs(tmp_path):
    source = tmp_path / "01_lesson.ipynb"
    nb = notebook(cell("x = 1"), cell("# your code", "exercise"), cell("secret = 42", "solution"))
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[1].execution_count = 3
    nbformat.write(nb, source)
    (written,) = authoring.learner_edition(tmp_path / "learner", [source])
    learner = nbformat.read(written, as_version=4)
    assert [c.source for c in learner.cells[1:]] == ["x = 1", "# your code"]
    assert learner.cells[1].outputs == [] and learner.cells[1].execution_count is None
    assert "secret" not in written.read_text()


def test_the_command_line_reports_the_broken_notebook(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "03_bad.ipynb"
    nbformat.write(notebook(cell("# e", "exercise")), bad)
    monkeypatch.setattr(authoring, "notebook_paths", lambda names=None: [bad])
    assert authoring.main(["learner", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "03_bad.ipynb" in err and "no solution" in err and "Traceback" not in err


def test_every_notebook_of_the_kit_passes_the_check():
    for path in authoring.notebook_paths():
        nb = nbformat.read(path, as_version=4)
        assert authoring.check_exercises(nb, path.name) >= 1, f"{path.name} has no exercise"
