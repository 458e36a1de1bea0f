"""Every error the kit raises on purpose, each with a message a learner can act on.

The command-side rules live in `banku.domain.rules`; their refusals are the `CommandRejected`
subclasses below, one class per rule (the way the `eventsourcing` library's bank-account
example does it).
"""

from __future__ import annotations


class BankuError(Exception):
    """Base class: an error whose message is meant to be read by a person, not a stack trace."""


# --- commands that are refused (nothing is written) ---------------------------------------
class CommandRejected(BankuError):
    """A command was refused before anything was written to Kafka."""


class InvalidAmount(CommandRejected):
    """Amounts are positive whole numbers of minor units (cents), at most 2**63 - 1."""


class AccountNotFound(CommandRejected):
    """The account id does not belong to any account opened in this namespace."""


class InsufficientFunds(CommandRejected):
    """A withdraw or transfer larger than the account's balance."""


class SameAccountTransfer(CommandRejected):
    """A transfer whose source and target are the same account."""


class InvalidName(CommandRejected):
    """An account name must be text, non-empty after trimming, at most 100 characters."""


class AccountExists(CommandRejected):
    """An account can be opened only once (a recorded CreateEvent loaded twice, for example)."""


class InvalidAccountId(CommandRejected):
    """An account id is a UUID in its canonical text form."""


class InvalidCommandId(CommandRejected):
    """A command id (idempotency key) is printable text of 1 to 200 characters."""


# --- events that cannot be decoded --------------------------------------------------------
class EventDecodeError(BankuError):
    """A Kafka record that is not a valid Banku event (it goes to the dead-letter topic)."""


# --- configuration -------------------------------------------------------------------------------
class ConfigError(BankuError):
    """An environment variable or setting the kit cannot use."""


# --- infrastructure ---------------------------------------------------------------------------
class ServiceUnavailable(BankuError):
    """Kafka or Redis does not answer."""


class StackError(BankuError):
    """The local stack (Kafka + Redis processes) could not be started, stopped or found."""


class LoginRefused(ServiceUnavailable):
    """Kafka or Redis refused the credentials (a wrong user or password)."""


class NotAllowed(ServiceUnavailable):
    """The server refused this user (an ACL): the namespace or resource belongs to someone else."""


class PositionConflict(BankuError):
    """Another projector already moved a partition's position in the view; reload and seek."""


class ViewCorrupt(BankuError):
    """The Redis view holds something the projector did not write (a hand-edited balance)."""
