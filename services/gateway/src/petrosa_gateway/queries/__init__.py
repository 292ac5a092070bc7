"""The logic behind the routes, free of HTTP: reused by the REST routes and the NATS handlers."""
