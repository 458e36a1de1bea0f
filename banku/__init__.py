"""Banku: event sourcing and CQRS with Apache Kafka and Redis, a teaching kit.

The package is layered (domain, application, adapters, one composition root, then the entry
points); ARCHITECTURE.md is the one map of it. The public API is re-exported here:
``from banku import Settings, Bank, Projector, BankAccount, CommandRejected`` and the refusal
classes, and ``banku.history``.

Heavy modules (pandas through `history`, the lab) are imported only when first used, so
``banku --help`` and ``import banku`` stay quick.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from banku.config import Settings
from banku.domain.ledger import BankAccount, Receipt
from banku.errors import (
    AccountExists,
    AccountNotFound,
    BankuError,
    CommandRejected,
    ConfigError,
    EventDecodeError,
    InsufficientFunds,
    InvalidAccountId,
    InvalidAmount,
    InvalidCommandId,
    InvalidName,
    NotAllowed,
    SameAccountTransfer,
    ServiceUnavailable,
    StackError,
    ViewCorrupt,
)

if TYPE_CHECKING:
    from banku import history, stack
    from banku.application.bank import Bank
    from banku.application.projector import Projector

__version__ = "0.2.0"

# A library logs; the application (the CLI, a notebook) decides what to show.
logging.getLogger("banku").addHandler(logging.NullHandler())

# name -> module that defines it, imported on first use (PEP 562)
_LAZY = {
    "Bank": "banku.application.bank",
    "Projector": "banku.application.projector",
}
_LAZY_MODULES = {"domain", "application", "adapters", "bootstrap", "cli", "history", "stack",
                 "lab", "lessons", "diagnostics"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(f"banku.{name}")
    else:
        raise AttributeError(f"module 'banku' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "Bank",
    "BankAccount",
    "Projector",
    "Receipt",
    "Settings",
    "history",
    "stack",
    "AccountExists",
    "AccountNotFound",
    "BankuError",
    "CommandRejected",
    "ConfigError",
    "EventDecodeError",
    "InsufficientFunds",
    "InvalidAccountId",
    "InvalidAmount",
    "InvalidCommandId",
    "InvalidName",
    "NotAllowed",
    "SameAccountTransfer",
    "ServiceUnavailable",
    "StackError",
    "ViewCorrupt",
]
