"""Console North connector: prints values and files it receives on standard error."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import msgspec

from connectors.base import NorthConnector, TimeValue
from connectors.north.console.manifest import MANIFEST, ConsoleSettings

__all__ = ["ConsoleNorth"]


class ConsoleNorth(NorthConnector[ConsoleSettings]):
    """Prints a one-line count per entry, or every value / the file name and size when ``verbose``.

    It writes to standard error, never standard output: in a worker, standard output is the IPC pipe to
    the engine, and a stray line there would corrupt the frame stream.
    """

    manifest = MANIFEST

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Print the count of ``values`` (and each value as a JSON line when verbose)."""
        count = len(values)
        lines = [f"{self.context.name}: {count} value{'' if count == 1 else 's'}"]
        if self.settings.verbose:
            lines.extend(msgspec.json.encode(value).decode() for value in values)
        await asyncio.to_thread(_print, lines)

    async def handle_file(self, path: Path, filename: str) -> None:
        """Print that a file arrived (with its name and size when verbose)."""
        if self.settings.verbose:
            size = await asyncio.to_thread(_size, path)
            detail = "size unknown" if size is None else f"{size} bytes"
            line = f"{self.context.name}: file {filename} ({detail})"
        else:
            line = f"{self.context.name}: 1 file"
        await asyncio.to_thread(_print, [line])


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _print(lines: list[str]) -> None:
    # sys.stderr is looked up at each call so that a redirection (tests, a worker's log capture) applies.
    stream = sys.stderr
    stream.write("".join(f"{line}\n" for line in lines))
    stream.flush()
