"""Real processes the harness starts and always stops (redis-server, toxiproxy-server, any child), their
binaries, throwaway TLS material, and the one client of Toxiproxy's API."""
