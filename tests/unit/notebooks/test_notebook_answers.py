"""Notebooks 00-02: every exercise answer is true; the learner holds the real clients (no servers).

The committed notebooks hold the outputs of a run against the real Kafka and Redis (nbval checks
that a new run gives the same). Here those outputs are compared with facts computed another way:
Kafka's partitioner written out again from the Java client, the sample log summed from its JSON
lines, the naming rule of namespaces. Then the lessons themselves are checked for what they must
put in the learner's hands, in code cells the learner runs (not in solutions): a producer with
`acks` and a keyed send, a consumer poll loop with an explicit commit, direct Redis commands, the
Lua script, a dead letter read back with its headers, and markdown on retention and CQRS.
The exercises' own solutions pass their checks (`banku.lessons.checks`).
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from banku.lessons import authoring
from tests.unit.notebooks import stored
from tests.unit.notebooks.by_hand import balances_by_hand, kafka_partition, murmur2, sample_rows

LESSONS = tuple(sorted(p.stem for p in stored.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))


def test_murmur2_matches_kafka_python_and_the_java_client():
    from kafka.partitioner.default import murmur2 as kafka_python_murmur2

    for key in (b"", b"a", b"ab", b"abc", b"abcd", b"21", b"hello world", uuid.uuid4().bytes):
        assert murmur2(key) & 0xFFFFFFFF == kafka_python_murmur2(key) & 0xFFFFFFFF, key
    # Values of the Java client's own test (UtilsTest.testMurmur2).
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482


# --- 00 -------------------------------------------------------------------------------------------
def _solved(nb, name: str, **given):
    """The function ``name`` as the notebook's solution cells define it (their imports and
    definitions only: what they print needs the notebook's state), given names the lesson
    defines before (``given``)."""
    import ast

    namespace: dict = dict(given)
    for cell in nb.cells:
        if authoring.SOLUTION_TAG not in stored.tags(cell):
            continue
        tree = ast.parse(cell.source)
        tree.body = [node for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom))
                     or (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant))]
        exec(compile(tree, "<solution>", "exec"), namespace)  # the kit's own cells
    return namespace[name]


def _exercise_then_check(nb, name: str, check: str) -> None:
    """The exercise defines ``name`` as a stub, and the check cell after it calls ``check``."""
    exercise = stored.cell(nb, f"def {name}(", tag=authoring.EXERCISE_TAG)
    assert 'raise NotImplementedError("your code here")' in exercise.source
    stored.cell(nb, f"{check}({name}", tag=authoring.CHECK_TAG)


def test_00_the_solution_passes_its_check(capsys):
    from banku.lessons.checks.nb00 import check_topic_of

    nb = stored.notebook(LESSONS[0])
    _exercise_then_check(nb, "topic_of", "check_topic_of")
    from banku import Settings
    from banku.lessons import notebook

    topic_of = _solved(nb, "topic_of", Settings=Settings, notebook=notebook)
    # The rule: a notebook's namespace is "<yours>-<notebook>", its topic
    # "<namespace>.banku-transactions".
    assert topic_of("bob", "nb02") == f"{'bob'}-{'nb02'}.{'banku-transactions'}"
    assert check_topic_of(topic_of) is True


# --- 01 -------------------------------------------------------------------------------------------
def _accounts_01(nb) -> dict[str, str]:
    # the ids are made this way
    stored.cell(nb, 'uuid.uuid5(uuid.NAMESPACE_URL, f"banku:nb01:{name}")')
    names = ["Adam Pahlevi", "Eve", "Timmy Richardo", "Sanne de Vries"]
    return {name: str(uuid.uuid5(uuid.NAMESPACE_URL, f"banku:nb01:{name}")) for name in names}


def test_01_exercise_1_the_partition_of_each_key(capsys):
    from kafka.partitioner.default import murmur2 as kafka_python_murmur2

    from banku.lessons.checks.nb01 import check_partition_of

    nb = stored.notebook(LESSONS[1])
    accounts = _accounts_01(nb)
    expected = {name: kafka_partition(acc) for name, acc in accounts.items()}
    # Where the broker actually put each account's records in the stored run ...
    table = stored.text(stored.cell(nb, "sent.groupby(\"account\").agg"))
    placed = {m.group(1): int(m.group(2))
              for m in re.finditer(r"^(\w[\w ]*?)\s+\[(\d)\]", table, re.MULTILINE)}
    assert placed == {name: p for name, p in expected.items()}
    adam = stored.text(stored.cell(nb, "metadata = future.get("))
    assert f"stored in partition {expected['Adam Pahlevi']}, offset 0" in adam
    # ... agrees with the notebook's solution, which its check accepts.
    _exercise_then_check(nb, "partition_of", "check_partition_of")
    partition_of = _solved(nb, "partition_of", murmur2=kafka_python_murmur2)
    by_id = {accounts[name]: partition for name, partition in placed.items()}
    assert check_partition_of(partition_of, by_id) is True


def test_01_exercises_2_to_4_the_solutions_pass_their_checks(capsys):
    import banku
    from banku.domain import events
    from banku.lessons.checks import nb01

    nb = stored.notebook(LESSONS[1])
    given = {name: getattr(banku, name) for name in (
        "AccountNotFound", "InsufficientFunds", "InvalidAmount", "SameAccountTransfer")}
    given.update(json=json, **{name: getattr(events, name) for name in (
        "CreateEvent", "DepositEvent", "WithdrawEvent", "TransferEvent")})
    for name, check in (("go_wire", nb01.check_go_wire),
                        ("decide_withdrawal", nb01.check_decide_withdrawal),
                        ("decide_transfer", nb01.check_decide_transfer)):
        _exercise_then_check(nb, name, check.__name__)
        assert check(_solved(nb, name, **given)) is True, capsys.readouterr().out


def test_01_balances_and_the_keyless_reader_add_up():
    nb = stored.notebook(LESSONS[1])
    adam = 2000 - 500 - 100
    eve = 100 + 750
    timmy = sum(10_000 - 1_200 * day - 300 for day in range(1, 7))
    sanne = sum(2_500 * day + 300 - 400 for day in range(1, 7))
    table = stored.text(stored.cell(nb, "projector.run_until_caught_up"))
    for name, balance in [("Adam Pahlevi", adam), ("Eve", eve), ("Sanne de Vries", sanne),
                          ("Timmy Richardo", timmy), ("Zoe", 0)]:
        assert re.search(rf"{name}\s+{balance}\b", table), (name, balance, table)
    # Timmy's withdrawals and transfers all read before his deposits: the lowest point.
    lowest = -(6 * 300 + sum(1_200 * day for day in range(1, 7)))
    shown = stored.text(stored.cell(nb, "partition without a key"))
    assert f"lowest: {lowest}  final: {timmy}" in shown


def test_01_the_refused_withdrawal_writes_nothing():
    from banku import Bank, InsufficientFunds
    from banku.adapters.memory import MemoryLog, MemoryView

    log = MemoryLog()
    bank = Bank(log=log, view=MemoryView())
    adam = bank.create_account("Adam")
    bank.deposit(adam, 1400)
    before = [len(p) for p in log.records]
    with pytest.raises(InsufficientFunds):
        bank.withdraw(adam, 5000)
    assert [len(p) for p in log.records] == before
    shown = stored.text(stored.cell(stored.notebook(LESSONS[1]), "bank.withdraw(adam, 5000)"))
    assert "has 1400 cents, cannot take 5000" in shown and "end offsets unchanged: True" in shown


# --- 02 -------------------------------------------------------------------------------------------
INGRID = "Ingrid Andersen"


def _ingrid_after_first_11() -> tuple[str, int]:
    rows = sample_rows(11)
    ingrid = next(r["AccId"] for r in rows if r.get("AccName") == INGRID)
    return ingrid, balances_by_hand(rows)[ingrid]


def test_02_the_naive_projector_counts_the_deposit_twice():
    nb = stored.notebook(LESSONS[2])
    _, before = _ingrid_after_first_11()
    truth = before + 2000  # the lesson's deposit
    applied = stored.text(stored.cell(nb, "print(\"applied\", naive_projector()"))
    assert applied.count(f"'Balance': '{before}'")
    shown = stored.text(stored.cell(nb, "restarted: applied\", naive_projector()"))
    assert f"naive view: {truth + 2000} cents; the log says {truth}: off by 2000" in shown


def test_02_the_exercises_are_stubs_followed_by_their_checks():
    # Each check runs against the real servers: tests/test_checks_nb02.py.
    nb = stored.notebook(LESSONS[2])
    _exercise_then_check(nb, "mark_first_projector", "check_mark_first")
    _exercise_then_check(nb, "read_dead_letters", "check_dead_letters")
    lua = stored.cell(nb, "APPLY_ONCE = ", tag=authoring.EXERCISE_TAG)
    assert "-- your Lua here" in lua.source
    stored.cell(nb, "check_apply_once(APPLY_ONCE", tag=authoring.CHECK_TAG)


def test_02_the_safe_projector_keeps_the_deposit_once():
    nb = stored.notebook(LESSONS[2])
    _, before = _ingrid_after_first_11()
    truth = before + 2000
    safe = stored.text(stored.cell(nb, "safe_projector(crash_at=crash_here)"))
    assert f"safe view: {truth} cents; the log says {truth}" in safe
    assert "restarted: applied 0 events" in safe


def test_02_the_dead_letters_and_the_records_they_came_from():
    nb = stored.notebook(LESSONS[2])
    ingrid, _ = _ingrid_after_first_11()
    partition = kafka_partition(ingrid)
    in_partition = [r for r in sample_rows(11) if kafka_partition(r["AccId"]) == partition]
    poison = len(in_partition) + 1  # after Ingrid's partition's sample records and the deposit
    letters = stored.text(stored.cell(nb, '"banku", "dlq"'))  # `banku dlq`, as the lesson runs it
    assert f"nb02.banku-transactions/{partition}/{poison}: the value is not JSON" in letters
    assert f"nb02.banku-transactions/{partition}/{poison + 1}: the value is JSON list, not an" \
        " object" in letters


# --- what the lessons put in the learner's hands ---------------------------------------
def test_the_learner_writes_a_producer_with_acks_and_a_keyed_send():
    code = "\n".join(stored.learner_code(stored.notebook(LESSONS[1])))
    assert re.search(r"KafkaProducer\((?:[^()]|\([^()]*\))*acks=\"all\"", code)
    assert "enable_idempotence=True" in code and "key_serializer=" in code
    assert re.search(r"\.send\([^)]*key=\w+", code)
    assert ".get(timeout=" in code  # the RecordMetadata


def test_the_learner_runs_a_consumer_poll_loop_with_an_explicit_commit():
    sources = stored.learner_code(stored.notebook(LESSONS[2]))
    loops = [s for s in sources if "KafkaConsumer(" in s and ".poll(" in s and ".commit()" in s]
    assert loops, "no code cell with a KafkaConsumer, poll and commit"
    assert any("group_id=" in s and "auto_offset_reset=\"earliest\"" in s for s in loops)
    assert any("ConsumerRebalanceListener" in s and ".seek(" in s for s in sources)


def test_the_learner_talks_to_redis_directly():
    code = "\n".join(stored.learner_code(stored.notebook(LESSONS[2])))
    for command in (".hset(", ".hincrby(", ".hgetall(", ".hget(", "pipeline(transaction=True)"):
        assert command in code, command
    shown = stored.text(stored.cell(stored.notebook(LESSONS[2]),
                                    "print(\"applied\", naive_projector()"))
    assert "'Name': 'Ingrid Andersen'" in shown  # HGETALL's answer, as the Go tutorial showed it


def test_the_lua_script_is_shown():
    from banku.adapters.redis.view import APPLY_WITH_TRACKING

    cell = stored.cell(stored.notebook(LESSONS[2]), "print(APPLY_WITH_TRACKING)")
    assert authoring.SOLUTION_TAG not in stored.tags(cell)
    assert stored.text(cell).strip() == APPLY_WITH_TRACKING.strip()


def test_a_dead_letter_is_read_back_with_its_headers():
    nb = stored.notebook(LESSONS[2])
    # The learner writes the reader (exercise 3); the solution reads the headers.
    solution = stored.cell(nb, "def read_dead_letters", tag=authoring.SOLUTION_TAG)
    assert "record.headers" in solution.source and "KafkaConsumer(" in solution.source
    raw = stored.cell(nb, "KafkaProducer(", "withdraw###")  # the malformed records, sent by hand
    assert authoring.SOLUTION_TAG not in stored.tags(raw)
    markdown = stored.markdown(nb)
    assert "`banku.source`" in markdown and "`banku.reason`" in markdown


@pytest.mark.parametrize("name", LESSONS[:3])
def test_no_stored_output_shows_a_test_stack_port(name):
    """The stored outputs are a learner's run (9092, 6379), never a test stack's (20000 up)."""
    for cell in stored.notebook(name).cells:
        found = re.search(r"(?:127\.0\.0\.1|localhost):(2\d{4})", stored.text(cell))
        assert not found, f"{name}: a stored output shows port {found.group(1)}"


def test_the_markdown_explains_retention_and_names_cqrs():
    producing = stored.markdown(stored.notebook(LESSONS[1]))
    assert "**Retention**" in producing and "retention.ms=-1" in producing
    assert "**Compaction**" in producing
    replay = stored.markdown(stored.notebook(LESSONS[2]))
    assert "**CQRS** (Command Query Responsibility Segregation)" in replay
    assert "**write side**" in replay and "**read side**" in replay


@pytest.mark.parametrize("name", LESSONS[1:])
def test_each_lesson_has_a_picture(name):
    images = [o for c in stored.notebook(name).cells if c.cell_type == "code"
              for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, f"{name} has no stored image"


# --- glossary -------------------------------------------------------------------------------------
def test_the_glossary_is_sorted_and_points_at_notebooks_that_exist():
    rows = stored.glossary_rows()
    assert len(rows) > 40
    terms = [term.replace("`", "").lower() for term, _, _ in rows]
    assert terms == sorted(terms)
    assert len(set(terms)) == len(terms)
    for term, meaning, where in rows:
        target = re.fullmatch(r"\[(\d\d)\]\((\d\d_\w+\.ipynb)\)", where)
        assert target and (stored.NOTEBOOKS / target.group(2)).exists(), (term, where)
        assert target.group(2).startswith(target.group(1))
        assert meaning.endswith("."), term


@pytest.mark.parametrize("name", LESSONS)
def test_each_lesson_links_the_glossary_before_its_first_term(name):
    nb = stored.notebook(name)
    first = nb.cells[0].source  # the title and the opening paragraph
    assert "(GLOSSARY.md)" in first
    prerequisites = next(c.source for c in nb.cells if "## Prerequisites" in c.source)
    assert "[Glossary](GLOSSARY.md)" in prerequisites


@pytest.mark.parametrize("name", LESSONS)
def test_the_glossary_notebook_of_each_term_explains_it(name):
    """Every term the glossary says is first used in this notebook does appear in it."""
    nb = stored.notebook(name)
    text = stored.markdown(nb) + "\n".join(stored.learner_code(nb))
    number = name[:2]
    for term, _, where in stored.glossary_rows():
        if not where.startswith(f"[{number}]"):
            continue
        words = [w for w in re.split(r"[`()/]| \(", term) if w.strip()]
        assert any(w.strip().lower() in text.lower() for w in words), (name, term)
