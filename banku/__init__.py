"""Banku: event sourcing and CQRS with Apache Kafka and Redis, a teaching kit."""

from . import history  # noqa: F401  (banku.history)
from .commands import Bank, Receipt
from .config import Settings
from .errors import (
    AccountNotFound,
    BankuError,
    CommandRejected,
    EventDecodeError,
    InsufficientFunds,
    InvalidAmount,
    InvalidName,
    SameAccountTransfer,
    ServiceUnavailable,
    StackError,
)
from .model import BankAccount
from .projector import Projector

__version__ = "0.1.0"
__all__ = [
    "Bank",
    "BankAccount",
    "Projector",
    "Receipt",
    "history",
    "AccountNotFound",
    "BankuError",
    "CommandRejected",
    "EventDecodeError",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidName",
    "SameAccountTransfer",
    "ServiceUnavailable",
    "Settings",
    "StackError",
]
