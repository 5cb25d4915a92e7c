"""The event bus: NATS connection, streams, outbox relay, idempotent consumers and the dead-letter queue."""
