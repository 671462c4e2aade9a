"""Settings fragments shared by several connectors."""
