"""A writer process for the handler fault test: random commands through the command handler.

    python -m tests.fault.command_writer ACCOUNTS.json OUT.jsonl COUNT SEED

ACCOUNTS.json holds groups of account ids, each group in one partition; transfers stay inside a
group, so every account's whole history is in one partition and "never negative in the log's
order" can be checked exactly. Each command is retried with the *same* command id until the
handler answers (a handler may be killed at any moment): OUT.jsonl gets one line per command,
``{"cid", "outcome": "accepted" | <refusal class>, "partition", "offset"}``.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid

from banku import Bank, CommandRejected, ServiceUnavailable, Settings


def main(accounts_file: str, out_file: str, count: int, seed: int) -> int:
    settings = Settings.from_env()
    assert settings.commands == "topic", "the writer sends commands to the handler"
    groups = [g for g in json.load(open(accounts_file)) if g]
    rng = random.Random(seed)
    with Bank(settings) as bank, open(out_file, "w") as out:
        for _ in range(count):
            group = rng.choice(groups)
            account = rng.choice(group)
            roll, amount = rng.random(), rng.randint(1, 60)
            cid = str(uuid.UUID(int=rng.getrandbits(128)))
            if roll < 0.35:
                command = (bank.deposit, account, amount)
            elif roll < 0.7 or len(group) < 2:
                command = (bank.withdraw, account, amount)
            else:
                target = rng.choice([a for a in group if a != account])
                command = (bank.transfer, account, target, amount)
            line = {"cid": cid}
            while True:
                try:
                    receipt = command[0](*command[1:], command_id=cid)
                    line.update(outcome="accepted", partition=receipt.partition,
                                offset=receipt.offset)
                    break
                except CommandRejected as refusal:
                    line.update(outcome=type(refusal).__name__)
                    break
                except ServiceUnavailable:
                    time.sleep(0.2)  # a handler is down: ask again, same command id
            out.write(json.dumps(line) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
