"""petrosa-ingestor: NATS (JetStream) -> validated, idempotent bulk writes to MongoDB."""
