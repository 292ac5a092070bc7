"""Schema registry core (no I/O): compatibility as Confluent defines it, validation."""
