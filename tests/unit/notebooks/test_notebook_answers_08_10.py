"""Notebooks 08-10: every exercise answer and every figure the lessons state, against facts
computed another way (no servers).

The committed notebooks hold the outputs of a run against the real Kafka and Redis; nbval checks
that a new run gives the same. Here the outputs are compared with what the sample log, Kafka's
partitioner (written out again in `test_notebook_answers`) and plain arithmetic on the amounts
the lessons send say they must be. Then the lessons are checked for what they must put in the
learner's hands: version-2 records written with a raw producer and headers, the dead letter's
reason, an upcaster, a stored picture of cold starts; a raw read of the topic's bytes, AES-GCM
with associated data, `banku forget`, and each wrong use as one line.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from banku.lessons import authoring
from tests.unit.notebooks import stored
from tests.unit.notebooks.by_hand import balances_by_hand, kafka_partition, sample_rows

VERSIONS = "08_changing_events"
SNAPSHOTS = "09_snapshots"
FORGETTING = "10_forgetting_a_person"
LESSONS = (VERSIONS, SNAPSHOTS, FORGETTING)
LENGTHS = (2_000, 10_000, 20_000, 40_000)  # the cold-start measurements of 09
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _account_id(shown: str, who: str) -> str:
    """The id of the account the stored output shows with this name."""
    found = re.search(rf"BankAccount\(id='({UUID})', name='{re.escape(who)}'", shown)
    assert found, f"no BankAccount of {who} in the output"
    return found.group(1)


# --- 08: versions -------------------------------------------------------------------------------
# What the lesson sends for Ada, by hand: (Type, Amount) in order; the Go deposit has no header.
ADA_MEMO, ADA_FEE, ADA_GO = 2500, 150, 1000


def test_08_the_sample_loads_to_fifty_accounts():
    shown = stored.text(stored.cell(stored.notebook(VERSIONS), "events written and projected"))
    rows = sample_rows(30_000)
    assert len(rows) == 30_000
    assert f"30000 events written and projected; {len(balances_by_hand(rows))} accounts" in shown


def test_08_the_old_projector_takes_the_memo_and_dead_letters_the_fee():
    nb = stored.notebook(VERSIONS)
    view = stored.text(stored.cell(nb, "print(\"Ada in the view:\", view.account(ada))"))
    ada = _account_id(view, "Ada Lovelace")
    v1 = ADA_MEMO + ADA_GO  # what a reader that skips the fee counts
    assert f"name='Ada Lovelace', balance={v1})" in view
    assert "records consumed: 4" in view  # her opening and the three records sent by hand
    assert "counters: {'applied': 30003, 'dead_letters': 1}" in view

    # The fee is the third of her records in her partition, after every sample record there.
    partition = kafka_partition(ada)
    before = sum(1 for row in sample_rows(30_000) if kafka_partition(row["AccId"]) == partition)
    sent = stored.text(stored.cell(nb, "new_code.send(TOPIC"))
    offsets = [before + 1, before + 2, before + 3]  # after her CreateEvent at `before`
    for offset in offsets:
        assert f"stored in partition {partition}, offset {offset}" in sent
    letters = stored.text(stored.cell(nb, "for letter in dead_letters(settings)"))
    source = f"nb08.banku-transactions/{partition}/{offsets[1]}"
    assert f"{source} -> unknown event Type 'FeeCharged'" in letters
    assert '"Type":"FeeCharged","Amount":150' in letters
    write_side = stored.text(stored.cell(nb, "the version-1 write side thinks"))
    assert f"the version-1 write side thinks Ada has {v1} cents" in write_side


def test_08_the_old_log_through_the_new_code_gives_the_same_balances():
    nb = stored.notebook(VERSIONS)
    versions = stored.text(stored.cell(nb, "log = read_v2()"))
    # v1: the sample, her opening (the kit's header) and the Go deposit (no header); v2: two.
    assert f"records by schema version: {{1: {30_000 + 2}, 2: 2}}" in versions
    shown = stored.text(stored.cell(nb, "v2_balances = fold_v2("))
    sample_accounts = len(balances_by_hand(sample_rows(30_000)))
    assert f"{sample_accounts} of {sample_accounts + 1} accounts: the same balance" in shown
    v2 = ADA_MEMO - ADA_FEE + ADA_GO
    assert f"Ada Lovelace: kit's view {ADA_MEMO + ADA_GO} cents, version 2 {v2} cents" in shown


def test_08_exercise_3_the_version_3_record():
    nb = stored.notebook(VERSIONS)
    shown = stored.text(stored.cell(nb, "v3_producer = KafkaProducer", tag=authoring.SOLUTION_TAG))
    movements = sum(1 for row in sample_rows(30_000) if row["Type"] != "CreateEvent")
    movements += 3 + 1  # Ada's deposit, fee and Go deposit; the version-3 withdrawal
    assert f"{movements} movements: {movements} with a Note, 0 with a Memo" in shown
    assert f"Ada in version 3: {ADA_MEMO - ADA_FEE + ADA_GO - 400} cents" in shown
    for call in ("check_compatibility(answers)", "check_upcast_v3(upcast_v3)",
                 "check_v3_record(settings, ada)"):
        assert stored.text(stored.cell(nb, call, tag=authoring.CHECK_TAG)).startswith("✔ "), call


def test_08_has_a_picture_of_adas_balance_in_both_versions():
    cell = stored.cell(stored.notebook(VERSIONS), "ax.step(range(4), v1_steps")
    assert any("image/png" in o.get("data", {}) for o in cell.outputs)


def test_08_the_learner_writes_version_2_by_hand_and_reads_the_headers():
    code = "\n".join(stored.learner_code(stored.notebook(VERSIONS)))
    assert "KafkaProducer(" in code and "headers=V2" in code and 'b"2"' in code
    assert '"Type": "FeeCharged"' in code and '"Memo":' in code
    assert "def upcast(event, version)" in code and "record.headers" in code
    markdown = stored.markdown(stored.notebook(VERSIONS))
    for words in ("**tolerant\n  reader**", "**upcaster**", "**schema version**",
                  "**schema registry**", "**chain**"):
        assert words.replace("\n  ", " ") in markdown.replace("\n  ", " "), words


# --- 09: snapshots ------------------------------------------------------------------------------
def test_09_cold_starts_read_the_tail_with_a_snapshot_and_everything_without():
    nb = stored.notebook(SNAPSHOTS)
    table = stored.text(next(c for c in nb.cells
                       if c.cell_type == "code" and c.source.strip() == "reads"))
    for length in LENGTHS:
        line = next(row for row in table.splitlines() if row.split()[:1] == [str(length)])
        assert line.split() == [str(length), "a", "snapshot", "1000", "offset", "zero", str(length)]


def test_09_the_snapshot_positions_are_the_generated_log_per_partition():
    from banku.lab import sample

    rows = sample.generate(seed=8, events=LENGTHS[-1])
    per_partition = Counter(kafka_partition(row["AccId"]) for row in rows)
    shown = stored.text(stored.cell(stored.notebook(SNAPSHOTS),
                                    "value = keeper.log.latest_snapshot()"))
    positions = {str(p): per_partition[p] for p in range(3)}
    assert f"positions: {positions}" in shown
    assert "accounts: 50" in shown and "checksum: True" in shown


def test_09_refused_snapshots_are_one_warning_and_a_full_fold():
    nb = stored.notebook(SNAPSHOTS)
    garbage = stored.cell(nb, 'value=b"not a snapshot"')
    assert ("WARNING banku.snapshots: Ignoring the snapshot of nb09.banku-transactions: it"
            " is corrupt (not the gzip'd JSON a snapshot is); folding the whole log instead."
            ) in stored.text(garbage)
    assert f"started from offset zero, read {LENGTHS[-1]} records" in stored.text(garbage)
    forged = stored.text(stored.cell(nb, "check_forgery(forge, value", tag=authoring.CHECK_TAG))
    assert forged.startswith("✔ ") and "its checksum does not match" in forged
    assert f"folded all {LENGTHS[-1]} records" in forged
    for call in ("check_fold_tail(fold_tail)", "check_why_refused(why_refused)"):
        assert stored.text(stored.cell(nb, call, tag=authoring.CHECK_TAG)).startswith("✔ "), call


def test_09_compaction_is_on_the_snapshots_topic_only():
    shown = stored.text(stored.cell(stored.notebook(SNAPSHOTS), "describe_configs"))
    assert re.search(r"nb09\.banku-transactions\s+cleanup\.policy=delete"
                     r"\s+retention\.ms=-1", shown)
    assert re.search(r"nb09\.banku-snapshots\s+cleanup\.policy=compact", shown)
    # Four snapshots and four tombstones in the loop, the one shown, the garbage.
    assert "records in the snapshots topic so far: 10" in shown


def test_09_one_global_snapshot_is_measured_per_account():
    shown = stored.text(stored.cell(stored.notebook(SNAPSHOTS),
                                    "per_account = len(value) / accounts"))
    found = re.search(r"([\d,]+) bytes gzip'd for 50 accounts: about (\d+) bytes each", shown)
    assert found and round(int(found.group(1).replace(",", "")) / 50) == int(found.group(2))
    markdown = stored.markdown(stored.notebook(SNAPSHOTS))
    assert "**per-aggregate snapshot**" in markdown and "**one global snapshot**" in markdown


def test_09_the_learner_deletes_a_snapshot_with_a_tombstone_and_meets_the_terms():
    code = "\n".join(stored.learner_code(stored.notebook(SNAPSHOTS)))
    assert "value=None" in code  # the tombstone
    markdown = stored.markdown(stored.notebook(SNAPSHOTS))
    for words in ("**cold start**", "**snapshot**", "**tail**", "**tombstone**",
                  "**Compaction**"):
        assert words in markdown, words


def test_09_has_a_picture_of_cold_starts():
    cell = stored.cell(stored.notebook(SNAPSHOTS), "ax.plot(seconds.index")
    assert any("image/png" in o.get("data", {}) for o in cell.outputs)


# --- 10: forgetting ---------------------------------------------------------------------------
# The lesson's money, by hand: five deposits of 50,000 + 10,000 n, two transfers, a withdrawal.
PEOPLE = ["Ada Lovelace", "Grace Hopper", "Katherine Johnson", "Margaret Hamilton", "Hedy Lamarr"]


def _expected_balances() -> dict[str, int]:
    balances = {name: 50_000 + 10_000 * n for n, name in enumerate(PEOPLE)}
    balances["Ada Lovelace"] -= 15_000
    balances["Grace Hopper"] += 15_000
    balances["Hedy Lamarr"] -= 2_500
    balances["Ada Lovelace"] += 2_500
    balances["Katherine Johnson"] -= 4_000
    return balances | {"Alan Turing": 5_000}


def _table(shown: str) -> dict[str, int]:
    rows = {}
    for line in shown.splitlines()[1:]:
        found = re.fullmatch(r"\s*\d+\s+(.+?)\s+(\d+)", line)
        if found:
            rows[found.group(1)] = int(found.group(2))
    return rows


def test_10_the_view_shows_the_names_then_forgets_ada_and_keeps_every_balance():
    nb = stored.notebook(FORGETTING)
    expected = _expected_balances()
    assert _table(stored.text(stored.cell(nb, "balances_before = view.balances()"))) == expected
    after = _table(stored.text(stored.cell(nb, "print(\"replayed:\", projector.replay()")))
    assert after == {("(forgotten)" if k == "Ada Lovelace" else k): v for k, v in expected.items()}


def test_10_no_sealed_name_in_the_raw_bytes_and_the_ciphertext_counted():
    nb = stored.notebook(FORGETTING)
    before = stored.text(stored.cell(nb, "raw = everything()"))
    for name in PEOPLE:
        assert f"{name!r:22} in the raw bytes: False" in before
    assert f"{'Alan Turing'!r:22} in the raw bytes: True" in before
    # Each sealed name is in its CreateEvent, and twice in the snapshot: in the ledger's names
    # and in the CreateEvent its command ids remember.
    assert f"sealed names in the raw bytes: {3 * len(PEOPLE)}" in before
    after = stored.text(stored.cell(nb, "raw_after = everything()"))
    assert "b'Ada Lovelace' in the raw bytes: False" in after
    assert f"sealed names in the raw bytes: {3 * len(PEOPLE)} (as before)" in after
    opening = stored.text(stored.cell(nb, "opening = next("))
    assert re.search(r'"AccName":"enc:v1:[A-Za-z0-9_-]{39,}"', opening)
    assert "header banku.schema: 1" in opening


def test_10_aes_gcm_adds_a_16_byte_tag_and_refuses_every_change():
    nb = stored.notebook(FORGETTING)
    sealed = stored.text(stored.cell(nb, "sealed = aead.encrypt("))
    assert "28 bytes sealed = 12 of name + 16 of tag" in sealed
    refused = stored.text(stored.cell(nb, "def attempt("))
    assert refused.count("InvalidTag, refused") == 3


def test_10_forget_and_the_wrong_uses_are_one_line_each():
    nb = stored.notebook(FORGETTING)
    forgot = stored.text(stored.cell(nb, "forgot = banku_cli(\"forget\", ada)"))
    assert re.search(rf"exit 0: Forgot the name of account {UUID}: its key is destroyed \(Redis is"
                     r" rewriting its append-only file", forgot)
    assert "name='(forgotten)', balance=37500" in forgot
    wrong = stored.text(stored.cell(nb, "nobody = banku_cli("))
    lines = [line for line in wrong.splitlines() if line.strip()]
    assert len(lines) == 3 and all(line.startswith("exit 1: banku: ") for line in lines)
    assert "There is no account" in lines[0] and "already forgotten" in lines[1]
    assert "written in the clear" in lines[2]
    lost = stored.cell(nb, "r.hdel(KEYS, katherine)")
    assert "name='(name unavailable: no key)', balance=66000" in stored.text(lost)
    assert "WARNING banku.names: No key for the sealed name of account" in stored.text(lost)
    restored = stored.text(stored.cell(nb, "r.hset(KEYS, katherine"))
    assert "name='Katherine Johnson', balance=66000" in restored


def test_10_the_exercises_are_answered():
    nb = stored.notebook(FORGETTING)
    shown = stored.text(stored.cell(nb, "bank.names.forget(grace", tag=authoring.SOLUTION_TAG))
    assert f"name='(forgotten)', balance={_expected_balances()['Grace Hopper']})" in shown
    for call in ("check_sealing(seal_name, open_name)", "check_forgotten(bank, view, grace",
                 "check_tombstone(names_from"):
        assert stored.text(stored.cell(nb, call, tag=authoring.CHECK_TAG)).startswith("✔ "), call
    tombstone = stored.text(stored.cell(nb, "def names_from", tag=authoring.SOLUTION_TAG))
    assert str(sorted(set(PEOPLE) - {"Hedy Lamarr"})) in tombstone


def test_10_the_fifteen_sealed_names_and_the_five_others_are_explained():
    markdown = stored.markdown(stored.notebook(FORGETTING))
    assert "three others" not in markdown and "The five others are" in markdown
    assert "Why 15 sealed names for five accounts?" in markdown
    assert len(PEOPLE) == 5  # five sealed accounts, each name in three places: 3 * 5 = 15


def test_10_the_compacted_topic_alternative_is_taught():
    nb = stored.notebook(FORGETTING)
    code = "\n".join(stored.learner_code(nb))
    assert '"cleanup.policy": "compact"' in code and "names_producer.send(NAMES" in code
    shown = stored.text(stored.cell(nb, "NAMES = f\"{settings.namespace}.banku-names\""))
    assert "5 records, each keyed by its account id: True" in shown
    markdown = stored.markdown(nb)
    for words in ("**tombstone**", "**compacted**", "max.compaction.lag.ms", "delete.retention.ms",
                  "| crypto-shredding | compacted topic + tombstone |"):
        assert words in markdown, words


def test_10_the_learner_reads_raw_bytes_and_seals_with_associated_data():
    nb = stored.notebook(FORGETTING)
    code = "\n".join(stored.learner_code(nb))
    assert "KafkaConsumer(" in code and "record.headers" in code and "seek_to_beginning" in code
    assert "AESGCM(" in code and "account.encode()" in code and "InvalidTag" in code
    assert '"forget"' in code and "encrypt_names=True" in code
    markdown = stored.markdown(nb)
    assert "**Crypto-shredding**" in markdown and "**AEAD**" in markdown
    assert "**Associated data**" in markdown and "**every name**" in markdown
    assert "Article 17" in markdown and "backups" in markdown


# --- all three ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", LESSONS)
def test_the_lesson_has_the_skeleton_and_exercises_with_solutions(name):
    nb = stored.notebook(name)  # its skeleton: test_notebooks.py, for every notebook
    assert authoring.check_exercises(nb, name) >= 3
    for index, cell in enumerate(nb.cells):
        if authoring.EXERCISE_TAG in stored.tags(cell):
            solution = nb.cells[index + 1]
            assert authoring.SOLUTION_TAG in stored.tags(solution), "the solution follows"
            check = nb.cells[index + 2]
            assert authoring.CHECK_TAG in stored.tags(check), "then its check"
            assert len(check.source.splitlines()) == 1 and "checks.check_" in check.source
    # At least two exercises ask for code the learner writes (a function, or a send).
    written = [c for c in nb.cells if authoring.EXERCISE_TAG in stored.tags(c)
               and ("raise NotImplementedError" in c.source or "# Your code here" in c.source)]
    assert len(written) >= 2


@pytest.mark.parametrize("name", LESSONS)
def test_the_lesson_fits_its_time(name):
    nb = stored.notebook(name)
    words = authoring.prose_words(nb)
    assert words <= 2_000, words
    minutes = nb.metadata["banku"]["minutes"]
    exercises = authoring.check_exercises(nb, name)
    # Reading at 150 words a minute, a few minutes of running, about 5 minutes an exercise.
    assert minutes >= words / 150 + 2 + 5 * exercises, (minutes, words, exercises)


@pytest.mark.parametrize("name", LESSONS)
def test_cells_whose_output_cannot_repeat_assert_what_they_show(name):
    for cell in stored.notebook(name).cells:
        if "nbval-ignore-output" in stored.tags(cell):
            assert "assert" in cell.source, cell.source[:80]


@pytest.mark.parametrize("name", LESSONS)
def test_the_lesson_links_the_glossary(name):
    nb = stored.notebook(name)
    assert "(GLOSSARY.md)" in nb.cells[0].source
    prerequisites = next(c.source for c in nb.cells if "## Prerequisites" in c.source)
    assert "[Glossary](GLOSSARY.md)" in prerequisites


@pytest.mark.parametrize("name", LESSONS)
def test_the_glossary_terms_first_used_here_are_explained_here(name):
    nb = stored.notebook(name)
    text = (stored.markdown(nb) + "\n".join(stored.learner_code(nb))).lower()
    terms = [term for term, _, where in stored.glossary_rows() if where.startswith(f"[{name[:2]}]")]
    assert len(terms) >= 5
    for term in terms:
        words = [w for w in re.split(r"[`()/]| \(", term) if w.strip()]
        assert any(w.strip().lower() in text for w in words), (name, term)
