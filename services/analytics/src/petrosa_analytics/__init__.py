"""petrosa-analytics: market metrics computed by a leader, stored for the gateway."""
