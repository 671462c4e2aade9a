"""The OIBus version: the installed distribution's, else the one declared in the source tree."""

from __future__ import annotations

import functools
import importlib.metadata
import tomllib
from pathlib import Path

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@functools.cache
def engine_version() -> str:
    """``oibus`` package version; from ``pyproject.toml`` when running from a source checkout."""
    try:
        return importlib.metadata.version("oibus")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        with _PYPROJECT.open("rb") as file:
            version = tomllib.load(file)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0.0.0"
    return str(version)
