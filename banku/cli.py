"""The `banku` command line: the stack, the bank's commands, the projector, and workshop tools.

Every command exits 0 on success and otherwise prints one line saying why on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import stack
from .config import DEFAULT_GROUP, Settings
from .errors import BankuError
from .rules import parse_amount


def _stack(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "up":
        stack.up(settings, brokers=args.brokers)
        return 0
    if args.action == "down":
        stack.down(settings, wipe=args.wipe)
        return 0
    result = stack.status(settings)
    for line in result.lines():
        print(line)
    return 0 if result.ok else 1


def _bank(settings: Settings):
    from .commands import Bank

    return Bank(settings)


def _landed(receipt) -> str:
    return f"(partition {receipt.partition}, offset {receipt.offset})"


def _create(args: argparse.Namespace, settings: Settings) -> int:
    with _bank(settings) as bank:
        print(bank.create_account(args.name))
    return 0


def _deposit(args: argparse.Namespace, settings: Settings) -> int:
    with _bank(settings) as bank:
        receipt = bank.deposit(args.id, parse_amount(args.amount))
    print(f"Deposited {receipt.event.amount} to {args.id} {_landed(receipt)}")
    return 0


def _withdraw(args: argparse.Namespace, settings: Settings) -> int:
    with _bank(settings) as bank:
        receipt = bank.withdraw(args.id, parse_amount(args.amount))
    print(f"Withdrew {receipt.event.amount} from {args.id} {_landed(receipt)}")
    return 0


def _transfer(args: argparse.Namespace, settings: Settings) -> int:
    with _bank(settings) as bank:
        receipt = bank.transfer(args.source, args.target, parse_amount(args.amount))
    print(f"Transferred {receipt.event.amount} from {args.source} to {args.target}"
          f" {_landed(receipt)}")
    return 0


def _balances(args: argparse.Namespace, settings: Settings) -> int:
    from .read_model import ReadModel

    view = ReadModel(settings)
    try:
        accounts = view.accounts()
    finally:
        view.close()
    if args.json:
        print(json.dumps([{"Id": a.id, "Name": a.name, "Balance": a.balance} for a in accounts]))
        return 0
    if not accounts:
        print("No accounts in the view yet. Create one, then run `banku project"
              " --until-caught-up`.")
        return 0
    width = max(len(a.name) for a in accounts)
    for a in accounts:
        print(f"{a.name:<{width}}  {a.id}  {a.balance:>12}")
    return 0


def _project(args: argparse.Namespace, settings: Settings) -> int:
    from .projector import Projector

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    projector = Projector(
        settings, group_id=args.group, session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=max(100, args.session_timeout_ms // 4), log=log,
        max_poll_records=args.batch_size, client_id=args.client_id,
    )
    if args.until_caught_up:
        with projector:
            count = projector.run_until_caught_up(timeout=args.timeout)
        print(f"Applied {count} records; the view is caught up.")
        return 0
    log(f"Projecting {settings.topic_name} as group {projector.group_id};"
        " stop with Ctrl-C (or SIGTERM).")
    projector.run(retry_seconds=args.retry_seconds)
    log(f"Stopped after {projector.applied} events ({projector.dead_letters} dead letters).")
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from .projector import Projector

    with Projector(settings, group_id=args.group) as projector:
        count = projector.replay(timeout=args.timeout, progress=sys.stderr.isatty())
    print(f"Replayed {count} records from offset zero.")
    return 0


def _console(args: argparse.Namespace, settings: Settings) -> int:
    from .console import run_console

    with _bank(settings) as bank:
        return run_console(bank, sys.stdin, sys.stdout)


def _load(args: argparse.Namespace, settings: Settings) -> int:
    from .sample import DEFAULT_SAMPLE, load_file

    path = Path(args.path) if args.path else DEFAULT_SAMPLE
    with _bank(settings) as bank:
        count = load_file(bank, path, progress=sys.stderr.isatty())
    print(f"Loaded {count} events from {path} into {settings.topic_name}.")
    return 0


def _reset(args: argparse.Namespace, settings: Settings) -> int:
    from . import workshop

    scope = ("ALL namespaces" if args.all_namespaces
             else f"namespace {settings.namespace or '(default)'}")
    if not args.yes:
        if not sys.stdin.isatty():
            print("banku: refusing to reset without confirmation; add --yes", file=sys.stderr)
            return 1
        answer = input(f"Delete the topics and the Redis view of {scope}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    if args.all_namespaces:
        done = workshop.reset_all(settings)
    else:
        done = [workshop.reset_namespace(settings)]
    for line in done:
        print(line)
    return 0


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from .doctor import run_checks

    checks = run_checks(settings)
    for check in checks:
        print(check.line())
    return 0 if all(c.ok for c in checks) else 1


def _dlq(args: argparse.Namespace, settings: Settings) -> int:
    from .workshop import dead_letters

    letters = dead_letters(settings)
    if not letters:
        print(f"No dead letters in {settings.dlq_topic}.")
    for letter in letters:
        print(f"{letter['source']}: {letter['reason']}  value={letter['value']!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="banku", description="Event sourcing and CQRS with Apache Kafka: the Banku kit."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("stack", help="start, stop or check the local Kafka + Redis")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--brokers", type=int, default=1, choices=[1, 3])
    p.add_argument("--wipe", action="store_true", help="with down: also delete the data")
    p.set_defaults(func=_stack)

    p = sub.add_parser("create", help="open an account; prints its id")
    p.add_argument("name")
    p.set_defaults(func=_create)
    for name, func, verb in (("deposit", _deposit, "put money into"),
                             ("withdraw", _withdraw, "take money out of")):
        p = sub.add_parser(name, help=f"{verb} an account (AMOUNT in cents)")
        p.add_argument("id")
        p.add_argument("amount")
        p.set_defaults(func=func)
    p = sub.add_parser("transfer", help="move money between two accounts (AMOUNT in cents)")
    p.add_argument("source", metavar="FROM")
    p.add_argument("target", metavar="TO")
    p.add_argument("amount")
    p.set_defaults(func=_transfer)

    p = sub.add_parser("balances", help="every account as the Redis view shows it")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_balances)

    p = sub.add_parser("project", help="run the projector (Kafka -> Redis)")
    p.add_argument("--group", default=DEFAULT_GROUP)
    p.add_argument("--until-caught-up", action="store_true",
                   help="stop once everything up to the end offsets is applied")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--session-timeout-ms", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=5000,
                   help="records per poll, applied to Redis in one atomic step")
    p.add_argument("--client-id", default=None, help="name shown in the group's member list")
    p.add_argument("--retry-seconds", "--redis-retry-seconds", dest="retry_seconds", type=float,
                   default=60.0, help="how long to keep retrying while Redis or Kafka is away"
                   " before giving up (default 60)")
    p.set_defaults(func=_project)

    p = sub.add_parser("replay", help="wipe the Redis view and rebuild it from offset zero")
    p.add_argument("--group", default=DEFAULT_GROUP)
    p.add_argument("--timeout", type=float, default=300.0)
    p.set_defaults(func=_replay)

    p = sub.add_parser("console", help="the Go tutorial's create###Name prompt")
    p.set_defaults(func=_console)

    p = sub.add_parser("load", help="load the sample event log (data/) into the topic")
    p.add_argument("path", nargs="?")
    p.set_defaults(func=_load)

    p = sub.add_parser("reset", help="delete a namespace's topics and view (between cohorts)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--all-namespaces", action="store_true")
    p.set_defaults(func=_reset)

    p = sub.add_parser("doctor", help="check everything the kit needs and say how to fix it")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("dlq", help="show the dead letters of this namespace")
    p.set_defaults(func=_dlq)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.func(args, settings)
    except (BankuError, ValueError) as exc:
        print(f"banku: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("banku: interrupted", file=sys.stderr)
        return 130
