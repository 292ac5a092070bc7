"""Shared library of the Petrosa Data Manager: settings, models, parsing, storage, NATS,
metrics, logging and health. Every service depends on it; it depends on no service."""
