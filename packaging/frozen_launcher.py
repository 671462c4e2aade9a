"""Entry point of the frozen ``oibus-launcher`` (one file, beside ``binaries/``)."""

from __future__ import annotations

from launcher.cli import main

if __name__ == "__main__":
    main()
