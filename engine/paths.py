"""Where things live in the data folder (upstream's layout)."""

from __future__ import annotations

from pathlib import Path


def api_tmp_dir(data_dir: Path) -> Path:
    """Where uploads wait while they are routed (same filesystem as the caches: Norths hard-link them)."""
    return data_dir / "cache" / "api-tmp"


def default_data_dir() -> Path:
    """The platform's data folder for OIBus (``~/.local/share/oibus`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("oibus", appauthor=False))
