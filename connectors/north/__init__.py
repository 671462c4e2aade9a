"""North connectors (targets)."""
