"""Configuration store: ``oibus.db`` with migrations, typed models, validation and encrypted secrets."""

from engine.config.errors import ConfigError, NotFoundError, RefusedError
from engine.config.manifests import ManifestSource, RegistryManifests, StaticManifests
from engine.config.provisioning import InitSettings, delete_init_file, read_init_settings
from engine.config.store import ConfigStore

__all__ = [
    "ConfigError",
    "ConfigStore",
    "InitSettings",
    "ManifestSource",
    "NotFoundError",
    "RefusedError",
    "RegistryManifests",
    "StaticManifests",
    "delete_init_file",
    "read_init_settings",
]
