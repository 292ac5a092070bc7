"""petrosa-gateway: FastAPI REST and NATS request/reply over the Data Manager's data."""
