"""Real processes the harness starts and always stops: redis-server, toxiproxy-server, the service."""
