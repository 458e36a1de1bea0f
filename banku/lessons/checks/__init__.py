"""Checks for the notebooks' exercises: one call after each exercise, one line of answer.

A check runs the learner's code against cases and prints either ``✔`` and what is now proven,
or what is wrong and a hint, never the solution. It never raises: a stub that still says
``raise NotImplementedError`` or code that fails is answered with a sentence, so the notebook
goes on. Each notebook's checks live in their own module (``nb01``, ``nb02``, ...), built from
the three helpers below; each check returns True when proven, so tests can assert on it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["NotYet", "check", "proven"]

F = TypeVar("F", bound=Callable[..., bool])


class NotYet(Exception):
    """What is wrong with the learner's answer, and a hint towards the right one."""

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


def proven(what: str) -> bool:
    """Print the one line of success and return True."""
    print(f"✔ {what}")
    return True


def outcome_name(value: Any) -> str:
    """What a learner's function answered: a string as is, an exception (or its class) by name."""
    if isinstance(value, BaseException):
        return type(value).__name__
    if isinstance(value, type) and issubclass(value, BaseException):
        return value.__name__
    return str(value)


def _not_yet(problem: str, hint: str) -> bool:
    print(f"✘ {problem} Hint: {hint}")
    return False


def check(stub_hint: str) -> Callable[[F], F]:
    """Turn a function that raises `NotYet` (or returns `proven(...)`) into a check.

    ``stub_hint`` is said when the learner's code still raises NotImplementedError. Any other
    exception from the learner's code is reported as one line with its type and message.
    """

    def wrap(body: F) -> F:
        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> bool:
            try:
                return bool(body(*args, **kwargs))
            except NotYet as wrong:
                return _not_yet(wrong.problem, wrong.hint)
            except NotImplementedError:
                return _not_yet("Not written yet: the exercise still raises NotImplementedError.",
                                stub_hint)
            except Exception as error:  # the learner's code may raise anything
                name = type(error).__name__
                return _not_yet(f"Your code raised {name}: {error}.", stub_hint)

        return run  # type: ignore[return-value]

    return wrap
