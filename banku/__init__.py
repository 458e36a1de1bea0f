"""Banku: event sourcing and CQRS with Apache Kafka and Redis, a teaching kit."""

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

__version__ = "0.1.0"
__all__ = [
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
