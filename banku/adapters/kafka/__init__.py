"""Kafka adapters: the clients configured once, the event log and the projector's feeds, the
command transport and the command handler, the raw SASL check."""
