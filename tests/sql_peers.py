"""Peers for SQL Souths whose server cannot run here: a closed port and a TCP peer that never speaks."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from engine_process import closed_port
from sql_harness import Harness, item

from connectors.common.sql.south import SqlSouth
from connectors.errors import ConnectorConnectionError

__all__ = ["assert_unreachable", "closed_port", "silent_peer"]


@contextmanager
def silent_peer() -> Iterator[int]:
    """A listening socket on a kernel-assigned port that completes TCP handshakes and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def assert_unreachable(
    cls: type[SqlSouth[Any]], settings: Callable[[int], msgspec.Struct], match: str, tmp_path: Path
) -> None:
    """A South whose server is a closed port or a silent peer: a connection error, no file, no tracked instant."""
    with closed_port() as port:
        closed = Harness(cls, settings(port), tmp_path / "closed")
        try:
            with pytest.raises(ConnectorConnectionError, match=rf"{match} 127\.0\.0\.1:{port}: .*(refused|DPY-6005)"):
                await closed.south.test_connection()
        finally:
            closed.close()
    with silent_peer() as port:
        silent = Harness(cls, settings(port), tmp_path / "silent")
        try:
            the_item = item("SELECT 1 WHERE @StartTime < @EndTime")
            start = datetime(2024, 1, 1, tzinfo=UTC)
            with pytest.raises(ConnectorConnectionError, match=rf"{match} 127\.0\.0\.1:{port}: "):
                await silent.read_history(the_item, start, start + timedelta(hours=1), 3600)
            assert silent.cache.get_tracked_instant(the_item.id) is None
            assert not silent.sink.files
        finally:
            silent.close()
