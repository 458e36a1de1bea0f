"""The bank itself, pure Python: the events and their wire format, the rules, the ledger and its
fold, the projector's state machine and the sealing of names. Nothing here reaches Kafka, Redis
or the configuration; it is tested in milliseconds (see ARCHITECTURE.md)."""
