"""Reusable in-process servers for tests, and what they need (certificates)."""
