"""Supervision of worker processes: spawn, handshake, state machine, backoff, stop escalation."""
