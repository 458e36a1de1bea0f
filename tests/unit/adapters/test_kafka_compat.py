"""kafka-python's private parts are touched in one module, `banku.adapters.kafka.compat`, which
says which kafka-python releases it was made for."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import kafka
import pytest

import banku
from banku.adapters.kafka import compat

PACKAGE = Path(banku.__file__).parent
COMPAT = PACKAGE / "adapters" / "kafka" / "compat.py"
# Private-looking names that are not kafka-python's: a namedtuple's public method, and the
# kit's own Bank catching up for its CLI.
NOT_KAFKAS = {"_replace", "_catch_up"}
# kafka-python modules that hold its internals (the protocol's request classes are public).
INTERNAL_MODULES = ("kafka.producer.transaction_manager", "kafka.producer.sender",
                    "kafka.coordinator", "kafka.client_async", "kafka.cluster", "kafka.conn")


def private_touches(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """`obj._name` on anything but self/cls, getattr(obj, "_name"), and imports of kafka's
    internal modules, as "file:line: source"."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        what = None
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__") and node.attr not in NOT_KAFKAS
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            what = ast.unparse(node)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant)
              and str(node.args[1].value).startswith("_")):
            what = ast.unparse(node)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(INTERNAL_MODULES):
            what = f"from {node.module} import ..."
        elif isinstance(node, ast.Import):
            what = next((a.name for a in node.names if a.name.startswith(INTERNAL_MODULES)), None)
        if what:
            found.append((node.lineno, f"{path.relative_to(root)}:{node.lineno}: {what}"))
    return [touch for _, touch in sorted(found)]


def test_no_module_but_compat_touches_kafka_pythons_private_parts():
    offenders = [touch for path in sorted(PACKAGE.rglob("*.py")) if path != COMPAT
                 for touch in private_touches(path)]
    assert offenders == []


def test_the_check_finds_what_it_looks_for(tmp_path):
    """The grep above would find a private touch if one came back."""
    sample = tmp_path / "sample.py"
    sample.write_text("from kafka.producer.transaction_manager import TransactionManager\n"
                      "admin._manager.run(send)\n"
                      "getattr(consumer, '_coordinator', None)\n"
                      "self._reader._client.cluster\n"
                      "self._reader.close()\n"
                      "url._replace(path='/1')\n")
    found = private_touches(sample, tmp_path)
    assert [line.split(": ", 1)[1] for line in found] == [
        "from kafka.producer.transaction_manager import ...", "admin._manager",
        "getattr(consumer, '_coordinator', None)", "self._reader._client"]


def test_compat_says_in_one_line_which_versions_it_was_made_for():
    assert compat.check_version(kafka.__version__) is None  # the locked release
    assert compat.check_version("3.0.12") is None
    told = compat.check_version("3.1.0")
    assert told is not None and "\n" not in told
    assert "3.0.x" in told and "3.1.0" in told


def test_an_unknown_release_warns_at_import(monkeypatch):
    monkeypatch.setattr(compat, "check_version", lambda: "made for 3.0.x, finds 9.9")
    with pytest.warns(RuntimeWarning, match="made for 3.0.x"):
        compat.warn_if_unknown_version()
    monkeypatch.setattr(compat, "check_version", lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.warn_if_unknown_version()


def test_a_fenced_transactional_producer_is_fatal_and_the_patch_is_applied_once():
    from kafka.errors import InvalidProducerEpochError, ProducerFencedError
    from kafka.producer.transaction_manager import TransactionManager

    compat.fence_zombies_for_good()
    patched = TransactionManager.classify_batch_error
    compat.fence_zombies_for_good()
    assert TransactionManager.classify_batch_error is patched

    class Transactional:
        ERROR_CLASS_FATAL = TransactionManager.ERROR_CLASS_FATAL

        def is_transactional(self) -> bool:
            return True

    for error in (InvalidProducerEpochError, ProducerFencedError()):
        assert patched(Transactional(), error, None) == TransactionManager.ERROR_CLASS_FATAL


def test_a_consumer_outside_a_group_has_no_silent_coordinator():
    class Lone:
        def subscription(self) -> set[str]:
            return set()

    assert compat.coordinator_silent_for(Lone()) == 0.0
