"""The engine's structlog pipeline and its sinks."""
