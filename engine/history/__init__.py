"""History queries' windowing: how a requested time range is cut into read intervals, and the defaults.

Imported by South workers (``engine.worker.south``) and by the configuration checks: stdlib only.
"""
