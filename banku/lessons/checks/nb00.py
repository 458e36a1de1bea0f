"""Checks for notebook 00 (check your setup): the topic a notebook uses for a learner.

The right answers come from the naming rule written out here (``<yours>-<notebook>``, or the
notebook's alone without a namespace of your own), never from the learner's own call.
"""

from __future__ import annotations

from collections.abc import Callable

from banku.lessons.checks import NotYet, check, proven

__all__ = ["check_topic_of"]

TOPIC = "banku-transactions"
CASES = [("bob", "nb02"), ("alice", "nb05"), ("", "nb01"), ("team-7", "nb03")]


def _expected(namespace: str, notebook: str) -> str:
    return f"{namespace}-{notebook}.{TOPIC}" if namespace else f"{notebook}.{TOPIC}"


@check("notebook.notebook_settings makes a notebook's settings from yours, and every Settings"
       " knows its topic's name.")
def check_topic_of(topic_of: Callable[[str, str], str]) -> bool:
    for namespace, notebook in CASES:
        got = topic_of(namespace, notebook)
        if got == _expected(namespace, notebook):
            continue
        asked = f"topic_of({namespace!r}, {notebook!r}) returned {got!r}."
        if not isinstance(got, str):
            raise NotYet(asked, "return the topic's name as text: a str.")
        if not namespace:
            raise NotYet(asked, "with no namespace of your own (BANKU_NAMESPACE empty), a"
                         " notebook's namespace is the notebook's name alone.")
        if notebook not in got:
            raise NotYet(asked, "each notebook has a namespace of its own, made from yours and"
                         " the notebook's name: notebook.notebook_settings does it.")
        raise NotYet(asked, "let the kit join the names: notebook.notebook_settings(...)"
                     ".topic_name, rather than writing the rule out yourself.")
    return proven("topic_of names every notebook's topic, with and without a namespace of"
                  " your own: learners sharing a cluster never write to each other's topics.")
