"""What the bank does with its ports: `Bank` (decide, then write), the write model it decides
with, snapshots, the projector. It reaches the servers only through the ports in `ports`; the
composition root (`banku.bootstrap`) chooses the adapters (see ARCHITECTURE.md)."""
