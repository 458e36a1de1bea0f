"""What the room attack suites share: a 3-learner room's logins, and the round trip that proves
the others can still work after an attack (tests/fault/test_room_attacks_*.py)."""

from __future__ import annotations

import time
import uuid

from banku import Bank, Projector, Settings, stack
from banku.lab import room

ATTACKER, OTHER = "learner-01", "learner-02"


def quiet(_: str) -> None:
    pass


def round_trip(settings: Settings) -> float:
    """Create, deposit, project, read back, in a namespace of its own; returns the seconds."""
    started = time.monotonic()
    with Bank(settings) as bank:
        account = bank.create_account("Round Trip")
        bank.deposit(account, 125)
    with Projector(settings) as projector:
        projector.run_until_caught_up()
        found = projector.view.account(account)
    assert found is not None and found.balance == 125 and found.name == "Round Trip"
    return round(time.monotonic() - started, 2)


class AttackedRoom:
    """The logins of the room a suite attacks (`room.up` has written its room file)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def room_file(self) -> room.RoomFile:
        found = room.RoomFile.load(stack.StackPlan.from_settings(self.settings))
        assert found is not None
        return found

    def learner(self, name: str, namespace: str | None = None) -> Settings:
        settings = room.learner_settings(self.settings, self.room_file(), name)
        return settings if namespace is None else settings.with_namespace(namespace)

    def instructor(self, namespace: str = "") -> Settings:
        return room.instructor_settings(self.settings, self.room_file()).with_namespace(namespace)

    def others_still_work(self, tag: str) -> dict[str, float]:
        """learner-02 and the instructor, each in a fresh namespace, complete a round trip."""
        suffix = f"{tag}-{uuid.uuid4().hex[:6]}"
        return {"learner-02 round trip s": round_trip(self.learner(OTHER, f"{OTHER}-{suffix}")),
                "instructor round trip s": round_trip(self.instructor(f"teacher-{suffix}"))}
