"""The cache entries one ``content`` frame becomes, wherever it is stored.

A North worker stores them, or the engine for a stopped North. Only stdlib, ``engine.ipc`` and
``engine.cache``: this runs inside workers too.
"""

from __future__ import annotations

from pathlib import Path

from engine.cache.north.types import Folder, NewEntry
from engine.ipc import Content


def content_entries(content: Content) -> list[NewEntry]:
    """One entry per file of an ``any`` content, else one entry holding the payload.

    A content carrying an ``error`` goes to the ``error`` folder (see ``engine.ipc.Content``).
    """
    folder: Folder = "cache" if content.error is None else "error"
    if content.content_type == "any" and content.files:
        return [
            NewEntry.file(Path(path), filename=name, owned=content.owned, folder=folder) for path, name in content.files
        ]
    if content.content_type == "any" and content.file_path:
        return [NewEntry.file(Path(content.file_path), filename=content.filename, owned=content.owned, folder=folder)]
    return [
        NewEntry(
            content_type=content.content_type,
            payload=content.payload or b"",
            filename=content.filename,
            count=content.count,
            folder=folder,
        )
    ]
