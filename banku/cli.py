"""The `banku` command line."""

from __future__ import annotations

import argparse
import sys

from . import stack
from .config import Settings
from .errors import BankuError


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banku", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("stack", help="start, stop or check the local Kafka + Redis")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--brokers", type=int, default=1, choices=[1, 3])
    p.add_argument("--wipe", action="store_true", help="with down: also delete the data")
    p.set_defaults(func=_stack)
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
        return 130
