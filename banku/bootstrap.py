"""The composition root: the one place that chooses and builds the adapters of the ports.

`Bank` and `Projector` (``banku.application``) know only the ports (`banku.application.ports`).
When no adapter is handed to them they ask here, and here alone the real ones are built: Kafka
for the event log, the projector's feeds, its dead letters and the command transport; Redis for
the view and, beside it, the name keys. The application imports no Kafka or Redis module, so its
unit tests run with the in-memory adapters (`banku.adapters.memory`) and no server at all.

Each function imports its adapter when called: ``import banku`` stays free of kafka-python and
redis-py until a server is really wanted.
"""

from __future__ import annotations

from banku.application.ports import (
    CommandTransport,
    DeadLetterSink,
    EventLog,
    Feeds,
    NameKeys,
    ViewStore,
)
from banku.config import Settings


def event_log(settings: Settings) -> EventLog:
    """The events topic of the settings' namespace (Kafka)."""
    from banku.adapters.kafka.event_log import KafkaEventLog

    return KafkaEventLog(settings)


def view(settings: Settings) -> ViewStore:
    """The read model and the projector's tracking record (Redis)."""
    from banku.adapters.redis.view import ReadModel

    return ReadModel(settings)


def name_keys(view: ViewStore) -> NameKeys:
    """The keys of sealed names, kept beside the view (in Redis for the Redis view)."""
    return view.name_keys()


def feeds(settings: Settings, group_id: str, options: dict[str, object]) -> Feeds:
    """The projector's consumers of the events topic (Kafka), made with these options."""
    from banku.adapters.kafka.event_log import KafkaFeeds

    return KafkaFeeds(settings, group_id, options)


def dead_letters(settings: Settings) -> DeadLetterSink:
    """Where the projector keeps what it could not apply: ``<topic>.dlq`` (Kafka)."""
    from banku.adapters.kafka.event_log import KafkaDeadLetters

    return KafkaDeadLetters(settings)


def command_transport(settings: Settings, log: EventLog) -> CommandTransport:
    """Topic mode's way to the command handler, on the same side as the log: the in-memory
    handler of a `MemoryLog` (decided at once, in this process), or the commands topic and the
    outcomes of the `banku handler` processes (Kafka)."""
    from banku.adapters.memory import MemoryCommandTransport, MemoryLog

    if isinstance(log, MemoryLog):
        return MemoryCommandTransport.of(log)
    from banku.adapters.kafka.command_transport import HandlerClient

    return HandlerClient(settings)
