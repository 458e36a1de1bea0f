"""`banku handler` on a machine too busy to start quickly, made deterministic.

Every transactional producer's ``init_transactions`` waits ``BANKU_TEST_INIT_DELAY_S`` seconds
first, as it may on a loaded machine (a new producer, the transaction coordinator's answer and the
fencing of the previous owner, per command partition). Run as
``python -m tests.fault.slow_handler handler ARGS...``; the arguments are `banku`'s.
"""

from __future__ import annotations

import os
import sys
import time

from kafka import KafkaProducer

DELAY_S = float(os.environ.get("BANKU_TEST_INIT_DELAY_S", "0"))
_init_transactions = KafkaProducer.init_transactions


def _slow_init_transactions(self, *args, **kwargs):
    time.sleep(DELAY_S)
    return _init_transactions(self, *args, **kwargs)


KafkaProducer.init_transactions = _slow_init_transactions

if __name__ == "__main__":
    from banku.cli import main

    raise SystemExit(main(sys.argv[1:]))
