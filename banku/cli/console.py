"""The Go tutorial's interactive producer: ``create###Name``, ``deposit###ID###AMOUNT``, ...

Same prompt (``-> ``), same usage lines, same "Message is stored in partition P, offset O". Two
things differ on purpose: a refused command prints why and writes nothing, and end of input ends
the console (the Go version looped forever on EOF).
"""

from __future__ import annotations

from typing import TextIO

from banku.application.bank import Bank, Receipt
from banku.domain.rules import parse_amount
from banku.errors import BankuError, CommandRejected

USAGE = {
    "create": (2, "Only specify create###Account Name"),
    "deposit": (3, "Only specify deposit###Account ID###amount"),
    "withdraw": (3, "Only specify withdraw###Account ID###amount"),
    "transfer": (4, "Only specify transfer###Source ID###Target ID###amount"),
}
UNKNOWN = "Unknown command {}, only: create, deposit, withdraw, transfer"


def handle_line(bank: Bank, line: str) -> list[str]:
    """Run one console line; return what to print."""
    args = line.rstrip("\r\n").split("###")
    cmd = args[0].strip()
    if not cmd:
        return []
    if cmd not in USAGE:
        return [UNKNOWN.format(cmd)]
    arity, usage = USAGE[cmd]
    if len(args) != arity:
        return [usage]
    try:
        if cmd == "create":
            bank.create_account(args[1])
            receipt = bank.last_receipt
        elif cmd == "deposit":
            receipt = bank.deposit(args[1].strip(), parse_amount(args[2]))
        elif cmd == "withdraw":
            receipt = bank.withdraw(args[1].strip(), parse_amount(args[2]))
        else:
            receipt = bank.transfer(args[1].strip(), args[2].strip(), parse_amount(args[3]))
    except CommandRejected as exc:
        return [f"Refused (nothing was written): {exc}"]
    except BankuError as exc:
        return [f"Error: {exc}"]
    return _sent(receipt)


def _sent(receipt: Receipt | None) -> list[str]:
    if receipt is None:
        return []
    return [
        f"Message: {receipt.wire}",
        f"Message is stored in partition {receipt.partition}, offset {receipt.offset}",
    ]


def run_console(bank: Bank, stdin: TextIO, stdout: TextIO) -> int:
    """Read commands until end of input; returns the exit status (0)."""
    while True:
        stdout.write("-> ")
        stdout.flush()
        line = stdin.readline()
        if not line:  # end of input: the Go version spun here forever
            stdout.write("\n")
            return 0
        for out in handle_line(bank, line):
            stdout.write(out + "\n")
        stdout.flush()
