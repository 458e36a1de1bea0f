"""The `banku` command line: the stack, the bank's commands, the projector, and workshop tools.

Every command exits 0 on success and otherwise prints one line saying why on stderr. Modules are
imported by the command that needs them, so ``banku --help`` does not pay for pandas.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from banku import defaults
from banku.config import DEFAULT_GROUP, ENV_FILE_VAR, Settings
from banku.errors import BankuError


# --- helpers ---------------------------------------------------------------------------------
def _bank(settings: Settings):
    from banku.application.bank import Bank

    return Bank(settings)


def _landed(receipt) -> str:
    return f"(partition {receipt.partition}, offset {receipt.offset})"


def _amount(text: str) -> int:
    from banku.domain.rules import parse_amount

    return parse_amount(text)


@contextlib.contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (a clean leave), and the old handlers come back after."""
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _JsonLines(logging.Formatter):
    """One JSON object per line: the machine-readable log other programs (and lessons) read."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"level": record.levelname.lower(), "message": record.getMessage()}
        for key in ("event", "partitions", "partition", "offset", "reason"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        return json.dumps(data)


def _log_to_stderr(as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines() if as_json else logging.Formatter("%(message)s"))
    logger = logging.getLogger("banku")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


# --- commands ----------------------------------------------------------------------------------
def _stack(args: argparse.Namespace, settings: Settings) -> int:
    from banku import stack

    if args.action == "up":
        stack.up(settings, brokers=args.brokers, tls=args.tls)
        return 0
    if args.action == "down":
        stack.down(settings, wipe=args.wipe)
        return 0
    result = stack.status(stack.client_settings(settings))  # a --tls stack's, over TLS
    if args.json:
        data = result.to_dict()
        env = stack.tls_env(settings)
        if env:  # what a client of a --tls stack needs
            data["tls"] = True
            data["env"] = env
        print(json.dumps(data))
    else:
        for line in result.lines():
            print(line)
    return 0 if result.ok else 1


def _create(args: argparse.Namespace, settings: Settings) -> int:
    with _bank(settings) as bank:
        print(bank.create_account(args.name, command_id=args.command_id))
    return 0


def _deposit(args: argparse.Namespace, settings: Settings) -> int:
    with _bank(settings) as bank:
        receipt = bank.deposit(args.id, _amount(args.amount), command_id=args.command_id)
    print(f"Deposited {receipt.event.amount} to {args.id} {_landed(receipt)}")
    return 0


def _withdraw(args: argparse.Namespace, settings: Settings) -> int:
    with _bank(settings) as bank:
        receipt = bank.withdraw(args.id, _amount(args.amount), command_id=args.command_id)
    print(f"Withdrew {receipt.event.amount} from {args.id} {_landed(receipt)}")
    return 0


def _transfer(args: argparse.Namespace, settings: Settings) -> int:
    with _bank(settings) as bank:
        receipt = bank.transfer(args.source, args.target, _amount(args.amount),
                                command_id=args.command_id)
    print(f"Transferred {receipt.event.amount} from {args.source} to {args.target}"
          f" {_landed(receipt)}")
    return 0


def _balances(args: argparse.Namespace, settings: Settings) -> int:
    from banku.adapters.redis.view import ReadModel

    with ReadModel(settings) as view:
        accounts = view.accounts()
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
    from banku.application.projector import Projector

    _log_to_stderr(args.log_json)
    projector = Projector(
        settings, group_id=args.group, session_timeout_ms=args.session_timeout_ms,
        max_poll_records=args.batch_size, client_id=args.client_id,
    )
    with projector:
        if args.until_caught_up:
            count = projector.run_until_caught_up(timeout=args.timeout)
            print(f"Applied {count} records; the view is caught up.")
            return 0
        logging.getLogger("banku").info(
            "Projecting %s as group %s; stop with Ctrl-C (or SIGTERM).", settings.topic_name,
            projector.group_id, extra={"event": "started"})
        stop = threading.Event()
        with _stopped_by_signals(stop):
            projector.run(stop, retry_seconds=args.retry_seconds)
        logging.getLogger("banku").info(
            "Stopped after %d events (%d dead letters).", projector.applied,
            projector.dead_letters, extra={"event": "stopped"})
    return 0


def _handler(args: argparse.Namespace, settings: Settings) -> int:
    from banku.adapters.kafka.handler import CommandHandler

    _log_to_stderr(args.log_json)
    handler = CommandHandler(settings, client_id=args.client_id,
                             session_timeout_ms=args.session_timeout_ms)
    logging.getLogger("banku").info(
        "Deciding the commands of %s as group %s; stop with Ctrl-C (or SIGTERM).",
        settings.commands_topic, handler.group_id, extra={"event": "started"})
    stop = threading.Event()
    with _stopped_by_signals(stop):
        handler.run(stop)
    logging.getLogger("banku").info("Stopped after %d commands.", handler.decided,
                                    extra={"event": "stopped"})
    return 0


def _forget(args: argparse.Namespace, settings: Settings) -> int:
    from banku.adapters.redis.view import ReadModel
    from banku.diagnostics import redis_errors
    from banku.domain.sealing import NO_HISTORY, REWRITING

    with ReadModel(settings) as view, redis_errors(settings):
        history = view.name_keys().forget(args.id, view.account_key(args.id))
    disk = {REWRITING: " (Redis is rewriting its append-only file, which still held it)",
            NO_HISTORY: ""}.get(history, "")
    print(f"Forgot the name of account {args.id}: its key is destroyed{disk}; the log keeps only"
          " ciphertext, and every replay shows (forgotten).")
    if history not in (REWRITING, NO_HISTORY):
        print(f"banku: {history}", file=sys.stderr)
    return 0


def _snapshot(args: argparse.Namespace, settings: Settings) -> int:
    with _bank(settings) as bank:
        bank._catch_up()
        started_from = bank.state.started_from
        if not bank.state.snapshot():
            print("banku: the write model is not settled yet; try again", file=sys.stderr)
            return 1
        records = sum(bank.state.positions.values())
    print(f"Snapshot of {len(bank.ledger.names)} accounts at {records} records written to"
          f" {settings.snapshots_topic} (started from {started_from}).")
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from banku.application.projector import Projector

    with Projector(settings, group_id=args.group) as projector:
        count = projector.replay(timeout=args.timeout, progress=sys.stderr.isatty())
    print(f"Replayed {count} records from offset zero.")
    return 0


def _console(args: argparse.Namespace, settings: Settings) -> int:
    from banku.cli.console import run_console

    with _bank(settings) as bank:
        return run_console(bank, sys.stdin, sys.stdout)


def _load(args: argparse.Namespace, settings: Settings) -> int:
    from banku.lab.sample import DEFAULT_SAMPLE, load_file

    path = Path(args.path) if args.path else DEFAULT_SAMPLE
    with _bank(settings) as bank:
        count = load_file(bank, path, progress=sys.stderr.isatty())
    print(f"Loaded {count} events from {path} into {settings.topic_name}.")
    return 0


def _reset(args: argparse.Namespace, settings: Settings) -> int:
    from banku.lab import workshop

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
    from banku.lab.doctor import report, run_checks

    checks = run_checks(settings)
    if args.json:
        print(json.dumps(report(checks)))
    else:
        for check in checks:
            print(check.line())
    return 0 if all(c.ok for c in checks) else 1


def _workshop(args: argparse.Namespace, settings: Settings) -> int:
    from banku.lab import room

    if args.action == "status":
        return _workshop_status(args, settings)
    if args.action == "up":
        if args.learners is None or args.out is None:
            print("banku: workshop up needs --learners N and --out DIR", file=sys.stderr)
            return 2
        room.up(settings, args.learners, Path(args.out), host=args.host, tls=args.tls,
                hub=args.hub, hub_port=args.hub_port)
    elif args.action == "add":
        if args.learners is None:
            print("banku: workshop add needs --learners M", file=sys.stderr)
            return 2
        room.add(settings, args.learners, Path(args.out) if args.out else None)
    else:
        room.down(settings, wipe=args.wipe)
    return 0


def _workshop_status(args: argparse.Namespace, settings: Settings) -> int:
    from banku.lab import room, room_status

    found = room.status(settings)
    if found is None:
        port = int(settings.bootstrap_list[0].rpartition(":")[2])
        print(json.dumps(room_status.no_room(port)) if args.json
              else room_status.no_room_sentence(port))
        return 1
    if args.json:
        print(json.dumps(found.to_dict()))
    else:
        for line in found.lines():
            print(line)
    return 0 if found.ok else 1


def _letter_json(letter: dict[str, object]) -> dict[str, object]:
    value = letter["value"]
    raw = value if isinstance(value, bytes) else None
    return {"source": letter["source"], "reason": letter["reason"], "offset": letter["offset"],
            # the bytes as text where they are UTF-8, and exactly (base64) in any case
            "value": raw.decode("utf-8", errors="replace") if raw is not None else None,
            "value_base64": base64.b64encode(raw).decode("ascii") if raw is not None else None}


def _dlq(args: argparse.Namespace, settings: Settings) -> int:
    from banku.lab.workshop import dead_letters

    topic = settings.commands_dlq_topic if args.commands else settings.dlq_topic
    letters = dead_letters(settings, topic)
    if args.json:
        print(json.dumps({"topic": topic, "dead_letters": [_letter_json(x) for x in letters]}))
        return 0
    if not letters:
        print(f"No dead letters in {topic}.")
    for letter in letters:
        print(f"{letter['source']}: {letter['reason']}  value={letter['value']!r}")
    return 0


# --- the parser ----------------------------------------------------------------------------------
_POSITIONAL_HELP = {
    "NAME": "the account holder's name (1 to 100 characters)",
    "ID": "the account's id, as `banku create` printed it",
    "FROM": "the id of the account the money leaves",
    "TO": "the id of the account the money goes to",
    "AMOUNT": "a positive whole number of cents (2000 is 20.00)",
}


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("banku")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown: the kit is not installed; run ./kit lab)"


def _money_command(sub, name: str, func, help_: str, *positionals: tuple[str, str]) -> None:
    p = sub.add_parser(name, help=help_)
    for dest, metavar in positionals:
        p.add_argument(dest, metavar=metavar, help=_POSITIONAL_HELP[metavar])
    p.add_argument("--command-id", default=None,
                   help="idempotency key: the same id sent again writes nothing new")
    p.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="banku", description="Event sourcing and CQRS with Apache Kafka: the Banku kit."
    )
    parser.add_argument("--version", action="version", version=f"banku {_version()}",
                        help="print the kit's version and exit")
    parser.add_argument("--env-file", metavar="PATH",
                        help=f"read the settings from this env file (a learner-NN.env) as well"
                             f" as the environment; its values win (same as {ENV_FILE_VAR}=PATH)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do; `banku COMMAND --help` tells more")

    p = sub.add_parser("stack", help="start, stop or check the local Kafka + Redis")
    p.add_argument("action", choices=["up", "down", "status"],
                   help="up: start what is missing and wait until both answer; down: stop what"
                        " up started; status: do both answer? (exit 0 only if so)")
    p.add_argument("--brokers", type=int, default=1, choices=[1, 3],
                   help="with up: one broker, or a three-broker cluster (notebook 05)")
    p.add_argument("--wipe", action="store_true", help="with down: also delete the data")
    p.add_argument("--tls", action="store_true",
                   help="with up: make a CA and a certificate; Kafka and Redis then speak only"
                        " TLS (remembered until down --wipe); prints the settings clients need")
    p.add_argument("--json", action="store_true",
                   help="with status: print one JSON document instead of lines (with --tls,"
                        " also the env clients need)")
    p.set_defaults(func=_stack)

    _money_command(sub, "create", _create, "open an account; prints its id", ("name", "NAME"))
    _money_command(sub, "deposit", _deposit, "put money into an account (AMOUNT in cents)",
                   ("id", "ID"), ("amount", "AMOUNT"))
    _money_command(sub, "withdraw", _withdraw, "take money out of an account (AMOUNT in cents)",
                   ("id", "ID"), ("amount", "AMOUNT"))
    _money_command(sub, "transfer", _transfer,
                   "move money between two accounts (AMOUNT in cents)",
                   ("source", "FROM"), ("target", "TO"), ("amount", "AMOUNT"))

    p = sub.add_parser("balances", help="every account as the Redis view shows it")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {Id, Name, Balance} instead of a table")
    p.set_defaults(func=_balances)

    p = sub.add_parser("project", help="run the projector (Kafka -> Redis)")
    p.add_argument("--group", default=DEFAULT_GROUP,
                   help="the consumer group (prefixed with your namespace); default %(default)s")
    p.add_argument("--until-caught-up", action="store_true",
                   help="stop once everything up to the end offsets is applied")
    p.add_argument("--timeout", type=float, default=defaults.CATCH_UP_TIMEOUT_S,
                   help="with --until-caught-up: give up after this many seconds"
                        " (default %(default)s)")
    p.add_argument("--session-timeout-ms", type=int, default=defaults.SESSION_TIMEOUT_MS,
                   help="how long the group waits for a silent member before handing its"
                        " partitions to another (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=defaults.PROJECTOR_BATCH,
                   help="records per poll, applied to Redis in one atomic step")
    p.add_argument("--client-id", default=None, help="name shown in the group's member list")
    p.add_argument("--retry-seconds", "--redis-retry-seconds", dest="retry_seconds", type=float,
                   default=defaults.OUTAGE_RETRY_S,
                   help="how long to keep retrying while Redis or Kafka is away before giving up")
    p.add_argument("--log-json", action="store_true",
                   help="log one JSON object per line (assignments, dead letters) on stderr")
    p.set_defaults(func=_project)

    p = sub.add_parser("handler", help="decide commands from the commands topic (one writer per"
                       " account; for BANKU_COMMANDS=topic)")
    p.add_argument("--client-id", default=None, help="name shown in the group's member list")
    p.add_argument("--session-timeout-ms", type=int, default=defaults.SESSION_TIMEOUT_MS,
                   help="how long the group waits for a silent handler before handing its"
                        " partitions to another (default %(default)s)")
    p.add_argument("--log-json", action="store_true",
                   help="log one JSON object per line on stderr")
    p.set_defaults(func=_handler)

    p = sub.add_parser("forget", help="destroy the key of an account's sealed name"
                       " (crypto-shredding; names are sealed with BANKU_ENCRYPT_NAMES=1)")
    p.add_argument("id", metavar="ID", help="the account whose name is to be forgotten")
    p.set_defaults(func=_forget)

    p = sub.add_parser("snapshot", help="leave a snapshot of the write model, so that a new"
                       " Bank starts from it instead of folding the whole log")
    p.set_defaults(func=_snapshot)

    p = sub.add_parser("replay", help="wipe the Redis view and rebuild it from offset zero")
    p.add_argument("--group", default=DEFAULT_GROUP,
                   help="the projector's consumer group (prefixed with your namespace);"
                        " default %(default)s")
    p.add_argument("--timeout", type=float, default=defaults.REPLAY_TIMEOUT_S,
                   help="give up after this many seconds (default %(default)s)")
    p.set_defaults(func=_replay)

    p = sub.add_parser("console", help="the Go tutorial's create###Name prompt")
    p.set_defaults(func=_console)

    p = sub.add_parser("load", help="load the sample event log into the topic")
    p.add_argument("path", nargs="?", metavar="PATH",
                   help="a JSON-lines event log (default: the kit's recorded sample)")
    p.set_defaults(func=_load)

    p = sub.add_parser("reset", help="delete a namespace's topics and view (between cohorts)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--all-namespaces", action="store_true",
                   help="every namespace on the cluster, not only yours (an instructor's reset"
                        " between cohorts)")
    p.set_defaults(func=_reset)

    p = sub.add_parser("doctor", help="check everything the kit needs and say how to fix it")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document ({ok, checks: [{item, ok, detail, fix}]})")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("workshop", help="a secured room on one cluster: a login per learner")
    p.add_argument("action", choices=["up", "add", "status", "down"],
                   help="up: start the room and write the learner files; add: late arrivals;"
                        " status: who is in it, their topics and lag, do the servers answer;"
                        " down: stop it")
    p.add_argument("--learners", type=int, metavar="N",
                   help="up: how many learners; add: how many more")
    p.add_argument("--out", metavar="DIR",
                   help="where learner-NN.env (and instructor/instructor.env) go; add: where"
                   " up put them")
    p.add_argument("--wipe", action="store_true",
                   help="with down: delete the room's data and the env files it wrote")
    p.add_argument("--host", metavar="ADDRESS",
                   help="up: the address learners' machines reach this one at (the servers"
                        " then listen on every interface); default: this machine only")
    p.add_argument("--tls", action="store_true",
                   help="up: Kafka speaks only SASL_SSL and Redis only TLS, with a CA the room"
                        " makes (copied beside the learner files, which name it)")
    p.add_argument("--hub", action="store_true",
                   help="up: also serve the room with JupyterHub (needs root): a login per"
                        " learner, each learner's JupyterLab as a system user of their own")
    p.add_argument("--hub-port", type=int, metavar="P",
                   help="up: the hub's port (default 8000; P+1 and P+2 too, on 127.0.0.1)")
    p.add_argument("--json", action="store_true",
                   help="with status: print one JSON document instead of lines")
    p.set_defaults(func=_workshop)

    p = sub.add_parser("dlq", help="show the dead letters of this namespace")
    p.add_argument("--commands", action="store_true",
                   help="the command handler's dead letters instead of the projector's")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document ({topic, dead_letters: [...]})")
    p.set_defaults(func=_dlq)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.func not in (_project, _handler):  # those two log more, as they run
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("banku: %(message)s"))
        handler.setLevel(logging.WARNING)
        logging.getLogger("banku").addHandler(handler)
    if args.env_file:
        # In the environment, so that whatever reads Settings.from_env() later reads it too.
        os.environ[ENV_FILE_VAR] = os.path.abspath(os.path.expanduser(args.env_file))
    try:
        settings = Settings.from_env()
        return args.func(args, settings)
    except BankuError as exc:
        print(f"banku: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("banku: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last net: one line, never a traceback
        module = type(exc).__module__.split(".")[0]
        if module not in ("kafka", "redis"):
            raise
        print(f"banku: {module.capitalize()} error: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
