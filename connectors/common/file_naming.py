"""How file Norths name what they write: ``prefix + name + suffix + extension`` with upstream's placeholders."""

from __future__ import annotations

import os
from datetime import UTC, datetime

__all__ = ["FORBIDDEN_CHARACTERS", "current_date", "decorate", "output_name", "split_name"]

# Characters Windows refuses in a file name; elsewhere only the separators and NUL are impossible.
FORBIDDEN_CHARACTERS = '/\\\0<>:"|?*' if os.name == "nt" else "/\\\0"


def current_date(now: datetime | None = None) -> str:
    """Return ``@CurrentDate``: UTC ``yyyy_MM_dd_HH_mm_ss_SSS``, as upstream."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y_%m_%d_%H_%M_%S}_{now.microsecond // 1000:03d}"


def split_name(filename: str) -> tuple[str, str]:
    """Split like Node's ``path.parse``: ``a.tar.gz`` is ``("a.tar", ".gz")``; ``.env`` has no extension."""
    dot = filename.rfind(".")
    if 0 < dot < len(filename) - 1:
        return filename[:dot], filename[dot:]
    return filename, ""


def decorate(stem: str, extension: str, *, prefix: str, suffix: str, connector_name: str) -> str:
    """``prefix + stem + suffix + extension`` with ``@ConnectorName``/``@CurrentDate`` replaced, made safe."""
    prefix, suffix = (
        part.replace("@ConnectorName", connector_name).replace("@CurrentDate", current_date()) if "@" in part else part
        for part in (prefix, suffix)
    )
    name = f"{prefix}{stem}{suffix}{extension}"
    # Placeholders and settings may bring separators (a connector named "a/b"): flatten them too.
    for character in FORBIDDEN_CHARACTERS:
        name = name.replace(character, "_")
    return "file" if name in ("", ".", "..") else name


def output_name(filename: str, *, prefix: str, suffix: str, connector_name: str) -> str:
    """The name a North writes a cached file under: its base name only, decorated.

    A logical name from a recursive scan ("2024/03/a.csv") or a hostile one ("../../etc/x") can never leave
    the output folder.
    """
    parts = [part for part in filename.replace("\\", "/").split("/") if part not in ("", ".")]
    stem, extension = split_name(parts[-1] if parts else "file")
    return decorate(stem, extension, prefix=prefix, suffix=suffix, connector_name=connector_name)
