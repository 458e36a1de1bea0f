"""`banku workshop status`: who is in the room, their topics, their projectors' lag, and
whether the room's Kafka and Redis answer, read with the instructor's login the room keeps.

A learner ``learner-07`` owns every name that starts with ``learner-07.`` or ``learner-07-``
(the notebooks work in ``learner-07-nb01`` ...), as the room's ACLs say. A projector's lag is
how many records of its transactions topic it has not committed yet: the end offsets minus its
group's committed offsets (the projector commits to Kafka after each atomic Redis step, for
exactly this kind of tool).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from banku.config import DEFAULT_TOPIC, Settings

if TYPE_CHECKING:
    from banku.lab.room import RoomFile
    from banku.stack.plan import StackPlan


def owner(name: str, learners: list[str]) -> str | None:
    """The learner a topic or group belongs to (``learner-07.x``, ``learner-07-nb01.x``)."""
    for learner in learners:
        if name.startswith((f"{learner}.", f"{learner}-")):
            return learner
    return None


@dataclass
class LearnerStatus:
    name: str
    env_file: str  # where `workshop up` wrote their file ("" when it is gone)
    topics: list[str] = field(default_factory=list)
    lag: dict[str, int] = field(default_factory=dict)  # projector group -> records behind

    @property
    def projector_lag(self) -> int | None:
        """Records the learner's projectors have yet to apply (None: no projector committed)."""
        return sum(self.lag.values()) if self.lag else None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "namespace": self.name, "env_file": self.env_file or None,
                "topics": self.topics, "projector_lag": self.projector_lag,
                "groups": self.lag}

    def lines(self) -> list[str]:
        lag = self.projector_lag
        head = (f"{self.name}  {len(self.topics)} topic{'s' if len(self.topics) != 1 else ''},"
                f" projector lag {'-' if lag is None else lag}")
        if not self.topics:
            return [head + " (nothing written yet)"]
        return [head, "    " + ", ".join(self.topics)]


@dataclass
class RoomStatus:
    port: int
    host: str  # the address learners use; empty: this machine only
    out: str
    kafka_brokers: int
    kafka_problem: str
    redis: bool
    redis_problem: str
    bootstrap_servers: str
    redis_location: str
    learners: list[LearnerStatus]
    hub_url: str = ""  # the room's JupyterHub (--hub); empty: none
    hub_up: bool = False

    @property
    def ok(self) -> bool:
        return self.kafka_brokers > 0 and self.redis and (self.hub_up or not self.hub_url)

    def to_dict(self) -> dict[str, object]:
        return {
            "room": True, "ok": self.ok, "port": self.port, "host": self.host or None,
            "env_files": self.out or None,
            "kafka": {"ok": self.kafka_brokers > 0, "bootstrap_servers": self.bootstrap_servers,
                      "brokers": self.kafka_brokers, "problem": self.kafka_problem or None},
            "redis": {"ok": self.redis, "url": self.redis_location,
                      "problem": self.redis_problem or None},
            "hub": ({"ok": self.hub_up, "url": self.hub_url} if self.hub_url else None),
            "learners": [learner.to_dict() for learner in self.learners],
        }

    def lines(self) -> list[str]:
        where = f"open at {self.host}" if self.host else "this machine only"
        count = len(self.learners)
        out = [f"Workshop room on port {self.port} ({where}): {count} learner"
               f"{'s' if count != 1 else ''}, env files in {self.out or '(unknown)'}"]
        if self.kafka_brokers:
            out.append(f"OK    Kafka at {self.bootstrap_servers} ({self.kafka_brokers} broker"
                       f"{'s' if self.kafka_brokers != 1 else ''})")
        else:
            out.append(f"FAIL  {self.kafka_problem}")
        out.append(f"OK    Redis at {self.redis_location}" if self.redis
                   else f"FAIL  {self.redis_problem}")
        if self.hub_url:
            out.append(f"OK    JupyterHub at {self.hub_url}" if self.hub_up else
                       f"FAIL  JupyterHub does not answer at {self.hub_url}: run `banku workshop"
                       " up --hub` again to restart it")
        for learner in self.learners:
            out.extend(learner.lines())
        return out


def no_room(port: int) -> dict[str, object]:
    """The JSON of ``workshop status`` when no room was started on that port."""
    return {"room": False, "ok": False, "port": port, "problem": no_room_sentence(port)}


def no_room_sentence(port: int) -> str:
    return (f"No workshop room runs on port {port}: start one with `banku workshop up --learners"
            " N --out DIR` (or set KAFKA_BOOTSTRAP_SERVERS to the room's port).")


def _learner_topics(instructor: Settings, learners: list[str],
                    ) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
    """Each learner's topics, and each learner's projector groups with their lag."""
    from banku.adapters.kafka.clients import admin_client, make_reader, partitions_of

    topics: dict[str, list[str]] = {name: [] for name in learners}
    lags: dict[str, dict[str, int]] = {name: {} for name in learners}
    admin = admin_client(instructor)
    try:
        for topic in sorted(admin.list_topics()):
            who = owner(topic, learners)
            if who:
                topics[who].append(topic)
        groups = sorted(g["group_id"] for g in admin.list_groups() if owner(g["group_id"],
                                                                            learners))
        committed = admin.list_group_offsets(groups) if groups else {}
    finally:
        admin.close()
    # Projector groups: those with offsets on a transactions topic (not a dlq, not commands).
    # A group commits only the partitions it has read records from: a partition it has no
    # offset for counts from the log's start.
    wanted = {group: {tp: meta.offset for tp, meta in offsets.items()
                      if tp.topic.endswith(f".{DEFAULT_TOPIC}") and meta.offset >= 0}
              for group, offsets in committed.items()}
    read_topics = sorted({tp.topic for offsets in wanted.values() for tp in offsets})
    if read_topics:
        reader = make_reader(instructor)
        try:
            partitions = [tp for topic in read_topics
                          for tp in partitions_of(reader, topic, timeout=5.0)]
            ends = reader.end_offsets(partitions)
            starts = reader.beginning_offsets(partitions)
        finally:
            reader.close()
        for group, offsets in wanted.items():
            if not offsets:
                continue
            topics_read = {tp.topic for tp in offsets}
            lags[owner(group, learners) or ""][group] = sum(
                max(ends[tp] - offsets.get(tp, starts[tp]), 0)
                for tp in partitions if tp.topic in topics_read)
    return topics, lags


def _number(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def room_status(settings: Settings, plan: StackPlan, room: RoomFile,
                instructor: Settings) -> RoomStatus:
    """The status of a room, as the instructor sees it (``settings``: where its servers are;
    ``instructor``: the same with the instructor's login, `banku.lab.room.instructor_settings`)."""
    from banku import stack
    from banku.lab.room_hub import hub_url

    learners = sorted(room.learners, key=_number)
    brokers, kafka_problem = stack.kafka_check(instructor)
    redis_ok, redis_problem = stack.redis_check(instructor)
    topics: dict[str, list[str]] = {}
    lags: dict[str, dict[str, int]] = {}
    if brokers:
        topics, lags = _learner_topics(instructor, learners)
    restart = "run `banku workshop up` again to restart the room"
    files = Path(room.out) if room.out else None
    return RoomStatus(
        port=plan.kafka_port, host=room.host, out=room.out,
        kafka_brokers=brokers,
        kafka_problem="" if brokers else str(
            kafka_problem or f"Kafka does not answer at {instructor.bootstrap_servers}: {restart}"),
        redis=redis_ok,
        redis_problem="" if redis_ok else str(
            redis_problem or f"Redis does not answer at {instructor.redis_location()}: {restart}"),
        bootstrap_servers=instructor.bootstrap_servers,
        redis_location=instructor.redis_location(),
        learners=[LearnerStatus(name, str(files / f"{name}.env")
                                if files and (files / f"{name}.env").exists() else "",
                                topics.get(name, []), lags.get(name, {}))
                  for name in learners],
        hub_url=hub_url(settings, room.host, room.hub_port) if room.hub_port else "",
        hub_up=bool(room.hub_port) and stack.port_open(room.hub_port),
    )
