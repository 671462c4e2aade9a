"""File-writer North: writes each file or batch of values into an output folder."""

from connectors.north.file_writer.connector import FileWriterNorth
from connectors.north.file_writer.manifest import MANIFEST

__all__ = ["MANIFEST", "FileWriterNorth"]
