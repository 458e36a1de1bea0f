"""The learner-edition build: the exercise pattern (exercise, solution, check), the learner's own
changes kept on a rebuild, and the timetable generated from the notebooks' minutes (no servers)."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from banku.lessons import authoring
from tests.unit.notebooks import stored


def cell(source: str, *tags: str):
    return new_code_cell(source, metadata={"tags": list(tags)} if tags else {})


def notebook(*cells):
    return new_notebook(cells=[new_markdown_cell("# A lesson"), *cells])


def test_each_exercise_followed_by_its_solution_then_its_check_passes():
    nb = notebook(cell("x = 1"), cell("# your code", "exercise"), new_markdown_cell("hint"),
                  cell("y = 2", "solution"), cell("check_y(y)", "check"),
                  cell("# again", "exercise"), cell("z = 3", "solution", "nbval-ignore-output"),
                  new_markdown_cell("now check"), cell("check_z(z)", "check"), cell("print(x)"))
    assert authoring.check_exercises(nb, "ok.ipynb") == 2


def test_a_notebook_without_exercises_passes():
    assert authoring.check_exercises(notebook(cell("x = 1")), "plain.ipynb") == 0


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ([cell("# your code", "exercise")], "the exercise in cell 1 has no solution cell"),
        ([cell("# your code", "exercise"), cell("# more", "exercise"), cell("a", "solution"),
          cell("c(a)", "check")], "the exercise in cell 1 has no solution cell"),
        ([cell("a", "solution"), cell("# your code", "exercise")],
         "the exercise in cell 2 has no solution cell"),
        ([cell("both", "exercise", "solution")], "cell 1 is tagged both"),
        ([cell("# e", "exercise"), cell("a", "solution")],
         "the exercise in cell 1 has no check cell after its solution"),
        ([cell("# e", "exercise"), cell("c(a)", "check"), cell("a", "solution")],
         "the exercise in cell 1 has no check cell after its solution"),
        ([cell("# e", "exercise"), cell("a", "solution"), cell("# f", "exercise"),
          cell("b", "solution"), cell("c(b)", "check")],
         "the exercise in cell 1 has no check cell after its solution"),
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
    nbformat.write(notebook(cell("# e", "exercise"), cell("s = 1", "solution"),
                            cell("c(s)", "check")), good)
    nbformat.write(notebook(cell("# e", "exercise")), bad)
    out = tmp_path / "learner"
    with pytest.raises(authoring.AuthoringError, match="02_bad.ipynb"):
        authoring.learner_edition(out, [good, bad])
    assert not out.exists()


def test_learner_edition_drops_solutions_and_outputs(tmp_path):
    source = tmp_path / "01_lesson.ipynb"
    nb = notebook(cell("x = 1"), cell("# your code", "exercise"),
                  cell("secret = 'sesame'", "solution"),
                  cell("check(secret)", "check"))
    for index, text in ((1, "1\n"), (2, "\n"), (4, "✔ the answer is sesame\n")):
        nb.cells[index].outputs = [nbformat.v4.new_output("stream", text=text)]
        nb.cells[index].execution_count = index
    nbformat.write(nb, source)
    (written,) = authoring.learner_edition(tmp_path / "learner", [source])
    learner = nbformat.read(written, as_version=4)
    assert [c.source for c in learner.cells[1:]] == ["x = 1", "# your code", "check(secret)"]
    assert all(c.outputs == [] and c.execution_count is None for c in learner.cells[1:])
    # The answer appears nowhere: neither the solution's source nor the check's stored output.
    assert "sesame" not in written.read_text()


def test_a_rebuild_keeps_what_the_learner_changed_and_refreshes_the_rest(tmp_path):
    sources = [tmp_path / "01_a.ipynb", tmp_path / "02_b.ipynb", tmp_path / "03_old.ipynb"]
    for source in sources:
        nbformat.write(notebook(cell("x = 1")), source)
    out = tmp_path / "learner-edition"
    first = authoring.learner_edition(out, sources, keep_edited=True)
    assert [p.name for p in first] == ["01_a.ipynb", "02_b.ipynb", "03_old.ipynb"]
    assert authoring.edited_notebooks(out) == set()
    mine = out / "notebooks" / "01_a.ipynb"
    answered = nbformat.read(mine, as_version=4)
    answered.cells[1].source = "x = 'my answer'"
    nbformat.write(answered, mine)
    assert authoring.edited_notebooks(out) == {"01_a.ipynb"}
    for source in sources[:2]:  # the kit changes both lessons, and drops the third
        nbformat.write(notebook(cell("x = 2")), source)
    second = authoring.learner_edition(out, sources[:2], keep_edited=True)
    assert [p.name for p in second] == ["02_b.ipynb"]
    assert "my answer" in mine.read_text(), "the learner's work is kept"
    assert "x = 2" in (out / "notebooks" / "02_b.ipynb").read_text(), "the rest is fresh"
    assert not (out / "notebooks" / "03_old.ipynb").exists(), "a notebook the kit dropped goes"
    authoring.learner_edition(out, sources[:2])  # ./kit learner: from scratch
    assert "my answer" not in mine.read_text()


def _lesson(minutes, *cells, title="# 01 · A lesson"):
    nb = new_notebook(cells=[new_markdown_cell(title), *cells])
    nb.metadata["banku"] = {"minutes": minutes}
    return nb


README_TABLE = """intro
<!-- timetable:start (python -m banku.lessons.authoring timetable) -->
| Notebook | You learn | Time |
| --- | --- | --- |
| [`01_a`](notebooks/01_a.ipynb) | keys and partitions | 99 min |
<!-- timetable:end -->
after
"""
GUIDE_TABLES = README_TABLE.replace("You learn | Time", "Time | Exercises | Notes").replace(
    "| [`01_a`](notebooks/01_a.ipynb) | keys and partitions | 99 min |",
    "| `01_a` | 99 min | 0 | draw it first |") + """
<!-- objectives:start (python -m banku.lessons.authoring timetable) -->
| Notebook | Objectives |
| --- | --- |
| `01_a` | define a key |
<!-- objectives:end -->
"""


def test_the_timetable_comes_from_the_minutes_and_keeps_the_descriptions():
    first = authoring.lesson_facts(_lesson(40, cell("# e", "exercise")), "01_a")
    second = authoring.lesson_facts(_lesson(35), "02_b")
    second["learn"], second["objectives"] = "replays", "rebuild a view"
    readme, guide = authoring.timetable_text([first, second], README_TABLE, GUIDE_TABLES)
    assert "| [`01_a`](notebooks/01_a.ipynb) | keys and partitions | 40 min |" in readme
    assert "| [`02_b`](notebooks/02_b.ipynb) | replays | 35 min |" in readme
    assert "| **All 2** | | **1 h 15 min** |" in readme
    assert readme.startswith("intro\n") and readme.endswith("after\n") and "99 min" not in readme
    assert "| `01_a` | 40 min | 1 | draw it first |" in guide
    assert "| `02_b` | 35 min | 0 |  |" in guide
    assert "| `01_a` | define a key |" in guide and "| `02_b` | rebuild a view |" in guide
    again = authoring.timetable_text([first, second], readme, guide)
    assert again == (readme, guide), "running it twice changes nothing the second time"


@pytest.mark.parametrize("minutes", [None, 0, "30", 2.5, True])
def test_a_notebook_without_its_minutes_is_refused(minutes):
    nb = _lesson(minutes)
    with pytest.raises(authoring.AuthoringError, match="01_x: metadata.banku.minutes"):
        authoring.lesson_facts(nb, "01_x")


def test_the_readme_and_the_guide_match_the_notebooks_minutes():
    """The one source of every notebook's time is its metadata; the tables follow it
    (`python -m banku.lessons.authoring timetable` rewrites them)."""
    assert authoring.write_timetable(check=True) == [], \
        "run: python -m banku.lessons.authoring timetable"


def test_each_notebook_states_its_metadata_minutes_under_time_to_learn():
    for path in authoring.notebook_paths():
        nb = nbformat.read(path, as_version=4)
        minutes = authoring.lesson_facts(nb, path.stem)["minutes"]
        prose = stored.markdown(nb)
        stated = prose.split("## Time to learn", 1)[1].split("\n##", 1)[0].strip()
        assert stated.startswith(f"{minutes} minutes"), (path.name, minutes, stated[:80])


def test_the_command_line_reports_the_broken_notebook(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "03_bad.ipynb"
    nbformat.write(notebook(cell("# e", "exercise")), bad)
    monkeypatch.setattr(authoring, "notebook_paths", lambda names=None: [bad])
    assert authoring.main(["learner", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "03_bad.ipynb" in err and "no solution" in err and "Traceback" not in err


def test_no_notebook_has_more_than_2000_words_of_prose():
    for path in authoring.notebook_paths():
        words = authoring.prose_words(nbformat.read(path, as_version=4))
        assert words <= 2000, f"{path.name}: {words} words of prose (at most 2,000)"


def test_every_notebook_of_the_kit_passes_the_check():
    for path in authoring.notebook_paths():
        nb = nbformat.read(path, as_version=4)
        assert authoring.check_exercises(nb, path.name) >= 1, f"{path.name} has no exercise"


def test_the_days_are_laid_out_from_the_minutes():
    lessons = [{"name": f"0{n}_lesson", "minutes": minutes}
               for n, minutes in enumerate([10, 45, 50, 55, 55, 50, 40, 45])]
    days = authoring.schedule(lessons, {"01_lesson": "project the partitions"})
    assert len(days) == 2
    first = "\n".join(days[0])
    assert first.startswith("| 09:00 | Welcome")
    assert "| 09:15 | `00_lesson` (10 min) |  |" in first
    assert "| 09:25 | `01_lesson` (45 min) | project the partitions |" in first, "notes kept"
    assert "| 10:10 | *Break (15 min)* | |" in first  # 10 + 45 + 50 would pass 90 minutes
    assert "*Lunch (60 min)*" in first
    assert first.endswith("End of the day | |")
    second = "\n".join(days[1])
    assert second.startswith("| 09:00 | `07_lesson` (45 min)")
    assert "Wrap-up" in second and second.endswith("End ([between cohorts](#between-cohorts)) | |")
    for rows in days:  # no day runs past 17:00, and the clock only moves forward
        times = [row.split("|")[1].strip() for row in rows]
        assert times == sorted(times) and times[-1] <= "17:00"


def test_a_half_day_keeps_the_notebooks_that_fit():
    lessons = [{"name": f"0{n}_lesson", "minutes": 50} for n in range(6)]
    (morning,) = authoring.schedule(lessons, {}, authoring.HALF_DAY_END, days=1)
    text = "\n".join(morning)
    assert "`02_lesson`" in text and "`03_lesson`" not in text
    assert morning[-1].split("|")[1].strip() <= "12:30"


@pytest.mark.parametrize("missing", ["learn", "objectives"])
def test_a_notebook_no_table_describes_is_refused(missing):
    first = authoring.lesson_facts(_lesson(40), "01_a")
    new = authoring.lesson_facts(_lesson(35), "02_new")
    new["learn"], new["objectives"] = "replays", "rebuild a view"
    new[missing] = None
    with pytest.raises(authoring.AuthoringError, match=f"02_new: nothing says '{missing}'"):
        authoring.timetable_text([first, new], README_TABLE, GUIDE_TABLES)
