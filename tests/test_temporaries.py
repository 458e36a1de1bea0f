"""Objects used as temporaries hold nothing afterwards: the README's example, run twice in one
process and re-run in a notebook kernel, against the real servers.

A projector used as `Projector(settings).run_until_caught_up()` owns every partition for the
duration of the call *without* joining the consumer group, and lets go before it returns, so a
second one (or a running group member) finds nothing held. What it held is released when it is
closed or garbage collected (`weakref.finalize`), for `Bank` too.
"""

from __future__ import annotations

import gc
import textwrap

import nbformat
from nbclient import NotebookClient

from banku import Bank, Projector
from banku.adapters.kafka.clients import admin_client
from tests.helpers import fold_topic


def members_of(settings, group: str = "banku-consumer") -> list:
    admin = admin_client(settings)
    try:
        described = admin.describe_groups([settings.group_id(group)])
        return described.get(settings.group_id(group), {}).get("members", [])
    finally:
        admin.close()


def test_the_readme_example_works_twice_in_one_process(settings):
    bank = Bank(settings)
    acc = bank.create_account("Adam Pahlevi")
    bank.deposit(acc, 2000)
    bank.withdraw(acc, 500)
    assert Projector(settings).run_until_caught_up() == 3
    assert bank.account(acc).balance == 1500
    assert members_of(settings) == []  # nobody holds the group's partitions
    bank.deposit(acc, 100)
    assert Projector(settings).run_until_caught_up() == 1  # the second temporary: one record
    assert bank.account(acc).balance == 1600 == fold_topic(settings)[acc]
    assert members_of(settings) == []
    bank.close()


def test_a_temporary_catch_up_beside_a_running_member_applies_each_record_once(settings):
    with Bank(settings) as bank:
        acc = bank.create_account("Beside")
        member = Projector(settings).start()  # a group member, in the background
        try:
            for _ in range(50):
                bank.deposit(acc, 1)
            Projector(settings).run_until_caught_up()
            assert bank.account(acc).balance == 50
        finally:
            member.stop()
            member.close()
        assert member.view.stats()["applied"] == 51
    assert members_of(settings) == []  # the member left the group when it stopped


def test_what_a_temporary_held_is_released_when_it_is_collected(settings):
    projector = Projector(settings)
    projector.run_until_caught_up()
    finalizer = projector._finalizer
    bank = Bank(settings)
    bank.create_account("Collected")
    bank_finalizer = bank._finalizer
    del projector, bank
    gc.collect()
    assert not finalizer.alive and not bank_finalizer.alive  # their connections were closed


def test_re_running_a_notebook_cell_with_a_temporary_projector(settings, cli_env):
    """The README's lines in a Jupyter kernel, the projector cell run three times."""
    setup = textwrap.dedent(f"""
        from banku import Bank, Projector, Settings
        settings = Settings(bootstrap_servers={settings.bootstrap_servers!r},
                            redis_url={settings.redis_url!r}, namespace={settings.namespace!r})
        bank = Bank(settings)
        acc = bank.create_account("Adam Pahlevi")
    """)
    again = "bank.deposit(acc, 100)\nProjector(settings).run_until_caught_up()\n" \
            "print(bank.account(acc).balance)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup)]
                                  + [nbformat.v4.new_code_cell(again) for _ in range(3)])
    NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    printed = [c.outputs[0]["text"].strip() for c in nb.cells[1:]]
    assert printed == ["100", "200", "300"]
    assert members_of(settings) == []
