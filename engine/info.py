"""Facts about the engine process that ``GET /api/engine/info`` reports (``OIBusInfo``)."""

from __future__ import annotations

import os
import platform
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.store_health import UnavailableStores
from engine.version import engine_version


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What the engine knows about itself at start (command line, folders)."""

    data_directory: Path
    binary_directory: Path = Path(sys.executable).parent
    launcher_version: str = ""
    ignore_ip_filters: bool = False
    ignore_remote_update: bool = False
    configuration_restored: tuple[str, ...] = ()
    """One line per configuration file restored from a backup at this start (it was found damaged)."""
    unavailable_stores: UnavailableStores = field(default_factory=UnavailableStores)
    """Rebuildable stores the engine runs without for now (their disk is full); they come back by themselves."""

    def to_dto(self, *, oibus_id: str, oibus_name: str) -> dict[str, Any]:
        """Return the ``OIBusInfo`` wire form (upstream field names; ``platform`` as node reports it)."""
        return {
            "version": engine_version(),
            "launcherVersion": self.launcher_version,
            "oibusName": oibus_name,
            "oibusId": oibus_id,
            "dataDirectory": str(self.data_directory),
            "binaryDirectory": str(self.binary_directory),
            "processId": str(os.getpid()),
            "hostname": socket.gethostname(),
            "operatingSystem": f"{platform.system()} {platform.release()}",
            "architecture": _ARCHITECTURES.get(platform.machine().lower(), platform.machine()),
            "platform": sys.platform,
            "ignoreIpFilters": self.ignore_ip_filters,
            "ignoreRemoteUpdate": self.ignore_remote_update,
            "configurationRestored": list(self.configuration_restored),
            "unavailableStores": self.unavailable_stores.lines(),
        }


# Upstream reports node's os.arch() names; keep them so OIAnalytics sees the same values.
_ARCHITECTURES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "i386": "ia32"}
