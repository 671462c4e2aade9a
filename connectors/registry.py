"""The one literal map from connector type to module. A module is imported only when its type is used."""

from __future__ import annotations

import importlib
from types import ModuleType

from connectors.manifest import ConnectorManifest

SOUTH: dict[str, str] = {
    "ads": "connectors.south.ads",
    "folder-scanner": "connectors.south.folder_scanner",
    "ftp": "connectors.south.ftp",
    "influxdb": "connectors.south.influxdb",
    "modbus": "connectors.south.modbus",
    "mqtt": "connectors.south.mqtt",
    "mssql": "connectors.south.mssql",
    "mysql": "connectors.south.mysql",
    "odbc": "connectors.south.odbc",
    "oianalytics": "connectors.south.oianalytics",
    "opc": "connectors.south.opc",
    "opcua": "connectors.south.opcua",
    "oracle": "connectors.south.oracle",
    "osisoft-pi": "connectors.south.osisoft_pi",
    "postgresql": "connectors.south.postgresql",
    "rest": "connectors.south.rest",
    "s7": "connectors.south.s7",
    "sftp": "connectors.south.sftp",
    "sparkplug": "connectors.south.sparkplug",
    "sqlite": "connectors.south.sqlite",
}

NORTH: dict[str, str] = {
    "amqp": "connectors.north.amqp",
    "aws-s3": "connectors.north.aws_s3",
    "azure-blob": "connectors.north.azure_blob",
    "console": "connectors.north.console",
    "file-writer": "connectors.north.file_writer",
    "oibus": "connectors.north.oibus",
    "modbus": "connectors.north.modbus",
    "mqtt": "connectors.north.mqtt",
    "nats": "connectors.north.nats",
    "oianalytics": "connectors.north.oianalytics",
    "opcua": "connectors.north.opcua",
    "postgresql": "connectors.north.postgresql",
    "rest": "connectors.north.rest",
    "sftp": "connectors.north.sftp",
    "sparkplug": "connectors.north.sparkplug",
}


def _module(kind: str, type_name: str) -> ModuleType:
    table = SOUTH if kind == "south" else NORTH
    try:
        path = table[type_name]
    except KeyError as err:
        raise KeyError(f"unknown {kind} connector type {type_name!r}") from err
    return importlib.import_module(path)


def manifest(kind: str, type_name: str) -> ConnectorManifest:
    """The manifest of a registered connector type (raises ``KeyError`` for an unknown type)."""
    found: ConnectorManifest = _module(kind, type_name).MANIFEST
    return found


def connector_class(kind: str, type_name: str) -> type:
    """The connector class of a registered type (imports its module, and only its module)."""
    module = _module(kind, type_name)
    names = [name for name in getattr(module, "__all__", ()) if name != "MANIFEST"]
    if len(names) != 1:
        raise TypeError(f"{module.__name__} must export exactly MANIFEST and one connector class")
    cls: type = getattr(module, names[0])
    return cls
