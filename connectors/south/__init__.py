"""South connectors (sources)."""
