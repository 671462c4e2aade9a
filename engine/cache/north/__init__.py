"""The North disk cache, one folder per North (used inside North workers, and by the engine for a stopped North).

``cache`` is the front door (``NorthCache``: store, send loop, retention); ``store`` the durable entry store
under it (``NorthStore``), built of ``disk`` (files and folders), ``commit`` (group commit, size book),
``merge`` (batching entries for a send), ``reaper`` (deferred deletion) and ``files`` (fsync helpers);
``sender`` is the send loop, ``operations`` the operator actions (search, view, remove, move) and ``types``
the shared records. Only stdlib, msgspec and ``connectors.errors`` are imported.
"""

from engine.cache.north.cache import CacheEntry, NewEntry, NorthCache, NorthStore

__all__ = ["CacheEntry", "NewEntry", "NorthCache", "NorthStore"]
