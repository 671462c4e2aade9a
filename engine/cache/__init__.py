"""Disk caches used inside workers: the North queue and the South positions (tracked instants)."""
