"""Manifest and settings of the console North."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "ConsoleSettings"]


class ConsoleSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How much to print."""

    verbose: Annotated[
        bool,
        msgspec.Meta(
            title="Verbose", description="Print every value and file, not only a count (default true, as upstream)."
        ),
    ] = True


MANIFEST = ConnectorManifest(
    id="console",
    kind="north",
    name="Console",
    category="debug",
    description="Print what reaches this North on the standard error of its worker (for debugging)",
    settings=ConsoleSettings,
    types=("any", "time-values", "setpoint"),
)
